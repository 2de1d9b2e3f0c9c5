"""DP-Blur's Gaussian blur from the cell grid: exact samples every ``s`` pixels, then bilinear.

The Gaussian blur of a block image is a linear map of the cell values. Along
one axis, the blurred image averaged over pixels ``s i, ..., s i + s - 1`` is
``sum_j A[i, j] low[j]`` with ``A[i, j]`` the sum of the kernel taps that land
on cell ``j`` (``BORDER_REFLECT_101`` included): one short correlation per
phase of the samples against the cells, computed on the small grid. Those
samples, one more beyond each end, are upsampled ``s``-fold with
``cv2.resize(INTER_LINEAR)``, whose half-pixel convention puts sample ``i`` at
the centre of its ``s`` pixels.

Error bound (checked per call, else the caller blurs exactly): per axis the
whole path is a matrix ``W = R A`` of the cells (``R`` the linear
interpolation) against the exact blur ``K``; both have rows that sum to 1 and
``W >= 0``. For cell values in ``[0, 255]`` the 2-D error at any pixel is
``|((W_y (x) W_x) - (K_y (x) K_x)) v| <= 127.5 (e_y + e_x)`` with
``e = max_row ||W - K||_1`` (centre ``v`` at 127.5, then
``W_y (x) W_x - K_y (x) K_x = (W_y - K_y) (x) W_x + K_y (x) (W_x - K_x)``).
``e`` is computed from the actual matrices, borders and partial cells
included. Below 1 grey level (with float32 rounding, ~1e-3, on top) the
rounded output is within +-1 of ``rint`` of the exact float64 blur. For
``k = 99`` (sigma 15.2) at ``b0 = 4`` with ``s = 2`` the bound is ~0.55.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

__all__ = ["axis_plan", "blur_from_grid", "error_bound"]

# Accept the sampled path when 127.5 (e_y + e_x) is below this (float32 rounding
# of the few operations adds well under 0.01).
_MAX_BOUND = 0.95
# Axes longer than this are checked on a shorter axis with the same ends.
_CHECK_LENGTH = 2048


def _reflect101(p: np.ndarray, n: int) -> np.ndarray:
    """OpenCV's ``BORDER_REFLECT_101`` index, periodic for kernels longer than the axis."""
    if n == 1:
        return np.zeros_like(p)
    period = 2 * (n - 1)
    p = np.mod(p, period)
    return np.where(p >= n, period - p, p)


def _taps(k: int, sigma: float) -> np.ndarray:
    return cv2.getGaussianKernel(k, sigma, ktype=cv2.CV_64F).ravel()


def _sample_rows(first: np.ndarray, n_out: int, b0: int, s: int, taps: np.ndarray):
    """Dense rows of ``A`` for samples starting at pixels ``first`` (each ``s`` pixels)."""
    half = taps.size // 2
    n_low = -(-n_out // b0)
    d = np.arange(-half, half + 1)
    rows = np.zeros((first.size, n_low))
    for r, p0 in enumerate(first):
        for p in range(p0, p0 + s):
            cells = _reflect101(p + d, n_out) // b0
            rows[r] += np.bincount(cells, weights=taps, minlength=n_low) / s
    return rows


def _exact_rows(n_out: int, b0: int, taps: np.ndarray) -> np.ndarray:
    """``K``: the exact blur of every pixel as weights on the cells."""
    return _sample_rows(np.arange(n_out), n_out, b0, 1, taps)


def _linear_rows(n_out: int, s: int, n_samples: int) -> np.ndarray:
    """``R``: ``cv2.resize(INTER_LINEAR)`` by ``s``, cropped ``s`` pixels in (one sample)."""
    src = (np.arange(n_out) + s + 0.5) / s - 0.5
    lo = np.floor(src).astype(np.int64)
    frac = src - lo
    rows = np.zeros((n_out, n_samples))
    rows[np.arange(n_out), lo] = 1 - frac
    rows[np.arange(n_out), lo + 1] += frac
    return rows


@functools.lru_cache(maxsize=64)
def axis_plan(n_out: int, b0: int, s: int, k: int, sigma: float):
    """How to compute the ``n_s + 2`` samples of one axis from its ``n_low`` cells.

    Returns ``(phases, edge, cols, edge_rows)``: ``phases`` is a list of
    ``(weights, anchor, cell_start, q_start, q_step, count)``: a correlation of
    the cells with ``weights`` whose entries ``cell_start ...`` go to samples
    ``q_start, q_start + q_step, ...``; ``edge`` the sample indices near the
    borders, computed as ``low[cols] @ edge_rows.T``.
    """
    taps = _taps(k, sigma)
    half = k // 2
    n_s = -(-n_out // s)
    q = np.arange(n_s + 2)
    first = s * (q - 1)  # first pixel of sample q (q = 0 and n_s + 1 lie beyond the ends)
    interior = (first - half >= 0) & (first + s - 1 + half <= n_out - 1)
    per_cell = b0 // s
    phases = []
    d = np.arange(-half, half + 1)
    for r in range(per_cell):
        qs = q[interior & ((first // s) % per_cell == r)]
        if qs.size == 0:
            continue
        cells = np.concatenate([(s * r + t + d) // b0 for t in range(s)])
        lo = int(cells.min())
        weights = np.bincount(cells - lo, weights=np.tile(taps, s) / s)
        # sample q = 1 + per_cell * j + r starts in cell j; its weights begin at j + lo
        j0 = (int(qs[0]) - 1 - r) // per_cell
        phases.append((weights.astype(np.float32), -lo, j0, int(qs[0]), per_cell, qs.size))
    edge = q[~interior]
    rows = _sample_rows(first[edge], n_out, b0, s, taps)
    cols = np.flatnonzero(rows.any(axis=0))
    return phases, edge, cols, rows[:, cols].astype(np.float32)


@functools.lru_cache(maxsize=64)
def _axis_error(n_out: int, b0: int, s: int, k: int, sigma: float) -> float:
    """``max_row ||R A - K||_1`` along one axis (see the module docstring)."""
    period = 2 * b0
    if n_out > _CHECK_LENGTH:
        # the interior rows repeat with period b0 and the two ends do not see each
        # other: a shorter axis with the same length modulo 2 b0 has the same rows
        n_out = _CHECK_LENGTH - _CHECK_LENGTH % period + n_out % period
    taps = _taps(k, sigma)
    n_s = -(-n_out // s)
    first = s * (np.arange(n_s + 2) - 1)
    a = _sample_rows(first, n_out, b0, s, taps)
    w = _linear_rows(n_out, s, n_s + 2) @ a
    return float(np.abs(w - _exact_rows(n_out, b0, taps)).sum(axis=1).max())


def error_bound(height: int, width: int, b0: int, s: int, k: int, sigma: float) -> float:
    """Largest possible ``|sampled - exact|`` blur of any block image, in grey levels."""
    return 127.5 * (_axis_error(height, b0, s, k, sigma) + _axis_error(width, b0, s, k, sigma))


def sample_step(height: int, width: int, b0: int, k: int, sigma: float) -> int | None:
    """The coarsest sample step ``s`` (a divisor of ``b0``, >= 2) within the bound, or None."""
    half = k // 2
    for s in range(b0, 1, -1):
        if b0 % s:
            continue
        # the phase correlations need a few interior samples per axis
        if min(height, width) < 2 * (2 * half + 2 * s) or min(height, width) < 4 * b0:
            continue
        if error_bound(height, width, b0, s, k, sigma) < _MAX_BOUND:
            return s
    return None


def _samples(low: np.ndarray, axis: int, n_out: int, b0: int, s: int, k: int, sigma: float):
    """Samples along ``axis`` (0 or 1) of ``low`` (shape ``(ny, nx, C)``), float32."""
    phases, edge, cols, rows = axis_plan(n_out, b0, s, k, sigma)
    n_s = -(-n_out // s)
    shape = list(low.shape)
    shape[axis] = n_s + 2
    out = np.empty(shape, dtype=np.float32)
    for weights, anchor, j0, q0, step, count in phases:
        kernel = weights.reshape(-1, 1) if axis == 0 else weights.reshape(1, -1)
        point = (0, anchor) if axis == 0 else (anchor, 0)
        filt = cv2.filter2D(
            low, cv2.CV_32F, kernel, anchor=point, borderType=cv2.BORDER_CONSTANT
        ).reshape(low.shape)  # OpenCV drops a single channel axis
        if axis == 0:
            out[q0 : q0 + step * count : step] = filt[j0 : j0 + count]
        else:
            out[:, q0 : q0 + step * count : step] = filt[:, j0 : j0 + count]
    # The samples near the borders (reflected windows) as small products, with
    # np.einsum's own single-threaded loop: both NumPy's and OpenCV's matrix
    # products go to a threaded OpenBLAS, whose threads spin after each call
    # (cv2.gemm took ~4 ms of a 576p RGB frame's 8 and doubled its CPU time).
    if axis == 0:
        picked = low[cols].reshape(cols.size, -1)
        edges = np.einsum("ej,jn->en", rows, picked)
        out[edge] = edges.reshape(edge.size, *low.shape[1:])
    else:
        r, _, c = low.shape
        picked = np.ascontiguousarray(low[:, cols].transpose(1, 0, 2)).reshape(cols.size, r * c)
        edges = np.einsum("ej,jn->en", rows, picked)
        out[:, edge] = edges.reshape(edge.size, r, c).transpose(1, 0, 2)
    return out


def blur_from_grid(
    grid: np.ndarray, height: int, width: int, b0: int, s: int, k: int, sigma: float
) -> np.ndarray:
    """Blur of the block image of ``grid`` (``(ny, nx, C)``), rounded to uint8.

    The samples are upsampled in 8.8 fixed point (uint16, ``256 x`` grey
    level: rounding the samples and the interpolated values adds at most
    ``2 / 512`` grey level to the bound) to halve the memory of the
    full-size intermediate, then rounded to uint8. Shape ``(H, W)`` for one
    channel and ``(H, W, C)`` otherwise.
    """
    if grid.shape[2] > 1:
        # plane by plane: single-channel filters, slices and resizes are several
        # times faster per value than interleaved ones, and merging is one pass
        planes = [
            blur_from_grid(grid[:, :, c : c + 1], height, width, b0, s, k, sigma)
            for c in range(grid.shape[2])
        ]
        return cv2.merge(planes)
    low = grid.astype(np.float32)
    # columns first on the small grid: (ny, nx, C) -> (n_sy + 2, nx, C) -> (.., n_sx + 2, C)
    samples = _samples(_samples(low, 0, height, b0, s, k, sigma), 1, width, b0, s, k, sigma)
    if samples.shape[2] == 1:
        samples = samples[:, :, 0]
    # values are in [0, 255] (non-negative weights summing to 1): 256 x fits uint16
    fixed = np.empty(samples.shape, dtype=np.uint16)
    np.rint(np.multiply(samples, 256.0, out=samples), out=samples)
    fixed[...] = samples
    n_y, n_x = samples.shape[:2]
    up = cv2.resize(fixed, (n_x * s, n_y * s), interpolation=cv2.INTER_LINEAR)
    return cv2.convertScaleAbs(up[s : s + height, s : s + width], alpha=1 / 256)
