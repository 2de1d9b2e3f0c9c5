"""AUC intervals when rows come in groups (a person's images are not independent)."""

from __future__ import annotations

import numpy as np

__all__ = ["group_bootstrap_auc"]


def _group_pair_counts(
    labels: np.ndarray, scores: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``W[g, h]``: ordered (true in g, fake in h) pairs, ties 1/2; true and fake counts."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    n_groups = int(inverse.max()) + 1
    pos_scores, pos_group = scores[labels], inverse[labels]
    n_true = np.bincount(pos_group, minlength=n_groups).astype(np.float64)
    n_fake = np.bincount(inverse[~labels], minlength=n_groups).astype(np.float64)
    wins = np.zeros((n_groups, n_groups))
    for h in range(n_groups):
        negatives = np.sort(scores[~labels & (inverse == h)])
        below = np.searchsorted(negatives, pos_scores, side="left")
        ties = np.searchsorted(negatives, pos_scores, side="right") - below
        wins[:, h] = np.bincount(pos_group, weights=below + 0.5 * ties, minlength=n_groups)
    return wins, n_true, n_fake


def group_bootstrap_auc(
    labels: np.ndarray,
    scores: np.ndarray,
    groups: np.ndarray,
    *,
    level: float = 0.95,
    draws: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of a ROC AUC, resampling whole groups.

    Rows of one group (a person's images) are not independent, so the
    interval resamples groups with replacement and keeps all their rows; with
    8 people it is wide, which is the point: it says how far from 0.5 an
    AUC on so few people can fall by the luck of who they are.

    Exact per draw and fast: with ``W[g, h]`` the Mann-Whitney count of
    (true in group g, fake in group h) pairs ordered correctly (ties 1/2) and
    ``c`` the draw's group multiplicities, the AUC is
    ``c W c / ((c . n_true) (c . n_fake))``.
    """
    wins, n_true, n_fake = _group_pair_counts(labels, scores, groups)
    n_groups = len(n_true)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n_groups, size=(draws, n_groups))
    counts = np.zeros((draws, n_groups))
    np.add.at(counts, (np.repeat(np.arange(draws), n_groups), picks.ravel()), 1.0)
    pairs = (counts @ n_true) * (counts @ n_fake)
    ok = pairs > 0
    values = np.einsum("dg,gh,dh->d", counts[ok], wins, counts[ok]) / pairs[ok]
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)
