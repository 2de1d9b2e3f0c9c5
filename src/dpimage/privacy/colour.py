"""Luma/chroma release of a colour image: an integer colour transform with its own sensitivity.

Why
---
DP-Pix on RGB spends one ε on three channels: the sensitivity of the whole
sum vector is ``255 m 3``, so every channel's mean carries three times the
noise of a gray release. Most of what a viewer sees is luma; chroma is smooth
and can be released on coarser cells, where a cell holds many more pixels and
its mean far less noise. So: transform, spend most of ε on luma at ``b``, the
rest on chroma at ``f b``.

The transform (YCoCg with integer rows)
----------------------------------------
Per pixel, with the integer matrix ::

    T = [[ 1, 2,  1],      Y  = (R + 2G + B) / 4
         [ 2, 0, -2],      Co = (R - B) / 2
         [-1, 2, -1]]      Cg = (-R + 2G - B) / 4      (each row / DIVISOR = 4)

the transformed *integer* cell sums are ``S'[k, c] = sum_j T[c, j] S[k, j]``
— exact integers computed from the exact RGB sums, because the transform is
linear. Discrete Laplace noise therefore stays exact (no floating-point value
of the image is ever noised). Inverse: ``G = Y + Cg``, ``R = Y + Co - Cg``,
``B = Y - Co - Cg``.

Sensitivity, per transformed channel
------------------------------------
Neighbours differ in at most ``m`` pixels; at each such pixel every RGB
channel may change by up to 255 (``|d_j| <= 255``). The change of channel
``c``'s sum from one pixel is ``|sum_j T[c, j] d_j| <= 255 sum_j |T[c, j]|``,
and the ``m`` pixels add, so ::

    Delta_c = 255 m sum_j |T[c, j]| = 255 m 4      for each of Y, Co, Cg,

on the integer sums (``255 m`` on the normalised channel, as DESIGN §2 says
for any transform whose rows have unit L1 norm). This holds for any cell
sizes, full or partial, and for each channel's grid separately.

Budget and composition
----------------------
Channel ``c`` gets discrete Laplace noise of scale ``Delta_c / eps_c`` on
every one of its cell sums, which makes the release of that channel's grid
``eps_c``-DP. The three releases together cost ``eps_Y + eps_Co + eps_Cg <=
eps`` by basic composition; :func:`split_budget` enforces that on the exact
binary values of the budgets. The private step itself (exact RGB cell sums ->
transformed integer sums -> exact discrete Laplace) is
:func:`dpimage.release.release_colour`, beside
:func:`dpimage.release.release_cells`; this module holds the maths.
Defaults: ``eps_Y = 0.7 eps`` and ``0.15 eps`` for each of Co and Cg,
chroma cells ``f b`` with ``f`` from
:func:`chroma_factor_for` (8 at b = m = 16, eps = 0.5), chosen on public
photos (rocket, motorcycle, Grace Hopper) — see
``benchmarks/utility_renderers.py --colour``.

Noise on the means: a cell of ``n_k`` pixels has ``Delta_c / (eps_c n_k
DIVISOR) = 255 m / (eps_c n_k)`` on its normalised value.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from .._validation import check_positive_float, check_positive_int
from .sensitivity import PIXEL_RANGE

__all__ = [
    "DIVISOR",
    "TRANSFORM",
    "channel_sensitivity",
    "chroma_factor_for",
    "rgb_to_ycocg",
    "split_budget",
    "ycocg_to_rgb",
]

#: Integer rows of the YCoCg transform; divide by :data:`DIVISOR` for Y, Co, Cg.
TRANSFORM = np.array([[1, 2, 1], [2, 0, -2], [-1, 2, -1]], dtype=np.int64)
DIVISOR = 4
#: Default share of eps spent on luma; the rest is split equally between Co and Cg.
LUMA_SHARE = 0.7
#: Chroma cells grow (x2, x4, ... up to x16) until a full chroma cell's noise
#: std is at most this (0-255 scale); chosen on public photos, see below.
CHROMA_NOISE_SD = 5.0
_CHROMA_FACTORS = (2, 4, 8, 16)


def chroma_factor_for(b: int, m: int, eps_chroma: float) -> int:
    """Default chroma cell multiple: the smallest of 2, 4, 8, 16 whose noise std <= 5.

    Depends only on public parameters: a full chroma cell of ``(f b)^2``
    pixels has noise std ``sqrt(2) 255 m / (eps_chroma (f b)^2)`` on Co or Cg.
    On the public tuning photos x8 beat x4 at eps = 0.1 and 0.5 and x4 beat x8
    at eps = 2 (b = m = 16), which this rule reproduces.
    """
    for f in _CHROMA_FACTORS:
        if 2**0.5 * PIXEL_RANGE * m / (eps_chroma * (f * b) ** 2) <= CHROMA_NOISE_SD:
            return f
    return _CHROMA_FACTORS[-1]


def channel_sensitivity(m: int, transform: np.ndarray = TRANSFORM) -> np.ndarray:
    """L1 sensitivity of each transformed channel's integer cell sums: ``255 m sum_j |T[c, j]|``."""
    m = check_positive_int(m, "m")
    return PIXEL_RANGE * m * np.abs(np.asarray(transform, dtype=np.int64)).sum(axis=1)


def split_budget(eps: float, luma_share: float = LUMA_SHARE) -> tuple[float, float, float]:
    """``(eps_Y, eps_Co, eps_Cg)`` with exact sum ``<= eps`` (basic composition).

    The chroma budgets are equal. Each is nudged down by an ulp if rounding
    would make the exact binary sum exceed ``eps``.
    """
    eps = check_positive_float(eps, "eps")
    if not 0.0 < luma_share < 1.0:
        raise ValueError(f"luma_share must be in (0, 1), got {luma_share!r}")
    eps_y = eps * luma_share
    eps_c = (eps - eps_y) / 2.0
    while Fraction(eps_y) + 2 * Fraction(eps_c) > Fraction(eps):
        eps_c = float(np.nextafter(eps_c, 0.0))
    return eps_y, eps_c, eps_c


def rgb_to_ycocg(rgb: np.ndarray) -> np.ndarray:
    """Normalised Y, Co, Cg (float64, last axis) of RGB values; Y in [0, 255], Co, Cg in ±127.5."""
    return np.asarray(rgb, dtype=np.float64) @ (TRANSFORM.T / DIVISOR)


def ycocg_to_rgb(ycocg: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycocg` (float64, last axis Y, Co, Cg), not clipped."""
    y, co, cg = (np.asarray(ycocg, dtype=np.float64)[..., i] for i in range(3))
    return np.stack([y + co - cg, y + cg, y - co - cg], axis=-1)

