"""The private step, the only code that touches the private image: image -> release.

- :mod:`.release` — :func:`release_cells`: gray or RGB, one ε over all
  channels, a :class:`Release` of noisy cell means (and :func:`exact_cells`,
  the non-private means the baselines render);
- :mod:`.colour` — :func:`release_colour`: RGB in luma/chroma, a
  :class:`ColourRelease` of two releases (the transform's maths, below this
  package, is :mod:`dpimage.privacy.colour`).

:func:`release_image` is the entry every mechanism calls. Everything after it
is a renderer (:mod:`dpimage.render`) that reads the release only.
"""

from __future__ import annotations

import numpy as np

from .colour import COLOURS, ColourRelease, check_colour, colour_split, release_colour
from .release import RNG, Release, cell_noise_scale, exact_cells, release_cells

__all__ = [
    "COLOURS",
    "RNG",
    "ColourRelease",
    "Release",
    "cell_noise_scale",
    "check_colour",
    "colour_split",
    "exact_cells",
    "release_cells",
    "release_colour",
    "release_image",
]


def release_image(
    image: np.ndarray, b: int, m: int, eps: float, rng: RNG = None, colour: str = "rgb"
) -> Release | ColourRelease:
    """The release of ``image`` on the colour path ``colour``; a gray image ignores it.

    ``"rgb"`` (or any gray image): :func:`release_cells`.
    ``"luma-chroma"`` on an RGB image: :func:`release_colour` with its defaults.
    Either way the whole release costs ``eps``.
    """
    colour = check_colour(colour)
    if colour == "luma-chroma" and np.ndim(image) == 3:
        return release_colour(image, b, m, eps, rng)
    return release_cells(image, b, m, eps, rng)
