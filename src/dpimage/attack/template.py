"""The template attack: a mechanism-aware adversary that needs no training (no torch)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .data import LabelledData, _baselines, split_for_seed
from .obfuscation import Method, method_rng, noise_free, obfuscate
from .scoring import _row_header, confusion_summary

__all__ = ["template_attack"]


def template_attack(
    data: LabelledData,
    methods: list[Method],
    seeds: Iterable[int],
    *,
    repeats: Iterable[int] = (1,),
    val_fraction: float = 0.125,
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
    """
    repeats = sorted({int(r) for r in repeats})
    for seed in seeds:
        x_pool, y_pool, x_test_clean, y_test, tr, _ = split_for_seed(data, seed, val_fraction)
        base = _baselines(y_pool[tr], y_test, data.n_classes)
        for method in methods:
            templates = np.stack([noise_free(im, method) for im in x_pool]).astype(np.float32)
            templates = templates.reshape(len(templates), -1)
            for r in repeats:
                if r > 1 and not method.private:
                    continue
                rng = method_rng(seed, method, r)
                x_test = obfuscate(x_test_clean, method, rng, repeats=r).astype(np.float32)
                x_test = x_test.reshape(len(x_test), -1)
                dist = np.stack([np.abs(templates - q).sum(axis=1) for q in x_test])
                pred = y_pool[np.argmin(dist, axis=1)]
                yield {
                    **_row_header(data, seed, method, r, len(y_pool), 0, len(y_test), base),
                    "attack": "template",
                    **confusion_summary(y_test, pred),
                }
