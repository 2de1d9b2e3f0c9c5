"""Simulation helpers of :mod:`dpimage.tune`: parameters, simulated MSE/SSIM, the b cap.

The smooth renderer has no closed-form MSE, so :func:`dpimage.tune.recommend`
measures it (and SSIM) on seeded releases of the image it tunes on (the
user's, or public look-alikes); the noise here is research noise, never
written anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import methods
from .._validation import check_positive_int

__all__ = ["OBJECTIVES", "SMOOTH_MSE_RUNS", "cap_cells"]

#: What the best ``b`` per ε optimises (see the module docstring).
OBJECTIVES = ("mse", "ssim")
#: Simulated releases per (b, ε) for the smooth renderer's MSE when SSIM runs are off.
SMOOTH_MSE_RUNS = 3


def _params(method: str, b: int, m: int, eps: float, k: int, render: str | None = None) -> dict:
    """Registry parameters of ``method`` with cell side ``b`` (``b0`` for DP-Blur)."""
    spec = methods.get(method)
    params = {spec.cell: b, "m": m, "eps": eps}
    if "k" in spec.param_names:
        params["k"] = k
    if render is not None and "render" in spec.param_names:
        params["render"] = render
    return params


def _predict(method: str, image: np.ndarray, b: int, m: int, eps: float, k: int):
    from ..eval.predict import predict_method

    return predict_method(method, image, _params(method, b, m, eps, k), clip=True)


def _simulate(
    method: str,
    image: np.ndarray,
    b: int,
    m: int,
    eps: float,
    k: int,
    runs: int,
    seed: int,
    render: str | None = None,
    *,
    want_ssim: bool = True,
) -> tuple[float, float | None]:
    """Mean MSE and SSIM over ``runs`` seeded releases of ``image`` (SSIM None if not wanted)."""
    from ..metrics import mse, ssim

    spec, params = methods.get(method), _params(method, b, m, eps, k, render)
    errors, values = [], []
    for r in range(runs):
        rng = np.random.default_rng([seed, b, r])
        out = spec.apply(image, params, rng)
        errors.append(mse(out, image))
        if want_ssim:
            values.append(ssim(out, image, variant="skimage"))
    return float(np.mean(errors)), (float(np.mean(values)) if want_ssim else None)


def _simulated_ssim(
    method: str, image: np.ndarray, b: int, m: int, eps: float, k: int, runs: int, seed: int
) -> float:
    return _simulate(method, image, b, m, eps, k, runs, seed)[1]


def cap_cells(bs: Sequence[int], shape: tuple[int, ...], min_cells: int | None) -> tuple:
    """The cell sides of ``bs`` that leave at least ``min_cells`` cells on the shorter side."""
    if min_cells is None:
        return tuple(bs)
    min_cells = check_positive_int(min_cells, "min_cells")
    limit = min(shape[:2]) // min_cells
    kept = tuple(b for b in bs if b <= limit)
    if not kept:
        raise ValueError(
            f"no cell side of {', '.join(map(str, bs))} leaves {min_cells} cells on a "
            f"{min(shape[:2])}-pixel side (need b <= {limit})"
        )
    return kept


def _check_render_objective(
    method: str, render: str, objective: str, ssim_runs: int
) -> tuple[str | None, str]:
    """Normalise ``render`` (None for DP-Blur) and check ``objective``."""
    from ..render import check_renderer

    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if objective == "ssim" and not ssim_runs:
        raise ValueError("objective 'ssim' needs SSIM simulations (ssim_runs >= 1)")
    if method == "dp-blur":
        if render not in ("blocks", "blur"):
            raise ValueError(f"DP-Blur has its own renderer; got render={render!r}")
        return None, objective
    render = check_renderer(render)
    if render not in ("blocks", "smooth"):
        raise ValueError(f"render must be 'blocks' or 'smooth' for DP-Pix, got {render!r}")
    return render, objective
