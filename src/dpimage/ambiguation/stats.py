"""Where and how large true non-zeros are: the statistics fakes are drawn from (NumPy).

Measured on the *training* images' codes, never on an image being encoded;
stored in the model file (:mod:`.bundle`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ambiguate import top_k_mask

__all__ = ["MIN_UNIT_COUNT", "N_QUANTILES", "ValueStats", "value_stats_from_codes"]

#: Quantiles kept per unit for inverse-CDF sampling of fake values.
N_QUANTILES = 65
#: Units with fewer true activations than this use their map's pooled quantiles.
MIN_UNIT_COUNT = 24


@dataclass(frozen=True)
class ValueStats:
    """Where and how large true non-zeros are, for one sparsity k.

    Attributes
    ----------
    freq : ndarray, shape (C, n)
        Fraction of training images in which each unit is in the true support.
    quantiles : ndarray, shape (C, n, Q)
        Quantiles (levels ``linspace(0, 1, Q)``) of the true values at each
        unit; units seen fewer than ``MIN_UNIT_COUNT`` times get their map's
        pooled quantiles.
    donors : ndarray, shape (D, C, n), optional
        Research only: k-sparse training codes, the source of the insecure
        donor fakes (:mod:`.research.fakes`). Only format 1 model files store
        them (:mod:`.research.legacy`); the shipped fakes never read them.
    """

    freq: np.ndarray
    quantiles: np.ndarray
    donors: np.ndarray | None = None


def value_stats_from_codes(codes: np.ndarray, k: int) -> ValueStats:
    """Support frequencies and value quantiles of the top-k of dense codes ``(N, C, n)``."""
    codes = np.asarray(codes)
    _, c, n = codes.shape
    mask = top_k_mask(np.abs(codes), k)
    freq = mask.mean(axis=0)
    levels = np.linspace(0.0, 1.0, N_QUANTILES)
    quantiles = np.empty((c, n, N_QUANTILES), dtype=np.float32)
    for ci in range(c):
        pooled = np.quantile(codes[:, ci][mask[:, ci]], levels)
        for j in range(n):
            values = codes[mask[:, ci, j], ci, j]
            quantiles[ci, j] = (
                np.quantile(values, levels) if values.size >= MIN_UNIT_COUNT else pooled
            )
    return ValueStats(freq=freq.astype(np.float32), quantiles=quantiles)
