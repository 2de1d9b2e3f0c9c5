"""Metrics against known values and an independent SSIM written from Wang et al. (2004)."""

import math

import numpy as np
import pytest
from scipy import ndimage

import dpimage
from dpimage import datasets
from dpimage.metrics import mse, psnr, psnr_from_mse, ssim


def test_mse_and_psnr_known_values():
    a = np.array([[0, 255]], dtype=np.uint8)
    b = np.array([[0, 0]], dtype=np.uint8)
    assert mse(a, b) == 255**2 / 2 == 32512.5
    assert psnr(a, b) == pytest.approx(10 * math.log10(2))  # 3.0103 dB
    assert psnr_from_mse(1.0) == pytest.approx(20 * math.log10(255))  # 48.13 dB
    assert psnr(a, a) == math.inf
    # uint8 inputs must not wrap around: 0 - 255 is -255, not 1
    assert mse(b, a) == 32512.5


def test_mse_rgb_averages_over_channels():
    a = np.zeros((2, 2, 3), dtype=np.uint8)
    b = a.copy()
    b[..., 0] = 30
    assert mse(a, b) == pytest.approx(30**2 / 3)


def _ssim_reference(x, y, variant):
    """SSIM written directly from Wang et al. (2004) eqs. (6), (13), (15)."""
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    if variant == "skimage":
        win, n = 7, 49

        def f(img):
            return ndimage.uniform_filter(img, size=win, mode="reflect")

        cov_norm = n / (n - 1)
    else:
        win = 11

        def f(img):
            return ndimage.gaussian_filter(img, sigma=1.5, truncate=3.5, mode="reflect")

        cov_norm = 1.0
    ux, uy = f(x), f(y)
    vx = cov_norm * (f(x * x) - ux * ux)
    vy = cov_norm * (f(y * y) - uy * uy)
    vxy = cov_norm * (f(x * y) - ux * uy)
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    pad = (win - 1) // 2
    return s[pad:-pad, pad:-pad].mean()


@pytest.mark.parametrize("variant", ["skimage", "wang"])
def test_ssim_matches_the_stated_setting_on_a_real_face(variant):
    faces, _ = datasets.orl_faces()
    x = faces[0]
    y = dpimage.dp_pix(x, b=8, m=4, eps=1.0, rng=0)
    assert ssim(x, y, variant=variant) == pytest.approx(_ssim_reference(x, y, variant), abs=1e-9)


def test_ssim_variants_differ_and_identity_is_one():
    faces, _ = datasets.orl_faces()
    x = faces[3]
    y = dpimage.np_blur(x, k=9)
    a, b = ssim(x, y, variant="skimage"), ssim(x, y, variant="wang")
    assert 0 < a < 1 and 0 < b < 1 and abs(a - b) > 1e-3
    assert ssim(x, x) == pytest.approx(1.0)
    assert ssim(x, x, variant="wang") == pytest.approx(1.0)


def test_ssim_rgb_is_mean_of_channels():
    photo = datasets.photos()["astronaut"][:96, :96]
    noisy = dpimage.dp_pix(photo, b=4, m=1, eps=2.0, rng=1)
    per_channel = [ssim(photo[..., c], noisy[..., c]) for c in range(3)]
    assert ssim(photo, noisy) == pytest.approx(np.mean(per_channel))


def test_metric_errors():
    a = np.zeros((8, 8), dtype=np.uint8)
    with pytest.raises(ValueError, match="same shape"):
        mse(a, np.zeros((8, 9)))
    with pytest.raises(ValueError, match="variant"):
        ssim(a, a, variant="gaussian")
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(a, a, variant="wang")
    with pytest.raises(ValueError, match=">= 0"):
        psnr_from_mse(-1.0)


@pytest.mark.parametrize("name", ["astronaut", "camera"])
def test_ssim_skimage_variant_equals_scikit_image(name):
    """The OpenCV implementation behind ``variant="skimage"`` is scikit-image's number."""
    skimage_metrics = pytest.importorskip("skimage.metrics")
    image = datasets.photos(gray=name == "camera")[name][:150, :190]  # colour / gray, odd sizes
    test = dpimage.dp_pix(image, b=8, m=4, eps=2, rng=3)
    expected = skimage_metrics.structural_similarity(
        image,
        test,
        data_range=255,
        channel_axis=-1 if image.ndim == 3 else None,
        win_size=7,
        gaussian_weights=False,
        use_sample_covariance=True,
    )
    assert ssim(image, test) == pytest.approx(expected, abs=1e-10)
    assert ssim(image.astype(np.float32), test) == pytest.approx(expected, abs=1e-10)
    assert ssim(image, image) == pytest.approx(1.0)


def test_ssim_rejects_bad_shapes():
    with pytest.raises(ValueError, match="same shape"):
        ssim(np.zeros((8, 8)), np.zeros((8, 9)))
    with pytest.raises(ValueError, match="at least 7x7"):
        ssim(np.zeros((6, 8)), np.zeros((6, 8)))


def test_uint8_mse_fast_path_is_exact():
    photo = datasets.photos()["astronaut"][:150, :190]
    test = dpimage.dp_pix(photo, b=8, m=4, eps=1, rng=1)
    diff = photo.astype(np.int64) - test.astype(np.int64)
    assert mse(photo, test) == float(np.sum(diff * diff)) / photo.size
    assert mse(photo, test) == mse(photo.astype(np.float32), test.astype(np.float32))
    a = np.zeros((4, 4), dtype=np.uint8)
    assert mse(a, np.full((4, 4), 3, dtype=np.uint8)) == 9.0
    assert psnr_from_mse(9.0) == pytest.approx(10 * np.log10(255**2 / 9))
    with pytest.raises(ValueError, match="same shape"):
        mse(photo, photo[1:])


def test_to_uint8_clips_scales_and_rounds_half_to_even():
    from dpimage.metrics import to_uint8

    x = np.array([[-0.5, 0.0, 0.5 / 255, 1.5 / 255, 0.5, 1.0, 2.0]])
    out = to_uint8(x)
    assert out.dtype == np.uint8
    assert out.tolist() == [[0, 0, 0, 2, 128, 255, 255]]
    assert psnr(to_uint8(x), to_uint8(x)) == float("inf")
