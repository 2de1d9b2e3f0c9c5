"""The mechanism on regions: release the pixels inside given boxes, the rest untouched.

Detection and rendering are separate: :func:`release_regions` takes the
boxes (from any detector, tracker or the user) and a ``release`` callable
that turns one crop into its release, so any mechanism or renderer applies
inside regions. :func:`method_regions` is that with any private method of
:mod:`dpimage.methods` (its renderer and colour path included);
:func:`dp_pix_regions` and :func:`dp_blur_regions` are it for DP-Pix and DP-Blur.

How a box is drawn (``context``): ``"border"`` (the default) renders each
box's release with the published pixels around the boxes as a prior
(:func:`dpimage.render.region.render_region`: the surroundings' colour and
shading, corrected by the noisy cell means as far as their noise allows);
``"none"`` renders each crop's release on its own with the method's renderer,
as region mode did before (saturated tints where the noise is large).
:func:`region_releaser` is the step both still images and video frames use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .. import methods
from .._validation import check_image, check_sigma
from ..release import RNG, ColourRelease, Release
from ..render.region import check_context, published_mask, render_region
from .geometry import Box

__all__ = [
    "dp_blur_regions",
    "dp_pix_regions",
    "method_regions",
    "region_releaser",
    "release_regions",
]

#: A frame's boxes released in place: ``(image, boxes, known)`` -> the image with
#: ``boxes`` released in order; ``known`` (None: outside ``boxes``) marks the
#: published pixels the renderer may read.
RegionReleaser = Callable[[np.ndarray, Sequence[Box], "np.ndarray | None"], np.ndarray]


def release_regions(
    image: np.ndarray, boxes: Iterable[Box], release: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Replace each box of a copy of ``image`` by ``release`` of its current pixels.

    Boxes are processed in order on one working copy, so where two boxes
    overlap the later one sees the earlier one's *released* pixels, never the
    raw ones twice. Pixels outside every box are copied unchanged.
    """
    out = image.copy()
    for x0, y0, x1, y1 in boxes:
        out[y0:y1, x0:x1] = release(out[y0:y1, x0:x1])
    return out


def _check_boxes(boxes: Iterable[Sequence[int]], image: np.ndarray) -> list[Box]:
    height, width = image.shape[:2]
    checked = []
    for box in boxes:
        if len(box) != 4:
            raise ValueError(f"a box is (x0, y0, x1, y1), got {tuple(box)!r}")
        x0, y0, x1, y1 = (int(v) for v in box)
        if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
            raise ValueError(
                f"box {(x0, y0, x1, y1)} is empty or outside the {width}x{height} image"
            )
        checked.append((x0, y0, x1, y1))
    return checked


def _as_generator(rng: RNG) -> np.random.Generator | None:
    if rng is None or isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise ValueError(
        f"rng must be None (secure), an int seed >= 0 or a numpy.random.Generator, got {rng!r}"
    )


def _region_drawing(p: Mapping[str, Any]) -> dict[str, Any]:
    """The method's renderer as :func:`~dpimage.render.region.render_region` options."""
    if "k" in p:  # DP-Blur: its base renderer, then its blur
        return {"base": p["render"], "k": p["k"], "sigma": check_sigma(p["sigma"])}
    if p["render"] == "blur":  # the blur renderer's defaults on blocks
        return {"base": "blocks", "k": 99, "sigma": 0.0}
    return {"base": p["render"], "k": 1, "sigma": 0.0}


def region_releaser(
    method: str | methods.Method,
    params: Mapping[str, Any] | None = None,
    rng: RNG = None,
    *,
    context: str = "border",
    steady: bool = False,
) -> RegionReleaser:
    """``release(image, boxes, known)``: the method on ``boxes`` of a copy of ``image``.

    Boxes are released in order on one working copy, as in
    :func:`release_regions` (same randomness, same privacy). With ``context
    ="border"`` each box's release is drawn by
    :func:`~dpimage.render.region.render_region` from the pixels where
    ``known`` is True (default: outside ``boxes``); the raw pixels of every
    region are zeroed before the renderer gets the picture, so it cannot read
    them. ``context="none"``: the method's own renderer on each crop.
    ``steady=True`` (video frames) draws each box without its own common colour
    offset, which each frame's fresh noise would make flicker
    (``offset`` of :func:`~dpimage.render.region.render_region`).
    """
    spec = method if isinstance(method, methods.Method) else methods.get(method)
    if not spec.private:
        raise ValueError(f"{spec.name} is not a private method: regions need a release")
    p = spec.validate(params)
    if p.get("output", "blocks") != "blocks":
        raise ValueError("regions are released in place: output must be 'blocks'")
    context = check_context(context)
    gen = _as_generator(rng)
    drawing = {**_region_drawing(p), "offset": not steady}

    def release(image: np.ndarray, boxes: Sequence[Box], known: np.ndarray | None = None):
        boxes = _check_boxes(boxes, image)
        if context == "none":
            return release_regions(image, boxes, lambda crop: spec.apply(crop, p, gen))
        known = published_mask(image.shape, boxes) if known is None else np.asarray(known)
        if known.shape != image.shape[:2] or known.dtype != bool:
            raise ValueError(f"known must be a bool mask of shape {image.shape[:2]}")
        if any(known[y0:y1, x0:x1].any() for x0, y0, x1, y1 in boxes):
            # the renderer reads every known pixel: none may lie inside a region
            raise ValueError("known marks pixels inside a region as published")
        # the published picture only: nothing of any region reaches the renderer
        surroundings = np.where(known if image.ndim == 2 else known[..., None], image, 0)
        surroundings = surroundings.astype(np.uint8)
        out = image.copy()
        for x0, y0, x1, y1 in boxes:
            cells: Release | ColourRelease = spec.release(out[y0:y1, x0:x1], p, gen)
            out[y0:y1, x0:x1] = render_region(cells, surroundings, known, (x0, y0), **drawing)
        return out

    return release


def method_regions(
    image: np.ndarray,
    boxes: Iterable[Sequence[int]],
    method: str | methods.Method,
    params: Mapping[str, Any] | None = None,
    rng: RNG = None,
    *,
    context: str = "border",
) -> np.ndarray:
    """The private ``method`` (any alias) on the pixels inside ``boxes``; the rest untouched.

    ``params`` are the method's (:meth:`dpimage.methods.Method.validate`),
    renderer and colour path included; each box is the method's release of
    its crop, cells anchored at the box's top-left corner. Privacy as
    :func:`dp_pix_regions` says: ``eps`` for all boxes together. ``context``:
    how each box is drawn (module docstring; :func:`region_releaser`).
    """
    image = check_image(image)
    checked = _check_boxes(boxes, image)
    return region_releaser(method, params, rng, context=context)(image, checked, None)


def dp_pix_regions(
    image: np.ndarray,
    boxes: Iterable[Sequence[int]],
    b: int = 16,
    m: int = 16,
    eps: float = 0.5,
    rng: RNG = None,
    *,
    context: str = "border",
    **options: Any,
) -> np.ndarray:
    """DP-Pix on the pixels inside ``boxes``, cells aligned to each box; the rest untouched.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W) or (H, W, 3)
    boxes : iterable of (x0, y0, x1, y1)
        Half-open pixel boxes inside the image (see :data:`Box`).
    b, m, eps, rng
        As for :func:`dpimage.dp_pix`; ``eps`` is spent once for all boxes.
    context : {"border", "none"}
        ``"border"``: each box drawn with the published pixels around the
        boxes as a prior (:func:`dpimage.render.region.render_region`);
        ``"none"``: the crop's release alone, with the method's renderer.
    **options
        ``render`` and ``colour``, as for :func:`dpimage.dp_pix`.

    Returns
    -------
    ndarray of uint8, same shape as ``image``

    Notes
    -----
    *Neighbours*: images that differ in at most ``m`` pixels, all inside the
    boxes (the boxes themselves are fixed, public). Each box is a
    :func:`dpimage.dp_pix` release of its crop, with ``b x b`` cells anchored
    at the box's top-left corner (partial cells at its right and bottom).

    *Sensitivity and noise*: boxes are processed in order on one working
    copy (:func:`release_regions`), so every raw pixel enters exactly one
    cell sum; a pixel of a later box that overlaps an earlier one is already
    released (post-processing). With ``m_j`` of the changed pixels first seen
    by box ``j``, box ``j``'s sums move by at most ``255 m_j C`` in L1 and get
    discrete Laplace noise of scale ``255 m C / eps``: it costs
    ``eps m_j / m`` given the earlier releases, and by adaptive composition
    all boxes together cost ``eps sum_j m_j / m <= eps`` — the same maths as
    the full image. (A luma/chroma crop's channels together cost at most
    ``eps`` per ``m`` changed pixels, in proportion to the pixels changed, by
    the same argument: :mod:`dpimage.privacy.colour`.)

    *Not protected*: pixels outside the boxes, and the boxes' positions.
    """
    params = {"b": b, "m": m, "eps": eps, **options}
    return method_regions(image, boxes, "dp_pix", params, rng, context=context)


def dp_blur_regions(
    image: np.ndarray,
    boxes: Iterable[Sequence[int]],
    b0: int = 4,
    k: int = 99,
    m: int = 16,
    eps: float = 0.5,
    rng: RNG = None,
    *,
    sigma: float | None = None,
    context: str = "border",
    **options: Any,
) -> np.ndarray:
    """DP-Blur on the pixels inside ``boxes``; the rest untouched.

    As :func:`dp_pix_regions` with :func:`dpimage.dp_blur` on each crop (its
    blur only sees the crop's released cells, reflected at the box border).
    Same neighbours, sensitivity and cost: ``eps`` for all boxes together.
    ``options``: ``render`` (before the blur) and ``colour``; ``context`` as
    for :func:`dp_pix_regions` (with ``"border"`` the blur is applied to the
    box's drawing, within the box).
    """
    params = {"b0": b0, "k": k, "m": m, "eps": eps, "sigma": sigma, **options}
    return method_regions(image, boxes, "dp_blur", params, rng, context=context)
