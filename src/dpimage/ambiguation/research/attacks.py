"""The attack on the research donor fakes: match published values against stored donors.

:func:`donor_matching_attack` — format 1 model files were public and held the
donor codes :func:`~.fakes.ambiguate_donor` takes fakes from. A donor map
copied into a published map, rescaled by one factor, shows up as several
published non-zeros whose ratio to that donor's values is the same; true
values match a donor's ratio only by chance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..ambiguate import top_k_mask
from ..attacks import _reencode, attacker_guess

if TYPE_CHECKING:
    from ..bundle import AmbiguationModel

__all__ = ["donor_match_scores", "donor_matching_attack"]


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
    mask = top_k_mask(np.where(nz, -match + tie, -np.inf), k)
    labels = true_mask[nz]
    auc = (
        float(roc_auc_score(labels, -match[nz]))
        if 0 < labels.sum() < labels.size and np.ptp(match[nz]) > 0
        else 0.5
    )
    return {
        "auc": auc,
        **attacker_guess(mask, published, true_mask),
    }
