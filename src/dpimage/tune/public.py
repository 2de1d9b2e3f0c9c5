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
from typing import Any

import numpy as np

from .._validation import check_image
from .advice import Candidate, Recommendation, _candidates, _recommend_options, _tune

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
    **options: Any,
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
    **options
        :func:`recommend`'s keyword options (``m_reason``, ``method``, ``eps``,
        ``eps_grid``, ``bs``, ``k``, ``target_psnr``, ``ssim_runs``, ``seed``,
        ``what``, ``render``, ``objective``, ``min_cells``), with its defaults
        (the smooth renderer's MSE is simulated on the references, never on
        the private image).

    Returns
    -------
    Recommendation
        With ``tuned_on`` naming the public images.
    """
    options = _recommend_options(**options)
    shape = tuple(int(v) for v in shape)
    check_image(np.zeros(shape, np.uint8))  # the same shape rules as the mechanisms
    refs = references if references is not None else public_references(shape)
    if not refs:
        raise ValueError("no public reference images")
    for name, ref in refs.items():
        if check_image(ref, name=name).shape != shape:
            raise ValueError(f"reference {name} has shape {ref.shape}, expected {shape}")

    def averaged(*args: Any) -> list[Candidate]:
        """The candidates' utility, averaged over the references."""
        rows = []
        for cands in zip(*(_candidates(ref, *args) for ref in refs.values()), strict=True):
            mse_mean = float(np.mean([c.mse for c in cands]))
            psnr = 10 * math.log10(255.0**2 / mse_mean) if mse_mean > 0 else math.inf
            ssims = [c.ssim for c in cands if c.ssim is not None]
            c0 = cands[0]
            rows.append(
                Candidate(c0.method, c0.b, c0.eps, mse_mean, psnr, float(np.mean(ssims)) if ssims
                          else None, mse_source=c0.mse_source)
            )
        return rows

    rec = _tune(averaged, shape, m, options)
    names = ", ".join(refs)
    rec.tuned_on = f"public images resized to {shape[1]}x{shape[0]}: {names}"
    rec.privacy_note = (
        f"Tuned on public images only ({names}), resized to the image's size: the choice "
        "depends on the size, colour mode and m alone, which every release shows, so it is "
        "covered by the DP guarantee."
    )
    # (SSIM not computed: no such words to replace)
    rec.ssim_note = rec.ssim_note.replace("this image", f"each of the {len(refs)} public images")
    return rec
