"""Uniform and Gaussian draws from the project's bit sources (OS CSPRNG by default)."""

from __future__ import annotations

import numpy as np

from ..privacy.sampling import make_bit_source


def _uniforms(rng: int | np.random.Generator | None, n: int) -> np.ndarray:
    """``n`` floats uniform in (0, 1) (53 random bits each, never exactly 0)."""
    words = make_bit_source(rng).words(n)
    return ((words >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def _gaussians(rng: int | np.random.Generator | None, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal draws (Box-Muller on the bit source's uniforms)."""
    size = int(np.prod(shape))
    u = _uniforms(rng, 2 * size).reshape(2, size)
    return (np.sqrt(-2.0 * np.log(u[0])) * np.cos(2.0 * np.pi * u[1])).reshape(shape)


def _one_stream(rng: int | np.random.Generator | None) -> np.random.Generator | None:
    """An int seed becomes one Generator, so successive draws continue one stream.

    (Passing the int itself to each draw would restart the same stream every
    time.) ``None`` (the OS CSPRNG) and Generators pass through.
    """
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    return rng
