"""Utility sweeps: vary one of b, m, eps around the papers' defaults.

For each value of the varied parameter and each method (NP-Pix, DP-Pix,
NP-Blur, DP-Blur), every image of the set is obfuscated and compared with its
original by MSE, PSNR and SSIM (both settings of :mod:`dpimage.metrics`); the
rows hold the means over images (and over ``repeats`` noise draws) with their
standard errors, plus the closed-form expected MSE of the DP methods
(:mod:`dpimage.eval.predict`, without and with clipping) averaged the same way,
and ``p_clip``, the expected fraction of noisy cell means that clipping to
``[0, 255]`` touches (where the no-clip formula stops holding).

Defaults (Fan 2018 Table 1, Fan 2019 Sec. 4): ``b = 16``, ``m = 16``,
``eps = 0.5``; DP-Blur ``b0 = 4``, ``k = 99`` (sigma from k, as OpenCV).
When ``b`` varies, DP-Blur's cell side ``b0`` takes the value of ``b`` (it is
the only cell side DP-Blur has); NP-Blur depends on none of b, m, eps and is
drawn as a flat reference line, as NP-Pix is when m or eps vary.

Data sets (:func:`dpimage.eval.data.load_dataset`): ``faces`` = all 400 AT&T/ORL faces;
``digits`` = a seeded random sample (default 1,000) of the 10,000 MNIST test
digits; ``street`` = evenly spaced gray frames of PETS-2009 ``vtest.avi``
(default 40 frames: every 20th of 795); or any folder of images.

Randomness: the noise of method ``j`` at value index ``i`` and repeat ``r``
comes from ``numpy.random.default_rng([seed, j, i, r])``, advanced image by
image; the data sample from ``default_rng([seed, 0xDA7A])``. Same seed, same
numbers. (Seeded noise is for research only: it is not a private release.)
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .. import methods as registry
from ..metrics import mse, psnr_from_mse, ssim
from .data import Dataset
from .predict import expected_clip_fraction, predict_method

__all__ = [
    "DEFAULTS",
    "METHODS",
    "SWEEP_VALUES",
    "VARY",
    "Dataset",
    "method_parameters",
    "read_csv",
    "run_sweep",
    "write_csv",
]

#: The methods swept, as result tables spell them; a method's index here seeds its noise.
METHODS = ("np-pix", "dp-pix", "np-blur", "dp-blur")
VARY = ("b", "m", "eps")

#: The papers' defaults (Fan 2018 Table 1; DP-Blur b0 and k from Fan 2019).
DEFAULTS = {"b": 16, "m": 16, "eps": 0.5, "b0": 4, "k": 99}

#: Values swept for each parameter (the papers' ranges; eps includes 0.1, 0.3, 0.5, 1).
SWEEP_VALUES: dict[str, tuple[float, ...]] = {
    "b": (2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24),
    "m": (1, 2, 4, 8, 16, 32, 64, 128, 256),
    "eps": (0.01, 0.03, 0.1, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0),
}


#: Renderers a sweep can add to the cell methods (DP-Pix, DP-Blur); blocks is the papers'.
RENDERS = ("blocks", "smooth")

CSV_COLUMNS = (
    "dataset",
    "method",
    "render",
    "vary",
    "value",
    "b",
    "b0",
    "k",
    "m",
    "eps",
    "n_images",
    "repeats",
    "seed",
    "mse",
    "mse_se",
    "psnr",
    "ssim_skimage",
    "ssim_skimage_se",
    "ssim_wang",
    "ssim_wang_se",
    "mse_pred",
    "mse_pred_clip",
    "p_clip",
)


def _table_name(method: str) -> str:
    """A method name or alias as the sweep spells it (``"dp_pix"`` -> ``"dp-pix"``)."""
    return registry.get(method, among=METHODS).cli_name


def method_parameters(method: str, vary: str, value: float) -> dict:
    """Parameters of ``method`` at this sweep point (defaults, with ``vary`` set to ``value``).

    ``vary="b"`` sets ``b`` for the pixelizations and ``b0`` for DP-Blur. Only
    the parameters of :data:`DEFAULTS` that the method takes are returned.
    """
    spec = registry.get(_table_name(method))
    if vary not in VARY:
        raise ValueError(f"vary must be one of {VARY}, got {vary!r}")
    p = dict(DEFAULTS)
    if vary == "b":
        p["b"] = p["b0"] = int(value)
    elif vary == "m":
        p["m"] = int(value)
    else:
        p["eps"] = float(value)
    return {name: p[name] for name in spec.param_names if name in p}


def _private(method: str) -> bool:
    return registry.get(method).private


def _apply(method: str, params: dict, image: np.ndarray, rng: np.random.Generator | None):
    return registry.get(method).apply(image, params, rng)


def _predict(method: str, params: dict, image: np.ndarray, clip: bool) -> float:
    prediction = predict_method(method, image, params, clip=clip)
    return math.nan if prediction is None else prediction.mse


def _mean_se(values: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return math.nan, math.nan
    mean = float(np.mean(arr))
    se = float(np.std(arr, ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else math.nan
    return mean, se


def _evaluate(
    dataset: Dataset,
    method: str,
    params: dict,
    rngs: list[np.random.Generator | None],
    on_image: Callable[[], None],
) -> dict:
    errors, psnrs, ssim_s, ssim_w = [], [], [], []
    for rng in rngs:
        for image in dataset.images:
            out = _apply(method, params, image, rng)
            e = mse(out, image)
            errors.append(e)
            psnrs.append(psnr_from_mse(e))
            ssim_s.append(ssim(out, image, variant="skimage"))
            ssim_w.append(ssim(out, image, variant="wang"))
            on_image()
    row = {}
    row["mse"], row["mse_se"] = _mean_se(errors)
    row["psnr"] = float(np.mean(psnrs))
    row["ssim_skimage"], row["ssim_skimage_se"] = _mean_se(ssim_s)
    row["ssim_wang"], row["ssim_wang_se"] = _mean_se(ssim_w)
    if _private(method):
        row["mse_pred"] = float(
            np.mean([_predict(method, params, x, False) for x in dataset.images])
        )
        row["mse_pred_clip"] = float(
            np.mean([_predict(method, params, x, True) for x in dataset.images])
        )
        cell = params[registry.get(method).cell]
        row["p_clip"] = float(
            np.mean(
                [
                    expected_clip_fraction(x, cell, params["m"], params["eps"])
                    for x in dataset.images
                ]
            )
        )
    else:
        row["mse_pred"] = row["mse_pred_clip"] = row["p_clip"] = math.nan
    return row


def sweep_size(
    dataset: Dataset,
    vary: str,
    values: Sequence[float],
    methods: Sequence[str],
    repeats: int = 1,
    renders: Sequence[str] = ("blocks",),
) -> int:
    """Number of (image, draw) evaluations :func:`run_sweep` will do (for a progress bar)."""
    keys = set()
    total = 0
    for value in values:
        for method, render in _curves(methods, renders):
            params = method_parameters(method, vary, value)
            key = (method, render, tuple(sorted(params.items())))
            if key in keys:
                continue
            keys.add(key)
            total += len(dataset.images) * (repeats if _private(method) else 1)
    return total


def _curves(methods: Sequence[str], renders: Sequence[str]) -> list[tuple[str, str]]:
    """(method, renderer) pairs: every renderer for the private cell methods, blocks for others."""
    return [
        (method, render)
        for method in methods
        for render in (renders if registry.get(method).private else ("blocks",))
    ]


def run_sweep(
    dataset: Dataset,
    vary: str,
    *,
    values: Sequence[float] | None = None,
    methods: Sequence[str] = METHODS,
    seed: int = 0,
    repeats: int = 1,
    on_image: Callable[[], None] | None = None,
    renders: Sequence[str] = ("blocks",),
) -> list[dict]:
    """Run one sweep and return one row (dict with :data:`CSV_COLUMNS`) per (value, method).

    Deterministic methods are evaluated once per distinct parameter set and
    their row repeated for the other values (NP-Pix when m or eps vary, NP-Blur
    always). ``renders`` adds a curve per renderer for the private cell methods
    (``"smooth"``: "DP-Pix (smooth)", the smooth image blurred for DP-Blur),
    drawn from the same noise as its blocks curve.
    """
    if vary not in VARY:
        raise ValueError(f"vary must be one of {VARY}, got {vary!r}")
    values = tuple(SWEEP_VALUES[vary] if values is None else values)
    if not values:
        raise ValueError("no values to sweep")
    methods = tuple(_table_name(method) for method in methods)
    renders = tuple(dict.fromkeys(renders))
    bad = [r for r in renders if r not in RENDERS]
    if bad or not renders:
        raise ValueError(f"renders must be among {RENDERS}, got {list(renders)!r}")
    curves = _curves(methods, renders)
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if not dataset.images:
        raise ValueError(f"data set {dataset.name!r} has no images")
    tick = on_image or (lambda: None)
    cache: dict = {}
    rows = []
    for i, value in enumerate(values):
        for method, render in curves:
            params = method_parameters(method, vary, value)
            if render != "blocks":
                params["render"] = render
            key = (method, tuple(sorted(params.items())))
            if key not in cache:
                if _private(method):
                    code = METHODS.index(method)
                    rngs = [np.random.default_rng([seed, code, i, r]) for r in range(repeats)]
                else:
                    rngs = [None]
                cache[key] = _evaluate(dataset, method, params, rngs, tick)
            measured = cache[key]
            row = {
                "dataset": dataset.name,
                "method": method,
                "render": render,
                "vary": vary,
                "value": value,
                "b": params.get("b", ""),
                "b0": params.get("b0", ""),
                "k": params.get("k", ""),
                "m": params.get("m", ""),
                "eps": params.get("eps", ""),
                "n_images": len(dataset.images),
                "repeats": repeats if _private(method) else 1,
                "seed": seed,
            }
            row.update(measured)
            rows.append(row)
    return rows


def _fmt(value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.6g}"
    return str(value)


def write_csv(rows: Sequence[dict], path: str | os.PathLike[str]) -> Path:
    """Write sweep rows atomically as CSV with :data:`CSV_COLUMNS`."""
    from ..io import atomic_writer

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _fmt(row.get(c, "")) for c in CSV_COLUMNS})
    path = Path(path)
    with atomic_writer(path, overwrite=True) as stream:
        stream.write(text.getvalue().encode("utf-8"))
    return path


def read_csv(path: str | os.PathLike[str]) -> list[dict]:
    """Read rows written by :func:`write_csv` (numbers as float, empty as NaN)."""
    text_columns = {"dataset", "method", "render", "vary"}
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        for raw in csv.DictReader(fh):
            row = {}
            for key, value in raw.items():
                if key in text_columns:
                    row[key] = value
                else:
                    row[key] = float(value) if value not in ("", None) else math.nan
            row.setdefault("render", "blocks")  # CSVs written before renderers were swept
            rows.append(row)
    return rows
