"""Sparse-code helpers every fake generator and attack shares (pure NumPy).

A k-sparse code map (k non-zeros out of n) is published with k' - k extra
non-zeros (*fakes*) at positions off its true support; whoever holds the key
(which k of the k' are true) decodes the image. The shipped generators are
:func:`~.mixture.ambiguate_mixture` (faces) and :func:`~.decoy.ambiguate_decoy`
(digits). The earlier generators (per-unit resampling, donor codes, the
public scheme's control) live in :mod:`.research.fakes`.

Randomness: ``rng=None`` reads the secure bit source (OpenSSL's CSPRNG, else
``os.urandom``; the fakes *are* the secret: an adversary who can predict them
recovers the key); an int or a ``numpy.random.Generator`` is reproducible and
only for research and tests.
"""

from __future__ import annotations

import numpy as np

from ._random import _uniforms

__all__ = ["random_guess", "support", "top_k_mask"]


def support(code: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-zeros of a code ``(C, n)``."""
    return np.asarray(code) != 0


def top_k_mask(score: np.ndarray, k: int) -> np.ndarray:
    """Mask of the ``k`` highest ``score`` entries along the last axis (ties: lower index).

    Give excluded entries ``-inf``; they are kept only if fewer than ``k`` are left.
    """
    keep = np.argsort(-score, axis=-1, kind="stable")[..., :k]
    mask = np.zeros(score.shape, dtype=bool)
    np.put_along_axis(mask, keep, True, axis=-1)
    return mask


def keep_top_k(values: np.ndarray, score: np.ndarray, k: int) -> np.ndarray:
    """``values`` where ``score`` is among the ``k`` highest of its map, 0 elsewhere."""
    return np.where(top_k_mask(score, k), values, np.zeros((), values.dtype))


def _check_code(code: np.ndarray, k_prime: int) -> tuple[np.ndarray, int]:
    """``code`` as float32 ``(C, n)`` and its k; refuses unequal k per map and bad k'."""
    code = np.asarray(code, dtype=np.float32)
    if code.ndim != 2:
        raise ValueError(f"code must be (C, n), got shape {code.shape}")
    counts = np.count_nonzero(code, axis=1)
    k = int(counts[0])
    if not np.all(counts == k) or k < 1:
        raise ValueError("every code map must have the same number k >= 1 of non-zeros")
    if not k < k_prime <= code.shape[1]:
        raise ValueError(f"k' must satisfy k = {k} < k' <= n = {code.shape[1]}, got {k_prime}")
    return code, k


def random_guess(
    published: np.ndarray, k: int, *, rng: int | np.random.Generator | None = None
) -> np.ndarray:
    """A non-holder's blind guess: keep ``k`` of the published non-zeros of each map at random."""
    published = np.asarray(published, dtype=np.float32)
    u = _uniforms(rng, published.size).reshape(published.shape)
    return keep_top_k(published, np.where(published != 0, u, -1.0), k)
