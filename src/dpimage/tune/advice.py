r"""Answer "which m, which ε, which b?" for one image, with predicted utility.

The two open questions of the DP-Pix notebook — *how to quantify m,
what value should ε take* — get a concrete answer for the user's own image:

``m``
    the number of pixels of the thing to protect. DP-Pix makes any two images
    that differ in at most ``m`` pixels (anywhere, arbitrarily) hard to tell
    apart, so ``m`` must be at least the object's pixel count (a ``w x h`` box
    needs ``m = w h``). Anything larger than ``m`` pixels, ``d`` pixels say, is
    protected only at ``ε d / m`` (:func:`dpimage.privacy.epsilon_for_distance`).
``ε``
    how hard: for neighbouring images ``x, x'`` and *every* set ``E`` of
    possible outputs, ``P[M(x) in E] <= e^ε P[M(x') in E]``. By Bayes' rule an
    observer's posterior odds between ``x`` and ``x'`` are their prior odds
    times ``P[M(x) in E] / P[M(x') in E]``, a factor in ``[e^-ε, e^ε]``. For a
    two-way guess with prior 1/2, any decision rule ``D`` succeeds with
    probability ``(P[D | x] + P[not D | x']) / 2``; with ``p = P[D | x]`` and
    ``p' = P[D | x']``, DP gives ``p <= e^ε p'`` and
    ``1 - p' <= e^ε (1 - p)``, and maximising ``(p + 1 - p') / 2`` under both
    gives ``e^ε / (1 + e^ε)`` (reached at ``p = e^ε / (1 + e^ε)``,
    ``p' = 1 / (1 + e^ε)``).
``b``
    the cell side: larger cells average more pixels (less noise per cell,
    ``255 m C / (n_k ε)``) but blur more detail. For each ε the best ``b`` is
    marked: by default (``objective="mse"``) the smallest predicted pixel
    MSE, which for a small ``m`` on a large image often means a mosaic of a
    handful of cells (MSE rewards the flat mean colour once noise dominates);
    ``objective="ssim"`` picks the largest SSIM instead, which keeps
    structure and recommends the finer cells a person would pick.

Utility: MSE and PSNR from the closed form of :mod:`dpimage.eval.predict`
(with clipping) for the blocks renderer and DP-Blur; the ``smooth``
renderer (``render="smooth"``) has no closed form, so its MSE is **measured
by simulation** like SSIM: the mean over ``ssim_runs`` seeded releases of the
image tuned on (the user's, or the public look-alikes of
:func:`dpimage.tune.public.recommend_public`; research noise, never written
anywhere).

Privacy of the choice itself
----------------------------
:func:`recommend` looks at the raw image: the predicted utility, and so the
``b`` (and, with a PSNR target, the ``ε``) it picks, depend on the private
pixels. That choice is **not** covered by the DP guarantee: publishing a
release made at image-tuned settings also tells something about the image
(which ``b`` won). The guarantee covers a release whose settings were fixed
without looking at the image. :func:`dpimage.tune.public.recommend_public` is that path: it
tunes on public photos (scikit-image's, or a look-alike public image the user
gives) resized to the image's size, so the choice depends only on the size,
the colour mode and ``m`` — facts every release shows anyway.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .. import methods
from .._validation import check_image, check_positive_float, check_positive_int
from ..guarantee import Guarantee, binary_guess_bound, guarantee
from ..privacy.sensitivity import channels_of, epsilon_for_distance
from .simulate import (
    SMOOTH_MSE_RUNS,
    _check_render_objective,
    _predict,
    _simulate,
    _simulated_ssim,
    cap_cells,
)

__all__ = [
    "DEFAULT_EPS",
    "EPS_GRID",
    "TUNABLE",
    "Candidate",
    "Recommendation",
    "b_grid",
    "recommend",
]

#: Said wherever numbers tuned on the user's own image are shown.
DATA_DEPENDENT_NOTE = (
    "These settings were tuned on your image itself: the choice of b and ε depends on the "
    "private pixels and is NOT covered by the DP guarantee. For a choice that is, use "
    "--public (public photos of the same size) or --reference PUBLIC_IMAGE, or fix b and ε "
    "in advance."
)

#: ε candidates shown (the papers' values plus 2).
EPS_GRID = (0.1, 0.3, 0.5, 1.0, 2.0)
#: Recommended ε when no target is given: the papers' default (two-way guess <= 62.2%).
DEFAULT_EPS = 0.5


def b_grid(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Cell sides to try: powers of two from 2 up to the shorter image side."""
    short = min(shape[:2])
    grid = []
    b = 2
    while b <= short:
        grid.append(b)
        b *= 2
    return tuple(grid) or (1,)


@dataclass(frozen=True)
class Candidate:
    """Predicted utility of one (b, ε) choice."""

    method: str
    b: int
    eps: float
    mse: float
    psnr: float
    ssim: float | None
    best_b: bool = False
    #: How ``mse`` was obtained: ``"closed form"`` or ``"simulated"`` (the smooth renderer).
    mse_source: str = "closed form"


@dataclass
class Recommendation:
    """The answer of :func:`recommend`; ``eps``/``b`` are None if no choice meets the target."""

    m: int
    m_reason: str
    method: str
    eps: float | None
    b: int | None
    eps_reason: str
    guarantee: Guarantee | None
    candidates: list[Candidate]
    image_shape: tuple[int, ...]
    ssim_note: str
    notes: list[str] = field(default_factory=list)
    #: ``"image"`` if tuned on the private image (outside the guarantee), else
    #: a description of the public data it was tuned on.
    tuned_on: str = "image"
    privacy_note: str = DATA_DEPENDENT_NOTE
    #: What the best b per ε optimises: ``"mse"`` (smallest) or ``"ssim"`` (largest).
    objective: str = "mse"
    #: Renderer of the DP-Pix release the numbers are for (None for DP-Blur).
    render: str | None = None

    def best(self) -> Candidate | None:
        """The recommended (b, ε) row, if any."""
        for c in self.candidates:
            if c.b == self.b and c.eps == self.eps:
                return c
        return None

    def to_dict(self) -> dict:
        """JSON-able form (no image content)."""
        out = asdict(self)
        out["image_shape"] = list(self.image_shape)
        for c in out["candidates"]:
            for key in ("psnr", "mse"):
                if not math.isfinite(c[key]):
                    c[key] = None
        return out


#: Methods :func:`recommend` can tune: private, with a closed-form utility prediction.
TUNABLE = ("dp_pix", "dp_blur")


def recommend(
    image: np.ndarray,
    m: int,
    *,
    m_reason: str = "",
    method: str = "dp-pix",
    eps: float | None = None,
    eps_grid: Sequence[float] = EPS_GRID,
    bs: Sequence[int] | None = None,
    k: int = 99,
    target_psnr: float | None = None,
    ssim_runs: int = 3,
    seed: int = 0,
    what: str | None = None,
    render: str = "blocks",
    objective: str = "mse",
    min_cells: int | None = None,
) -> Recommendation:
    """Predicted utility of DP-Pix (or DP-Blur) on ``image`` for several (b, ε), and a choice.

    Parameters
    ----------
    image : ndarray of uint8, (H, W) or (H, W, 3)
        The user's image; only used to predict utility, never stored.
    m : int
        Pixels to protect (see :func:`dpimage.guarantee.protected_pixels`).
    method : {"dp-pix", "dp-blur"}
        Or any alias of :mod:`dpimage.methods` (``"dp_pix"``, ``"pix"``, ...);
        the recommendation names it as result tables do (``"dp-pix"``). For
        DP-Blur, ``b`` is the cell side ``b0`` of its DP-Pix step.
    eps : float, optional
        Fix ε (it is added to the grid if missing).
    eps_grid, bs
        Candidates; ``bs`` defaults to :func:`b_grid`.
    target_psnr : float, optional
        Recommend the *smallest* ε of the grid whose best ``b`` reaches this
        predicted PSNR (dB). Without a target (and without ``eps``) the
        recommendation is :data:`DEFAULT_EPS`.
    ssim_runs : int
        Seeded releases per (b, ε) to measure SSIM (0 skips SSIM).
    seed : int
        Seed of those simulations.
    what : str, optional
        Description of the protected thing for the guarantee sentence.
    render : {"blocks", "smooth"}
        DP-Pix's renderer (DP-Blur has its own). ``"smooth"`` has no closed
        form: its MSE is simulated (``ssim_runs`` releases, at least
        :data:`SMOOTH_MSE_RUNS`).
    objective : {"mse", "ssim"}
        The best ``b`` per ε: smallest MSE (default) or largest SSIM (needs
        ``ssim_runs >= 1``).
    min_cells : int, optional
        Keep at least this many cells along the image's shorter side (only
        ``b <= short side / min_cells`` is tried): the resolution a person
        needs, which neither objective guarantees on its own.

    Returns
    -------
    Recommendation
        Its ``privacy_note`` says what the docstring says here: the choice
        depends on ``image`` and is outside the DP guarantee (see
        :func:`dpimage.tune.public.recommend_public` for a choice that is not).
    """
    options = {name: value for name, value in locals().items() if name not in ("image", "m")}
    image = check_image(image)
    return _tune(functools.partial(_candidates, image), image.shape, m, options)


def _recommend_options(**options: Any) -> dict[str, Any]:
    """The keyword options of :func:`recommend` with its defaults for those not given.

    The one definition of their names and defaults, for the functions that
    tune on something else (:func:`dpimage.tune.public.recommend_public`).

    Raises
    ------
    TypeError
        If an option is not one of :func:`recommend`'s.
    """
    bound = inspect.signature(recommend).bind(None, 0, **options)
    bound.apply_defaults()
    return {name: value for name, value in bound.arguments.items() if name not in ("image", "m")}


#: ``candidates(method, grid, bs, m, k, ssim_runs, seed, render)``: predicted utility per (b, ε).
_CandidatesFor = Callable[..., list[Candidate]]


def _tune(
    candidates_for: _CandidatesFor, shape: tuple[int, ...], m: int, options: dict[str, Any]
) -> Recommendation:
    """:func:`recommend`'s steps on any source of predictions: check, predict, choose.

    ``options`` are :func:`recommend`'s, all of them (:func:`_recommend_options`);
    ``candidates_for`` predicts the utility of every (b, ε) of the checked grid.
    """
    o = options
    method, grid, eps, bs, ssim_runs = _check_recommend(
        shape, m, o["method"], o["eps"], o["eps_grid"], o["bs"], o["target_psnr"], o["ssim_runs"]
    )
    render, objective = _check_render_objective(method, o["render"], o["objective"], ssim_runs)
    bs = cap_cells(bs, shape, o["min_cells"])
    candidates = candidates_for(method, grid, bs, m, o["k"], ssim_runs, o["seed"], render)
    return _choose(
        candidates, shape, m, m_reason=o["m_reason"], method=method, eps=eps, grid=grid,
        target_psnr=o["target_psnr"], ssim_runs=ssim_runs, seed=o["seed"], what=o["what"],
        render=render, objective=objective,
    )


def _check_recommend(shape, m, method, eps, eps_grid, bs, target_psnr, ssim_runs):
    m = check_positive_int(m, "m")
    method = methods.get(method, among=TUNABLE).cli_name
    if ssim_runs < 0:
        raise ValueError(f"ssim_runs must be >= 0, got {ssim_runs}")
    grid = sorted({check_positive_float(e, "eps") for e in eps_grid})
    if eps is not None:
        eps = check_positive_float(eps, "eps")
        grid = sorted(set(grid) | {eps})
    if target_psnr is not None and not math.isfinite(float(target_psnr)):
        raise ValueError(f"target PSNR must be a finite number, got {target_psnr}")
    bs = tuple(sorted({check_positive_int(b, "b") for b in (bs or b_grid(shape))}))
    if ssim_runs and min(shape[:2]) < 7:
        ssim_runs = 0
    return method, grid, eps, bs, ssim_runs


def _candidates(
    image, method, grid, bs, m, k, ssim_runs, seed, render=None
) -> list[Candidate]:
    """Predicted utility of every (b, ε) on ``image`` (best_b not yet marked)."""
    rows = []
    for e in grid:
        for b in bs:
            if render == "smooth":  # no closed form: MSE (and SSIM) from the same simulations
                runs = max(ssim_runs, SMOOTH_MSE_RUNS)
                err, s = _simulate(
                    method, image, b, m, e, k, runs, seed, render, want_ssim=bool(ssim_runs)
                )
                psnr = 10 * math.log10(255.0**2 / err) if err > 0 else math.inf
                rows.append(Candidate(method, b, e, err, psnr, s, mse_source="simulated"))
                continue
            p = _predict(method, image, b, m, e, k)
            s = _simulated_ssim(method, image, b, m, e, k, ssim_runs, seed) if ssim_runs else None
            rows.append(Candidate(method, b, e, p.mse, p.psnr, s))
    return rows


def _choose(
    rows: list[Candidate],
    shape: tuple[int, ...],
    m: int,
    *,
    m_reason: str,
    method: str,
    eps: float | None,
    grid: list[float],
    target_psnr: float | None,
    ssim_runs: int,
    seed: int,
    what: str | None,
    render: str | None = None,
    objective: str = "mse",
) -> Recommendation:
    """Mark the best b per ε (by ``objective``) and pick (b, ε) from the predicted rows."""
    candidates: list[Candidate] = []
    best_b: dict[float, int] = {}
    for e in grid:
        here = [c for c in rows if c.eps == e]
        if objective == "ssim":
            winner = max(here, key=lambda c: -math.inf if c.ssim is None else c.ssim)
        else:
            winner = min(here, key=lambda c: c.mse)
        best_b[e] = winner.b
        candidates += [
            Candidate(c.method, c.b, c.eps, c.mse, c.psnr, c.ssim, c.b == winner.b, c.mse_source)
            for c in here
        ]
    notes = []
    if eps is not None:
        chosen: float | None = eps
        reason = f"ε = {eps:g} as you asked"
    elif target_psnr is not None:
        meeting = [e for e in grid if any(c.eps == e and c.psnr >= target_psnr for c in candidates)]
        if meeting:
            chosen = min(meeting)
            reason = (
                f"ε = {chosen:g}: the smallest ε of {', '.join(f'{e:g}' for e in grid)} whose "
                f"best b reaches the predicted PSNR target of {target_psnr:g} dB"
            )
        else:
            chosen = None
            top = max(candidates, key=lambda c: c.psnr)
            reason = (
                f"no ε in {', '.join(f'{e:g}' for e in grid)} reaches {target_psnr:g} dB at m = {m}"
                f" (best: {top.psnr:.1f} dB at ε = {top.eps:g}, b = {top.b}). Accept a lower "
                "target, or try larger ε values (weaker privacy) with --eps-grid."
            )
    else:
        chosen = DEFAULT_EPS if DEFAULT_EPS in grid else grid[len(grid) // 2]
        reason = (
            f"ε = {chosen:g}: the papers' default, a two-way guess succeeds at most "
            f"{100 * binary_guess_bound(chosen):.1f}% of the time; give a target PSNR to trade "
            "privacy for utility explicitly"
        )
    channels = channels_of(shape)
    gtee = guarantee(chosen, m, channels, what=what) if chosen is not None else None
    if chosen is not None:
        bigger = 4 * m
        notes.append(
            f"Something of {bigger} pixels (4x the protected size) is protected only at "
            f"ε = {epsilon_for_distance(bigger, m=m, eps=chosen):g}."
        )
    if chosen is not None:
        top = min((c for c in candidates if c.eps == chosen), key=lambda c: c.mse)
        if top.psnr < 12.0:
            notes.append(
                f"At m = {m} the noise needed is so large that the best predicted PSNR is "
                f"{top.psnr:.1f} dB (b = {top.b}): the release keeps little beyond coarse "
                "colour. Formally hiding something this large costs that much; protecting a "
                "smaller feature (the paper's eye region is ~120 pixels) costs far less."
            )
    ssim_note = (
        f"SSIM (scikit-image defaults) measured by simulation: mean of {ssim_runs} seeded "
        f"releases of this image per (b, ε), seed {seed}"
        if ssim_runs
        else "SSIM not computed"
    )
    return Recommendation(
        m=m,
        m_reason=m_reason or f"m = {m}",
        method=method,
        eps=chosen,
        b=best_b.get(chosen) if chosen is not None else None,
        eps_reason=reason,
        guarantee=gtee,
        candidates=candidates,
        image_shape=tuple(shape),
        ssim_note=ssim_note,
        notes=notes,
        objective=objective,
        render=render,
    )

