"""Application utility: counting people in released street frames (PETS-2009).

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

from .. import methods as registry

__all__ = [
    "COUNT_METHODS",
    "THRESHOLDS",
    "AreaCounter",
    "background",
    "calibration_frames",
    "count_experiment",
    "foreground_features",
    "hog_counts",
    "release_frames",
    "summarise_counts",
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


def release_frames(
    frames: np.ndarray, method: str, eps: float, rng: np.random.Generator, **params
) -> np.ndarray:
    """Every frame through ``method`` of :data:`COUNT_METHODS` (``"none"``: the originals)."""
    if method == "none":
        return np.asarray(frames)
    name, render = COUNT_METHODS[method]
    spec = registry.get(name)
    p = {"eps": eps, **params} if render is None else {"eps": eps, "render": render, **params}
    return np.stack([spec.apply(frame, p, rng) for frame in frames])


def _releases(frames, method, eps, seed, eps_index, params):
    """One seeded release per frame; dp-pix and dp-pix-smooth share the noise stream."""
    if method == "none":
        return np.asarray(frames)
    key = 0 if COUNT_METHODS[method][0] == "dp_pix" else list(COUNT_METHODS).index(method)
    rng = np.random.default_rng([int(seed), 0xC0, key, eps_index])
    return release_frames(frames, method, eps, rng, **params)


def count_experiment(
    frames: np.ndarray,
    truth: np.ndarray,
    calibration: np.ndarray,
    *,
    methods: Sequence[str] = tuple(COUNT_METHODS),
    eps: Sequence[float] = (0.1, 0.5, 1.0, 2.0, 5.0),
    seeds: Sequence[int] = (0, 1, 2),
    params: dict | None = None,
    counter: Callable[[], AreaCounter] = AreaCounter,
    on_step: Callable[[str], None] = lambda _: None,
) -> list[dict]:
    """Per-frame count errors of the area counter on releases of ``frames``.

    Parameters
    ----------
    frames : ndarray (n, H, W) uint8
        The originals (released here; the counter sees only the releases).
    truth : ndarray (n,)
        The count of each original frame (the reference).
    calibration : ndarray (n,) of bool
        Frames used to fit the counter; the others are counted and scored.
        Each part gets its own background, the median of its own releases.
    methods, eps, seeds
        What to release; ``"none"`` in ``methods`` counts the originals
        (the counter's own error, no privacy).

    Returns
    -------
    list of dict
        One row per (method, ε, seed, scored frame): ``frame``, ``truth``,
        ``estimate``, ``abs_error``, and the fitted ``threshold``; plus rows
        of ``method="constant"`` (the mean calibration count, for every
        frame: what a counter that learnt nothing scores).
    """
    calibration = np.asarray(calibration, bool)
    test = ~calibration
    params = dict(params or {})
    rows: list[dict] = []
    mean_count = float(np.mean(truth[calibration]))
    for i in np.flatnonzero(test):
        rows.append(_row("constant", None, None, i, truth[i], mean_count, None))
    for method in methods:
        for e_index, e in enumerate([None] if method == "none" else eps):
            for seed in [0] if method == "none" else seeds:
                on_step(f"{method} eps={e} seed={seed}")
                released = _releases(frames, method, e, seed, e_index, params)
                model = counter()
                feats = {}
                for part in (calibration, test):
                    bg = background(released[part])
                    feats[part.tobytes()] = foreground_features(
                        released[part], bg, model.thresholds, model.bands
                    )
                model.fit(feats[calibration.tobytes()], truth[calibration])
                estimates = model.predict(feats[test.tobytes()])
                for i, est in zip(np.flatnonzero(test), estimates, strict=True):
                    rows.append(_row(method, e, seed, i, truth[i], est, model.threshold))
    return rows


def _row(method, eps, seed, frame, truth, estimate, threshold) -> dict:
    return {
        "method": method,
        "eps": "" if eps is None else eps,
        "seed": "" if seed is None else seed,
        "frame": int(frame),
        "truth": float(truth),
        "estimate": round(float(estimate), 3),
        "abs_error": round(abs(float(estimate) - float(truth)), 3),
        "threshold": "" if threshold is None else threshold,
    }


def summarise_counts(rows: Sequence[dict]) -> list[dict]:
    """Mean absolute error per (method, ε) — mean over frames, spread over seeds.

    ``mae`` is the per-frame absolute error averaged over frames and seeds;
    ``mae_seed_sd`` the standard deviation of the per-seed means; ``bias``
    the mean signed error; ``rounded_exact`` the fraction of frames whose
    rounded estimate equals the count.
    """
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["eps"]), []).append(r)
    out = []
    for (method, eps), rs in groups.items():
        err = np.array([r["abs_error"] for r in rs])
        signed = np.array([r["estimate"] - r["truth"] for r in rs])
        exact = np.array([round(r["estimate"]) == r["truth"] for r in rs])
        per_seed = {}
        for r in rs:
            per_seed.setdefault(r["seed"], []).append(r["abs_error"])
        seed_means = [float(np.mean(v)) for v in per_seed.values()]
        thresholds = sorted({r["threshold"] for r in rs if r["threshold"] != ""})
        out.append(
            {
                "method": method,
                "eps": eps,
                "frames": len({r["frame"] for r in rs}),
                "seeds": len(per_seed),
                "mean_count": float(np.mean([r["truth"] for r in rs])),
                "mae": float(err.mean()),
                "mae_seed_sd": float(np.std(seed_means, ddof=1)) if len(seed_means) > 1 else 0.0,
                "bias": float(signed.mean()),
                "rounded_exact": float(exact.mean()),
                "thresholds": " ".join(f"{t:g}" for t in thresholds),
            }
        )
    return out


def write_rows(rows: Sequence[dict], path) -> None:
    """Rows as CSV, written atomically (no partial file under the final name)."""
    import csv
    import io as _io

    from ..io import atomic_writer

    buf = _io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_writer(path, overwrite=True) as fh:
        fh.write(buf.getvalue().encode("utf-8"))


_LABELS = {
    "constant": "constant (mean calibration count)",
    "none": "originals (the counter's own error)",
    "dp-pix": "DP-Pix blocks",
    "dp-pix-smooth": "DP-Pix smooth",
    "dp-blur": "DP-Blur",
}


def summary_markdown(
    summary: Sequence[dict], *, frames: int, step: int, split: str = "blocks"
) -> str:
    """The summary as a Markdown table: MAE (± sd over seeds) per method and ε."""
    eps_values = sorted({s["eps"] for s in summary if s["eps"] != ""})
    by_key = {(s["method"], s["eps"]): s for s in summary}
    counted = next(iter(summary))["frames"]
    mean_count = next(iter(summary))["mean_count"]
    lines = [
        f"People counted on {counted} of {frames} PETS-2009 frames (every {step}th; the "
        f"others calibrate, split: {split}); reference mean {mean_count:.2f} people per frame.",
        "Reference: HOG boxes on the originals with >= 10 % moving pixels. "
        "Mean absolute error per frame (± sd of the per-seed means); bias in brackets.",
        "",
        "| method | " + " | ".join(f"ε={e:g}" for e in eps_values) + " |",
        "|---|" + "---|" * len(eps_values),
    ]

    def cell(s: dict) -> str:
        return f"{s['mae']:.2f} ± {s['mae_seed_sd']:.2f} ({s['bias']:+.2f})"

    for method, label in _LABELS.items():
        if (method, "") in by_key:  # no ε: the same number in every column
            cells = [cell(by_key[(method, "")])] * len(eps_values)
        elif any((method, e) in by_key for e in eps_values):
            cells = [
                cell(by_key[(method, e)]) if (method, e) in by_key else "—" for e in eps_values
            ]
        else:
            continue
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
