"""Closed-form expected MSE against exact sums, integrals and seeded simulation on real data."""

import math

import cv2
import numpy as np
import pytest
from scipy import integrate

import dpimage
from conftest import SAMPLES
from dpimage import datasets
from dpimage.cells import render_blocks
from dpimage.eval.predict import (
    _blurred_blocks,
    _effective_weights,
    clipped_laplace_moments,
    discrete_laplace_variance,
    predict_dp_blur,
    predict_dp_pix,
)
from dpimage.io import read_image
from dpimage.metrics import mse


@pytest.mark.parametrize("scale", [0.5, 3.0, 40.0])
def test_discrete_laplace_variance_is_the_exact_sum(scale):
    z = np.arange(-4000, 4001)
    pmf = np.exp(-np.abs(z) / scale)
    pmf /= pmf.sum()
    assert discrete_laplace_variance(scale) == pytest.approx(float(np.sum(pmf * z**2)), rel=1e-9)


@pytest.mark.parametrize("mu, s", [(10.0, 30.0), (128.0, 5.0), (250.0, 400.0), (0.0, 1.0)])
def test_clipped_moments_match_numerical_integration(mu, s):
    def density(x):
        return math.exp(-abs(x) / s) / (2 * s)

    def moment(power):
        inside, _ = integrate.quad(
            lambda x: x**power * density(x), -mu, 255 - mu, points=[0.0], limit=200
        )
        low = (-mu) ** power * 0.5 * math.exp(-mu / s)
        high = (255 - mu) ** power * 0.5 * math.exp(-(255 - mu) / s)
        return inside + low + high

    bias, second = clipped_laplace_moments(np.array([mu]), s)
    assert bias[0] == pytest.approx(moment(1), rel=1e-7, abs=1e-9)
    assert second[0] == pytest.approx(moment(2), rel=1e-7)


def _measured(mechanism, images, seeds=3):
    return float(
        np.mean(
            [
                mse(mechanism(x, np.random.default_rng([s, i])), x)
                for s in range(seeds)
                for i, x in enumerate(images)
            ]
        )
    )


@pytest.fixture(scope="module")
def one_face_each(faces):
    return faces[0][::10]  # one face of each of the 40 people


def test_dp_pix_prediction_within_5_percent_where_clipping_is_rare(one_face_each):
    # b = 16, m = 16, eps = 2: noise scale 8 grey levels on a cell mean
    measured = _measured(lambda x, r: dpimage.dp_pix(x, b=16, m=16, eps=2.0, rng=r), one_face_each)
    plain = np.mean([predict_dp_pix(x, 16, 16, 2.0).mse for x in one_face_each])
    clipped = np.mean([predict_dp_pix(x, 16, 16, 2.0, clip=True).mse for x in one_face_each])
    assert plain == pytest.approx(measured, rel=0.05)
    assert clipped == pytest.approx(measured, rel=0.05)


def test_dp_pix_no_clip_model_breaks_under_heavy_clipping_and_the_clip_model_holds(one_face_each):
    # b = 8, eps = 0.5: scale 128 grey levels per cell mean, most cells clip
    measured = _measured(lambda x, r: dpimage.dp_pix(x, b=8, m=16, eps=0.5, rng=r), one_face_each)
    plain = np.mean([predict_dp_pix(x, 8, 16, 0.5).mse for x in one_face_each])
    clipped = np.mean([predict_dp_pix(x, 8, 16, 0.5, clip=True).mse for x in one_face_each])
    assert plain > 2 * measured  # clipping removes more than half of the error
    assert clipped == pytest.approx(measured, rel=0.05)


def test_mnist_clip_model_holds_where_the_plain_model_fails():
    digits, _ = datasets.mnist("test")
    sample = digits[:60]
    for eps in (0.1, 0.5):
        measured = _measured(
            lambda x, r, e=eps: dpimage.dp_pix(x, b=16, m=16, eps=e, rng=r), sample, seeds=2
        )
        clipped = np.mean([predict_dp_pix(x, 16, 16, eps, clip=True).mse for x in sample])
        plain = np.mean([predict_dp_pix(x, 16, 16, eps).mse for x in sample])
        assert clipped == pytest.approx(measured, rel=0.1)
        assert plain > 1.2 * measured


def test_clipped_error_of_a_cell_grows_with_the_noise():
    # (2) is increasing in s for every cell mean: with clipping done right, a cell's
    # expected error cannot fall as eps falls (see docs/results/utility.md on the MNIST anomaly)
    s = np.geomspace(0.1, 1e5, 400)
    for mu in (0.0, 3.0, 30.0, 128.0, 254.0):
        _, second = clipped_laplace_moments(np.full(s.shape, mu), s)
        assert np.all(np.diff(second) >= -1e-9)


def test_dp_pix_prediction_rgb_and_partial_cells():
    photo = datasets.photos()["astronaut"][:100, :90]  # partial cells at b = 16
    measured = _measured(lambda x, r: dpimage.dp_pix(x, b=16, m=2, eps=2.0, rng=r), [photo], 8)
    predicted = predict_dp_pix(photo, 16, 2, 2.0, clip=True).mse
    assert predicted == pytest.approx(measured, rel=0.1)


def test_effective_weights_are_the_blur_of_a_cell_indicator():
    # covers images smaller than the kernel (MNIST 28 px with k = 99): multiple reflections
    for n_y, n_x, b0, k in [(28, 28, 4, 99), (112, 92, 4, 99), (40, 30, 3, 7)]:
        wy = _effective_weights(n_y, b0, k, 0.0)
        wx = _effective_weights(n_x, b0, k, 0.0)
        assert np.allclose(wy.sum(axis=1), 1.0)
        grid = np.zeros((wy.shape[1], wx.shape[1]), dtype=np.float64)
        ky, kx = wy.shape[1] // 2, wx.shape[1] - 1
        grid[ky, kx] = 1.0
        blurred = cv2.GaussianBlur(render_blocks(grid, n_y, n_x, b0), (k, k), 0)
        assert np.allclose(blurred, np.outer(wy[:, ky], wx[:, kx]), atol=1e-9)


def test_dp_blur_prediction_matches_simulation(one_face_each):
    for eps, rel_plain in ((5.0, 0.1), (0.5, None)):
        measured = _measured(
            lambda x, r, e=eps: dpimage.dp_blur(x, b0=4, k=99, m=16, eps=e, rng=r), one_face_each, 2
        )
        clipped = np.mean(
            [predict_dp_blur(x, 4, 99, 16, eps, clip=True).mse for x in one_face_each]
        )
        plain = np.mean([predict_dp_blur(x, 4, 99, 16, eps).mse for x in one_face_each])
        assert clipped == pytest.approx(measured, rel=0.05)
        if rel_plain is not None:
            assert plain == pytest.approx(measured, rel=rel_plain)
        else:
            assert plain > 2 * measured  # eps = 0.5 at b0 = 4: clipping dominates


def test_dp_blur_noise_term_on_mid_grey_matches_simulation():
    # no clipping at all: mid-grey image, small noise; only the noise term is non-zero
    image = np.full((60, 50), 128, dtype=np.uint8)
    prediction = predict_dp_blur(image, b0=4, k=15, m=1, eps=1.0)
    assert prediction.np_mse == 0.0
    measured = _measured(
        lambda x, r: dpimage.dp_blur(x, b0=4, k=15, m=1, eps=1.0, rng=r), [image], seeds=40
    )
    assert prediction.noise_mse == pytest.approx(measured, rel=0.1)


def test_prediction_tends_to_np_error_at_large_eps(one_face_each):
    x = one_face_each[0]
    p = predict_dp_pix(x, 16, 1, 1e6)
    assert p.mse == pytest.approx(mse(dpimage.np_pix(x, 16), x), rel=1e-6)
    assert p.psnr == pytest.approx(10 * math.log10(255**2 / p.mse))


def test_prediction_rejects_bad_parameters(one_face_each):
    with pytest.raises(ValueError):
        predict_dp_pix(one_face_each[0], b=0)
    with pytest.raises(ValueError):
        predict_dp_blur(one_face_each[0], k=4)
    with pytest.raises(ValueError):
        discrete_laplace_variance(0.0)


# Moved from the web page's own predictor (tests/test_web_utility.py), which the page now
# replaced by this module: a second quadrature (of the clipped value itself) and Monte Carlo
# checks on a real photo cropped to have partial cells at b = 16 and b0 = 4.


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    image, _ = read_image(SAMPLES / "astronaut.jpg")
    return image[:150, :190]


@pytest.fixture(scope="module")
def gray() -> np.ndarray:
    image, _ = read_image(SAMPLES / "camera.png")
    return image[:150, :190]


@pytest.mark.parametrize(("mean", "scale"), [(128.0, 5.0), (10.0, 40.0), (250.0, 300.0), (0, 1)])
def test_clipped_moments_by_quadrature_of_the_clipped_value(mean, scale):
    def clipped(n: float) -> float:
        return min(max(mean + n, 0.0), 255.0) - mean

    def density(n: float) -> float:
        return np.exp(-abs(n) / scale) / (2 * scale)

    lo, hi = -mean - 50 * scale, 255 - mean + 50 * scale  # the tails beyond are < e^-50
    kinks = sorted({-mean, 0.0, 255.0 - mean})

    def quad(f):
        return integrate.quad(f, lo, hi, points=kinks, limit=200, epsabs=1e-12)[0]

    bias, second = clipped_laplace_moments(np.array(mean), np.array(scale))
    assert bias == pytest.approx(quad(lambda n: clipped(n) * density(n)), rel=1e-6, abs=1e-9)
    assert second == pytest.approx(quad(lambda n: clipped(n) ** 2 * density(n)), rel=1e-6)


def test_clipped_moments_no_clipping_limit_is_two_s_squared():
    _, second = clipped_laplace_moments(np.array(127.5), np.array(0.5))
    assert second == pytest.approx(2 * 0.25)


def _within_monte_carlo(predicted: float, runs: list[float]) -> bool:
    # within 4 standard errors plus one grey level squared (rounding is only partly modelled)
    return abs(predicted - np.mean(runs)) < 4 * np.std(runs) / np.sqrt(len(runs)) + 1.0


@pytest.mark.parametrize(("b", "m", "eps"), [(16, 16, 0.5), (8, 4, 5.0), (16, 1, 50.0)])
def test_dp_pix_clip_prediction_matches_monte_carlo_on_a_photo(photo, b, m, eps):
    runs = [mse(photo, dpimage.dp_pix(photo, b, m, eps, rng=seed)) for seed in range(40)]
    assert _within_monte_carlo(predict_dp_pix(photo, b, m, eps, clip=True).mse, runs)


@pytest.mark.parametrize(("b0", "k", "eps"), [(4, 25, 0.5), (4, 25, 5.0), (3, 15, 50.0)])
def test_dp_blur_clip_prediction_matches_monte_carlo_on_a_photo(photo, b0, k, eps):
    runs = [mse(photo, dpimage.dp_blur(photo, b0, k, 16, eps, rng=seed)) for seed in range(40)]
    assert _within_monte_carlo(predict_dp_blur(photo, b0, k, 16, eps, clip=True).mse, runs)


def test_dp_pix_clip_prediction_gray_photo(gray):
    runs = [mse(gray, dpimage.dp_pix(gray, 16, 16, 1.0, rng=seed)) for seed in range(40)]
    assert _within_monte_carlo(predict_dp_pix(gray, 16, 16, 1.0, clip=True).mse, runs)


def test_clip_prediction_beats_the_unclipped_formula(photo):
    """At strong privacy, NP error + 2 s^2 (no clipping) overshoots the real error badly."""
    b, m, eps = 16, 16, 0.5
    scale = dpimage.cell_noise_scale(photo.shape, b=b, m=m, eps=eps)
    counts = dpimage.cells.cell_counts(*photo.shape[:2], b)
    naive = mse(photo, dpimage.np_pix(photo, b)) + float(
        np.sum(counts * 2 * scale**2) / counts.sum()
    )
    runs = [mse(photo, dpimage.dp_pix(photo, b, m, eps, rng=seed)) for seed in range(40)]
    assert naive > 2 * np.mean(runs)
    assert predict_dp_pix(photo, b, m, eps, clip=True).mse < 1.1 * np.mean(runs)
    assert predict_dp_pix(photo, b, m, eps).mse > 2 * np.mean(runs)  # the no-clip model too


@pytest.mark.parametrize(("shape", "b0", "k"), [((150, 190, 3), 4, 25), ((37, 45, 1), 3, 99)])
def test_blurred_blocks_equal_opencv_blur_of_the_block_image(photo, shape, b0, k):
    h, w, c = shape
    image = photo[:h, :w] if c == 3 else photo[:h, :w, 0]  # colour, and gray smaller than k
    grid = dpimage.np_pix(image, b=b0, output="grid").astype(np.float64) + 0.3
    grid = grid.reshape(grid.shape[0], grid.shape[1], c)
    expected = cv2.GaussianBlur(render_blocks(grid.astype(np.float32), h, w, b0), (k, k), 0)
    got = _blurred_blocks(grid, h, w, b0, k, 0.0)
    assert np.allclose(got.reshape(expected.shape), expected, atol=1e-3)
