"""Utility metrics between an original image and its release: MSE, PSNR, SSIM.

All three take two arrays of the same shape, ``(H, W)`` (gray) or
``(H, W, C)`` (colour, channel last), on the 8-bit scale ``[0, 255]``
(any numeric dtype; they are compared as float64).

SSIM comes in two settings, because papers rarely say which they used and the
numbers differ noticeably:

``variant="skimage"``
    scikit-image's defaults: a 7x7 *uniform* window and the *sample*
    covariance (``N - 1`` normalisation). This is what
    ``skimage.measure.compare_ssim`` computed in 2018, so it is most likely
    what Fan (2018, 2019) report.
``variant="wang"``
    Wang et al. (2004) as published: an 11x11 Gaussian window with
    ``sigma = 1.5`` (scikit-image truncates at 3.5 sigma), the population
    covariance, ``K1 = 0.01``, ``K2 = 0.03``.

Both use ``data_range = 255`` and, for colour, the mean of the per-channel
SSIMs (``channel_axis=-1``).

References
----------
.. [1] Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality
   assessment: from error visibility to structural similarity", IEEE TIP 13(4), 2004.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

__all__ = ["DATA_RANGE", "SSIM_VARIANTS", "mse", "psnr", "psnr_from_mse", "ssim"]

#: Dynamic range of 8-bit pixels, used by PSNR and SSIM.
DATA_RANGE = 255.0

SsimVariant = Literal["skimage", "wang"]

#: Keyword arguments of :func:`skimage.metrics.structural_similarity` per variant.
SSIM_VARIANTS: dict[str, dict] = {
    "skimage": {"win_size": 7, "gaussian_weights": False, "use_sample_covariance": True},
    "wang": {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False},
}


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"images must have the same shape, got {a.shape} and {b.shape}")
    if a.ndim not in (2, 3) or a.size == 0:
        raise ValueError(f"images must be (H, W) or (H, W, C) and non-empty, got {a.shape}")
    return a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error over all pixels and channels, on the 0-255 scale.

    Examples
    --------
    >>> mse(np.array([[0, 255]]), np.array([[0, 0]]))
    32512.5
    """
    a, b = _pair(a, b)
    return float(np.mean((a - b) ** 2))


def psnr_from_mse(value: float) -> float:
    """``10 log10(255^2 / MSE)`` in dB; ``inf`` for identical images (MSE 0)."""
    value = float(value)
    if value < 0 or math.isnan(value):
        raise ValueError(f"MSE must be >= 0, got {value}")
    if value == 0:
        return math.inf
    return 10.0 * math.log10(DATA_RANGE**2 / value)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB with peak 255 (``inf`` if identical)."""
    return psnr_from_mse(mse(a, b))


def ssim(a: np.ndarray, b: np.ndarray, *, variant: SsimVariant = "skimage") -> float:
    """Structural similarity via scikit-image, in one of two stated settings.

    Parameters
    ----------
    a, b : ndarray, shape (H, W) or (H, W, C)
        Images on the 0-255 scale. Colour images are compared channel by
        channel (``channel_axis=-1``) and the channel SSIMs averaged.
    variant : {"skimage", "wang"}
        ``"skimage"``: 7x7 uniform window, sample covariance (scikit-image's
        defaults, likely the papers'). ``"wang"``: Gaussian window
        ``sigma = 1.5``, population covariance (Wang et al. 2004).

    Returns
    -------
    float
        Mean SSIM, at most 1 (identical images).

    Raises
    ------
    ValueError
        Unknown variant, shape mismatch, or an image smaller than the window
        (7 pixels for ``"skimage"``, 11 for ``"wang"``).
    """
    if variant not in SSIM_VARIANTS:
        raise ValueError(f"variant must be one of {sorted(SSIM_VARIANTS)}, got {variant!r}")
    a, b = _pair(a, b)
    window = 7 if variant == "skimage" else 11
    if min(a.shape[:2]) < window:
        raise ValueError(
            f"SSIM ({variant}) needs images of at least {window}x{window} pixels, got {a.shape[:2]}"
        )
    try:
        from skimage.metrics import structural_similarity
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "SSIM needs scikit-image: pip install 'dpimage[eval]' (or scikit-image)"
        ) from exc
    return float(
        structural_similarity(
            a,
            b,
            data_range=DATA_RANGE,
            channel_axis=-1 if a.ndim == 3 else None,
            **SSIM_VARIANTS[variant],
        )
    )
