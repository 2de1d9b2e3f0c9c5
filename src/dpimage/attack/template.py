"""The template attack: a mechanism-aware adversary that needs no training (no torch)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .data import LabelledData, _baselines, split_for_seed
from .obfuscation import Method, method_rng, noise_free, obfuscate
from .scoring import _row_header, confusion_summary

__all__ = ["nearest_template", "simulated_templates", "template_attack"]


def simulated_templates(references: np.ndarray, method: Method, seed: int, n: int) -> np.ndarray:
    """The mean of ``n`` simulated releases of each reference photo, float32 ``(N, H, W)``.

    The adversary's own noise: a stream keyed apart from the test releases'
    (:func:`method_rng` with ``stream = 1``), so no test noise is reused.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = method_rng(seed, method, int(n), stream=1)
    return obfuscate(np.asarray(references), method, rng, repeats=int(n)).astype(np.float32)


def nearest_template(templates: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index of each query's nearest template in L1 distance; both ``(n, ...)`` arrays."""
    templates = np.asarray(templates, dtype=np.float32).reshape(len(templates), -1)
    queries = np.asarray(queries, dtype=np.float32).reshape(len(queries), -1)
    return np.array([np.argmin(np.abs(templates - q).sum(axis=1)) for q in queries], dtype=int)


def template_attack(
    data: LabelledData,
    methods: list[Method],
    seeds: Iterable[int],
    *,
    repeats: Iterable[int] = (1,),
    val_fraction: float = 0.125,
    simulate: int = 0,
) -> Iterator[dict[str, Any]]:
    """A mechanism-aware attack without training: nearest clean template in L1.

    The adversary holds clean reference photos of every candidate (the
    seed's labelled pool: training + validation images, *unobfuscated*) and
    knows the mechanism. It computes each reference's noise-free output
    (:func:`noise_free`) and gives every released test image — the mean of
    ``r`` releases with fresh noise, costing ``r * eps`` — the label of the
    nearest template in L1 distance. For DP-Pix the release is the template
    plus i.i.d. Laplace noise on each cell (up to clipping and rounding), so
    the L1-nearest template is the maximum-likelihood candidate among the
    references. Costs a few seconds per (method, seed, r): it lets averaging be
    measured for every eps and many seeds where retraining the CNN cannot.

    ``simulate = N > 0``: the adversary instead runs the mechanism itself on
    each reference photo ``N`` times (its own noise, independent of the test
    releases) and uses the mean of those releases as the template — the
    *expected* release, clipping, rounding and rendering included
    (:func:`simulated_templates`). For DP-Blur and the smooth renderer, whose
    outputs are not the noise-free image plus zero-mean noise (clipping
    shifts dark and bright cells towards the middle), this is the template a
    mechanism-aware adversary would use. Rows are labelled
    ``attack = "template-simN"``.
    """
    if int(simulate) != simulate or simulate < 0:
        raise ValueError(f"simulate must be a non-negative integer, got {simulate}")
    attack = "template" if simulate == 0 else f"template-sim{int(simulate)}"
    repeats = sorted({int(r) for r in repeats})
    for seed in seeds:
        x_pool, y_pool, x_test_clean, y_test, tr, _ = split_for_seed(data, seed, val_fraction)
        base = _baselines(y_pool[tr], y_test, data.n_classes)
        for method in methods:
            if simulate and method.private:
                templates = simulated_templates(x_pool, method, seed, int(simulate))
            else:
                templates = np.stack([noise_free(im, method) for im in x_pool]).astype(np.float32)
            for r in repeats:
                if r > 1 and not method.private:
                    continue
                rng = method_rng(seed, method, r)
                x_test = obfuscate(x_test_clean, method, rng, repeats=r)
                pred = y_pool[nearest_template(templates, x_test)]
                yield {
                    **_row_header(data, seed, method, r, len(y_pool), 0, len(y_test), base),
                    "attack": attack,
                    **confusion_summary(y_test, pred),
                }
