"""Argument checks shared by the mechanisms.

Every check runs before any work is done, and raises :class:`ValueError` with a
message that says what to pass instead.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "MAX_KERNEL_SIZE",
    "check_image",
    "check_kernel_size",
    "check_positive_float",
    "check_positive_int",
    "check_sigma",
]


def check_image(image: np.ndarray, *, name: str = "image") -> np.ndarray:
    """Return ``image`` as an ndarray after checking it is uint8 gray or RGB.

    Accepted: ``uint8`` arrays of shape ``(H, W)`` (gray) or ``(H, W, 3)`` (RGB),
    with ``H, W >= 1``. Anything else raises :class:`ValueError`: the privacy
    model is stated for 8-bit pixels (a pixel changes by at most 255), so other
    dtypes would need a different sensitivity.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name} must be a NumPy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(
            f"{name} must have dtype uint8 (8-bit pixels), got {image.dtype}; "
            "convert first, e.g. skimage.util.img_as_ubyte(image)"
        )
    if image.ndim == 3 and image.shape[2] == 4:
        raise ValueError(
            f"{name} has 4 channels; drop the alpha channel first (image[..., :3]): "
            "alpha can carry content and is not released"
        )
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(
            f"{name} must have shape (H, W) for gray or (H, W, 3) for RGB, got {image.shape}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {image.shape})")
    return image


def check_positive_int(value: object, name: str) -> int:
    """Return ``value`` as an int, requiring an integral number >= 1."""
    if type(value) is int and value >= 1:  # the common case, without the ABC checks
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def check_positive_float(value: object, name: str) -> float:
    """Return ``value`` as a float, requiring a finite real number > 0."""
    if type(value) is float and 0.0 < value < math.inf:  # the common case
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    as_float = float(value)
    if not math.isfinite(as_float) or as_float <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return as_float


#: Largest Gaussian kernel side. A kernel wider than the image is folded onto it
#: (:func:`dpimage.render.blur.gaussian_blur`), so memory stays of the order of
#: the image for any accepted k; the bound keeps the kernel itself (8 bytes a
#: tap) and the time to build it small. Its sigma (0.15 k) is then ~157,000
#: pixels: every accepted image is flat under a wider blur.
MAX_KERNEL_SIZE = 2**20 + 1


def check_kernel_size(value: object, name: str = "k") -> int:
    """Return an odd positive Gaussian kernel size, at most :data:`MAX_KERNEL_SIZE`.

    Odd because OpenCV's Gaussian kernels are centred.
    """
    k = check_positive_int(value, name)
    if k % 2 == 0:
        raise ValueError(f"{name} must be odd (Gaussian kernels are centred), got {k}")
    if k > MAX_KERNEL_SIZE:
        raise ValueError(
            f"{name} must be at most {MAX_KERNEL_SIZE:,} (already flat on any image), got {k:,}"
        )
    return k


def check_sigma(sigma: object) -> float:
    """Gaussian sigma, OpenCV convention: ``None`` or ``0`` derive it from the kernel size."""
    if sigma is None or sigma == 0:
        return 0.0
    return check_positive_float(sigma, "sigma")
