"""Data-independent tuning: choose b and ε on public images, not on the private one.

:func:`dpimage.tune.recommend` predicts utility on the user's own image, so
its choice depends on the private pixels and lies outside the DP guarantee.
Here the same predictions are made on public photos (scikit-image's bundled
ones, or a look-alike public image the user gives) resized to the private
image's size: the choice depends only on the size, the colour mode and ``m``,
which every release shows anyway.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .._validation import check_image
from .advice import (
    EPS_GRID,
    Candidate,
    Recommendation,
    _candidates,
    _check_recommend,
    _choose,
)
from .simulate import _check_render_objective, cap_cells

__all__ = ["public_references", "recommend_public"]


def public_references(shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """scikit-image's public photos, resized to ``shape`` (and made gray for a gray shape).

    Only the size and colour mode of the private image are used, both of which
    every release shows.
    """
    import cv2

    from ..datasets import photos

    height, width = shape[:2]
    gray = len(shape) == 2
    out = {}
    for name, photo in photos(gray=gray).items():
        resized = cv2.resize(photo, (width, height), interpolation=cv2.INTER_AREA)
        out[name] = np.ascontiguousarray(resized.reshape(shape))
    return out


def recommend_public(
    shape: tuple[int, ...],
    m: int,
    *,
    references: dict[str, np.ndarray] | None = None,
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
    """Like :func:`recommend`, but tuned on public images only: the choice is data-independent.

    The private image enters only through ``shape`` (its size and colour
    mode) and ``m``; both are public facts of any release. The predicted
    utility of each (b, ε) is the mean over the reference images (MSE and
    SSIM averaged, PSNR from the mean MSE), so the chosen settings are
    covered by the guarantee of the release made with them.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` or ``(H, W, 3)`` of the image to be released.
    m : int
        Pixels to protect.
    references : dict of str to ndarray, optional
        Public look-alike images of exactly ``shape`` (e.g. another photo of
        the same kind of scene). Default: :func:`public_references`.
    m_reason, method, eps, eps_grid, bs, k, target_psnr, ssim_runs, seed, what, render,
    objective, min_cells
        As for :func:`recommend` (the smooth renderer's MSE is simulated on
        the references, never on the private image).

    Returns
    -------
    Recommendation
        With ``tuned_on`` naming the public images.
    """
    shape = tuple(int(v) for v in shape)
    check_image(np.zeros(shape, np.uint8))  # the same shape rules as the mechanisms
    refs = references if references is not None else public_references(shape)
    if not refs:
        raise ValueError("no public reference images")
    for name, ref in refs.items():
        if check_image(ref, name=name).shape != shape:
            raise ValueError(f"reference {name} has shape {ref.shape}, expected {shape}")
    method, grid, eps, bs, ssim_runs = _check_recommend(
        shape, m, method, eps, eps_grid, bs, target_psnr, ssim_runs
    )
    render, objective = _check_render_objective(method, render, objective, ssim_runs)
    bs = cap_cells(bs, shape, min_cells)
    per_ref = [
        _candidates(ref, method, grid, bs, m, k, ssim_runs, seed, render) for ref in refs.values()
    ]
    rows = []
    for cands in zip(*per_ref, strict=True):
        mse_mean = float(np.mean([c.mse for c in cands]))
        psnr = 10 * math.log10(255.0**2 / mse_mean) if mse_mean > 0 else math.inf
        ssims = [c.ssim for c in cands if c.ssim is not None]
        c0 = cands[0]
        rows.append(
            Candidate(c0.method, c0.b, c0.eps, mse_mean, psnr, float(np.mean(ssims)) if ssims
                      else None, mse_source=c0.mse_source)
        )
    rec = _choose(
        rows, shape, m, m_reason=m_reason, method=method, eps=eps, grid=grid,
        target_psnr=target_psnr, ssim_runs=ssim_runs, seed=seed, what=what,
        render=render, objective=objective,
    )
    names = ", ".join(refs)
    rec.tuned_on = f"public images resized to {shape[1]}x{shape[0]}: {names}"
    rec.privacy_note = (
        f"Tuned on public images only ({names}), resized to the image's size: the choice "
        "depends on the size, colour mode and m alone, which every release shows, so it is "
        "covered by the DP guarantee."
    )
    if ssim_runs:
        each = f"each of the {len(refs)} public images"
        rec.ssim_note = rec.ssim_note.replace("this image", each)
    return rec
