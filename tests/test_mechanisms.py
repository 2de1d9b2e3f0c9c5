"""Unit and property tests of the four mechanisms and the public API contract."""

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import dpimage
from conftest import SAMPLES
from dpimage import cell_noise_scale, dp_blur, dp_pix, np_blur, np_pix

images = st.one_of(
    arrays(np.uint8, st.tuples(st.integers(1, 48), st.integers(1, 48))),
    arrays(np.uint8, st.tuples(st.integers(1, 48), st.integers(1, 48), st.just(3))),
)


def test_public_api_names():
    """The README's five functions, called as documented: each does what its name says."""
    assert set(dpimage.__all__) == {
        "np_pix", "dp_pix", "np_blur", "dp_blur", "cell_noise_scale", "__version__"
    }  # fmt: skip
    assert isinstance(dpimage.__version__, str) and dpimage.__version__
    image = np.zeros((32, 48), dtype=np.uint8)
    image[:, 32:] = 255  # flat cells: black, black, white
    pix = dpimage.np_pix(image, b=16)
    np.testing.assert_array_equal(pix, image)  # cell means of constant cells
    assert dpimage.np_blur(image, k=9)[16, 31] not in (0, 255)  # the edge is blurred
    private = dpimage.dp_pix(image, b=16, m=16, eps=0.5, rng=1)
    assert private.shape == image.shape and not np.array_equal(private, image)  # noisy
    assert np.all(private[:16, :16] == private[0, 0])  # one value per cell
    assert dpimage.dp_blur(image, b0=4, k=9, m=16, eps=0.5, rng=1).shape == image.shape
    scale = dpimage.cell_noise_scale(image.shape, b=16, m=16, eps=0.5)
    np.testing.assert_allclose(scale, 255 * 16 / (256 * 0.5))  # every cell is full


@settings(max_examples=60, deadline=None)
@given(image=images, b=st.integers(1, 20), seed=st.integers(0, 2**32))
def test_dp_pix_shape_dtype_and_blocks(image, b, seed):
    before = image.copy()
    out = dp_pix(image, b=b, m=4, eps=1.0, rng=seed)
    np.testing.assert_array_equal(image, before)  # input untouched
    assert out.dtype == np.uint8 and out.shape == image.shape
    grid = dp_pix(image, b=b, m=4, eps=1.0, rng=seed, output="grid")
    assert grid.shape == (
        math.ceil(image.shape[0] / b),
        math.ceil(image.shape[1] / b),
        *image.shape[2:],
    )
    # blocks are the grid painted over the cells (same seed, same noise)
    np.testing.assert_array_equal(
        out, np.repeat(np.repeat(grid, b, 0), b, 1)[: image.shape[0], : image.shape[1]]
    )


@settings(max_examples=60, deadline=None)
@given(image=images, b=st.integers(1, 20))
def test_np_pix_is_the_rounded_cell_mean(image, b):
    out = np_pix(image, b=b)
    assert out.shape == image.shape and out.dtype == np.uint8
    for i in range(0, image.shape[0], b):
        for j in range(0, image.shape[1], b):
            cell = image[i : i + b, j : j + b].astype(np.float64)
            expected = np.rint(cell.mean(axis=(0, 1)))
            np.testing.assert_array_equal(out[i, j], expected)


def test_constant_image_np_pix_is_identity_and_dp_pix_is_unbiased():
    image = np.full((64, 80, 3), 128, dtype=np.uint8)
    np.testing.assert_array_equal(np_pix(image, b=16), image)
    runs = np.stack([dp_pix(image, b=16, m=1, eps=1.0, rng=s, output="grid") for s in range(300)])
    assert abs(runs.astype(float).mean() - 128) < 0.5


def test_clipping_keeps_values_in_range_and_saturates():
    black = np.zeros((32, 32), dtype=np.uint8)
    out = dp_pix(black, b=2, m=256, eps=0.01, rng=1, output="grid")
    # huge noise: about half the cells clip to 0, the rest mostly to 255
    assert set(np.unique(out)) >= {0, 255}
    assert 0.3 < np.mean(out == 0) < 0.7


def test_same_seed_same_output_and_generator_accepted():
    image = cv2.imread(str(SAMPLES / "camera.png"), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(dp_pix(image, rng=3), dp_pix(image, rng=3))
    assert not np.array_equal(dp_pix(image, rng=3), dp_pix(image, rng=4))
    g1, g2 = np.random.default_rng(8), np.random.default_rng(8)
    np.testing.assert_array_equal(dp_blur(image, rng=g1), dp_blur(image, rng=g2))


def test_secure_default_is_random():
    image = np.full((64, 64), 100, dtype=np.uint8)
    assert not np.array_equal(dp_pix(image), dp_pix(image))


def test_gray_stays_gray_rgb_stays_rgb():
    gray = np.zeros((33, 17), np.uint8)
    rgb = np.zeros((33, 17, 3), np.uint8)
    for f in (lambda x: dp_pix(x, rng=0), lambda x: dp_blur(x, k=9, rng=0), np_pix, np_blur):
        assert f(gray).shape == gray.shape
        assert f(rgb).shape == rgb.shape


def test_np_blur_is_opencv_gaussian_blur():
    image = cv2.imread(str(SAMPLES / "coffee.jpg"))
    np.testing.assert_array_equal(np_blur(image, k=31), cv2.GaussianBlur(image, (31, 31), 0))
    np.testing.assert_array_equal(
        np_blur(image, k=31, sigma=4), cv2.GaussianBlur(image, (31, 31), 4)
    )


@pytest.mark.parametrize("name", ["camera.png", "chelsea.jpg"])
def test_dp_blur_is_the_blur_of_the_dp_pix_image(name):
    image = cv2.imread(str(SAMPLES / name), cv2.IMREAD_UNCHANGED)
    pixelated = dp_pix(image, b=4, rng=12)
    blurred = dp_blur(image, b0=4, k=99, rng=12)  # same seed: same DP-Pix step
    exact = cv2.GaussianBlur(pixelated.astype(np.float64), (99, 99), 0)
    # The blur is rendered from exact samples every 2 px and a bilinear
    # upsampling with a proven error below 0.6 grey level: within +-1 of the
    # correctly rounded blur, and equal to it almost everywhere.
    off = np.abs(blurred - np.rint(exact))
    assert off.max() <= 1 and np.mean(off == 0) > 0.95
    opencv_8bit = cv2.GaussianBlur(pixelated, (99, 99), 0)
    diff = np.abs(blurred.astype(int) - opencv_8bit)
    # OpenCV's 8-bit path is fixed point and itself errs by up to ~2.7 levels
    assert diff.max() <= 3 and np.mean(diff <= 2) > 0.999


def test_dp_blur_custom_sigma_and_small_kernel():
    image = cv2.imread(str(SAMPLES / "camera.png"), cv2.IMREAD_GRAYSCALE)
    pixelated = dp_pix(image, b=2, rng=1)
    out = dp_blur(image, b0=2, k=7, sigma=1.5, rng=1)
    exact = cv2.GaussianBlur(pixelated.astype(np.float64), (7, 7), 1.5)
    assert np.abs(out - exact).max() <= 0.5 + 1e-3


def test_cell_noise_scale_exact_numbers():
    np.testing.assert_allclose(
        cell_noise_scale((20, 20), b=16, m=16, eps=0.5),
        [
            [255 * 16 / (256 * 0.5), 255 * 16 / (64 * 0.5)],
            [255 * 16 / (64 * 0.5), 255 * 16 / (16 * 0.5)],
        ],
    )
    # the paper's value for full gray cells at the defaults
    assert cell_noise_scale((1080, 1920))[0, 0] == 255 * 16 / (16 * 16 * 0.5)
    # colour: three times the gray scale at the same total eps
    np.testing.assert_allclose(cell_noise_scale((20, 20, 3)), 3 * cell_noise_scale((20, 20)))
    assert cell_noise_scale((1080, 1920)).shape == (68, 120)


BAD_CALLS = [
    (lambda img: dp_pix(img, b=0), "b"),
    (lambda img: dp_pix(img, b=2.5), "b"),
    (lambda img: dp_pix(img, m=0), "m"),
    (lambda img: dp_pix(img, eps=0), "eps"),
    (lambda img: dp_pix(img, eps=-1), "eps"),
    (lambda img: dp_pix(img, eps=float("nan")), "eps"),
    (lambda img: dp_pix(img, eps=float("inf")), "eps"),
    (lambda img: dp_pix(img, output="tiles"), "output"),
    (lambda img: dp_pix(img, rng="seed"), "rng"),
    (lambda img: dp_blur(img, k=98), "odd"),
    (lambda img: dp_blur(img, b0=-4), "b0"),
    (lambda img: dp_blur(img, sigma=-1), "sigma"),
    (lambda img: np_blur(img, k=4), "odd"),
    (lambda img: np_pix(img, b=0), "b"),
    (lambda img: cell_noise_scale(img.shape, eps=0), "eps"),
]


@pytest.mark.parametrize("call, word", BAD_CALLS)
def test_bad_parameters_raise_value_error(call, word):
    image = np.zeros((8, 8), dtype=np.uint8)
    with pytest.raises(ValueError, match=word):
        call(image)


@pytest.mark.parametrize(
    "image, word",
    [
        (np.zeros((8, 8), dtype=np.float32), "uint8"),
        (np.zeros((8, 8), dtype=np.uint16), "uint8"),
        (np.zeros((8, 8, 4), dtype=np.uint8), "alpha"),
        (np.zeros((8, 8, 2), dtype=np.uint8), "shape"),
        (np.zeros((8,), dtype=np.uint8), "shape"),
        (np.zeros((0, 8), dtype=np.uint8), "empty"),
        ([[1, 2], [3, 4]], "NumPy"),
    ],
)
@pytest.mark.parametrize("mechanism", [dp_pix, np_pix, dp_blur, np_blur])
def test_bad_images_raise_value_error(mechanism, image, word):
    with pytest.raises(ValueError, match=word):
        mechanism(image)
