"""Renderers: post-processing that turns a :class:`~dpimage.release.Release` into pixels.

A renderer is a function ``renderer(release, **options) -> uint8 image`` of
shape ``release.shape``. It reads the release only — the noisy cell means and
the public facts (shape, b, m, ε, channels, per-cell noise scale, sampler) —
never the image, so it costs no ε; its options may depend on those facts and
on public data, never on the private image.

=========  ==============================================================
name       what it draws
=========  ==============================================================
blocks     each cell's clipped, rounded mean over its block (DP-Pix, NP-Pix)
blur       blocks (or ``base=`` another renderer), then a ``k x k`` Gaussian
           blur (DP-Blur's rendering)
smooth     a denoised, interpolated estimate of the image from the grid
=========  ==============================================================

A luma/chroma :class:`~dpimage.release.ColourRelease` is drawn by
:mod:`dpimage.render.colour` ("blocks", "smooth"; "blur" on either base):
each channel group at its own cell size, then the inverse colour transform.

Examples
--------
>>> import numpy as np
>>> from dpimage.release import release_cells
>>> r = release_cells(np.full((40, 40), 128, np.uint8), b=16, m=16, eps=0.5, rng=0)
>>> render(r, "blur", k=9).shape
(40, 40)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..release import ColourRelease, Release

# Bound under private names: ``dpimage.render.blocks`` and ``.blur`` stay the modules.
from .blocks import blocks as _blocks
from .blur import blur as _blur

__all__ = ["DEFAULT", "Renderer", "check_renderer", "get", "names", "render"]

Renderer = Callable[..., np.ndarray]

#: The renderer of DP-Pix as the papers draw it.
DEFAULT = "blocks"


def _smooth(release: Release, **options) -> np.ndarray:
    """The ``smooth`` renderer, imported when first used (it needs scikit-image)."""
    from .smooth import smooth_grid

    out = smooth_grid(
        release.means, release.scale, release.shape[0], release.shape[1], release.b, **options
    )
    return out[:, :, 0] if len(release.shape) == 2 else out


def _blur_any(release, *, k: int = 99, sigma: float | None = None, base: str = "blocks"):
    """Gaussian blur of the ``base`` renderer's image (``"blocks"``: DP-Blur as published)."""
    if base == "blocks" and isinstance(release, Release):
        return _blur(release, k=k, sigma=sigma)  # the published path, computed without the blocks
    if check_renderer(base) == "blur":
        raise ValueError("base of the blur renderer must be another renderer, not 'blur'")
    from .._validation import check_kernel_size, check_sigma
    from .blur import gaussian_blur

    k, sigma = check_kernel_size(k), check_sigma(sigma)
    image = render(release, base)
    return image if k == 1 else gaussian_blur(image, k, sigma)


def _colour(name: str) -> Renderer:
    from . import colour

    return colour.get(name)


_RENDERERS: dict[str, Renderer] = {"blocks": _blocks, "blur": _blur_any, "smooth": _smooth}


def names() -> tuple[str, ...]:
    """Names of the renderers, in the order of the table above."""
    return tuple(_RENDERERS)


def check_renderer(name: object) -> str:
    """Return ``name`` if it names a renderer, else raise :class:`ValueError`."""
    if not isinstance(name, str) or name not in _RENDERERS:
        raise ValueError(f"render must be one of {', '.join(_RENDERERS)}, got {name!r}")
    return name


def get(name: str) -> Renderer:
    """The renderer called ``name``."""
    return _RENDERERS[check_renderer(name)]


def render(release: Release | ColourRelease, name: str = DEFAULT, **options) -> np.ndarray:
    """Render ``release`` with the renderer ``name`` and its ``options``.

    Returns
    -------
    ndarray of uint8, shape ``release.shape``
    """
    if isinstance(release, ColourRelease):
        check_renderer(name)
        out = _blur_any(release, **options) if name == "blur" else _colour(name)(release, **options)
    elif isinstance(release, Release):
        out = get(name)(release, **options)
    else:
        raise ValueError(f"render takes a Release, got {type(release).__name__}")
    if out.dtype != np.uint8 or out.shape != tuple(release.shape):
        raise RuntimeError(
            f"renderer {name!r} returned {out.dtype} {out.shape}, not uint8 {tuple(release.shape)}"
        )
    return out
