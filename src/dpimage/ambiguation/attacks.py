"""Attacks on ambiguated codes, by an adversary who knows the model (Kerckhoffs).

(a) :func:`distinguishing_attack` — a gradient-boosting classifier predicts,
    for every published non-zero, whether it is true or fake, from its value,
    its position, the unit's statistics, its neighbours in the code and how the
    model re-encodes the all-k' decode at that unit. The attacker trains it on
    ambiguations it makes itself of images it owns (labels known) and is scored
    (ROC AUC) on ambiguations of other people's images.
(b) :func:`reencode_attack` — the "SGD with an image prior" direction seed 004
    leaves open, in its projection form: decode all k' non-zeros, re-encode the
    image with the public encoder, keep the k published positions whose
    re-encoded magnitude is largest, decode that guess, and iterate. The
    encoder acts as the natural-image prior (it was trained on such images).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .bundle import AmbiguationModel, ValueStats
from .codec import decode_images

__all__ = [
    "FEATURE_NAMES",
    "distinguishing_attack",
    "nonzero_features",
    "reencode_attack",
    "threshold_auc",
]

FEATURE_NAMES = (
    "value",
    "abs_value",
    "abs_rank_in_map",
    "unit_support_freq",
    "value_cdf_at_unit",
    "map_index",
    "unit_index",
    "left_neighbour",
    "right_neighbour",
    "reencoded",
    "abs_reencoded",
    "reencoded_rank_in_map",
    "reencoded_sign_agrees",
)


@torch.no_grad()
def _reencode(model: AmbiguationModel, codes: np.ndarray) -> np.ndarray:
    images = decode_images(model, codes)
    x = torch.from_numpy(images).unsqueeze(1)
    return model.net.code(x).numpy()


def _rank_in_map(score: np.ndarray, nz: np.ndarray) -> np.ndarray:
    """Rank (0 = largest) of ``score`` among the non-zeros of each map, scaled to [0, 1]."""
    s = np.where(nz, score, -np.inf)
    order = np.argsort(-s, axis=-1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(s.shape[-1])[None, None, :], axis=-1)
    count = nz.sum(axis=-1, keepdims=True).clip(min=1)
    return ranks / count


def nonzero_features(
    model: AmbiguationModel, published: np.ndarray, stats: ValueStats
) -> tuple[np.ndarray, np.ndarray]:
    """Features of every published non-zero.

    Parameters
    ----------
    published : ndarray, shape (N, C, n)
        Ambiguated codes.

    Returns
    -------
    features : ndarray, shape (M, len(FEATURE_NAMES))
    index : ndarray, shape (M, 3)
        ``(image, map, unit)`` of each row, in ``np.nonzero`` order.
    """
    published = np.asarray(published, dtype=np.float32)
    nz = published != 0
    reenc = _reencode(model, published)
    idx = np.argwhere(nz)
    i, ci, j = idx.T
    v = published[i, ci, j]
    q = stats.quantiles[ci, j]  # (M, Q)
    cdf = (q < v[:, None]).mean(axis=1)  # empirical CDF of the unit's true values at v
    padded = np.pad(published, ((0, 0), (0, 0), (1, 1)))
    feats = np.column_stack(
        [
            v,
            np.abs(v),
            _rank_in_map(np.abs(published), nz)[i, ci, j],
            stats.freq[ci, j],
            cdf,
            ci,
            j,
            padded[i, ci, j],
            padded[i, ci, j + 2],
            reenc[i, ci, j],
            np.abs(reenc[i, ci, j]),
            _rank_in_map(np.abs(reenc), nz)[i, ci, j],
            (np.sign(reenc[i, ci, j]) == np.sign(v)).astype(np.float32),
        ]
    ).astype(np.float32)
    return feats, idx


def threshold_auc(published: np.ndarray, true_mask: np.ndarray) -> float:
    """AUC of the model-free score "rank of ``|v|`` within its map" (top = true).

    Ranking within each map is the threshold attack on the public scheme
    (map scales differ, so one global threshold would be a weaker attacker).
    """
    from sklearn.metrics import roc_auc_score

    published = np.asarray(published)
    nz = published != 0
    score = -_rank_in_map(np.abs(published), nz)
    return float(roc_auc_score(true_mask[nz], score[nz]))


def distinguishing_attack(
    model: AmbiguationModel,
    stats: ValueStats,
    attacker_data: tuple[np.ndarray, np.ndarray],
    victim_data: tuple[np.ndarray, np.ndarray],
    *,
    seed: int = 0,
    max_rows: int = 100_000,
) -> dict[str, float]:
    """Train a true-vs-fake classifier on the attacker's ambiguations; AUC on the victim's.

    Parameters
    ----------
    attacker_data, victim_data : (published (N, C, n), true_mask (N, C, n))
        Ambiguated codes with their true supports; the attacker's are made by
        the attacker from its own images, the victim's are scored.
    max_rows : int
        The classifier trains on at most this many (random) attacker rows.

    Returns
    -------
    dict
        ``auc`` (classifier, victim data), ``auc_abs_value`` (|v| alone) and
        ``auc_train`` (classifier on its own training data, a fit check).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    xa, ia = nonzero_features(model, attacker_data[0], stats)
    ya = attacker_data[1][tuple(ia.T)]
    if len(ya) > max_rows:
        keep = np.random.default_rng(seed).choice(len(ya), max_rows, replace=False)
        xa, ya = xa[keep], ya[keep]
    xv, iv = nonzero_features(model, victim_data[0], stats)
    yv = victim_data[1][tuple(iv.T)]
    clf = HistGradientBoostingClassifier(
        max_iter=150, learning_rate=0.1, early_stopping=True, random_state=seed
    )
    clf.fit(xa, ya)
    return {
        "auc": float(roc_auc_score(yv, clf.predict_proba(xv)[:, 1])),
        "auc_abs_value": threshold_auc(*victim_data),
        "auc_train": float(roc_auc_score(ya, clf.predict_proba(xa)[:, 1])),
    }


def reencode_attack(
    model: AmbiguationModel,
    published: np.ndarray,
    k: int,
    *,
    iterations: int = 5,
    callback: Callable[[int, np.ndarray], None] | None = None,
) -> np.ndarray:
    """Guess the true support by decode -> re-encode -> top-k among published positions.

    Parameters
    ----------
    published : ndarray, shape (N, C, n)
        Ambiguated codes (k' non-zeros per map).
    k : int
        True non-zeros per map (public: it is a model parameter).
    iterations : int
        Rounds of decode / re-encode / select; round 0 starts from all k'.

    Returns
    -------
    ndarray, shape (N, C, n)
        The attacker's guessed code: k published values kept per map.
    """
    published = np.asarray(published, dtype=np.float32)
    nz = published != 0
    guess = published
    for it in range(iterations):
        reenc = _reencode(model, guess)
        score = np.where(nz, np.abs(reenc), -np.inf)
        keep = np.argsort(-score, axis=-1, kind="stable")[..., :k]
        mask = np.zeros_like(nz)
        np.put_along_axis(mask, keep, True, axis=-1)
        guess = np.where(mask, published, 0.0).astype(np.float32)
        if callback is not None:
            callback(it, guess)
    return guess
