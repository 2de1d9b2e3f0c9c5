"""DP-Blur from the grid: within +-1 grey level of the exact float64 blur, everywhere.

The sampled renderer (exact samples every ``s`` pixels, bilinear upsampling)
carries a proven error bound; these tests check the bound and the +-1
promise over whole images — borders and partial cells included — against
``rint(cv2.GaussianBlur(float64 blocks))``, on inputs made to be hard for an
interpolator (0/255 cells, sharp edges, the image border).
"""

import cv2
import numpy as np
import pytest

import dpimage
from dpimage.cells import render_blocks
from dpimage.render._grid_blur import error_bound, sample_step
from dpimage.render.blur import blur_blocks, upsample_blur_axis


def exact_blur(grid, height, width, b0, k, sigma):
    blocks = render_blocks(grid, height, width, b0).astype(np.float64)
    return np.rint(cv2.GaussianBlur(blocks, (k, k), sigma)).reshape(height, width, -1)


def hard_grids(ny, nx, channels, seed):
    rng = np.random.default_rng(seed)
    binary = (rng.integers(0, 2, (ny, nx, channels)) * 255).astype(np.uint8)
    edges = np.zeros((ny, nx, channels), np.uint8)
    edges[ny // 3 :, nx // 2 :] = 255
    edges[:3] = 255
    edges[:, -1] = 255  # the (partial) last column
    edges[-1, ::2] = 255  # and the last row, alternating
    noise = rng.integers(0, 256, (ny, nx, channels), dtype=np.uint8)
    return binary, edges, noise


@pytest.mark.parametrize(
    "height, width, channels",
    [(301, 259, 1), (301, 259, 3), (224, 230, 1), (403, 517, 3), (540, 960, 1)],
)
def test_sampled_blur_within_one_grey_level(height, width, channels):
    b0, k, sigma = 4, 99, 0.0
    assert sample_step(height, width, b0, k, sigma) == 2  # the sampled path is taken
    ny, nx = -(-height // b0), -(-width // b0)
    for grid in hard_grids(ny, nx, channels, seed=height + width):
        got = blur_blocks(grid, height, width, b0, k, sigma).astype(np.int64)
        want = exact_blur(grid, height, width, b0, k, sigma)
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1


def test_dp_blur_within_one_grey_level_of_blurring_dp_pix():
    # the same seed gives the same noise: dp_blur is a blur of dp_pix at b0
    image = np.random.default_rng(3).integers(0, 256, (301, 259, 3), dtype=np.uint8)
    blocks = dpimage.dp_pix(image, b=4, rng=5).astype(np.float64)
    want = np.rint(cv2.GaussianBlur(blocks, (99, 99), 0))
    got = dpimage.dp_blur(image, rng=5).astype(np.float64)
    assert np.abs(got - want).max() <= 1


def test_bound_is_below_one_for_the_default_and_refuses_narrow_kernels():
    assert error_bound(1080, 1920, 4, 2, 99, 0.0) < 0.6
    # sigma 8 at k = 51: bilinear from every 2nd pixel could err by more than 1
    assert sample_step(1080, 1920, 4, 51, 0.0) is None
    assert sample_step(1080, 1920, 3, 99, 0.0) is None  # odd b0: exact path
    assert sample_step(100, 100, 4, 99, 0.0) is None  # too small: exact path


def test_bound_is_not_vacuous():
    # Linear interpolation from every 4th pixel is measurably worse than +-1 on
    # an edge, and the bound says so (so it can tell the two apart).
    assert error_bound(1080, 1920, 4, 4, 99, 0.0) > 1
    height, width, b0 = 301, 259, 4
    grid = hard_grids(-(-height // b0), -(-width // b0), 1, seed=1)[1]
    exact = exact_blur(grid, height, width, b0, 99, 0.0)
    low = grid.astype(np.float32)
    kernel = cv2.getGaussianKernel(99, 0, ktype=cv2.CV_64F)
    rows = upsample_blur_axis(low, width, b0, kernel, axis=1)
    full = upsample_blur_axis(rows, height, b0, kernel, axis=0)
    assert np.abs(np.rint(full) - exact).max() <= 1  # the exact path, for reference
