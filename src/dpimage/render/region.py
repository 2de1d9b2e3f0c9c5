"""Region rendering: a box's noisy cell means, with the published picture around it as a prior.

In region mode everything outside the boxes is published as it is, so it is
public: a renderer may read it (post-processing), never the raw pixels inside
a region. :func:`render_region` draws one box from

* the box's :class:`~dpimage.release.Release` (or
  :class:`~dpimage.release.ColourRelease`): noisy cell means and their public
  per-cell noise scales;
* the *surroundings*: an image whose pixels are read only where ``known`` is
  True (outside every region of the picture; the caller zeroes the rest, and
  :func:`render_region` never reads it).

Steps, all in the YCoCg space of :mod:`dpimage.privacy.colour` (luma and two
chroma channels; a gray image has luma only):

1. *Prior field*: the known pixels in a margin around the box filled into the
   box smoothly (push-pull: masked averages down an image pyramid, blended
   back up), so the field equals the surroundings at the border and varies
   slowly inside. Its cell means are the prior ``P_k`` of each cell.
2. *Blending*: each noisy cell mean ``M_k`` has public noise variance
   ``v_k = 2 s_k^2`` (Laplace scale ``s_k``); the spread of the true means
   about the prior, ``tau^2``, is estimated per channel from the release and
   the prior alone (method of moments: the average of ``(M_k - P_k)^2 - v_k``
   weighted by ``1 / v_k``, at least 0, at most the variance of the published
   pixels read around the box: a box of a few cells is not pushed far from
   its surroundings by one noisy cell). The estimate is the inverse-variance
   blend ``P_k + w_k (M_k - P_k)`` with ``w_k = tau^2 / (tau^2 + v_k)``: where
   the noise swamps the signal (the chroma of a small box, partial cells) it
   keeps the surroundings' colour, where the cells are reliable it follows the
   release.
3. *Drawing*: ``"smooth"`` adds the blended corrections, interpolated
   bilinearly between cell centres, to the prior field (for a luma grid of at
   least :data:`SPATIAL_CELLS` cells each way, the residual ``M - P`` is
   instead denoised and drawn by the ``smooth`` renderer,
   :func:`~dpimage.render.smooth.smooth_grid`, which also uses the
   neighbouring cells); ``"blocks"`` paints
   the blended means over their cells. ``k`` blurs the crop afterwards
   (DP-Blur's Gaussian). Then back to RGB, clipped and rounded once.

Where no pixel around the box is known (a box that fills the picture, or one
surrounded by other regions), the prior is the precision-weighted mean of the
box's own cells: shrinkage towards the crop's mean, from the release alone.
Nothing here costs ε: the release is post-processed with public pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..privacy.colour import DIVISOR, TRANSFORM, rgb_to_ycocg, ycocg_to_rgb
from ..release import ColourRelease, Release
from .blur import gaussian_blur
from .smooth import smooth_grid

__all__ = ["CONTEXTS", "check_context", "fill_unknown", "published_mask", "render_region"]

#: How a region is drawn: with the published surroundings as a prior, or from its release alone.
CONTEXTS = ("border", "none")

#: A luma grid at least this many cells each way has its residual to the prior drawn by
#: the ``smooth`` renderer (weighted TV and learned upsampling); smaller ones are blended
#: cell by cell (too few cells for the spatial step; measured by
#: ``benchmarks/bench_regions.py``).
SPATIAL_CELLS = 6

# The residual to the prior is centred in the [0, 255] box the smooth renderer assumes.
RESIDUAL_OFFSET = 127.5

# Noise variance of each YCoCg channel of an RGB release, per unit of the RGB
# channels' variance (independent noise on R, G, B; the rows' squared norms / 4^2).
_RGB_TO_YCOCG_VARIANCE = (TRANSFORM.astype(np.float64) ** 2).sum(axis=1) / DIVISOR**2


def check_context(value: object) -> str:
    """``"border"`` or ``"none"``; :class:`ValueError` otherwise."""
    if value not in CONTEXTS:
        raise ValueError(f"region context must be one of {', '.join(CONTEXTS)}, got {value!r}")
    return str(value)


def published_mask(shape: tuple[int, ...], boxes) -> np.ndarray:
    """Boolean ``(H, W)``: True outside every box, the pixels region mode publishes as they are."""
    known = np.ones(shape[:2], dtype=bool)
    for x0, y0, x1, y1 in boxes:
        known[y0:y1, x0:x1] = False
    return known


def fill_unknown(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill the pixels where ``known`` is False smoothly from the known ones (push-pull).

    ``values`` is ``(h, w, C)`` float; its unknown pixels are never read (their
    weight is zero). Known pixels keep their values; unknown ones get masked
    averages from coarser pyramid levels, blended back up level by level, which
    interpolates the known border smoothly into a hole of any size. With no
    known pixel at all the result is zero.
    """
    weight = known.astype(np.float32)
    levels = [(np.where(known[..., None], values, 0.0).astype(np.float32), weight)]
    while min(levels[-1][1].shape) > 2:
        v, w = levels[-1]
        w_down = cv2.pyrDown(w)
        vw_down = cv2.pyrDown(v * w[..., None]).reshape(*w_down.shape, v.shape[2])
        safe = np.maximum(w_down, 1e-12)[..., None]
        levels.append((np.where(w_down[..., None] > 1e-6, vw_down / safe, 0.0), w_down))
    v, w = levels[-1]
    total = w.sum()
    mean = (v * w[..., None]).sum(axis=(0, 1)) / total if total > 0 else 0.0
    filled = np.where(w[..., None] > 1e-6, v, mean)
    for v, w in reversed(levels[:-1]):
        h, wd = w.shape
        up = cv2.pyrUp(filled.astype(np.float32), dstsize=(wd, h)).reshape(h, wd, v.shape[2])
        alpha = np.clip(w, 0.0, 1.0)[..., None]
        filled = alpha * v + (1.0 - alpha) * up
    return filled.astype(np.float64)


def _runs(length: int, b: int) -> np.ndarray:
    n = -(-length // b)
    runs = np.full(n, b, dtype=np.int64)
    runs[-1] = length - (n - 1) * b
    return runs


def _cell_means(field: np.ndarray, b: int) -> np.ndarray:
    """Mean of a float ``(h, w, C)`` field over each ``b x b`` cell (partial cells too)."""
    h, w = field.shape[:2]
    ry, rx = _runs(h, b), _runs(w, b)
    sums = np.add.reduceat(np.add.reduceat(field, np.r_[0, np.cumsum(ry)[:-1]], axis=0),
                           np.r_[0, np.cumsum(rx)[:-1]], axis=1)  # fmt: skip
    return sums / (ry[:, None] * rx[None, :])[..., None]


def _interp_matrix(length: int, b: int) -> np.ndarray:
    """``(length, n)``: linear interpolation of per-cell values to pixels between cell centres."""
    runs = _runs(length, b)
    centres = np.cumsum(runs) - runs / 2.0
    pixels = np.arange(length) + 0.5
    eye = np.eye(len(runs))
    return np.stack([np.interp(pixels, centres, eye[k]) for k in range(len(runs))], axis=1)


def _grids(release: Release | ColourRelease) -> list[tuple[np.ndarray, np.ndarray, int, list[int]]]:
    """``(means, noise variance, b, channels)`` of each cell grid, in YCoCg (gray: Y)."""
    if isinstance(release, ColourRelease):
        luma, chroma = release.luma, release.chroma
        return [
            (np.asarray(luma.means), np.repeat(2.0 * luma.scale[..., None] ** 2, 1, axis=2),
             luma.b, [0]),
            (np.asarray(chroma.means), np.repeat(2.0 * chroma.scale[..., None] ** 2, 2, axis=2),
             chroma.b, [1, 2]),
        ]  # fmt: skip
    variance = 2.0 * release.scale[..., None] ** 2
    if release.channels == 1:
        return [(np.asarray(release.means), variance, release.b, [0])]
    return [(rgb_to_ycocg(release.means), variance * _RGB_TO_YCOCG_VARIANCE, release.b, [0, 1, 2])]


def _shrink(estimate: np.ndarray, variance: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """``estimate`` (unbiased, noise ``variance``) shrunk towards 0 by its own inverse variance.

    The signal's variance is estimated as ``estimate^2 - variance`` (at least 0, at
    most ``bound``): a one-sample method of moments, so a large, clear offset is kept
    and one lost in the noise is dropped.
    """
    signal = np.clip(estimate**2 - variance, 0.0, bound)
    return signal / (signal + variance) * estimate


def _blend(
    noisy: np.ndarray,
    variance: np.ndarray,
    prior: np.ndarray,
    spread: np.ndarray,
    offset: bool = True,
) -> np.ndarray:
    """Inverse-variance blend of noisy cell means with the prior, ``tau^2`` per channel.

    Two levels: first the box's common offset from the prior (all cells pooled by
    their precision, so it is known far better than any one cell: a face darker or
    more colourful than its background), then each cell about the shifted prior.
    ``spread`` (per channel) bounds both signal variances: the variance of the
    published pixels around the box, so a box of a few cells is not pushed far from
    its surroundings by one noisy cell. ``offset=False`` skips the first level.
    """
    precision = 1.0 / variance
    total = precision.sum(axis=(0, 1))
    if offset:
        common = ((noisy - prior) * precision).sum(axis=(0, 1)) / total
        prior = prior + _shrink(common, 1.0 / total, spread)
    diff = noisy - prior
    # each cell's d^2 - v is an unbiased estimate of tau^2; weighting them by 1/v keeps
    # the thin partial cells (huge v) from swamping the estimate
    excess = ((diff**2 - variance) * precision).sum(axis=(0, 1)) / total
    tau2 = np.clip(excess, 0.0, spread)
    return prior + tau2 / (tau2 + variance) * diff


def _release_mean(grids, channels: int) -> np.ndarray:
    """Precision-weighted mean of each channel over the box's own cells (the fallback prior)."""
    mean = np.zeros(channels)
    for noisy, variance, _, chans in grids:
        precision = 1.0 / variance
        mean[chans] = (noisy * precision).sum(axis=(0, 1)) / precision.sum(axis=(0, 1))
    return mean


def render_region(
    release: Release | ColourRelease,
    surroundings: np.ndarray,
    known: np.ndarray,
    origin: tuple[int, int],
    *,
    base: str = "smooth",
    k: int = 1,
    sigma: float = 0.0,
    margin: int | None = None,
    offset: bool = True,
) -> np.ndarray:
    """Draw one box's release with the published surroundings as a prior (module docstring).

    Parameters
    ----------
    release : Release or ColourRelease
        The release of the box's crop (its shape is the box's).
    surroundings : ndarray of uint8, shape (H, W) or (H, W, 3)
        The picture; read only where ``known`` is True.
    known : ndarray of bool, shape (H, W)
        The published pixels (:func:`published_mask`).
    origin : (x0, y0)
        The box's top-left corner in the picture.
    base : {"smooth", "blocks"}
        Smooth field or blended blocks.
    k, sigma
        Gaussian blur of the crop afterwards (``k = 1``: none; OpenCV's sigma
        convention, 0 derives it from ``k``).
    margin : int, optional
        Width of the border read around the box; default half the box's longer side.
    offset : bool
        Estimate the box's common chroma offset from the prior before the cells
        (a face more colourful than its background). Video frames skip it: each
        frame's fresh noise would move the whole region's colour from frame to
        frame (``benchmarks/bench_region_video.py``). The luma offset is always
        estimated (pooled over all luma cells it is well determined).

    Returns
    -------
    ndarray of uint8, shape ``release.shape``
    """
    if base not in ("smooth", "blocks"):
        raise ValueError(f"a region is drawn smooth or as blocks, got {base!r}")
    shape = tuple(release.shape)
    h, w = shape[:2]
    x0, y0 = origin
    big_h, big_w = known.shape
    if surroundings.shape[:2] != known.shape or not (x0 + w <= big_w and y0 + h <= big_h):
        raise ValueError("the surroundings, the known mask and the box do not fit together")
    gray = len(shape) == 2
    channels = 1 if gray else 3
    grids = _grids(release)

    pad = max(h, w) // 2 if margin is None else int(margin)
    wy0, wx0 = max(y0 - pad, 0), max(x0 - pad, 0)
    wy1, wx1 = min(y0 + h + pad, big_h), min(x0 + w + pad, big_w)
    window_known = known[wy0:wy1, wx0:wx1]
    inner = (slice(y0 - wy0, y0 - wy0 + h), slice(x0 - wx0, x0 - wx0 + w))
    if window_known.any():
        window = surroundings[wy0:wy1, wx0:wx1]
        # only the published pixels are converted; the others stay zero and weigh nothing
        values = np.zeros((*window_known.shape, channels))
        pixels = window[window_known].astype(np.float64)
        pixels = pixels[:, None] if gray else rgb_to_ycocg(pixels)
        values[window_known] = pixels
        field = fill_unknown(values, window_known)[inner]
        spread = pixels.var(axis=0)
    else:
        field = np.broadcast_to(_release_mean(grids, channels), (h, w, channels)).copy()
        spread = np.full(channels, np.inf)

    out = field.copy() if base == "smooth" else np.empty((h, w, channels))
    for noisy, variance, b, chans in grids:
        prior = _cell_means(field[..., chans], b)
        if base == "smooth" and chans == [0] and min(noisy.shape[:2]) >= SPATIAL_CELLS:
            # enough luma cells for the smooth renderer's spatial denoising of the residual
            residual = smooth_grid(noisy - prior + RESIDUAL_OFFSET, np.sqrt(variance[..., 0] / 2),
                                   h, w, b)  # fmt: skip
            out[..., 0] += residual[..., 0] - RESIDUAL_OFFSET
            continue
        blended = _blend(noisy, variance, prior, spread[chans], offset or chans == [0])
        if base == "smooth":
            ay, ax = _interp_matrix(h, b), _interp_matrix(w, b)
            out[..., chans] += np.einsum("yi,ijc,xj->yxc", ay, blended - prior, ax)
        else:
            ry, rx = _runs(h, b), _runs(w, b)
            out[..., chans] = np.repeat(np.repeat(blended, ry, axis=0), rx, axis=1)
    rgb = out[..., 0] if gray else ycocg_to_rgb(out)
    image = np.rint(np.clip(rgb, 0.0, 255.0)).astype(np.uint8)
    return image if k == 1 else gaussian_blur(image, k, sigma)
