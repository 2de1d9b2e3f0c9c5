"""Attacks on ambiguated codes, by an adversary who knows the model (Kerckhoffs).

These measure the shipped fakes (:mod:`.mixture`, :mod:`.decoy`); the attack
on the research donor fakes is :mod:`.research.attacks`.

(a) :func:`distinguishing_attack` — a gradient-boosting classifier predicts,
    for every published non-zero, whether it is true or fake, from its value,
    its position, the unit's statistics, its neighbours in the code and how the
    model re-encodes the all-k' decode at that unit. The attacker trains it on
    ambiguations it makes itself of images it owns (labels known) and is scored
    (ROC AUC) on ambiguations of other people's images.
(a') :func:`crossvalidated_attack` — the same classifier trained on the
    victims' own population (held-out people scored), for when the
    attacker's images differ from the victims'.
(b) :func:`reencode_attack` — the "SGD with an image prior" direction
    Ferdowsi et al. leave open, in its projection form: decode all k'
    non-zeros, re-encode the image with the public encoder, keep the k
    published positions whose re-encoded magnitude is largest, decode that
    guess, and iterate. The encoder acts as the natural-image prior (it was
    trained on such images).
(b') :func:`basis_attack` — against mixture fakes: a relaxed mask that makes
    the fake part's decode lie in the public face basis's span.

AUC intervals over people: :func:`~.intervals.group_bootstrap_auc`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .ambiguate import keep_top_k, top_k_mask
from .decoy import reencoder
from .intervals import group_bootstrap_auc
from .stats import ValueStats

if TYPE_CHECKING:
    from .bundle import AmbiguationModel

__all__ = [
    "FEATURE_NAMES",
    "basis_attack",
    "crossvalidated_attack",
    "distinguishing_attack",
    "nonzero_features",
    "reencode_attack",
    "support_recovered",
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


def _reencode(model: AmbiguationModel, codes: np.ndarray) -> np.ndarray:
    """Dense codes of the decoded ``codes``: the public model's E(D(z))."""
    return reencoder(model)(codes)


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


def support_recovered(mask: np.ndarray, true_mask: np.ndarray) -> float:
    """Fraction of the true support that the attacker's kept positions ``mask`` hold."""
    return float((mask & true_mask).sum() / true_mask.sum())


def attacker_guess(mask: np.ndarray, published: np.ndarray, true_mask: np.ndarray) -> dict:
    """``support_recovered`` and ``guess`` (the published values kept on ``mask``, float32)."""
    return {
        "support_recovered": support_recovered(mask, true_mask),
        "guess": np.where(mask, published, 0.0).astype(np.float32),
    }


def _classifier(seed: int):
    """The attackers' true-vs-fake classifier (gradient boosting, early stopping)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=150, learning_rate=0.1, early_stopping=True, random_state=seed
    )


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
    groups: np.ndarray | None = None,
) -> dict[str, float]:
    """Train a true-vs-fake classifier on the attacker's ambiguations; AUC on the victim's.

    Parameters
    ----------
    attacker_data, victim_data : (published (N, C, n), true_mask (N, C, n))
        Ambiguated codes with their true supports; the attacker's are made by
        the attacker from its own images, the victim's are scored.
    max_rows : int
        The classifier trains on at most this many (random) attacker rows.
    groups : ndarray, shape (N,), optional
        Group of each victim image (the person); if given, ``auc_low`` and
        ``auc_high`` bound the AUC by :func:`group_bootstrap_auc`.

    Returns
    -------
    dict
        ``auc`` (classifier, victim data), ``auc_abs_value`` (|v| alone),
        ``auc_train`` (classifier on its own training data, a fit check),
        ``support_recovered`` (the attacker keeps the k published non-zeros
        of each map the classifier finds most likely true) and ``guess``
        (that code, (N, C, n)).
    """
    from sklearn.metrics import roc_auc_score

    xa, ia = nonzero_features(model, attacker_data[0], stats)
    ya = attacker_data[1][tuple(ia.T)]
    if len(ya) > max_rows:
        keep = np.random.default_rng(seed).choice(len(ya), max_rows, replace=False)
        xa, ya = xa[keep], ya[keep]
    xv, iv = nonzero_features(model, victim_data[0], stats)
    yv = victim_data[1][tuple(iv.T)]
    clf = _classifier(seed)
    clf.fit(xa, ya)
    pv = clf.predict_proba(xv)[:, 1]
    published, true_mask = victim_data
    prob = np.full(published.shape, -np.inf)
    prob[tuple(iv.T)] = pv
    mask = top_k_mask(prob, int(true_mask[0, 0].sum()))
    extra = {}
    if groups is not None:
        low, high = group_bootstrap_auc(yv, pv, np.asarray(groups)[iv[:, 0]], seed=seed)
        extra = {"auc_low": low, "auc_high": high}
    return {
        **extra,
        **attacker_guess(mask, published, true_mask),
        "auc": float(roc_auc_score(yv, pv)),
        "auc_abs_value": threshold_auc(*victim_data),
        "auc_train": float(roc_auc_score(ya, clf.predict_proba(xa)[:, 1])),
    }


def crossvalidated_attack(
    model: AmbiguationModel,
    stats: ValueStats,
    victim_data: tuple[np.ndarray, np.ndarray],
    groups: np.ndarray,
    *,
    folds: int = 4,
    seed: int = 0,
    interval: bool = False,
) -> float | dict[str, float]:
    """AUC of the :func:`distinguishing_attack` classifier trained *on the victims' population*.

    A stronger attacker than :func:`distinguishing_attack`'s, whose own
    images may differ from the victims' (other people, or people in the
    model's training set): here the classifier is trained on ambiguations of
    images from the victims' own population, with their keys, and scored on
    held-out groups (``GroupKFold``: with faces, the group is the person, so
    no person is in both the training and the scored fold).

    Parameters
    ----------
    victim_data : (published (N, C, n), true_mask (N, C, n))
    groups : ndarray, shape (N,)
        Group label of each image.

    interval : bool
        Also return a 95 % bootstrap interval over groups
        (:func:`group_bootstrap_auc`).

    Returns
    -------
    float, or dict with ``auc``, ``low``, ``high``, ``support_recovered`` if ``interval``
        ROC AUC over all published non-zeros, each scored by the classifier
        of the fold that did not see its group; with ``interval`` also the
        fraction of the true support in the k best-scored non-zeros per map.
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold

    published, true_mask = victim_data
    x, idx = nonzero_features(model, published, stats)
    y = true_mask[tuple(idx.T)]
    row_groups = np.asarray(groups)[idx[:, 0]]
    scores = np.empty(len(y))
    for train_rows, test_rows in GroupKFold(n_splits=folds).split(x, y, row_groups):
        clf = _classifier(seed)
        clf.fit(x[train_rows], y[train_rows])
        scores[test_rows] = clf.predict_proba(x[test_rows])[:, 1]
    auc = float(roc_auc_score(y, scores))
    if not interval:
        return auc
    low, high = group_bootstrap_auc(y, scores, row_groups, seed=seed)
    prob = np.full(published.shape, -np.inf)
    prob[tuple(idx.T)] = scores
    guess = top_k_mask(prob, int(true_mask[0, 0].sum()))
    recovered = support_recovered(guess, true_mask)
    return {"auc": auc, "low": low, "high": high, "support_recovered": recovered}


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
        guess = keep_top_k(published, np.where(nz, np.abs(reenc), -np.inf), k)
        if callback is not None:
            callback(it, guess)
    return guess


def basis_attack(
    model: AmbiguationModel,
    published: np.ndarray,
    true_mask: np.ndarray,
    k: int,
    *,
    steps: int = 150,
    lr: float = 0.05,
) -> dict[str, object]:
    """Look for the decoys of mixture fakes in the public face basis's span.

    Targets :mod:`.mixture` (attack b in its "optimise a relaxed mask for an
    image prior" form, with the prior an attacker gets for free): a mixture
    decoy is ``mean + w @ factors`` (clipped), so it lies in the span of the
    model file's basis, the mean and the constant image, while a real face
    does not quite (measured on the faces model: the decoded test faces
    leave an RMS residual of 0.036 outside that span, the decoded decoys
    0.028). The attacker relaxes "this non-zero is fake" to ``s`` in (0, 1)
    and minimises, by Adam on ``s``'s logits through the public decoder,
    the residual of ``D(published * s)`` outside the span plus a penalty
    holding ``sum(s) = k' - k`` per map; the ``k`` non-zeros with the
    smallest ``s`` are its guess. ``steps`` and ``lr`` were chosen on
    training people (more steps or a larger rate gave a *lower* AUC there).

    Returns
    -------
    dict
        ``auc`` (score ``-s``, true = positive), ``support_recovered`` and
        ``guess`` (the attacker's code, (N, C, n)).
    """
    from sklearn.metrics import roc_auc_score

    from ._torch import torch

    if model.basis is None:
        raise ValueError("the model has no face basis")
    published = np.asarray(published, dtype=np.float32)
    nz = published != 0
    k_fake = float(nz[0, 0].sum() - k)
    side = model.basis.mean.size
    span = np.concatenate(
        [
            model.basis.factors.reshape(-1, side),
            model.basis.mean.reshape(1, side),
            np.ones((1, side), np.float32),
        ]
    ).T.astype(np.float64)
    q = torch.from_numpy(np.linalg.qr(span)[0].astype(np.float32))
    code = torch.from_numpy(published)
    present = torch.from_numpy(nz)
    logits = torch.zeros_like(code, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=lr)
    for _ in range(steps):
        s = torch.sigmoid(logits) * present
        image = model.net.decode(code * s).flatten(1)
        residual = image - (image @ q) @ q.T
        loss = 1e3 * (residual**2).mean(1).sum() + 1e-2 * ((s.sum(-1) - k_fake) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    score = np.where(nz, -torch.sigmoid(logits).detach().numpy(), -np.inf)
    mask = top_k_mask(score, k)
    return {
        "auc": float(roc_auc_score(true_mask[nz], score[nz])),
        **attacker_guess(mask, published, true_mask),
    }
