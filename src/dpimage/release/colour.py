"""The private step for colour in luma/chroma: an RGB image becomes a :class:`ColourRelease`.

The RGB path (:func:`~dpimage.release.release_cells`) spends one ε on three
channels, so each channel's mean carries the noise of ``C = 3``. Here the
exact integer RGB cell sums are transformed to integer YCoCg sums
(:mod:`dpimage.privacy.colour`: the transform, each channel's sensitivity
``255 m 4`` and the budget split are derived there) and noised exactly:

* luma ``Y`` on cells of side ``b`` with ``eps_Y`` (default ``eps``);
* chroma ``Co``, ``Cg`` on cells of side ``b_chroma = f b`` with ``eps_Co =
  eps_Cg`` (default ``eps / 3`` each), ``f`` from public parameters only
  (:func:`dpimage.privacy.colour.chroma_factor_for`; 4 at b = m = 16, eps = 0.5).

Each channel's grid is ``eps_c``-DP (discrete Laplace of scale
``Delta_c / eps_c`` on every integer sum, ``Delta_c = 255 m 4`` for any cell
sizes); the three together are exactly
``max(eps_Y, eps_Cg, eps_Y / 2 + eps_Co + eps_Cg / 2)``-DP — the worst case
over one pixel's change, proved in :mod:`dpimage.privacy.colour`
(:func:`~dpimage.privacy.colour.worst_case_epsilon`), which is ``<= eps``,
checked on the exact binary values. The noise is drawn by the
same exact sampler and bit sources as every other release
(:func:`dpimage.privacy.discrete_laplace`, :func:`dpimage.privacy.make_bit_source`).

A :class:`ColourRelease` holds two :class:`~dpimage.release.Release` objects
— luma (gray-like, shape ``(H, W)``) and chroma (two channels, shape ``(H, W,
2)``) — each with its own ``b``, ``eps`` and per-cell ``scale``; renderers
(:mod:`dpimage.render.colour`) draw each at its cell size and invert the
transform. Nothing else about the image is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .._validation import check_positive_float, check_positive_int
from ..cells import cell_counts, cell_side, cell_sums
from ..privacy.colour import (
    DIVISOR,
    LUMA_SHARE,
    TRANSFORM,
    channel_sensitivity,
    chroma_factor_for,
    float_at_least,
    split_budget,
    worst_case_epsilon,
)
from ..privacy.sampling import check_noise_scale, discrete_laplace, make_bit_source
from ..privacy.sensitivity import PIXEL_RANGE
from .release import RNG, Release

__all__ = [
    "BOUND_RULE",
    "COLOURS",
    "TRANSFORMS",
    "ColourRelease",
    "check_colour",
    "colour_split",
    "noisy_ycocg_means",
    "release_colour",
]

#: Transforms a :class:`ColourRelease` may name (only YCoCg with integer rows today).
TRANSFORMS = ("ycocg",)

#: Colour paths of a release: one eps over R, G, B (the papers), or luma/chroma.
COLOURS = ("rgb", "luma-chroma")
_COLOUR_ALIASES = {"rgb": "rgb", "luma-chroma": "luma-chroma", "luma_chroma": "luma-chroma",
                   "lumachroma": "luma-chroma", "ycocg": "luma-chroma"}  # fmt: skip


def check_colour(value: object) -> str:
    """``"rgb"`` or ``"luma-chroma"`` for any accepted spelling (``"ycocg"``, ...)."""
    key = value.strip().lower() if isinstance(value, str) else None
    if key not in _COLOUR_ALIASES:
        raise ValueError(f"colour must be one of {', '.join(COLOURS)} (or ycocg), got {value!r}")
    return _COLOUR_ALIASES[key]


@dataclass(frozen=True, eq=False)
class ColourRelease:
    """A luma/chroma release: two cell releases and the public facts that tie them.

    Attributes
    ----------
    luma : Release
        ``Y`` means at cell side ``b`` (shape ``(H, W)``, one channel, ``eps =
        eps_Y``, ``scale = 255 m / (n_k eps_Y)``).
    chroma : Release
        ``Co``, ``Cg`` means (normalised, in ``[-127.5, 127.5]`` before noise)
        at cell side ``b_chroma`` (shape ``(H, W, 2)``, each channel's scale
        ``255 m / (n_k eps_Co)``). Its ``eps`` is the chroma grid's own worst
        case, ``max(eps_Co + eps_Cg / 2, eps_Cg)``, rounded up to a double.
    transform : str
        ``"ycocg"`` (:data:`dpimage.privacy.colour.TRANSFORM`).
    eps : float
        Budget of the whole release: at least the exact worst case of the
        three channels together (:attr:`eps_bound`), not their sum.
    eps_chroma : tuple of float
        ``(eps_Co, eps_Cg)``.
    """

    luma: Release
    chroma: Release
    transform: str
    eps: float
    eps_chroma: tuple[float, float]

    def __post_init__(self) -> None:
        if self.transform not in TRANSFORMS:
            raise ValueError(f"transform must be one of {TRANSFORMS}, got {self.transform!r}")
        if self.luma.shape[:2] != self.chroma.shape[:2] or self.luma.m != self.chroma.m:
            raise ValueError("luma and chroma releases must share the image size and m")
        if self.eps_chroma[0] != self.eps_chroma[1]:
            raise ValueError(f"Co and Cg share one noise scale: {self.eps_chroma!r} differ")
        own = float_at_least(worst_case_epsilon(0, *self.eps_chroma))
        if self.chroma.eps != own:
            raise ValueError(f"the chroma release's eps must be its worst case {own}")
        spent = worst_case_epsilon(self.luma.eps, *self.eps_chroma)
        if spent > Fraction(self.eps):
            raise ValueError(f"the channels' worst case {float(spent)} exceeds eps {self.eps}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of the released RGB image."""
        return (*self.luma.shape[:2], 3)

    @property
    def b(self) -> int:
        """Luma cell side."""
        return self.luma.b

    @property
    def b_chroma(self) -> int:
        """Chroma cell side."""
        return self.chroma.b

    @property
    def m(self) -> int | None:
        return self.luma.m

    @property
    def eps_luma(self) -> float:
        return float(self.luma.eps)

    @property
    def eps_bound(self) -> float:
        """The exact ε of the three channels together (rounded up): ``<= eps``."""
        return float_at_least(worst_case_epsilon(self.luma.eps, *self.eps_chroma))

    @property
    def sampler(self):
        return self.luma.sampler

    @property
    def private(self) -> bool:
        return self.luma.private

    def facts(self) -> dict:
        """The public facts as a JSON-able dict: what ε went where (no means)."""
        return {
            "shape": list(self.shape),
            "transform": self.transform,
            "m": self.m,
            "eps": self.eps,
            "eps_luma": self.eps_luma,
            "eps_chroma": list(self.eps_chroma),
            "eps_bound": self.eps_bound,
            "b": self.b,
            "b_chroma": self.b_chroma,
            "sampler": self.sampler,
        }


#: What a manifest says about how the channels' budgets add up.
BOUND_RULE = "max(eps_luma, eps_cg, eps_luma/2 + eps_co + eps_cg/2)"


def colour_split(
    b: int,
    m: int,
    eps: float,
    *,
    luma_share: float = LUMA_SHARE,
    chroma_factor: int | None = None,
    budgets: tuple[float, float, float] | None = None,
) -> dict:
    """What ε goes where in a luma/chroma release, from public parameters only.

    Returns ``{"transform", "eps_luma", "eps_co", "eps_cg", "eps_bound",
    "bound", "b_luma", "b_chroma"}``: what a manifest records (nothing
    derived from the image). ``eps_bound`` is the exact worst case over one
    pixel's change (:func:`~dpimage.privacy.colour.worst_case_epsilon`,
    rounded up to a double; ``<= eps``) and ``bound`` the rule it follows.
    ``budgets`` gives ``(eps_Y, eps_Co, eps_Cg)`` explicitly instead of
    :func:`~dpimage.privacy.colour.split_budget` (``eps_Co == eps_Cg``, worst
    case ``<= eps``): for comparisons, such as the old 0.7/0.15/0.15 split.
    """
    b = check_positive_int(b, "b")
    m = check_positive_int(m, "m")
    eps = check_positive_float(eps, "eps")
    if budgets is None:
        eps_y, eps_co, eps_cg = split_budget(eps, luma_share)
    else:
        eps_y, eps_co, eps_cg = (check_positive_float(e, "budget") for e in budgets)
        if eps_co != eps_cg:
            raise ValueError(f"eps_co and eps_cg must be equal (one chroma scale), got {budgets}")
    bound = worst_case_epsilon(eps_y, eps_co, eps_cg)
    if bound > Fraction(eps):
        raise ValueError(f"budgets {(eps_y, eps_co, eps_cg)} spend {float(bound)} > eps {eps}")
    factor = chroma_factor_for(b, m, eps_co) if chroma_factor is None else chroma_factor
    factor = check_positive_int(factor, "chroma_factor")
    return {
        "transform": "ycocg",
        "eps_luma": eps_y,
        "eps_co": eps_co,
        "eps_cg": eps_cg,
        "eps_bound": float_at_least(bound),
        "bound": BOUND_RULE,
        "b_luma": b,
        "b_chroma": b * factor,
    }


def _noisy_means(sums, delta, eps, counts, bits):
    """Exact discrete Laplace of scale ``delta / eps`` on integer sums, then normalised means."""
    scale = Fraction(int(delta)) / Fraction(eps)
    noisy = sums + discrete_laplace(scale, sums.shape, bits)
    return noisy / (counts * DIVISOR), float(scale) / (counts * DIVISOR)


def noisy_ycocg_means(sums_luma, counts_luma, sums_chroma, counts_chroma, m, budgets, bits):
    """The private step on exact RGB cell sums: transform, then noise each channel.

    ``sums_*`` are integer RGB cell sums ``(..., ny, nx, 3)`` at the luma and
    chroma cell sizes (leading axes allowed: independent draws, used by the
    audit); ``budgets`` is ``(eps_Y, eps_Co, eps_Cg)``. Returns the noisy
    normalised means and scales: ``luma (..., ny, nx)``, ``luma_scale``,
    ``chroma (..., nyc, nxc, 2)``, ``chroma_scale`` (Co and Cg have equal
    budgets by :func:`~dpimage.privacy.colour.split_budget`, hence one scale).
    Sensitivity ``255 m 4`` per channel on the integer sums
    (:func:`~dpimage.privacy.colour.channel_sensitivity`, derived in
    :mod:`dpimage.privacy.colour`).
    """
    delta = channel_sensitivity(m)
    eps_y, eps_co, eps_cg = budgets
    # exact integer transformed sums from the exact RGB sums (the transform is linear)
    sums_y = np.asarray(sums_luma, dtype=np.int64) @ TRANSFORM[0]
    sums_c = np.asarray(sums_chroma, dtype=np.int64) @ TRANSFORM[1:].T
    luma, luma_scale = _noisy_means(sums_y, delta[0], eps_y, counts_luma, bits)
    co, co_scale = _noisy_means(sums_c[..., 0], delta[1], eps_co, counts_chroma, bits)
    cg, _ = _noisy_means(sums_c[..., 1], delta[2], eps_cg, counts_chroma, bits)
    return luma, luma_scale, np.stack([co, cg], axis=-1), co_scale


def release_colour(
    image: np.ndarray,
    b: int = 16,
    m: int = 16,
    eps: float = 0.5,
    rng: RNG = None,
    *,
    luma_share: float = LUMA_SHARE,
    chroma_factor: int | None = None,
    budgets: tuple[float, float, float] | None = None,
) -> ColourRelease:
    """ε-DP luma/chroma release of an RGB image (module docstring: derivation).

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W, 3)
        The private image; never modified, never kept.
    b, m, eps, rng
        As for :func:`~dpimage.release.release_cells`; ``eps`` is the total for
        all three channels, ``b`` the luma cell side.
    luma_share : float
        ``eps_Y / eps`` in ``(0, 1]``; Co and Cg get ``(2 - luma_share) eps / 3``
        each, so the worst case is ``eps``
        (:func:`~dpimage.privacy.colour.split_budget`).
    chroma_factor : int, optional
        Chroma cells are ``chroma_factor * b`` pixels on a side; ``None``:
        :func:`~dpimage.privacy.colour.chroma_factor_for` (public parameters only).
    budgets : (eps_Y, eps_Co, eps_Cg), optional
        Explicit channel budgets instead of ``luma_share`` (:func:`colour_split`).

    Returns
    -------
    ColourRelease
        Unclipped noisy normalised means of Y (at ``b``) and Co, Cg (at ``b_chroma``).
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"a luma/chroma release needs uint8 (H, W, 3), got {image.dtype} {image.shape}"
        )
    split = colour_split(
        b, m, eps, luma_share=luma_share, chroma_factor=chroma_factor, budgets=budgets
    )
    m = int(m)
    budgets = (split["eps_luma"], split["eps_co"], split["eps_cg"])
    for row, eps_c in zip(np.abs(TRANSFORM), budgets, strict=True):
        # Python ints: an absurd m must be refused, not overflow int64
        check_noise_scale(PIXEL_RANGE * m * int(row.sum()), eps_c, m=m, total_eps=float(eps))
    h, w = image.shape[:2]
    # A luma side larger than the image draws the same cells clamped
    # (dpimage.cells.cell_side); chroma keeps its multiple of it, as the renderers
    # assume, so no side exceeds 16 max(H, W) and every grid is the one requested.
    b = cell_side(split["b_luma"], h, w)
    b_c = split["b_chroma"] // split["b_luma"] * b
    bits = make_bit_source(rng)
    luma, luma_scale, chroma, chroma_scale = noisy_ycocg_means(
        cell_sums(image, b), cell_counts(h, w, b), cell_sums(image, b_c),
        cell_counts(h, w, b_c), m, budgets, bits,
    )  # fmt: skip
    luma_release = Release(
        means=luma[:, :, None], shape=(h, w), b=b, m=m, eps=budgets[0], channels=1,
        scale=luma_scale, sampler=bits.kind,
    )  # fmt: skip
    chroma_release = Release(
        means=chroma, shape=(h, w, 2), b=b_c, m=m,
        eps=float_at_least(worst_case_epsilon(0, budgets[1], budgets[2])), channels=2,
        scale=chroma_scale, sampler=bits.kind,
    )  # fmt: skip
    return ColourRelease(
        luma=luma_release, chroma=chroma_release, transform="ycocg", eps=float(eps),
        eps_chroma=(budgets[1], budgets[2]),
    )  # fmt: skip
