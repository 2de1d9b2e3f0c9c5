"""Sensitivity and noise scale of the cell-sum release, and its privacy map.

Neighbouring relation (Fan 2018, "m-neighbourhood"): two images of the same
shape ``H x W x C`` are neighbours when they differ in at most ``m`` pixel
positions; at a differing position every one of the ``C`` channels may change
by up to 255.

What is released: the vector ``S`` of integer cell sums ``S[k, c]`` over all
cells ``k`` and channels ``c``. Changing one pixel changes exactly one cell sum
per channel, each by at most 255, so changing ``m`` pixels changes ``S`` by at
most ``255 * m * C`` in L1 norm, *whatever the cell sizes*::

    Delta = max ||S(x) - S(x')||_1 = 255 * m * C.

Adding i.i.d. discrete Laplace noise with scale ``t = Delta / eps`` to every
sum, ``P[z] ∝ exp(-|z| / t)``, is then ``eps``-DP (the usual Laplace-mechanism
argument: the output density ratio is at most ``exp(||S(x) - S(x')||_1 / t)``).
Every later step (dividing by the pixel count, clipping, rounding, painting
blocks, blurring) is post-processing and costs nothing.

Consequences, all tested:

* a full gray cell's *mean* gets noise of scale ``255 m / (b^2 eps)`` — the
  paper's formula;
* a partial cell of ``n_k < b^2`` pixels gets ``255 m / (n_k eps)``, more
  noise: the paper's ``b^2`` applied there is **not** eps-DP;
* colour costs ``C`` times more noise than gray for the same total ``eps``.
  Spending ``eps`` on each channel separately would be ``C * eps`` in total.
"""

from __future__ import annotations

import functools
from fractions import Fraction

from .._validation import check_positive_float, check_positive_int

__all__ = [
    "PIXEL_RANGE",
    "channels_of",
    "epsilon_for_distance",
    "l1_sensitivity",
    "laplace_scale",
]

#: Largest change of one 8-bit channel value.
PIXEL_RANGE = 255


def channels_of(shape: tuple[int, ...]) -> int:
    """Channel count of an image shape ``(H, W)`` or ``(H, W, C)``."""
    if len(shape) == 2:
        return 1
    if len(shape) == 3:
        return int(shape[2])
    raise ValueError(f"an image shape is (H, W) or (H, W, C), got {tuple(shape)}")


def l1_sensitivity(m: int, channels: int) -> int:
    """L1 sensitivity of the cell-sum vector under the m-neighbourhood: ``255 m C``."""
    m = check_positive_int(m, "m")
    channels = check_positive_int(channels, "channels")
    return PIXEL_RANGE * m * channels


def laplace_scale(m: int, channels: int, eps: float) -> Fraction:
    """Scale ``t = 255 m C / eps`` of the discrete Laplace noise on each cell sum.

    Returned as an exact :class:`~fractions.Fraction` (``eps`` is taken at its
    exact binary value) so the sampler can be exact.
    """
    return _laplace_scale(
        check_positive_int(m, "m"),
        check_positive_int(channels, "channels"),
        check_positive_float(eps, "eps"),
    )


@functools.lru_cache(maxsize=256)
def _laplace_scale(m: int, channels: int, eps: float) -> Fraction:
    # cached (a Fraction is immutable): batches and videos reuse a few settings
    return Fraction(l1_sensitivity(m, channels)) / Fraction(eps)


def epsilon_for_distance(pixels: int, *, m: int, eps: float) -> float:
    """Privacy map: the eps that one release gives two images ``pixels`` apart.

    The noise is calibrated to an L1 change of ``255 m C``; two images that
    differ in ``d`` pixels change the sums by at most ``255 d C``, so the
    Laplace mechanism gives them ``eps * d / m`` (linear, no rounding up).
    This is how an identity that spans thousands of pixels should be judged.
    """
    pixels = int(pixels)
    if pixels < 0:
        raise ValueError(f"pixels must be >= 0, got {pixels}")
    m = check_positive_int(m, "m")
    return check_positive_float(eps, "eps") * pixels / m
