"""Blocks then Gaussian blur: DP-Blur's rendering (Fan 2019), computed from the cells.

Post-processing of a :class:`~dpimage.release.Release` (DP-Pix at cell side
``b0``): the clipped, rounded block image is blurred with a ``k x k``
Gaussian, ``BORDER_REFLECT_101`` as ``cv2.GaussianBlur``, without building the
block image. Reads the release only, so it costs no ε.
"""

from __future__ import annotations

import cv2
import numpy as np

from .._validation import check_kernel_size, check_sigma
from ..release import Release
from ._grid_blur import blur_from_grid, sample_step
from .blocks import as_pixels, blocks

__all__ = ["blur", "blur_blocks", "fold_kernel", "gaussian_blur", "upsample_blur_axis"]


# Kernels up to this size are used as they are (OpenCV's own path, byte for byte as
# before); a larger one that is also wider than an axis is folded onto that axis.
_FOLD_ABOVE = 1023


def fold_kernel(taps: np.ndarray, n: int) -> np.ndarray:
    """An equivalent kernel of at most ``2 n - 1`` taps for an axis of ``n`` pixels.

    Under ``BORDER_REFLECT_101`` the padded signal is periodic with period
    ``P = 2 (n - 1)``, so the taps at offsets ``d`` and ``d + P`` read the same
    pixel: adding each tap onto its offset modulo ``P`` (centred on
    ``-(n - 1) .. n - 1``, the two ends being the same class, split in half to
    stay symmetric) gives the same correlation, exactly in real arithmetic,
    with a kernel no wider than the axis allows. OpenCV then needs buffers of
    the order of the image instead of the kernel (``k = 10**6`` on a small
    image asked for gigabytes). Kernels not wider than ``2 n - 1`` are
    returned as they are.
    """
    taps = np.asarray(taps, dtype=np.float64).ravel()
    half = taps.size // 2
    if half < n:
        return taps
    if n == 1:
        return np.ones(1)  # every offset reads the one pixel
    period = 2 * (n - 1)
    classes = np.bincount((np.arange(-half, half + 1) + n - 1) % period, weights=taps,
                          minlength=period)  # fmt: skip
    folded = np.empty(2 * n - 1)
    folded[:period] = classes  # index i is offset i - (n - 1)
    folded[0] /= 2.0  # offsets -(n - 1) and n - 1 read the same pixel
    folded[-1] = folded[0]
    return folded


def gaussian_blur(image: np.ndarray, k: int, sigma: float) -> np.ndarray:
    """``cv2.GaussianBlur(image, (k, k), sigma)`` with a kernel wider than the image folded.

    Up to ``k = 1023``, or while ``k // 2`` is below both sides, this is
    OpenCV's call itself. Beyond, each axis's kernel is folded onto it
    (:func:`fold_kernel`) and applied with ``cv2.sepFilter2D`` (the same
    ``BORDER_REFLECT_101``): the same blur up to rounding, in memory of the
    order of the image whatever ``k``.
    """
    height, width = image.shape[:2]
    if k <= _FOLD_ABOVE or k // 2 < min(height, width):
        return cv2.GaussianBlur(image, (k, k), sigma)
    taps = cv2.getGaussianKernel(k, sigma, ktype=cv2.CV_64F)
    out = cv2.sepFilter2D(
        image, -1, fold_kernel(taps, width), fold_kernel(taps, height),
        borderType=cv2.BORDER_REFLECT_101,
    )  # fmt: skip
    return out.reshape(image.shape)  # OpenCV drops a single channel axis


# Up to this many outputs along an axis, blurring the repeated signal directly (one
# correlation) costs less than the b0 per-phase correlations and their edge fixes.
_DIRECT_BELOW = 64


def upsample_blur_axis(
    low: np.ndarray, n_out: int, b0: int, kernel: np.ndarray, axis: int
) -> np.ndarray:
    """Blur, along ``axis``, the signal that repeats each entry of ``low`` ``b0`` times.

    Equal to repeating ``low`` ``b0``-fold along ``axis`` (cropped to ``n_out``)
    and correlating with ``kernel`` under ``BORDER_REFLECT_101``, as
    ``cv2.GaussianBlur`` does, but cheaper. Away from the borders, output
    ``y = b0 i + p`` only sees whole low-resolution entries: it is
    ``sum_j w_p[j] low[i + j]`` where ``w_p[j]`` adds up the kernel taps that fall
    on entry ``i + j``. Each of the ``b0`` phases is one short correlation on
    ``low``. The ``k // 2`` outputs at each end, whose windows are reflected at
    the border, are computed from the repeated signal directly.
    """
    if kernel.size > _FOLD_ABOVE:
        kernel = fold_kernel(kernel, n_out)  # no wider than the axis: memory of its order
    half = kernel.size // 2
    taps = kernel.ravel().astype(np.float64)

    def correlate(src: np.ndarray, weights: np.ndarray, anchor: int) -> np.ndarray:
        w = weights.astype(np.float32)
        w = w.reshape(-1, 1) if axis == 0 else w.reshape(1, -1)
        point = (0, anchor) if axis == 0 else (anchor, 0)
        out = cv2.filter2D(src, cv2.CV_32F, w, anchor=point, borderType=cv2.BORDER_REFLECT_101)
        return out.reshape(src.shape)  # OpenCV drops a single channel axis

    def direct(start: int, stop: int) -> np.ndarray:
        # repeat the entries covering [start - half, stop + half), then blur
        lo, hi = max(0, start - half), min(n_out, stop + half)
        entries = np.arange(lo, hi) // b0
        slab = np.take(low, entries, axis=axis)
        # reflection is only right at the true borders, which are inside the slab
        out = correlate(np.ascontiguousarray(slab), taps, half)
        return np.take(out, np.arange(start - lo, stop - lo), axis=axis)

    if n_out <= max(2 * half + 1, _DIRECT_BELOW):  # small: one pass beats b0 phases
        return direct(0, n_out)
    shape = list(low.shape)
    shape[axis] = n_out
    out = np.empty(shape, dtype=np.float32)
    interior = [slice(None)] * low.ndim
    for phase in range(min(b0, n_out)):  # phases past the axis have no outputs
        first_block = (phase - half) // b0
        weights = np.zeros((phase + half) // b0 - first_block + 1)
        np.add.at(weights, (phase + np.arange(-half, half + 1)) // b0 - first_block, taps)
        filtered = correlate(low, weights, -first_block)
        n_phase = len(range(phase, n_out, b0))
        interior[axis] = slice(phase, n_out, b0)
        out[tuple(interior)] = np.take(filtered, np.arange(n_phase), axis=axis)
    edge = [slice(None)] * low.ndim
    edge[axis] = slice(0, half)
    out[tuple(edge)] = direct(0, half)
    edge[axis] = slice(n_out - half, n_out)
    out[tuple(edge)] = direct(n_out - half, n_out)
    return out


def blur_blocks(
    grid: np.ndarray, height: int, width: int, b0: int, k: int, sigma: float
) -> np.ndarray:
    """Gaussian-blur the block image of ``grid`` (shape ``(ny, nx, C)``) without building it.

    The block image repeats each cell ``b0`` times along both axes; its blur
    with a separable ``k x k`` Gaussian (``BORDER_REFLECT_101``, the kernel
    ``cv2.GaussianBlur`` uses) is computed from the cells. When the blur is
    wide enough for it (k = 99 at b0 = 4), exact samples every few pixels are
    interpolated bilinearly, with a proven error below one grey level
    (:mod:`dpimage.render._grid_blur`): the result is within +-1 of ``rint`` of
    the exact float64 blur. Otherwise every pixel is computed one axis at a
    time by :func:`upsample_blur_axis`, in float32, and rounded once. Returns
    uint8 of shape ``(height, width, C)``.
    """
    step = sample_step(height, width, b0, k, sigma)
    if step is not None:
        # Exact samples every `step` pixels and a bilinear upsampling, whose error
        # is proven below one grey level for these sizes (see _grid_blur).
        return blur_from_grid(grid, height, width, b0, step, k, sigma).reshape(height, width, -1)
    kernel = cv2.getGaussianKernel(k, sigma, ktype=cv2.CV_64F)
    low = np.ascontiguousarray(grid.astype(np.float32))
    rows = upsample_blur_axis(low, width, b0, kernel, axis=1)
    full = upsample_blur_axis(rows, height, b0, kernel, axis=0)
    # Saturating round-half-even to uint8 in one pass (values are already >= 0:
    # a positive-weight average of values in [0, 255]).
    return cv2.convertScaleAbs(full).reshape(height, width, -1)


def blur(release: Release, *, k: int = 99, sigma: float | None = None) -> np.ndarray:
    """Blocks of the clipped, rounded means, blurred with a ``k x k`` Gaussian.

    Parameters
    ----------
    release : Release
        Typically DP-Pix at ``b0 = 4`` (DP-Blur).
    k : int, default 99
        Odd kernel size.
    sigma : float, optional
        ``None`` (or 0) derives it from ``k`` as OpenCV does
        (``0.3 ((k - 1) / 2 - 1) + 0.8``).

    Returns
    -------
    ndarray of uint8, shape ``release.shape``
    """
    k = check_kernel_size(k)
    sigma = check_sigma(sigma)
    if k == 1:  # a 1x1 Gaussian is the identity: the release is painted as blocks
        return blocks(release)
    height, width = release.shape[:2]
    out = blur_blocks(as_pixels(release.means), height, width, release.b, k, sigma)
    return out[:, :, 0] if len(release.shape) == 2 else out
