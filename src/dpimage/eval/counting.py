"""Application utility: counting people in released street frames (PETS-2009).

This module is **the counter**: what to change to try another counter (its
features, its calibration, the methods it is run on, the reference count).
The experiment that runs it over releases of many frames, ε and seeds and
summarises the errors (CSV rows, the Markdown table) lives in
:mod:`dpimage.eval.counting_experiment`, which imports this module.

A detector made for sharp images (HOG) finds nobody in a 16×16 mosaic, so
the counter here is made for coarse releases. It reads only released frames
and public calibration data:

1. **Background** — the per-pixel median of many *released* frames of the
   same clip (post-processing of the releases; the originals are never read).
2. **Features** — for each threshold ``tau``, the fraction of pixels in each
   of ``bands`` horizontal bands whose released value differs from the
   background by more than ``tau`` (``tau = 0``: the mean absolute
   difference). Bands let a far (small) person weigh more than a near one.
3. **Calibration** — on *other* frames (:func:`calibration_frames`): from
   their releases (same method and ε) and their counts, a least-squares
   line from the features to the count for each ``tau``; the ``tau`` with
   the smallest leave-one-out error on the calibration frames is kept. The
   frames counted are never used to fit.

The counts the counter is calibrated against and scored on come from the
originals (:func:`hog_counts`, the project's people detector), which is the
reference the release is compared with, not an input of the counter.

Seeded noise throughout: these are research measurements, not private
releases. Each frame is its own ε-DP release; a person seen in ``n``
frames is protected at ``n ε`` (basic composition), and the background, a
function of the releases, costs nothing more.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "COUNT_METHODS",
    "THRESHOLDS",
    "AreaCounter",
    "background",
    "calibration_frames",
    "foreground_features",
    "hog_counts",
]

#: Methods counted: name -> (registry method, renderer or None for the method's own).
#: ``dp-pix`` and ``dp-pix-smooth`` draw the *same* release of each frame.
COUNT_METHODS = {
    "dp-pix": ("dp_pix", "blocks"),
    "dp-pix-smooth": ("dp_pix", "smooth"),
    "dp-blur": ("dp_blur", None),
}

#: Gray-level thresholds tried in calibration (0: mean absolute difference).
THRESHOLDS = (0.0, 8.0, 16.0, 24.0, 32.0, 48.0, 64.0)


def calibration_frames(n: int, split: str = "blocks", block: int = 10) -> np.ndarray:
    """Which of ``n`` frames calibrate (True) and which are counted (False).

    ``"blocks"``: alternate runs of ``block`` frames (calibrate, count,
    calibrate, ...), so both parts span the whole clip; ``"halves"``: the
    first half calibrates, the second is counted (a harder test: the crowd
    changes between the halves).
    """
    if n < 2 or block < 1:
        raise ValueError(f"need n >= 2 frames and block >= 1, got n={n}, block={block}")
    if split == "blocks":
        return (np.arange(n) // block) % 2 == 0
    if split == "halves":
        return np.arange(n) < n // 2
    raise ValueError(f"split must be 'blocks' or 'halves', got {split!r}")


def background(frames: np.ndarray) -> np.ndarray:
    """Per-pixel median of ``(n, H, W)`` frames (of releases: post-processing only)."""
    frames = np.asarray(frames)
    if frames.ndim != 3 or len(frames) < 1:
        raise ValueError(f"frames must be (n, H, W) with n >= 1, got shape {frames.shape}")
    return np.median(frames, axis=0).astype(np.float32)


def foreground_features(
    frames: np.ndarray,
    bg: np.ndarray,
    thresholds: Sequence[float] = THRESHOLDS,
    bands: int = 3,
) -> np.ndarray:
    """Foreground fractions, shape ``(n, len(thresholds), bands)``.

    Entry ``[i, t, j]`` is the fraction of band ``j``'s pixels of frame ``i``
    that differ from ``bg`` by more than ``thresholds[t]``; a threshold of 0
    gives the band's mean absolute difference instead (in gray levels / 255).
    """
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim != 3 or frames.shape[1:] != bg.shape:
        raise ValueError(f"frames {frames.shape} do not match the background {bg.shape}")
    if bands < 1 or bands > bg.shape[0]:
        raise ValueError(f"bands must be in 1..{bg.shape[0]}, got {bands}")
    edges = np.linspace(0, bg.shape[0], bands + 1).round().astype(int)
    out = np.empty((len(frames), len(thresholds), bands))
    for i, frame in enumerate(frames):
        diff = np.abs(frame - bg)
        for j in range(bands):
            band = diff[edges[j] : edges[j + 1]]
            for t, tau in enumerate(thresholds):
                out[i, t, j] = band.mean() / 255.0 if tau <= 0 else (band > tau).mean()
    return out


def _design(x: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones(len(x)), x])


def _fit(x: np.ndarray, y: np.ndarray, ridge: float) -> np.ndarray:
    a = _design(x)
    penalty = ridge * np.eye(a.shape[1])
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    return np.linalg.solve(a.T @ a + penalty, a.T @ y)


@dataclass
class AreaCounter:
    """Foreground area → count, calibrated on other frames (see the module docstring).

    Attributes set by :meth:`fit`: ``threshold`` (the chosen ``tau``),
    ``coef`` (intercept, then one slope per band) and ``calibration_mae``
    (its leave-one-out error on the calibration frames).
    """

    thresholds: Sequence[float] = THRESHOLDS
    bands: int = 3
    ridge: float = 1e-3
    threshold: float | None = None
    coef: np.ndarray | None = None
    calibration_mae: float | None = None

    def fit(self, features: np.ndarray, counts: np.ndarray) -> AreaCounter:
        """Choose ``tau`` by leave-one-out MAE and fit the line on all calibration frames."""
        counts = np.asarray(counts, dtype=float)
        if len(features) != len(counts) or len(counts) < 3:
            raise ValueError("need >= 3 calibration frames with a count each")
        best = (math.inf, 0)
        for t in range(features.shape[1]):
            x = features[:, t, :]
            errors = []
            for i in range(len(counts)):
                keep = np.arange(len(counts)) != i
                coef = _fit(x[keep], counts[keep], self.ridge)
                errors.append(abs(_design(x[i : i + 1]) @ coef - counts[i]).item())
            best = min(best, (float(np.mean(errors)), t))
        self.calibration_mae, t = best
        self.threshold = float(self.thresholds[t])
        self.coef = _fit(features[:, t, :], counts, self.ridge)
        self._index = t
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Estimated counts (not rounded; never below 0) for frames' features."""
        if self.coef is None:
            raise ValueError("fit the counter first")
        return np.maximum(_design(features[:, self._index, :]) @ self.coef, 0.0)


def hog_counts(
    frames: np.ndarray,
    detector: Callable | None = None,
    *,
    min_foreground: float | None = 0.1,
    level: float = 25.0,
) -> np.ndarray:
    """The reference count of each *original* frame: HOG boxes that cover moving pixels.

    The project's people detector (:class:`~dpimage.regions.PeopleDetector`)
    alone fires on the lamp post, parked vans and doors of the PETS-2009
    scene; a box is kept only if at least ``min_foreground`` of its pixels
    differ by more than ``level`` from the median of the original frames
    (None: every box, the plain HOG count). Against hand counts of 11
    PETS-2009 frames (``benchmarks/count_reference_check.py``): mean absolute
    error 1.0 (plain HOG: 3.9, it fires on the lamp post, vans and doors).
    """
    if detector is None:
        from ..regions.detectors import PeopleDetector

        detector = PeopleDetector()
    frames = np.asarray(frames)
    bg = background(frames) if min_foreground is not None else None
    counts = []
    for frame in frames:
        boxes = detector(frame)
        if bg is not None:
            moving = np.abs(frame.astype(np.float32) - bg) > level
            boxes = [
                (x0, y0, x1, y1)
                for x0, y0, x1, y1 in boxes
                if _box_share(moving, x0, y0, x1, y1) >= min_foreground
            ]
        counts.append(len(boxes))
    return np.array(counts, dtype=float)


def _box_share(mask: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> float:
    """Fraction of True pixels of ``mask`` inside a box (clipped to the image)."""
    y0, x0 = max(int(y0), 0), max(int(x0), 0)
    window = mask[y0 : max(int(y1), y0), x0 : max(int(x1), x0)]
    return float(window.mean()) if window.size else 0.0

