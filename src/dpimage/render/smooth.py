"""The ``smooth`` renderer: denoise the released cell grid, then interpolate it.

A renderer is post-processing: it reads only the release — the noisy cell
means (unclipped, as released) and public facts (image size, ``b``, and the
Laplace scale of the noise on each mean) — so it costs no privacy budget.
Nothing here sees the image, and no default below was tuned on the image
being rendered: the constants come from public photos that the evaluation
never uses (scikit-image's rocket and motorcycle, matplotlib's Grace Hopper,
gray and colour; ``benchmarks/utility_renderers.py --tune``,
``docs/results/utility/``) and are expressed as functions of the noise scale.

Measured (b = m = 16, eps = 0.5, 3 seeds; ``docs/results/utility/``): the
default learned path reaches camera 0.403 and PETS-2009 0.383 of DP-Pix
blocks' MSE (SSIM 0.53 against 0.32 for blocks and 0.45 for DP-Blur); the
TV path (``method="tv"``) 0.415 and 0.408.

The estimator
-------------
Cell ``k`` releases ``f_k = mu_k + z_k`` with ``z_k`` Laplace of scale
``s_k`` (variance ``2 s_k^2``); partial cells have fewer pixels, so larger
``s_k``. The grid estimate solves the weighted total-variation problem ::

    min_u  1/2 sum_k w_k |u_k - f_k|^2 + lambda TV(u)   subject to 0 <= u <= 255,

with inverse-variance weights ``w_k = (s_min / s_k)^2`` (a partial cell is
trusted less and is filled in from its neighbours), ``lambda = c * sqrt(2) *
s_min * sqrt(C)`` (a multiple ``c`` of the noise standard deviation of a full cell,
itself a slowly growing function of that deviation, :func:`tv_factor`) and the
box constraint: the true means lie in ``[0, 255]``, which is the clipping
prior used as a constraint on the estimate rather than as a biased clip of
each noisy value. TV is isotropic and couples the channels (colour edges
coincide). The problem is solved by Chambolle and Pock's primal-dual
algorithm, a fixed number of iterations (deterministic).

With ``method="tv"`` the grid is then interpolated to pixels (linear by
default), with each cell's value placed at its true centre — the centre of
a partial cell is nearer the border than ``b / 2``. The default
``method="learned"`` instead predicts 4 x 4 sub-block means per cell from
the TV grid and the released means with a ridge regression fitted on public
photos (:mod:`.learned`), then interpolates those linearly.

References
----------
.. [1] A. Chambolle, T. Pock, "A first-order primal-dual algorithm for convex
   problems with applications to imaging", JMIV 40, 2011.
.. [2] L. Fan, "Image Pixelization with Differential Privacy", DBSec 2018
   (post-processing named as future work).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..cells import render_blocks

__all__ = ["DEFAULT_TV_FACTOR", "smooth_grid", "tv_denoise_grid", "tv_factor", "upsample_grid"]

#: ``lambda / (noise std of a full cell)`` at a noise std of ``_REFERENCE_SD``.
#: Tuned for pixel MSE on public photos never evaluated (rocket, motorcycle,
#: Grace Hopper; gray, b = 16, m = 16): the best factor was ~1.0 at eps = 0.1
#: (std 225), ~0.5 at eps = 0.5 (std 45) and <= 0.4 at eps = 2 (std 11), i.e.
#: it grows with the noise as ``std ** 0.43``.
DEFAULT_TV_FACTOR = 0.5
_REFERENCE_SD = 45.0
_FACTOR_EXPONENT = 0.43
_FACTOR_RANGE = (0.15, 1.5)
#: Primal-dual iterations; the grid is small (1080p at b = 16 is 68 x 120). 40
#: reach the minimiser's MSE to ~3% at eps = 0.1 and to 0.1% from eps = 0.5 on.
DEFAULT_ITERATIONS = 40

_INTERPOLATION = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "lanczos": cv2.INTER_LANCZOS4,
}


def tv_factor(noise_sd: float) -> float:
    """Default TV strength, in units of the full-cell noise std ``noise_sd`` (public)."""
    raw = DEFAULT_TV_FACTOR * (noise_sd / _REFERENCE_SD) ** _FACTOR_EXPONENT
    return float(np.clip(raw, *_FACTOR_RANGE))


def tv_denoise_grid(
    means: np.ndarray,
    scale: np.ndarray,
    *,
    factor: float | None = None,
    iterations: int = DEFAULT_ITERATIONS,
    box: bool = True,
    huber: float = 0.0,
) -> np.ndarray:
    """Weighted, box-constrained TV estimate of the true cell means.

    Parameters
    ----------
    means : ndarray, shape (ny, nx, C)
        Released (noisy, unclipped) cell means.
    scale : ndarray, shape (ny, nx)
        Laplace scale of the noise on each mean (public).
    factor : float, optional
        ``lambda`` in units of a full cell's noise standard deviation (times
        ``sqrt(C)`` for the coupled channels); ``None`` takes
        :func:`tv_factor` of that deviation.
    iterations : int
        Chambolle–Pock iterations.
    box : bool
        Constrain the estimate to ``[0, 255]``.
    huber : float
        Huber-TV: differences below ``huber`` gray levels are penalised
        quadratically (less staircasing); 0 is plain TV.

    Returns
    -------
    ndarray of float64, shape (ny, nx, C)
    """
    grid = _tv_solve(means, scale, factor=factor, iterations=iterations, box=box, huber=huber)
    return grid.astype(np.float64, copy=False)


def _tv_solve(
    means: np.ndarray,
    scale: np.ndarray,
    *,
    factor: float | None,
    iterations: int,
    box: bool,
    huber: float,
) -> np.ndarray:
    """:func:`tv_denoise_grid` as the solver computes it: float32, float64 if constant.

    The iterations run in float32, so the float64 copy adds nothing but
    memory (at b = 1 a grid is as large as the image); the renderers read
    this one.
    """
    f = np.asarray(means, dtype=np.float64)
    s = np.asarray(scale, dtype=np.float64)
    s_min = float(s.min())
    weight = ((s_min / s) ** 2)[:, :, None]
    sd = math.sqrt(2.0) * s_min
    # The coupled (vectorial) TV norm of C channels with equal gradients is
    # sqrt(C) times one channel's, so lambda grows by sqrt(C) to smooth each
    # channel as much; on the public colour photos 1.5-2x was best (sqrt(3) = 1.73).
    lam = (tv_factor(sd) if factor is None else factor) * sd * math.sqrt(f.shape[2])
    if lam <= 0 or f.shape[0] * f.shape[1] == 1:
        out = np.average(f, axis=(0, 1), weights=np.broadcast_to(weight, f.shape))
        out = np.broadcast_to(out, f.shape).copy()
        return np.clip(out, 0, 255) if box else out
    # Step sizes with tau * sigma * ||grad||^2 <= 1 (||grad||^2 <= 8).
    tau = sigma = 0.99 / math.sqrt(8.0)
    # float32, channels first and preallocated buffers: the loop is bound by
    # NumPy call overhead, and contiguous channel planes add up cheaply
    f32 = np.ascontiguousarray(np.moveaxis(f, 2, 0), dtype=np.float32)
    tw = (tau * weight[:, :, 0]).astype(np.float32)
    keep = 1.0 / (1.0 + tw)  # u <- (u + tau div p + tw f) / (1 + tw)
    pull = tw * f32 * keep
    # f32 is not read again: it becomes u (one grid-sized buffer fewer; at
    # b = 1 a grid is as large as the image)
    u = np.clip(f32, 0.0, 255.0, out=f32) if box else f32
    del f32, tw, weight
    u_bar = u.copy()
    py = np.zeros_like(u)  # the last row of py / column of px stay zero
    px = np.zeros_like(u)
    norm = np.empty(u.shape[1:], dtype=np.float32)
    tmp = np.empty_like(u)
    # no more grid-sized buffers than needed: once the dual step has read
    # u_bar, u_bar is scratch (the squared px, then the divergence) until it
    # is recomputed, and tmp keeps the previous u in the primal step
    div = u_bar
    u_old = tmp
    inv_lam = np.float32(1.0 / lam)
    # prox of the Huber conjugate: shrink the dual before projecting it
    damp = np.float32(1.0 / (1.0 + sigma * huber / lam))
    for _ in range(iterations):
        # dual ascent on sigma * grad(u_bar), then projection on |p| <= lambda
        # (isotropic, the channels coupled)
        np.subtract(u_bar[:, 1:], u_bar[:, :-1], out=tmp[:, :-1])
        tmp[:, :-1] *= sigma
        py[:, :-1] += tmp[:, :-1]
        np.subtract(u_bar[:, :, 1:], u_bar[:, :, :-1], out=tmp[:, :, :-1])
        tmp[:, :, :-1] *= sigma
        px[:, :, :-1] += tmp[:, :, :-1]
        np.multiply(py, py, out=tmp)
        np.multiply(px, px, out=div)  # u_bar is not read again in this iteration
        tmp += div
        norm[...] = tmp[0]
        for plane in tmp[1:]:
            norm += plane
        if huber:
            py *= damp
            px *= damp
            norm *= damp * damp
        np.sqrt(norm, out=norm)
        norm *= inv_lam
        np.maximum(norm, 1.0, out=norm)
        py /= norm
        px /= norm
        # primal step: prox of the weighted data term (and the box)
        np.add(py, px, out=div)
        div[:, 1:] -= py[:, :-1]
        div[:, :, 1:] -= px[:, :, :-1]
        u_old[...] = u
        div *= tau
        u += div
        u *= keep
        u += pull
        if box:
            np.clip(u, 0.0, 255.0, out=u)
        np.multiply(u, 2.0, out=u_bar)
        u_bar -= u_old
    del u_bar, py, px, tmp, u_old, div, pull, keep
    return np.moveaxis(u, 0, 2)


def axis_sides(height: int, width: int, b: int) -> tuple[int, int]:
    """Cell side along each axis for upsampling: ``b``, or the axis length if shorter.

    A cell at least as long as its axis is one cell spanning the axis, so
    drawing it over ``min(b, L)`` pixels instead of ``b`` (then cropping)
    gives the same cell and keeps the upsampled arrays within twice the
    image, whatever ``b`` is.
    """
    return min(b, height), min(b, width)


def _centres(length: int, b: int) -> np.ndarray:
    """Pixel coordinate of each cell's centre along one axis (partial last cell too)."""
    n = -(-length // b)
    starts = np.arange(n) * b
    ends = np.minimum(starts + b, length)
    return (starts + ends - 1) / 2.0


def _fix_partial_strip(
    out: np.ndarray, low: np.ndarray, length: int, b: int, axis: int
) -> np.ndarray:
    """Re-interpolate linearly, along ``axis``, the pixels past the last full cell's centre.

    ``cv2.resize`` to the padded size ``n * b`` puts every centre at
    ``(i + 1/2) b - 1/2``; only a partial last cell is misplaced, and only the
    pixels between the previous centre and the border see it.
    """
    n = low.shape[axis]
    if n < 2 or length % b == 0:
        return out
    centres = _centres(length, b)
    first = math.floor(centres[-2]) + 1
    pos = np.arange(first, length, dtype=np.float64)
    t = np.clip((pos - centres[-2]) / (centres[-1] - centres[-2]), 0.0, 1.0)
    a = np.take(low, [n - 2], axis=axis)
    c = np.take(low, [n - 1], axis=axis)
    shape = [1] * low.ndim
    shape[axis] = t.size
    t = t.reshape(shape)
    strip = a * (1.0 - t) + c * t
    index = [slice(None)] * out.ndim
    index[axis] = slice(first, length)
    out[tuple(index)] = strip
    return out


def upsample_grid(
    grid: np.ndarray, height: int, width: int, b: int, *, order: str = "linear"
) -> np.ndarray:
    """Interpolate a ``(ny, nx, C)`` grid to ``(height, width, C)`` float32, cell-centre aligned.

    ``order`` is ``"nearest"`` (blocks), ``"linear"``, ``"cubic"`` or
    ``"lanczos"`` (OpenCV kernels). Across a partial last row/column the
    interpolation is linear between the true centres, whatever ``order``.
    """
    if order not in _INTERPOLATION:
        raise ValueError(f"order must be one of {sorted(_INTERPOLATION)}, got {order!r}")
    ny, nx, channels = grid.shape
    low = np.ascontiguousarray(grid, dtype=np.float32)
    if order == "nearest":
        return render_blocks(low, height, width, b)
    flag = _INTERPOLATION[order]
    by, bx = axis_sides(height, width, b)
    # one axis at a time, so the partial strips can be fixed on a small array
    rows = cv2.resize(low, (nx * bx, ny), interpolation=flag).reshape(ny, nx * bx, channels)
    rows = _fix_partial_strip(rows[:, :width], low, width, bx, axis=1)
    full = cv2.resize(np.ascontiguousarray(rows), (width, ny * by), interpolation=flag)
    full = full.reshape(ny * by, width, channels)[:height]
    if height % by and ny >= 2:
        # the row strip interpolates the already column-interpolated rows
        full = _fix_partial_strip(full, rows, height, by, axis=0)
    return full


def smooth_grid(
    means: np.ndarray,
    scale: np.ndarray,
    height: int,
    width: int,
    b: int,
    *,
    factor: float | None = None,
    iterations: int = DEFAULT_ITERATIONS,
    order: str = "linear",
    method: str = "learned",
) -> np.ndarray:
    """Render a release smoothly: weighted TV on the cell grid, then a (learned) upsampling.

    Parameters
    ----------
    means : ndarray, shape (ny, nx, C)
        The released noisy cell means, unclipped (``C`` = 1 for gray).
    scale : ndarray, shape (ny, nx)
        Laplace scale of the noise on each mean (``cell_noise_scale``).
    height, width, b : int
        Public image size and cell side.
    factor, iterations
        TV strength in units of a full cell's noise standard deviation, and
        solver iterations (:func:`tv_denoise_grid`).
    order : {"linear", "cubic", "lanczos", "nearest"}
        Interpolation from the cell centres to pixels (``method="tv"`` only;
        the learned path interpolates its sub-blocks linearly).
    method : {"learned", "tv"}
        ``"learned"`` (default): the TV grid and the released means feed a
        ridge regression trained on public photos that predicts each cell's
        4 x 4 sub-block means (:mod:`.learned`). ``"tv"``: the TV grid
        interpolated from the cell centres.

    Returns
    -------
    ndarray of uint8, shape (height, width, C)

    Notes
    -----
    Post-processing of the release only: same ε, no access to the image.
    """
    means = np.asarray(means, dtype=np.float64)
    if means.ndim == 2:
        means = means[:, :, None]
    ny, nx = -(-height // b), -(-width // b)
    if means.shape[:2] != (ny, nx) or np.shape(scale) != (ny, nx):
        raise ValueError(
            f"means {means.shape} and scale {np.shape(scale)} do not match a "
            f"{height}x{width} image at b={b} (grid {ny}x{nx})"
        )
    if method not in ("learned", "tv"):
        raise ValueError(f"method must be 'learned' or 'tv', got {method!r}")
    if method == "learned" and order != "linear":
        raise ValueError(f"order={order!r} needs method='tv' (the learned path is linear)")
    grid = _tv_solve(means, scale, factor=factor, iterations=iterations, box=True, huber=0.0)
    if method == "learned":
        from .learned import learned_upsample

        full = learned_upsample(grid, means, scale, height, width, b)
        return cv2.convertScaleAbs(full).reshape(height, width, means.shape[2])
    full = upsample_grid(grid, height, width, b, order=order)
    if order in ("cubic", "lanczos"):
        # these kernels overshoot; convertScaleAbs would fold negatives up
        np.maximum(full, 0.0, out=full)
    return cv2.convertScaleAbs(full).reshape(height, width, means.shape[2])
