"""Blocks: every cell painted with its clipped, rounded mean (DP-Pix, Fan 2018; NP-Pix).

Post-processing of a :class:`~dpimage.release.Release`: reads the noisy means
and the public shape and cell side, nothing else, so it costs no ε.
"""

from __future__ import annotations

import numpy as np

from ..cells import render_blocks
from ..release import Release

__all__ = ["as_pixels", "blocks", "pixel_grid"]


def as_pixels(means: np.ndarray) -> np.ndarray:
    """Round cell means to the nearest 8-bit value, clipping to ``[0, 255]`` first."""
    return np.rint(np.clip(means, 0.0, 255.0)).astype(np.uint8)


def pixel_grid(release: Release) -> np.ndarray:
    """One uint8 pixel per cell: shape ``(ny, nx)`` for gray, ``(ny, nx, C)`` otherwise."""
    grid = as_pixels(release.means)
    if len(release.shape) == 2:
        grid = grid[:, :, 0]
    return np.ascontiguousarray(grid)


def blocks(release: Release) -> np.ndarray:
    """Paint each cell's clipped, rounded mean over its ``b x b`` block.

    Returns
    -------
    ndarray of uint8, shape ``release.shape``
        Partial cells at the bottom/right are cropped to the image.
    """
    return render_blocks(pixel_grid(release), release.shape[0], release.shape[1], release.b)
