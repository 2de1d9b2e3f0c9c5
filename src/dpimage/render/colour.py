"""Renderers of a luma/chroma :class:`~dpimage.release.ColourRelease`.

Post-processing only: each reads the two cell releases (noisy normalised
means, public cell sides and per-cell noise scales), draws luma at ``b`` and
chroma at ``b_chroma`` separately, inverts the YCoCg transform
(:func:`dpimage.privacy.colour.ycocg_to_rgb`) and rounds once. No ε is spent
and the image is never seen.

=========  ==============================================================
blocks     each channel group's clipped means painted over its own cells
smooth     :func:`~dpimage.render.smooth.smooth_grid` on the luma grid and
           on the chroma grid (separately: their cells differ), then inverse
=========  ==============================================================

Chroma values live in ``[-127.5, 127.5]``; they are shifted by ``127.5`` into
the ``[0, 255]`` box the renderers assume (the clip and the TV box
constraint) and shifted back before the inverse transform.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..cells import render_blocks
from ..privacy.colour import ycocg_to_rgb
from ..release import ColourRelease
from .smooth import smooth_grid

__all__ = ["CHROMA_OFFSET", "blocks", "names", "smooth"]

CHROMA_OFFSET = 127.5

#: The inverse transform on (Y, Co + 127.5, Cg + 127.5) as one affine map (3 x 4),
#: so that OpenCV applies it, saturates and rounds to uint8 in one pass.
_INVERSE = np.array(
    [[1.0, 1.0, -1.0, 0.0], [1.0, 0.0, 1.0, -CHROMA_OFFSET], [1.0, -1.0, -1.0, 2 * CHROMA_OFFSET]]
)


def blocks(release: ColourRelease) -> np.ndarray:
    """Luma and chroma blocks at their own cell sizes (clipped), inverse transform, rounded.

    A chroma cell is ``f x f`` whole luma cells (``b_chroma = f b``), so the colour
    of every luma cell is computed on the luma grid and painted once.
    """
    h, w, _ = release.shape
    ny, nx = release.luma.means.shape[:2]
    f = release.b_chroma // release.b
    y = np.clip(release.luma.means, 0.0, 255.0)
    c = np.clip(release.chroma.means + CHROMA_OFFSET, 0.0, 255.0) - CHROMA_OFFSET
    c = np.repeat(np.repeat(c, f, axis=0), f, axis=1)[:ny, :nx]
    rgb = ycocg_to_rgb(np.concatenate([y, c], axis=2))
    grid = np.rint(np.clip(rgb, 0.0, 255.0)).astype(np.uint8)
    return render_blocks(grid, h, w, release.b)


def smooth(release: ColourRelease, **options) -> np.ndarray:
    """The ``smooth`` renderer on the luma grid and on the chroma grid, then inverse transform."""
    h, w, _ = release.shape
    luma, chroma = release.luma, release.chroma
    y = smooth_grid(luma.means, luma.scale, h, w, luma.b, **options)
    c = smooth_grid(chroma.means + CHROMA_OFFSET, chroma.scale, h, w, chroma.b, **options)
    return cv2.transform(cv2.merge([y, c]), _INVERSE)


_RENDERERS = {"blocks": blocks, "smooth": smooth}


def names() -> tuple[str, ...]:
    """Renderers that accept a colour release."""
    return tuple(_RENDERERS)


def get(name: str):
    """The colour renderer called ``name``; :class:`ValueError` if it has none."""
    if name not in _RENDERERS:
        raise ValueError(
            f"render={name!r} does not take a luma/chroma release; "
            f"use one of {', '.join(_RENDERERS)}"
        )
    return _RENDERERS[name]
