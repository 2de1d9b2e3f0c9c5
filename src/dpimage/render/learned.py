"""A learned upsampler for the ``smooth`` renderer: ridge regression trained on public photos.

What it does
------------
After the weighted TV estimate ``g`` of the cell means (:mod:`.smooth`), each
cell's ``r x r`` sub-block means (``r = 4``: sub-blocks of ``b/4`` pixels)
are predicted by a linear function of

* the ``K x K`` neighbourhood (``K = 5``) of ``g`` and of the released means
  ``f`` (clipped to [0, 255]; a partial cell, much noisier, contributes
  ``g`` instead of ``f``), both minus the centre ``g``,
* the 3 x 3 neighbourhood of ``f - g`` limited to one noise std (a
  nonlinear view of the raw means without the Laplace tails),
* ``g`` at the centre, its square (clipping-aware: near 0 and 255 the error
  is one-sided) and a constant,

as the residual against the centre ``g``, with separate weights for 12
classes of the local edge (3 strengths x 4 orientations of the structure
tensor of ``g``, as RAISR hashes patches): a piecewise-linear, edge-adaptive
estimator. The sub-block grid is then
interpolated linearly from the sub-block centres to pixels. The weights
depend only on the public noise level: one set per full-cell noise standard
deviation ``sd`` of a grid of levels, linearly interpolated in ``log sd``.
Everything is a handful of shifted copies of a small grid and one small
matrix product per class (about 3 ms per channel at 1080p, one BLAS thread).

It reads only the release (noisy means, the public noise scale, the image
size and ``b``) and the weights shipped with the package; the weights were
fitted once on public photos that no evaluation uses. It is post-processing:
no ε is spent.

Training data and licences
--------------------------
``benchmarks/train_learned_smooth.py`` (deterministic, seeded) writes
``learned_smooth.npz`` from simulated DP-Pix releases (b = 16 cells, Laplace
noise at each level, several cell offsets, flips and image scales) of
scikit-image's bundled data photos rocket, stereo motorcycle (both views),
brick, grass, gravel, immunohistochemistry, Hubble deep field, page, text,
moon, horse, coins, clock, cell and retina (scikit-image data: public domain,
CC0 or BSD-compatible, see its ``data/README.txt``) and matplotlib's Grace
Hopper photo (public domain, U.S. Navy), all converted to gray. Never used
for training: camera, astronaut, coffee, chelsea (= scikit-image's ``cat``),
the PETS-2009 frames, AT&T faces and MNIST — the evaluation images.
"""

from __future__ import annotations

import math
from functools import lru_cache
from importlib import resources

import cv2
import numpy as np

__all__ = [
    "ANGLES",
    "BAND_CELLS",
    "FEATURES",
    "HALO",
    "SUB",
    "WINDOW",
    "edge_class",
    "features",
    "learned_upsample",
    "load_weights",
    "predict",
    "structure",
]

#: Sub-blocks per cell side predicted by the regression.
SUB = 4
#: Side of the neighbourhood of cells that each prediction reads.
WINDOW = 5
#: Orientation classes of the local edge (structure tensor of the TV grid).
ANGLES = 4
#: Regression features per cell: the g and f windows (the centre of g is
#: left out), the limited 3 x 3 view of f - g, g, g squared and a constant.
FEATURES = 2 * WINDOW * WINDOW - 1 + 9 + 3
#: Most cells whose features are built at once (rows of the grid in bands).
BAND_CELLS = 2**16
#: Rows of neighbours a cell's prediction reads on either side: the
#: ``WINDOW``-wide features and the structure tensor (a central difference,
#: then a 3 x 3 sum) both reach two rows.
HALO = WINDOW // 2
_WEIGHTS_FILE = "learned_smooth.npz"


@lru_cache(maxsize=1)
def load_weights() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The shipped weights.

    Returns noise levels ``(L,)``, edge-strength thresholds ``(L, S - 1)`` in
    gray levels and weights ``(L, S * ANGLES, F, SUB * SUB)``.
    """
    ref = resources.files("dpimage.render").joinpath(_WEIGHTS_FILE)
    with resources.as_file(ref) as path, np.load(path) as data:
        if int(data["sub"]) != SUB or int(data["window"]) != WINDOW:
            raise RuntimeError(f"{_WEIGHTS_FILE} was trained for another layout")
        return (
            data["sd_levels"].astype(np.float64),
            data["thresholds"].astype(np.float32),
            data["weights"].astype(np.float32),
        )


def edge_class(g: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Class of every cell, ``strength * ANGLES + angle``: ``(ny * nx,)`` int.

    From the structure tensor of the denoised grid ``g`` summed over 3 x 3
    cells (as RAISR hashes patches): the edge strength (square root of the
    larger eigenvalue) against ``thresholds`` and the orientation in
    ``ANGLES`` classes. The regression then has separate weights per class,
    which makes the estimator edge-adaptive (piecewise linear).
    """
    strength, angle = structure(g)
    return np.searchsorted(thresholds, strength) * ANGLES + angle


def structure(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edge strength (gray levels per cell) and orientation class of every cell of ``g``."""
    gp = np.pad(g.astype(np.float32), 1, mode="edge")
    gy = (gp[2:, 1:-1] - gp[:-2, 1:-1]) * np.float32(0.5)
    gx = (gp[1:-1, 2:] - gp[1:-1, :-2]) * np.float32(0.5)
    box = (3, 3)
    jyy = cv2.blur(gy * gy, box, borderType=cv2.BORDER_REPLICATE)
    jxx = cv2.blur(gx * gx, box, borderType=cv2.BORDER_REPLICATE)
    jxy = cv2.blur(gx * gy, box, borderType=cv2.BORDER_REPLICATE)
    half = (jxx - jyy) * np.float32(0.5)
    big = (jxx + jyy) * np.float32(0.5) + np.sqrt(half * half + jxy * jxy)
    theta = np.arctan2(2 * jxy, jxx - jyy).ravel()  # twice the edge angle, in [-pi, pi]
    angle = np.floor((theta + np.pi) / (2 * np.pi) * ANGLES).astype(np.int64) % ANGLES
    return np.sqrt(np.maximum(big, 0)).ravel(), angle


def features(g: np.ndarray, f: np.ndarray, sd: float) -> np.ndarray:
    """Regression features of every cell of one channel: ``(ny * nx, F)`` float32.

    ``g`` is the denoised grid and ``f`` the released grid (clipped, partial
    cells replaced by ``g``), both ``(ny, nx)``; borders are edge-padded.
    ``sd`` is the public noise std of a full cell's mean.
    """
    ny, nx = g.shape
    p = WINDOW // 2
    gp = np.pad(g.astype(np.float32), p, mode="edge")
    fp = np.pad(f.astype(np.float32), p, mode="edge")
    centre = gp[p : p + ny, p : p + nx]
    # written column by column into one array: a list of columns and its
    # stacked copy would hold the features twice
    x = np.empty((ny, nx, FEATURES), dtype=np.float32)
    k = 0
    for dy in range(WINDOW):
        for dx in range(WINDOW):
            if (dy, dx) != (p, p):  # the centre of g minus itself is zero
                np.subtract(gp[dy : dy + ny, dx : dx + nx], centre, out=x[:, :, k])
                k += 1
    for dy in range(WINDOW):
        for dx in range(WINDOW):
            np.subtract(fp[dy : dy + ny, dx : dx + nx], centre, out=x[:, :, k])
            k += 1
    # a nonlinear view of the raw means: their departure from g limited to
    # one noise std (what survives of an edge that TV flattened, without
    # the heavy Laplace tails)
    lim = np.float32(sd)
    for dy in range(p - 1, p + 2):
        for dx in range(p - 1, p + 2):
            d = fp[dy : dy + ny, dx : dx + nx] - gp[dy : dy + ny, dx : dx + nx]
            np.clip(d, -lim, lim, out=x[:, :, k])
            k += 1
    c = centre / np.float32(255.0)
    x[:, :, k] = c
    np.multiply(c, c, out=x[:, :, k + 1])
    x[:, :, k + 2] = 1.0
    return x.reshape(ny * nx, FEATURES)


def _weights_at(sd: float) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds and weights for noise std ``sd``, linear in ``log sd`` between levels."""
    levels, thresholds, weights = load_weights()
    x = math.log(max(sd, 1e-6))
    lx = np.log(levels)
    if x <= lx[0]:
        return thresholds[0], weights[0]
    if x >= lx[-1]:
        return thresholds[-1], weights[-1]
    i = int(np.searchsorted(lx, x)) - 1
    t = np.float32((x - lx[i]) / (lx[i + 1] - lx[i]))
    return (
        (1 - t) * thresholds[i] + t * thresholds[i + 1],
        (1 - t) * weights[i] + t * weights[i + 1],
    )


def predict(
    g: np.ndarray, f: np.ndarray, sd: float, thresholds: np.ndarray, w: np.ndarray
) -> np.ndarray:
    """Sub-block means ``(ny * nx, SUB * SUB)`` of one channel (``g`` denoised, ``f`` raw)."""
    x = features(g, f, sd)
    cls = edge_class(g, thresholds)
    # cells sorted by class, then a small matrix product per class on its
    # rows gathered (one class at a time: no second copy of all features)
    order = np.argsort(cls, kind="stable")
    ends = np.cumsum(np.bincount(cls, minlength=w.shape[0]))
    pred = np.empty((x.shape[0], w.shape[-1]), dtype=np.float32)
    start = 0
    for k, end in enumerate(ends):
        if end > start:
            rows = order[start:end]
            pred[rows] = np.matmul(x[rows], w[k])
        start = end
    pred += g.reshape(-1, 1).astype(np.float32)  # the regression predicts the residual
    return pred


def learned_upsample(
    grid: np.ndarray, means: np.ndarray, scale: np.ndarray, height: int, width: int, b: int
) -> np.ndarray:
    """Pixels ``(height, width, C)`` float32 from the TV grid and the released means.

    Parameters
    ----------
    grid : ndarray, shape (ny, nx, C)
        The denoised cell means (:func:`.smooth.tv_denoise_grid`).
    means : ndarray, shape (ny, nx, C)
        The released noisy means (unclipped).
    scale : ndarray, shape (ny, nx)
        Laplace scale of the noise on each mean (public).
    height, width, b : int
        Public image size and cell side.

    Notes
    -----
    The grid is processed in bands of whole rows of at most
    :data:`BAND_CELLS` cells, each read with :data:`HALO` rows of neighbours
    on either side: the features (:data:`FEATURES` per cell) and the sub-blocks
    (``SUB * SUB`` per cell, finer than the pixels when ``b < SUB``) then take
    memory bounded by the band, not by the grid. A grid of at most
    ``BAND_CELLS`` cells is one band, computed exactly as a whole.
    """
    ny, nx, channels = grid.shape
    s = np.asarray(scale, dtype=np.float64)
    s_min = float(s.min())
    sd = math.sqrt(2.0) * s_min
    thresholds, w = _weights_at(sd)
    # a partial cell's raw mean is far noisier than the regression expects
    full = (s <= s_min * 1.0001)[:, :, None]
    # A cell longer than its axis spans the axis, so there b is the axis
    # length (.smooth.axis_sides): the upsampled band stays within twice the image.
    by, bx = min(b, height), min(b, width)
    rows = max(1, BAND_CELLS // nx)
    out = np.empty((height, width, channels), dtype=np.float32) if rows < ny else None
    for r0 in range(0, ny, rows):
        r1 = min(r0 + rows, ny)
        # the resize reads one sub-block row past the band (when b > SUB):
        # one cell of margin, whose features and edge classes read HALO rows more
        s0, s1 = max(r0 - 1, 0), min(r1 + 1, ny)
        lo, hi = max(s0 - HALO, 0), min(s1 + HALO, ny)
        g = grid[lo:hi]
        raw = np.where(full[lo:hi], np.clip(means[lo:hi], 0.0, 255.0), g)
        sub = np.empty(((s1 - s0) * SUB, nx * SUB, channels), dtype=np.float32)
        for c in range(channels):
            pred = predict(g[:, :, c], raw[:, :, c], sd, thresholds, w)
            pred = pred.reshape(hi - lo, nx, SUB, SUB)[s0 - lo : s1 - lo]
            sub[:, :, c] = pred.transpose(0, 2, 1, 3).reshape((s1 - s0) * SUB, nx * SUB)
        del pred, raw
        np.clip(sub, 0.0, 255.0, out=sub)
        # OpenCV's linear resize of n * SUB samples to n * b pixels puts
        # sample j at ((j + 1/2) b / SUB) - 1/2: the sub-block centres, whatever
        # b. A band starts on a cell boundary, so its samples sit where they
        # sit in the whole grid.
        px = cv2.resize(sub, (nx * bx, (s1 - s0) * by), interpolation=cv2.INTER_LINEAR)
        px = px.reshape((s1 - s0) * by, nx * bx, channels)
        if r1 - r0 == ny:  # one band: no copy into a second image-sized array
            return px[:height, :width]
        top, bottom = r0 * by, min(r1 * by, height)
        out[top:bottom] = px[top - s0 * by : bottom - s0 * by, :width]
    return out
