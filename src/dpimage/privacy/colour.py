"""Luma/chroma release of a colour image: an integer colour transform with its own sensitivity.

Why
---
DP-Pix on RGB spends one ε on three channels: the sensitivity of the whole
sum vector is ``255 m 3``, so every channel's mean carries three times the
noise of a gray release. Most of what a viewer sees is luma; chroma is smooth
and can be released on coarser cells, where a cell holds many more pixels and
its mean far less noise. So: transform, release luma at ``b`` and chroma at
``f b``, with budgets whose *joint* worst case is the ε asked (derived below:
luma gets all of ε, chroma ε/3 per channel on top, and the release is
still ε-DP, not 5ε/3).

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

Budget: the worst case over one pixel's change (tight, not basic composition)
------------------------------------------------------------------------------
Channel ``c`` gets discrete Laplace noise of scale ``Delta_c / eps_c`` on
every one of its cell sums, so on its own that channel's grid is
``eps_c``-DP. Basic composition would charge ``eps_Y + eps_Co + eps_Cg``,
but the three channels see the *same* pixel change, and no change moves all
three by their full sensitivity at once. The exact cost is smaller:

**Claim.** The release of all three grids is ``eps*``-DP with ::

    eps* = max(eps_Y, eps_Cg, eps_Y / 2 + eps_Co + eps_Cg / 2),

for any cell sides of the three grids (full or partial cells), and no smaller
number will do: ``eps*`` is attained by a pair of neighbours.

*Proof.* For neighbours ``x, x'`` and an output ``z`` the log-ratio of the
densities is a sum over channels and cells of ``(eps_c / Delta_c) (|z - s|
- |z - s'|)``, at most ``(eps_c / Delta_c) |s - s'|`` for each integer sum,
with equality for ``z`` beyond both ``s`` and ``s'`` on the side of ``s``.
So the release is exactly ``L``-DP with
``L = max over neighbours of sum_c (eps_c / Delta_c) ||S_c(x) - S_c(x')||_1``.
Let pixel ``j`` (``j = 1..m``) change by ``d_j`` in ``[-255, 255]^3``. The
change of cell ``k``'s sum of channel ``c`` is ``sum_{j in k} T_c . d_j``,
so by the triangle inequality, for each channel's grid whatever its cells,
``||S_c(x) - S_c(x')||_1 <= sum_j |T_c . d_j|``. With ``Delta_c = 255 m
||T_c||_1 = 255 m 4`` ::

    L <= (1 / m) sum_j g(d_j / 255),    g(u) = sum_c eps_c |T_c . u| / 4,

and ``L <= max g`` over the cube ``u in [-1, 1]^3``. ``g`` is convex (a sum
of absolute values of linear maps), so its maximum is at a vertex ``u in
{-1, 1}^3``; ``g(-u) = g(u)``, so four vertices suffice ::

    u = ( 1,  1,  1):  T u = (4,  0,  0)   ->  eps_Y
    u = ( 1, -1,  1):  T u = (0,  0, -4)   ->  eps_Cg
    u = ( 1,  1, -1):  T u = (2,  4,  2)   ->  eps_Y / 2 + eps_Co + eps_Cg / 2
    u = (-1,  1,  1):  T u = (2, -4,  2)   ->  the same

(black <-> white, green <-> magenta, yellow <-> blue, cyan <-> red). Attained:
change ``m`` pixels from ``255 (1 - u) / 2`` to ``255 (1 + u) / 2`` for the
maximising vertex ``u``; every pixel moves each channel's sums the same way,
so the triangle inequality is an equality in every grid, and ``L = g(u)``
(wherever the pixels sit: in one cell of each grid or spread out). For
Co and Cg alone (luma not released) the same vertices give
``max(eps_Co + eps_Cg / 2, eps_Cg)``; for Y alone, ``eps_Y``. QED.

:func:`worst_case_epsilon` evaluates this on the exact binary values of the
budgets (:class:`fractions.Fraction`, so no rounding can hide an overspend);
the noise scale ``Delta_c / eps_c`` is also formed exactly, so the bound is
the one the noise has. :func:`split_budget` chooses budgets whose bound is at
most ``eps`` and as close to it as doubles allow.

The split
---------
Spending exactly ``eps`` leaves a one-parameter family with equal chroma
budgets: ``eps_Y = s eps`` and ``eps_Co = eps_Cg = (2 - s) eps / 3`` for
``0 < s <= 1`` (then ``eps_Y / 2 + 3 eps_Co / 2 = eps`` and both ``eps_Y``
and ``eps_Cg`` are at most ``eps``). The default is ``s = 1``: luma gets the
whole ``eps`` — what a gray release of the same image would get — and
chroma ``eps / 3`` each, on top. Why: chroma is released on cells ``f``
times larger, whose means carry ``f^2`` times less noise, so the error of
the picture is dominated by luma noise and by the coarse chroma's bias; on
the public photos (rocket, motorcycle, Grace Hopper; ``python
benchmarks/colour_split.py --tune``) ``s = 1`` had the lowest MSE of
``s`` in 0.7, 0.8, 0.9, 1 at every eps from 0.1 to 2, each with its best
chroma factor. Equal Co and Cg budgets keep one noise scale
for the chroma grid; the split that minimises the RGB noise variance
``3 / eps_Y^2 + 2 / eps_Co^2 + 3 / eps_Cg^2`` at ``eps_Y = eps`` would give
``eps_Cg = 3^(1/3) eps_Co`` (0.29 eps and 0.42 eps), lowering the chroma
noise variance by 9 % — noise that the coarse chroma cells have already
made small. The old default, 0.7 / 0.15 / 0.15 of ``eps`` by basic
composition, spent only ``0.7 eps``. Chroma cells are ``f b`` with ``f``
from :func:`chroma_factor_for` on the chroma budget (4 at b = m = 16,
eps = 0.5).

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
    "float_at_least",
    "rgb_to_ycocg",
    "split_budget",
    "worst_case_epsilon",
    "ycocg_to_rgb",
]

#: Integer rows of the YCoCg transform; divide by :data:`DIVISOR` for Y, Co, Cg.
TRANSFORM = np.array([[1, 2, 1], [2, 0, -2], [-1, 2, -1]], dtype=np.int64)
DIVISOR = 4
#: Default ``eps_Y / eps``; chroma gets ``(2 - s) eps / 3`` per channel (module docstring).
LUMA_SHARE = 1.0
#: Chroma cells grow (x2, x4, ... up to x16) until a full chroma cell's noise
#: std is at most this (0-255 scale); chosen on public photos, see below.
CHROMA_NOISE_SD = 12.0
_CHROMA_FACTORS = (2, 4, 8, 16)
#: The vertices of the cube of one pixel's change, up to sign (module docstring).
_VERTICES = np.array([[1, 1, 1], [1, -1, 1], [1, 1, -1], [-1, 1, 1]], dtype=np.int64)


def chroma_factor_for(b: int, m: int, eps_chroma: float) -> int:
    """Default chroma cell multiple: the smallest of 2, 4, 8, 16 whose noise std <= 12.

    ``eps_chroma`` is the budget of each chroma channel (``eps_Co = eps_Cg``).
    Depends only on public parameters: a full chroma cell of ``(f b)^2``
    pixels has noise std ``sqrt(2) 255 m / (eps_chroma (f b)^2)`` on Co or Cg.
    On the public tuning photos (rocket, motorcycle, Grace Hopper; b = m = 16,
    the default split, ``python benchmarks/colour_split.py --tune``) the
    lowest MSE came with x8 at eps = 0.1 and 0.2, x4 at 0.5 (x8 within 0.4 %)
    and 1, x2 at 2 (x4 within 2 %, with higher SSIM): this rule picks 8, 8, 4,
    4, 2 there (a threshold anywhere in [10.6, 16.9) would).
    """
    for f in _CHROMA_FACTORS:
        if 2**0.5 * PIXEL_RANGE * m / (eps_chroma * (f * b) ** 2) <= CHROMA_NOISE_SD:
            return f
    return _CHROMA_FACTORS[-1]


def channel_sensitivity(m: int, transform: np.ndarray = TRANSFORM) -> tuple[int, ...]:
    """L1 sensitivity of each transformed channel's integer cell sums: ``255 m sum_j |T[c, j]|``.

    Python integers, exact for any ``m``: in int64 an absurd ``m`` (about 9e15
    and up) would wrap around to a tiny sensitivity, and the noise drawn from
    it would not be the noise the release claims.
    """
    m = check_positive_int(m, "m")
    rows = np.abs(np.asarray(transform, dtype=np.int64)).sum(axis=1)
    return tuple(PIXEL_RANGE * m * int(row) for row in rows)


def worst_case_epsilon(eps_y: float, eps_co: float, eps_cg: float) -> Fraction:
    """Exact ε of a YCoCg release with these per-channel budgets (tight; module docstring).

    ``max over u in {-1, 1}^3 of sum_c eps_c |T_c . u| / ||T_c||_1``, which is
    ``max(eps_Y, eps_Cg, eps_Y / 2 + eps_Co + eps_Cg / 2)``, evaluated on the
    exact binary values of the budgets. A channel that is not released has
    budget 0: ``worst_case_epsilon(0, e_co, e_cg)`` is the chroma grid's own
    ε, ``max(e_co + e_cg / 2, e_cg)``.
    """
    budgets = [Fraction(e) for e in (eps_y, eps_co, eps_cg)]
    if any(e < 0 for e in budgets):
        raise ValueError(f"channel budgets must be >= 0, got {(eps_y, eps_co, eps_cg)!r}")
    weights = [e / int(np.abs(row).sum()) for e, row in zip(budgets, TRANSFORM, strict=True)]
    moves = np.abs(_VERTICES @ TRANSFORM.T).tolist()  # |T_c . u| per vertex, exact ints
    return max(sum(w * int(v) for w, v in zip(weights, row, strict=True)) for row in moves)


def float_at_least(value: Fraction) -> float:
    """The smallest double ``>= value``: a claimed ε that rounding never makes too small."""
    x = float(value)
    return x if Fraction(x) >= value else float(np.nextafter(x, np.inf))


def split_budget(eps: float, luma_share: float = LUMA_SHARE) -> tuple[float, float, float]:
    """``(eps_Y, eps_Co, eps_Cg)`` whose exact worst case is ``<= eps``, as close as doubles allow.

    ``eps_Y = luma_share * eps`` and ``eps_Co = eps_Cg = (2 - luma_share) eps / 3``,
    the largest double with :func:`worst_case_epsilon` ``<= eps`` (the
    exact third is rounded down when rounding to nearest would overspend).
    """
    eps = check_positive_float(eps, "eps")
    if not 0.0 < luma_share <= 1.0:
        raise ValueError(f"luma_share must be in (0, 1], got {luma_share!r}")
    eps_y = eps * luma_share  # <= eps: rounding is monotone and eps is a double
    exact = (Fraction(eps) - Fraction(eps_y) / 2) * Fraction(2, 3)
    eps_c = float(exact)
    while worst_case_epsilon(eps_y, eps_c, eps_c) > Fraction(eps):
        eps_c = float(np.nextafter(eps_c, 0.0))
    return eps_y, eps_c, eps_c


def rgb_to_ycocg(rgb: np.ndarray) -> np.ndarray:
    """Normalised Y, Co, Cg (float64, last axis) of RGB values; Y in [0, 255], Co, Cg in ±127.5."""
    return np.asarray(rgb, dtype=np.float64) @ (TRANSFORM.T / DIVISOR)


def ycocg_to_rgb(ycocg: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycocg` (float64, last axis Y, Co, Cg), not clipped."""
    y, co, cg = (np.asarray(ycocg, dtype=np.float64)[..., i] for i in range(3))
    return np.stack([y + co - cg, y + cg, y - co - cg], axis=-1)
