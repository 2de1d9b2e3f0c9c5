"""The people-counting experiment: the counter of :mod:`dpimage.eval.counting` on releases.

The counter itself (background, features, calibration, the methods table
:data:`~dpimage.eval.counting.COUNT_METHODS`, the reference
:func:`~dpimage.eval.counting.hog_counts`) lives in
:mod:`dpimage.eval.counting`. This module runs it: every frame released
through each method at each ε and seed (:func:`release_frames`), the
counter calibrated and scored per release (:func:`count_experiment`), and
the report side — per-(method, ε) errors (:func:`summarise_counts`), CSV
rows (:func:`write_rows`) and the Markdown table (:func:`summary_markdown`)
behind ``dpimage eval count``.

Seeded noise throughout: these are research measurements, not private
releases (each frame is its own ε-DP release; see the counter's module).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .. import methods as registry
from .counting import COUNT_METHODS, AreaCounter, background, foreground_features

__all__ = [
    "count_experiment",
    "release_frames",
    "summarise_counts",
    "summary_markdown",
    "write_rows",
]


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
