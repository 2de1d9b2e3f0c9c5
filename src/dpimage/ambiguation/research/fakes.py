"""Research fake generators, kept for comparison: do not use them to share images.

Each was measured and replaced (docs/results/ambiguation.md):

- :func:`ambiguate_resample` draws every fake unit by unit from the
  training statistics. Positions: without replacement with weights
  ``f_j / (1 - f_j)`` where ``f_j`` is how often unit ``j`` is in the true
  support on the training set, so a unit's chance of carrying a fake is
  about its chance of carrying a true value (exactly so for ``k' = 2k`` and
  units far from always-on). Values: the empirical distribution of true
  non-zero values *at that unit* (inverse CDF of its stored quantiles),
  scaled by the ratio of this image's median true ``|v|`` in the map to the
  training codes'. ``|v|`` and the sign then carry no signal, but the fakes
  are not a code of any image, which the public encoder exposes.
- :func:`ambiguate_donor` copies the true non-zeros of stored training codes.
  **Insecure** when the donors are public, as in a format 1 model file: the
  fakes can be matched against them (:func:`.attacks.donor_matching_attack`
  recovers ~99 % of the true support).
- :func:`ambiguate_published` re-implements the public implementation of
  Ferdowsi et al., whose fakes' magnitudes are disjoint from the true ones:
  the control that a threshold on ``|v|`` breaks.

The shipped generators are :func:`~dpimage.ambiguation.mixture.ambiguate_mixture`
and :func:`~dpimage.ambiguation.decoy.ambiguate_decoy`. Randomness as there:
``rng=None`` is the OS CSPRNG, anything else is reproducible and not secret.
"""

from __future__ import annotations

import numpy as np

from .._random import _uniforms
from ..ambiguate import _check_code
from ..stats import ValueStats

__all__ = [
    "RESEARCH_METHODS",
    "ambiguate_donor",
    "ambiguate_published",
    "ambiguate_resample",
    "ambiguate_research",
]

#: The earlier code-based generators, by name; kept for comparison, not for sharing.
RESEARCH_METHODS = ("donor", "resample")


def _fake_positions(free: np.ndarray, weights: np.ndarray, count: int, u: np.ndarray) -> np.ndarray:
    """Weighted sampling without replacement (Efraimidis-Spirakis keys ``log u / w``)."""
    keys = np.where(free, np.log(u) / weights, -np.inf)
    return np.argsort(-keys, kind="stable")[:count]


def ambiguate_resample(
    code: np.ndarray,
    k_prime: int,
    stats: ValueStats,
    *,
    rng: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Add ``k' - k`` fake non-zeros to every map, resampled unit by unit (module docstring).

    Parameters
    ----------
    code : ndarray, shape (C, n)
        Sparse code with exactly k non-zeros in each map.
    k_prime : int
        Non-zeros per map after ambiguation, ``k < k' <= n``.
    stats : ValueStats
        Support frequencies and value quantiles of true non-zeros (for this k),
        measured on the training set. With donor codes (format 1), fake values
        are scaled by this image's median ``|v|`` over theirs, per map.
    rng : None, int or numpy.random.Generator, optional
        ``None`` (default) draws from the OS CSPRNG; anything else is
        reproducible and not secret.

    Returns
    -------
    published : ndarray, shape (C, n), float32
        The ambiguated code: true values unchanged plus the fakes.
    true_mask : ndarray, shape (C, n), bool
        The true support (the key); never part of a release.
    """
    code, k = _check_code(code, k_prime)
    c, n = code.shape
    if stats.freq.shape != (c, n):
        raise ValueError(f"statistics are for codes {stats.freq.shape}, got {code.shape}")
    true_mask = code != 0
    published = code.copy()
    for ci in range(c):
        scale = 1.0
        if stats.donors is not None:  # this image's magnitude scale vs the training codes'
            pool = np.abs(stats.donors[:, ci][stats.donors[:, ci] != 0])
            scale = float(np.median(np.abs(code[ci][true_mask[ci]])) / np.median(pool))
        _resample_into(published[ci], true_mask[ci], k_prime - k, stats, ci, rng, scale)
    return published, true_mask


def ambiguate_donor(
    code: np.ndarray,
    k_prime: int,
    donors: np.ndarray,
    *,
    stats: ValueStats | None = None,
    rng: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Add ``k' - k`` fakes per map taken from the true codes of other images (donors).

    **Insecure when the donors are public** (module docstring).

    For each map, donors are visited in a random order; each contributes its
    true non-zeros (position *and* value) that fall off the true support and
    off the fakes chosen so far, in random order, until ``k' - k`` fakes are
    placed. Each donor map is rescaled so that its median ``|v|`` equals the
    median ``|v|`` of this image's true values in that map: otherwise a
    person whose codes are weaker or stronger than the training faces' would
    be told apart from the donors by magnitude alone (measured: |v|-rank AUC
    0.28 on two unseen people without the rescaling).

    Parameters
    ----------
    code : ndarray, shape (C, n)
        Sparse code with exactly k non-zeros per map.
    k_prime : int
        Non-zeros per map after ambiguation, ``k < k' <= n``.
    donors : ndarray, shape (D, C, n)
        k-sparse codes of images that may be shown in fakes. Their content
        leaks into the ambiguated files as fakes.
    stats : ValueStats, optional
        If the donors cannot fill a map (their supports all lie on this
        image's, as with a collapsed model), the remaining fakes are drawn as
        in :func:`ambiguate_resample`; without ``stats`` that is an error.
    rng : None, int or numpy.random.Generator, optional
        ``None`` (default) is the OS CSPRNG.

    Returns
    -------
    published, true_mask : ndarray, shape (C, n)
        As :func:`ambiguate_resample`.
    """
    code, k = _check_code(code, k_prime)
    c, n = code.shape
    donors = np.asarray(donors, dtype=np.float32)
    if donors.ndim != 3 or donors.shape[1:] != (c, n) or len(donors) < 2:
        raise ValueError(f"donors must be (D >= 2, {c}, {n}), got {donors.shape}")
    true_mask = code != 0
    published = code.copy()
    need = k_prime - k
    victim_scale = np.array([np.median(np.abs(code[ci][true_mask[ci]])) for ci in range(c)])
    u_order = _uniforms(rng, c * len(donors)).reshape(c, len(donors))
    for ci in range(c):
        taken = true_mask[ci].copy()
        placed = 0
        for d in np.argsort(u_order[ci], kind="stable"):
            free = (donors[d, ci] != 0) & ~taken
            cand = np.flatnonzero(free)
            if cand.size == 0:
                continue
            cand = cand[np.argsort(_uniforms(rng, cand.size), kind="stable")]
            cand = cand[: need - placed]
            # match the donor's magnitude scale to this image's in this map
            scale = victim_scale[ci] / np.median(np.abs(donors[d, ci][donors[d, ci] != 0]))
            published[ci, cand] = donors[d, ci, cand] * scale
            taken[cand] = True
            placed += cand.size
            if placed == need:
                break
        if placed < need:
            if stats is None:
                raise ValueError("the donor pool is too small to place k' - k fakes in every map")
            _resample_into(published[ci], taken, need - placed, stats, ci, rng)
    return published, true_mask


def _resample_into(
    row: np.ndarray,
    taken: np.ndarray,
    count: int,
    stats: ValueStats,
    ci: int,
    rng: int | np.random.Generator | None,
    scale: float = 1.0,
) -> None:
    """Place ``count`` fakes in map ``ci`` of ``row`` (in place) off ``taken``, by resampling."""
    f = np.clip(stats.freq[ci].astype(np.float64), 0.0, 1.0)
    weights = f / (1.0 - f + 1e-3) + 1e-6
    u = _uniforms(rng, row.size + count)
    pos = _fake_positions(~taken, weights, count, u[: row.size])
    levels = np.linspace(0.0, 1.0, stats.quantiles.shape[-1])
    for p, uv in zip(pos, u[row.size :], strict=True):
        value = scale * np.interp(uv, levels, stats.quantiles[ci, p])
        row[p] = value if value != 0 else np.float32(1e-6)


def ambiguate_published(
    code: np.ndarray,
    k_prime: int,
    *,
    rng: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Control: fakes with magnitudes disjoint from the true ones (the public scheme).

    Fake positions uniform off the support, fake magnitudes uniform in
    ``(0, min |true|)`` of their map with a random sign. A threshold on
    ``|v|`` separates every fake from every true value, so the key is
    recoverable without any model. Returns ``(published, true_mask)`` like
    :func:`ambiguate_resample`.
    """
    code, k = _check_code(code, k_prime)
    c, n = code.shape
    true_mask = code != 0
    u = _uniforms(rng, c * n + 2 * c * (k_prime - k))
    u_pos = u[: c * n].reshape(c, n)
    u_mag, u_sign = u[c * n :].reshape(2, c, k_prime - k)
    published = code.copy()
    for ci in range(c):
        pos = _fake_positions(~true_mask[ci], np.ones(n), k_prime - k, u_pos[ci])
        floor = np.abs(code[ci][true_mask[ci]]).min()
        published[ci, pos] = np.where(u_sign[ci] < 0.5, -1.0, 1.0) * u_mag[ci] * floor
    return published, true_mask


def ambiguate_research(
    code: np.ndarray,
    k_prime: int,
    stats: ValueStats,
    method: str,
    rng: int | np.random.Generator | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Dispatch to the research generator named by ``method`` (one of :data:`RESEARCH_METHODS`)."""
    if method == "donor":
        if stats.donors is None:
            raise ValueError(
                "these statistics have no donor codes (format version 2 files store none: "
                "donor fakes can be matched); see research.legacy.with_donor_codes"
            )
        return ambiguate_donor(code, k_prime, stats.donors, stats=stats, rng=rng)
    if method == "resample":
        return ambiguate_resample(code, k_prime, stats, rng=rng)
    raise ValueError(f"method must be one of {RESEARCH_METHODS}, got {method!r}")
