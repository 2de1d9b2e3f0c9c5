"""Noise scale per cell: white-box numbers and the empirical spread of outputs.

On a mid-grey image with parameters that make clipping negligible, the
released cell mean minus 128 is the discrete Laplace noise divided by the
cell's pixel count, plus rounding. Its mean absolute deviation estimates the
Laplace scale, which must equal ``cell_noise_scale`` in every cell: full and
partial, gray and RGB.
"""

from fractions import Fraction

import numpy as np
import pytest

from dpimage import cell_noise_scale, dp_blur, dp_pix
from dpimage.privacy import epsilon_for_distance, l1_sensitivity, laplace_scale

RUNS = 3000


@pytest.mark.parametrize(
    "shape, m",
    [((40, 40), 3), ((40, 40, 3), 1)],  # both: t = 765 on every cell sum
    ids=["gray", "rgb"],
)
def test_empirical_spread_matches_cell_noise_scale(shape, m):
    b, eps = 16, 1.0
    image = np.full(shape, 128, dtype=np.uint8)
    expected = cell_noise_scale(shape, b=b, m=m, eps=eps)  # (3, 3): 256, 128 and 64 pixels
    np.testing.assert_allclose(expected[0, 0], 765 / 256)
    np.testing.assert_allclose(expected[2, 2], 765 / 64)
    rng = np.random.default_rng(2024)
    runs = np.stack(
        [dp_pix(image, b=b, m=m, eps=eps, rng=rng, output="grid") for _ in range(RUNS)]
    ).astype(float)
    deviation = runs - 128
    if deviation.ndim == 4:  # every channel gets the same scale
        deviation = deviation.reshape(RUNS, 3, 3, 3)
    mad = np.mean(np.abs(deviation), axis=0)
    if mad.ndim == 3:
        for c in range(3):
            np.testing.assert_allclose(mad[..., c], expected, rtol=0.06)
    else:
        np.testing.assert_allclose(mad, expected, rtol=0.06)
    # and the spread is that of a Laplace: std = sqrt(2) * scale
    std = deviation.std(axis=0)
    std = std if std.ndim == 2 else std.mean(axis=-1)
    np.testing.assert_allclose(std, np.sqrt(2) * expected, rtol=0.08)


def test_partial_cells_get_more_noise_than_the_papers_formula():
    scales = cell_noise_scale((20, 20), b=16, m=16, eps=0.5)
    paper = 255 * 16 / (16 * 16 * 0.5)
    assert scales[0, 0] == paper
    assert scales[1, 1] == 16 * paper  # 4x4 corner cell: 16 pixels instead of 256


def test_dp_blur_noise_is_that_of_its_dp_pix_step():
    image = np.full((12, 12), 128, dtype=np.uint8)
    rng = np.random.default_rng(7)
    # a blur of almost zero width leaves each cell value in place
    runs = np.stack(
        [dp_blur(image, b0=4, k=3, sigma=0.01, m=1, eps=1.0, rng=rng) for _ in range(RUNS)]
    ).astype(float)
    mad = np.mean(np.abs(runs[:, ::4, ::4] - 128), axis=0)
    np.testing.assert_allclose(mad, cell_noise_scale((12, 12), b=4, m=1, eps=1.0), rtol=0.06)


def test_privacy_maths_exact_values():
    assert l1_sensitivity(16, 1) == 4080
    assert l1_sensitivity(16, 3) == 12240
    assert laplace_scale(16, 1, 0.5) == 8160
    assert laplace_scale(16, 3, 0.5) == 24480
    # the cached scale is exact for any float eps, and bad arguments still fail
    assert laplace_scale(16, 1, 0.3) == Fraction(4080) / Fraction(0.3)
    assert laplace_scale(np.int64(16), 1, np.float32(0.5)) == 8160
    for bad in ({"m": 0}, {"m": True}, {"eps": float("nan")}, {"eps": -0.5}, {"channels": 0}):
        args = {"m": 16, "channels": 1, "eps": 0.5} | bad
        with pytest.raises(ValueError):
            laplace_scale(**args)
    # a release calibrated to m pixels gives eps * d / m to images d pixels apart
    assert epsilon_for_distance(16, m=16, eps=0.5) == 0.5
    assert epsilon_for_distance(1600, m=16, eps=0.5) == 50.0
    assert epsilon_for_distance(0, m=16, eps=0.5) == 0.0
    # linear in d, not rounded to whole neighbourhoods (d = 1, 8, 17, 24: not multiples of m)
    for d in (1, 8, 17, 24, 1601):
        assert epsilon_for_distance(d, m=16, eps=0.5) == pytest.approx(0.5 * d / 16, rel=1e-15)
    assert epsilon_for_distance(5, m=3, eps=0.3) == pytest.approx(0.5, rel=1e-15)
