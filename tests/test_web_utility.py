"""The web page's utility numbers: expected-MSE predictor and fast SSIM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import integrate

import dpimage
from dpimage.io import read_image
from dpimage.web import _utility as u

skimage_metrics = pytest.importorskip("skimage.metrics")

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    # A real photo, cropped to a size with partial cells at b = 16 and b0 = 4.
    image, _ = read_image(SAMPLES / "astronaut.jpg")
    return image[:150, :190]


@pytest.fixture(scope="module")
def gray() -> np.ndarray:
    image, _ = read_image(SAMPLES / "camera.png")
    return image[:150, :190]


@pytest.mark.parametrize("which", ["photo", "gray"])
def test_ssim_equals_scikit_image(which, request):
    image = request.getfixturevalue(which)
    test = dpimage.dp_pix(image, b=8, m=4, eps=2, rng=3)
    channel_axis = -1 if image.ndim == 3 else None
    expected = skimage_metrics.structural_similarity(
        image, test, data_range=255, channel_axis=channel_axis
    )
    assert u.ssim(image, test) == pytest.approx(expected, abs=1e-10)
    assert u.ssim(image, image) == pytest.approx(1.0)


def test_ssim_rejects_bad_shapes():
    with pytest.raises(ValueError, match="shapes differ"):
        u.ssim(np.zeros((8, 8)), np.zeros((8, 9)))
    with pytest.raises(ValueError, match="at least 7x7"):
        u.ssim(np.zeros((6, 8)), np.zeros((6, 8)))


def test_fast_mse_is_exact(photo):
    test = dpimage.dp_pix(photo, b=8, m=4, eps=1, rng=1)
    diff = photo.astype(np.int64) - test.astype(np.int64)
    assert u.mse(photo, test) == float(np.sum(diff * diff)) / photo.size
    assert u.mse(photo, test) == u.mse(photo.astype(np.float32), test.astype(np.float32))
    with pytest.raises(ValueError, match="shapes differ"):
        u.mse(photo, photo[1:])


def test_mse_and_psnr():
    a = np.zeros((4, 4), dtype=np.uint8)
    b = np.full((4, 4), 3, dtype=np.uint8)
    assert u.mse(a, b) == 9.0
    assert u.psnr(9.0) == pytest.approx(10 * np.log10(255**2 / 9))
    assert u.psnr(0.0) == np.inf


@pytest.mark.parametrize(("mean", "scale"), [(128.0, 5.0), (10.0, 40.0), (250.0, 300.0), (0, 1)])
def test_clipped_laplace_moments_by_quadrature(mean, scale):
    def clipped(n: float) -> float:
        return min(max(mean + n, 0.0), 255.0) - mean

    def density(n: float) -> float:
        return np.exp(-abs(n) / scale) / (2 * scale)

    lo, hi = -mean - 50 * scale, 255 - mean + 50 * scale  # the tails beyond are < e^-50
    kinks = sorted({-mean, 0.0, 255.0 - mean})

    def quad(f):
        return integrate.quad(f, lo, hi, points=kinks, limit=200, epsabs=1e-12)[0]

    bias_q = quad(lambda n: clipped(n) * density(n))
    second_q = quad(lambda n: clipped(n) ** 2 * density(n))
    bias, second = u.clipped_laplace_moments(np.array(mean), np.array(scale))
    assert bias == pytest.approx(bias_q, rel=1e-6, abs=1e-9)
    assert second == pytest.approx(second_q, rel=1e-6)


def test_no_clipping_limit_is_two_s_squared():
    _, second = u.clipped_laplace_moments(np.array(127.5), np.array(0.5))
    assert second == pytest.approx(2 * 0.25)


@pytest.mark.parametrize(("b", "m", "eps"), [(16, 16, 0.5), (8, 4, 5.0), (16, 1, 50.0)])
def test_dp_pix_prediction_matches_monte_carlo(photo, b, m, eps):
    runs = [u.mse(photo, dpimage.dp_pix(photo, b, m, eps, rng=seed)) for seed in range(40)]
    predicted = u.predicted_mse_dp_pix(photo, b, m, eps)
    spread = np.std(runs) / np.sqrt(len(runs))
    # Within 4 standard errors plus one grey level squared (rounding is not modelled).
    assert abs(predicted - np.mean(runs)) < 4 * spread + 1.0


@pytest.mark.parametrize(("b0", "k", "eps"), [(4, 25, 0.5), (4, 25, 5.0), (3, 15, 50.0)])
def test_dp_blur_prediction_matches_monte_carlo(photo, b0, k, eps):
    runs = [u.mse(photo, dpimage.dp_blur(photo, b0, k, 16, eps, rng=seed)) for seed in range(40)]
    predicted = u.predicted_mse_dp_blur(photo, b0, k, 16, eps)
    spread = np.std(runs) / np.sqrt(len(runs))
    assert abs(predicted - np.mean(runs)) < 4 * spread + 1.0


def test_gray_prediction(gray):
    runs = [u.mse(gray, dpimage.dp_pix(gray, 16, 16, 1.0, rng=seed)) for seed in range(40)]
    predicted = u.predicted_mse_dp_pix(gray, 16, 16, 1.0)
    assert abs(predicted - np.mean(runs)) < 4 * np.std(runs) / np.sqrt(40) + 1.0


def test_prediction_beats_the_unclipped_formula(photo):
    """At strong privacy, NP error + 2 s^2 (no clipping) overshoots the real error badly."""
    b, m, eps = 16, 16, 0.5
    scale = dpimage.cell_noise_scale(photo.shape, b=b, m=m, eps=eps)
    counts = dpimage.cells.cell_counts(*photo.shape[:2], b)
    naive = u.mse(photo, dpimage.np_pix(photo, b)) + float(
        np.sum(counts * 2 * scale**2) / counts.sum()
    )
    runs = [u.mse(photo, dpimage.dp_pix(photo, b, m, eps, rng=seed)) for seed in range(40)]
    assert naive > 2 * np.mean(runs)
    assert u.predicted_mse_dp_pix(photo, b, m, eps) < 1.1 * np.mean(runs)
