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
(b') :func:`basis_attack` — against mixture fakes: a relaxed mask that makes
    the fake part's decode lie in the public face basis's span.
(a') :func:`crossvalidated_attack` — the same classifier trained on the
    victims' own population (held-out people scored), for when the
    attacker's images differ from the victims'.
(c) :func:`donor_matching_attack` — the model file is public and holds the
    donor codes :func:`~.ambiguate.ambiguate_donor` takes fakes from. A donor
    map copied into a published map, rescaled by one factor, shows up as
    several published non-zeros whose ratio to that donor's values is the
    same; true values match a donor's ratio only by chance.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .bundle import AmbiguationModel, ValueStats
from .codec import decode_images

__all__ = [
    "FEATURE_NAMES",
    "basis_attack",
    "crossvalidated_attack",
    "distinguishing_attack",
    "donor_match_scores",
    "donor_matching_attack",
    "group_bootstrap_auc",
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


def _best_k(score: np.ndarray, k: int) -> np.ndarray:
    """Mask of the ``k`` highest ``score`` entries of each map (``-inf`` off the published)."""
    keep = np.argsort(-score, axis=-1, kind="stable")[..., :k]
    mask = np.zeros(score.shape, dtype=bool)
    np.put_along_axis(mask, keep, True, axis=-1)
    return mask


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
    mask = _best_k(prob, int(true_mask[0, 0].sum()))
    extra = {}
    if groups is not None:
        low, high = group_bootstrap_auc(yv, pv, np.asarray(groups)[iv[:, 0]], seed=seed)
        extra = {"auc_low": low, "auc_high": high}
    return {
        **extra,
        "support_recovered": float((mask & true_mask).sum() / true_mask.sum()),
        "guess": np.where(mask, published, 0.0).astype(np.float32),
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
    guess = _best_k(prob, int(true_mask[0, 0].sum()))
    recovered = float((guess & true_mask).sum() / true_mask.sum())
    return {"auc": auc, "low": low, "high": high, "support_recovered": recovered}


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
        mask = _best_k(np.where(nz, np.abs(reenc), -np.inf), k)
        guess = np.where(mask, published, 0.0).astype(np.float32)
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
    mask = _best_k(score, k)
    return {
        "auc": float(roc_auc_score(true_mask[nz], score[nz])),
        "support_recovered": float((mask & true_mask).sum() / true_mask.sum()),
        "guess": np.where(mask, published, 0.0).astype(np.float32),
    }


def donor_match_scores(
    published: np.ndarray, donors: np.ndarray, *, tolerance: float = 2e-3
) -> np.ndarray:
    """For every published non-zero, how many others share its ratio to one stored donor.

    For each map and each donor code ``d`` (public, in the model file) the
    ratio ``published / d`` is taken at the positions where both are
    non-zero and of the same sign; a non-zero's score is the largest number,
    over donors, of *other* non-zeros of its map whose log-ratio lies within
    ``tolerance`` of its own. A donor map copied in and rescaled by one
    factor gives all its copied values the same ratio (up to float16
    rounding, about 1e-3 in log), so fakes score high; true values collide
    with a donor's ratio only by chance.

    Parameters
    ----------
    published : ndarray, shape (N, C, n)
        Ambiguated codes.
    donors : ndarray, shape (D, C, n)
        The donor codes stored in the model file (``stats.donors``).
    tolerance : float
        Half-width of a match in natural-log ratio.

    Returns
    -------
    ndarray, shape (N, C, n), int
        The score (0 at zeros of ``published``).
    """
    published = np.asarray(published, dtype=np.float64)
    donors = np.asarray(donors, dtype=np.float64)
    n_img, c, n = published.shape
    if donors.ndim != 3 or donors.shape[1:] != (c, n):
        raise ValueError(f"donors must be (D, {c}, {n}), got {donors.shape}")
    d = len(donors)
    scores = np.zeros(published.shape, dtype=np.int64)
    span = 1e3  # rows of the flattened search are kept this far apart in log-ratio
    for i in range(n_img):
        for ci in range(c):
            pos = np.flatnonzero(published[i, ci])
            p = published[i, ci, pos]
            dv = donors[:, ci, pos]  # (D, m)
            ok = (dv != 0) & (np.sign(dv) == np.sign(p)[None])
            if not ok.any():
                continue
            logr = np.log(np.abs(p)[None] / np.where(ok, np.abs(dv), 1.0))
            keyed = logr + span * np.arange(d)[:, None]
            flat = np.sort(keyed[ok])
            x = keyed[ok]
            count = (
                np.searchsorted(flat, x + tolerance, side="right")
                - np.searchsorted(flat, x - tolerance, side="left")
                - 1
            )
            per = np.zeros((d, pos.size), dtype=np.int64)
            per[ok] = count
            scores[i, ci, pos] = per.max(axis=0)
    return scores


def donor_matching_attack(
    model: AmbiguationModel,
    published: np.ndarray,
    true_mask: np.ndarray,
    k: int,
    *,
    tolerance: float = 2e-3,
    donors: np.ndarray | None = None,
) -> dict[str, object]:
    """Find fakes by matching published values against the model's stored donor codes.

    The attacker keeps, in each map, the ``k`` published non-zeros with the
    lowest :func:`donor_match_scores`; ties (e.g. all zero when nothing
    matches) are broken by the re-encode score of :func:`reencode_attack`
    (one round), so against fakes that match no donor this attack is no
    weaker than that one.

    ``donors`` defaults to the codes a version 1 model file stores for ``k``.

    Returns
    -------
    dict
        ``auc`` (score ``-match``, true = positive; 0.5 if no value
        matches), ``support_recovered`` and ``guess`` (the attacker's code,
        (N, C, n)).
    """
    from sklearn.metrics import roc_auc_score

    if donors is None:
        stats = model.stats.get(k)
        if stats is None or stats.donors is None:
            raise ValueError(f"the model has no donor codes for k={k}; pass donors=")
        donors = stats.donors
    published = np.asarray(published, dtype=np.float32)
    nz = published != 0
    match = donor_match_scores(published, donors, tolerance=tolerance)
    reenc = np.abs(_reencode(model, published))
    # lexicographic: fewer donor matches first, then larger re-encoded magnitude
    tie = reenc / (reenc.max() + 1.0)
    mask = _best_k(np.where(nz, -match + tie, -np.inf), k)
    labels = true_mask[nz]
    auc = (
        float(roc_auc_score(labels, -match[nz]))
        if 0 < labels.sum() < labels.size and np.ptp(match[nz]) > 0
        else 0.5
    )
    return {
        "auc": auc,
        "support_recovered": float((mask & true_mask).sum() / true_mask.sum()),
        "guess": np.where(mask, published, 0.0).astype(np.float32),
    }
