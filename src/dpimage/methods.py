"""The one table of methods: name, label, parameters, mechanism + renderer, privacy map.

Every consumer (CLI, batch, video, regions, eval sweeps, attacks, web, tune)
looks a method up here instead of spelling out its own dispatch::

    from dpimage import methods
    method = methods.get("dp-pix")            # any alias; method.name == "dp_pix"
    methods.get("pix", among=("dp_pix", "dp_blur"))  # only these (video, tune)
    params = method.validate({"eps": 0.3})    # defaults filled in, every value checked
    method.epsilon(params)                    # 0.3 -- the privacy map; None if not private
    out = method.apply(image, params, rng)    # == dpimage.dp_pix(image, eps=0.3, rng=rng)
    release = method.release(image, params, rng)   # the private step alone ...
    out = method.render(release, params)           # ... and its post-processing

=========  =======  =============================  =====================================
name       label    parameters (defaults)          mechanism + renderer
=========  =======  =============================  =====================================
np_pix     NP-Pix   b=16 output="blocks"           exact cell means + blocks (not private)
dp_pix     DP-Pix   b=16 m=16 eps=0.5              release at b + ``render`` (blocks, ...)
                    render="blocks" output="blocks"
                    colour="rgb"
np_blur    NP-Blur  k=99 sigma=None                Gaussian blur of the image (not private)
dp_blur    DP-Blur  b0=4 k=99 m=16 eps=0.5         release at b0 + ``render`` + Gaussian
                    sigma=None render="blocks"
                    colour="rgb"
=========  =======  =============================  =====================================

``colour`` is the colour path of an RGB image (a gray one ignores it):
``"rgb"`` (one eps over R, G, B, as the papers) or ``"luma-chroma"`` (alias
``"ycocg"``: luma at the cell side with ``eps``, chroma on coarser cells
with ``eps / 3`` each, whose worst case over one pixel's change together is
``eps``, :mod:`dpimage.privacy.colour`). The privacy map is the total eps
either way; :meth:`Method.budget` says where it goes.

Spellings found in files and on command lines resolve to these names in one
place (:data:`ALIASES`): ``"dp-pix"`` (CLI values, web forms, result tables),
``"dp_pix"`` (manifests, the Python function), ``"pix"`` and ``"blur"`` (the
video command), ``"DP-Pix"`` (labels), and so on. A new renderer needs no new
method: it is available to DP-Pix through its ``render`` parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._validation import (
    check_kernel_size,
    check_positive_float,
    check_positive_int,
    check_sigma,
)
from .mechanisms import _check_output, dp_blur, dp_pix, np_blur, np_pix
from .privacy.colour import split_budget
from .privacy.sampling import check_noise_scale
from .privacy.sensitivity import PIXEL_RANGE
from .release import (
    RNG,
    ColourRelease,
    Release,
    check_colour,
    colour_split,
    exact_cells,
    release_image,
)
from .render import DEFAULT as DEFAULT_RENDER
from .render import check_renderer, render
from .render.blocks import pixel_grid

__all__ = ["ALIASES", "Method", "Param", "from_manifest", "get", "names", "resolve"]


@dataclass(frozen=True)
class Param:
    """One parameter of a method: its default and the check that normalises a value."""

    name: str
    default: Any
    check: Callable[[Any], Any] = field(repr=False)
    doc: str = ""


def _positive_int(name: str) -> Callable[[Any], int]:
    return lambda value: check_positive_int(value, name)


def _sigma(value: Any) -> float | None:
    return None if value is None else check_sigma(value)


_B = Param("b", 16, _positive_int("b"), "cell side in pixels")
_B0 = Param("b0", 4, _positive_int("b0"), "cell side of DP-Blur's release")
_M = Param("m", 16, _positive_int("m"), "neighbourhood size in pixels")
_EPS = Param("eps", 0.5, lambda v: check_positive_float(v, "eps"), "privacy budget")
_K = Param("k", 99, check_kernel_size, "odd Gaussian kernel size")
_SIGMA = Param("sigma", None, _sigma, "Gaussian sigma; None or 0 derive it from k")
_RENDER = Param("render", DEFAULT_RENDER, check_renderer, "renderer of the release")
_OUTPUT = Param("output", "blocks", _check_output, "'blocks' (image size) or 'grid' (one per cell)")
_COLOUR = Param("colour", "rgb", check_colour, "'rgb' or 'luma-chroma' (RGB images only)")


def _check_base(value: Any) -> str:
    name = check_renderer(value)
    if name == "blur":
        raise ValueError("render is the renderer before the blur: blocks or smooth, not blur")
    return name


_BASE = Param("render", DEFAULT_RENDER, _check_base, "renderer before the Gaussian blur")


def _check_noise(p: dict) -> None:
    """Refuse an m and eps whose noise cannot be drawn, for any image (gray or RGB).

    The largest scale a release of these parameters can need: ``255 m 3 / eps``
    on RGB, or on luma/chroma the chroma channels' ``255 m 4 / eps_Co``.
    """
    m, eps = p["m"], p["eps"]
    if p["colour"] == "luma-chroma":
        check_noise_scale(PIXEL_RANGE * m * 4, split_budget(eps)[1], m=m, total_eps=eps)
    else:
        check_noise_scale(PIXEL_RANGE * m * 3, eps, m=m, total_eps=eps)


def _check_dp_pix(p: dict) -> None:
    _check_noise(p)
    if p["output"] == "grid" and p["render"] != "blocks":
        raise ValueError(f"output='grid' is the blocks renderer's grid; got render={p['render']!r}")
    if p["output"] == "grid" and p["colour"] != "rgb":
        raise ValueError("output='grid' is the RGB blocks grid; use colour='rgb'")


@dataclass(frozen=True, eq=False)
class Method:
    """One method of the table: what it is called, what it takes, what it does and costs.

    Attributes
    ----------
    name : str
        Canonical name (``"dp_pix"``), as the Python function and manifests spell it.
    label : str
        Display label (``"DP-Pix"``), as in the papers' tables.
    cli_name : str
        Spelling of CLI choices, web forms and result tables (``"dp-pix"``).
    private : bool
        True if the output is an eps-DP release.
    params : tuple of Param
        Parameters, with defaults and checks.
    cell : str or None
        Which parameter is the cell side of the release (``"b"``, ``"b0"``);
        None for a method without cells (NP-Blur).
    shown : tuple of str
        Parameters named in :meth:`describe` (besides eps).
    """

    name: str
    label: str
    cli_name: str
    private: bool
    params: tuple[Param, ...]
    cell: str | None
    shown: tuple[str, ...]
    summary: str
    _apply: Callable[..., np.ndarray] = field(repr=False)
    _release: Callable[[np.ndarray, dict, RNG], Release | ColourRelease] | None = field(repr=False)
    _render: Callable[..., np.ndarray] | None = field(repr=False)
    _check: Callable[[dict], None] | None = field(default=None, repr=False)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def defaults(self) -> dict[str, Any]:
        """Parameter name -> default value."""
        return {p.name: p.default for p in self.params}

    def validate(self, params: Mapping[str, Any] | None = None, **overrides: Any) -> dict:
        """Defaults overlaid with ``params`` and ``overrides``, every value checked.

        Raises :class:`ValueError` naming the parameter for a bad value or an
        unknown name. Nothing is run: the checks are the mechanism's own.
        """
        given = {**dict(params or {}), **overrides}
        unknown = [key for key in given if key not in self.param_names]
        if unknown:
            raise ValueError(
                f"{self.name} takes {', '.join(self.param_names)}; "
                f"got unknown parameter {', '.join(map(repr, unknown))}"
            )
        merged = {**self.defaults(), **given}
        checked = {p.name: p.check(merged[p.name]) for p in self.params}
        if self._check is not None:
            self._check(checked)  # rules that tie parameters together
        return checked

    def epsilon(self, params: Mapping[str, Any] | None = None) -> float | None:
        """Privacy map: the eps one output costs with these parameters (None: not private).

        For the m-neighbourhood the parameters name; two images ``d`` pixels
        apart are protected at ``eps d / m``
        (:func:`dpimage.privacy.epsilon_for_distance`).
        """
        return self.validate(params)["eps"] if self.private else None

    def budget(self, params: Mapping[str, Any] | None = None) -> dict | None:
        """Where the eps of one output goes, from the parameters alone (None: one grid).

        For ``colour="luma-chroma"`` the split of an RGB image's release:
        ``{"transform", "eps_luma", "eps_co", "eps_cg", "eps_bound", "bound",
        "b_luma", "b_chroma"}`` (:func:`dpimage.release.colour_split`;
        ``eps_bound`` is the exact ε of the three channels together, not their
        sum); a gray image spends all
        of eps on its one grid. What manifests record — nothing from the image.
        """
        p = self.validate(params)
        if not self.private or p.get("colour", "rgb") == "rgb":
            return None
        return colour_split(p[self.cell], p["m"], p["eps"])

    def label_for(self, params: Mapping[str, Any] | None = None) -> str:
        """Short display label with the renderer and colour path when not the papers'.

        ``"DP-Pix"``, ``"DP-Pix (smooth)"``, ``"DP-Pix (smooth, luma-chroma)"``.
        """
        p = self.validate(params)
        extra = [p[key] for key, default in (("render", DEFAULT_RENDER), ("colour", "rgb"))
                 if key in p and p[key] != default]  # fmt: skip
        return f"{self.label} ({', '.join(extra)})" if extra else self.label

    @property
    def has_release(self) -> bool:
        """True if the method is a renderer applied to a cell :class:`Release`."""
        return self._release is not None

    def release(
        self, image: np.ndarray, params: Mapping[str, Any] | None = None, rng: RNG = None
    ) -> Release | ColourRelease:
        """The method's cell release of ``image`` (exact means for NP-Pix)."""
        if self._release is None:
            raise ValueError(f"{self.name} works on the image itself: it has no cell release")
        return self._release(image, self.validate(params), rng)

    def render(
        self,
        release: Release | ColourRelease,
        params: Mapping[str, Any] | None = None,
        **render_options: Any,
    ) -> np.ndarray:
        """Render a release of this method (post-processing: reads ``release`` only)."""
        if self._render is None:
            raise ValueError(f"{self.name} works on the image itself: it has no cell release")
        return self._render(release, self.validate(params), **render_options)

    def apply(
        self,
        image: np.ndarray,
        params: Mapping[str, Any] | None = None,
        rng: RNG = None,
        **render_options: Any,
    ) -> np.ndarray:
        """The method's output for ``image``: the same as calling its public function."""
        return self._apply(image, self.validate(params), rng, **render_options)

    def describe(self, params: Mapping[str, Any] | None = None) -> str:
        """Label and parameters, as in the papers' tables: ``"DP-Pix b=16 ε=0.5"``."""
        p = self.validate(params)
        parts = [self.label, *(f"{name}={p[name]}" for name in self.shown)]
        if p.get("render", DEFAULT_RENDER) != DEFAULT_RENDER:
            parts.append(f"render={p['render']}")
        if p.get("colour", "rgb") != "rgb":
            split = self.budget(p)
            parts.append(
                f"colour={p['colour']} (RGB: ε_Y={split['eps_luma']:g} at b={split['b_luma']}, "
                f"ε_Co=ε_Cg={split['eps_co']:g} at b={split['b_chroma']})"
            )
        if p.get("output", "blocks") != "blocks":
            parts.append(f"output={p['output']}")
        if self.private:
            parts.append(f"ε={p['eps']:g}")
        return " ".join(parts)


# --- the four methods: mechanism and renderer of each ---------------------------


def _np_pix_apply(image, p, rng, **options):
    return np_pix(image, b=p["b"], output=p["output"])


def _np_pix_render(release, p, **options):
    return pixel_grid(release) if p["output"] == "grid" else render(release, "blocks")


def _dp_pix_apply(image, p, rng, **options):
    return dp_pix(
        image,
        b=p["b"],
        m=p["m"],
        eps=p["eps"],
        rng=rng,
        output=p["output"],
        render=p["render"],
        render_options=options,
        colour=p["colour"],
    )


def _dp_pix_render(release, p, **options):
    if p["output"] == "grid":
        return pixel_grid(release)
    return render(release, p["render"], **options)


def _np_blur_apply(image, p, rng, **options):
    return np_blur(image, k=p["k"], sigma=p["sigma"])


def _dp_blur_apply(image, p, rng, **options):
    return dp_blur(
        image, b0=p["b0"], k=p["k"], m=p["m"], eps=p["eps"], rng=rng, sigma=p["sigma"],
        render=p["render"], colour=p["colour"],
    )  # fmt: skip


def _private_release(cell: str) -> Callable[[np.ndarray, dict, RNG], Release | ColourRelease]:
    """A DP method's private step: its one release of the image, with cells of side ``p[cell]``."""
    return lambda image, p, rng: release_image(image, p[cell], p["m"], p["eps"], rng, p["colour"])


def _blur_render(release, p, **options):
    return render(release, "blur", k=p["k"], sigma=p["sigma"], base=p["render"])


_TABLE = (
    Method(
        name="np_pix",
        label="NP-Pix",
        cli_name="np-pix",
        private=False,
        params=(_B, _OUTPUT),
        cell="b",
        shown=("b",),
        summary="mosaic of the exact cell means (not private)",
        _apply=_np_pix_apply,
        _release=lambda image, p, rng: exact_cells(image, p["b"]),
        _render=_np_pix_render,
    ),
    Method(
        name="dp_pix",
        label="DP-Pix",
        cli_name="dp-pix",
        private=True,
        params=(_B, _M, _EPS, _RENDER, _OUTPUT, _COLOUR),
        cell="b",
        shown=("b",),
        summary="DP-Pix (Fan 2018): noisy cell means, rendered as blocks or smoothed",
        _apply=_dp_pix_apply,
        _release=_private_release("b"),
        _render=_dp_pix_render,
        _check=_check_dp_pix,
    ),
    Method(
        name="np_blur",
        label="NP-Blur",
        cli_name="np-blur",
        private=False,
        params=(_K, _SIGMA),
        cell=None,
        shown=("k",),
        summary="Gaussian blur of the image (not private)",
        _apply=_np_blur_apply,
        _release=None,
        _render=None,
    ),
    Method(
        name="dp_blur",
        label="DP-Blur",
        cli_name="dp-blur",
        private=True,
        params=(_B0, _K, _M, _EPS, _SIGMA, _BASE, _COLOUR),
        cell="b0",
        shown=("b0", "k"),
        summary="DP-Blur (Fan 2019): DP-Pix at b0, rendered as blocks then Gaussian-blurred",
        _apply=_dp_blur_apply,
        _release=_private_release("b0"),
        _render=_blur_render,
        _check=_check_noise,
    ),
)

_METHODS: dict[str, Method] = {method.name: method for method in _TABLE}

#: Every accepted spelling (lower case) -> canonical name. Names, CLI names and
#: labels of all methods, plus the command names users already type.
ALIASES: dict[str, str] = {
    **{alias.lower(): m.name for m in _TABLE for alias in (m.name, m.cli_name, m.label)},
    "pix": "dp_pix",  # `dpimage video --method pix`
    "pixelate": "dp_pix",  # the `dpimage pixelate` command
    "blur": "dp_blur",  # `dpimage blur` and `dpimage video --method blur`
}


def names() -> tuple[str, ...]:
    """Canonical method names, in the papers' order: np_pix, dp_pix, np_blur, dp_blur."""
    return tuple(_METHODS)


def resolve(name: str) -> str:
    """The canonical name of ``name`` or any alias of it; :class:`ValueError` if none."""
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in ALIASES:
        raise ValueError(
            f"unknown method {name!r}: use one of {', '.join(names())} "
            f"(also accepted: {', '.join(sorted(set(ALIASES) - set(names())))})"
        )
    return ALIASES[key]


def get(name: str, among: Iterable[str] | None = None) -> Method:
    """The :class:`Method` called ``name`` (canonical name or alias).

    ``among`` (names or aliases) limits the choice to those methods, for a
    consumer that runs only some of them (video and tune: DP-Pix and DP-Blur):
    any other name, known or not, is a :class:`ValueError` naming the allowed ones.
    """
    if among is None:
        return _METHODS[resolve(name)]
    allowed = [resolve(choice) for choice in among]
    key = ALIASES.get(name.strip().lower()) if isinstance(name, str) else None
    if key not in allowed:
        *rest, last = allowed
        listed = f"{', '.join(rest)} or {last}" if rest else last
        raise ValueError(f"method must be {listed} (or an alias), got {name!r}")
    return _METHODS[key]


def from_manifest(mechanism: str) -> tuple[Method, bool]:
    """The method a manifest's ``"mechanism"`` names, and whether it ran on regions only.

    Manifests spell the Python function (``"dp_pix"``), with ``"_regions"``
    appended in region mode (``"dp_blur_regions"``); any alias is accepted too.
    """
    if isinstance(mechanism, str) and mechanism.endswith("_regions"):
        return get(mechanism[: -len("_regions")]), True
    return get(mechanism), False
