"""What ε guarantees, in words, and how many pixels ``m`` a thing to protect covers.

The guarantee sentence :func:`guarantee` builds is what ``dpimage tune`` and the web
page print; it depends only on ε, m and the channels, never on an image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._validation import check_positive_float, check_positive_int

__all__ = ["Guarantee", "binary_guess_bound", "guarantee", "protected_pixels"]


def binary_guess_bound(eps: float) -> float:
    """Best success of a two-way guess with prior 1/2 under ε-DP: ``e^ε / (1 + e^ε)``."""
    eps = check_positive_float(eps, "eps")
    return 1.0 / (1.0 + math.exp(-eps))


@dataclass(frozen=True)
class Guarantee:
    """What one ε-DP release at neighbourhood ``m`` promises, as numbers and in words."""

    eps: float
    m: int
    channels: int
    odds_factor: float
    guess_bound: float
    sentence: str


def guarantee(eps: float, m: int, channels: int = 1, *, what: str | None = None) -> Guarantee:
    """The guarantee of one DP-Pix/DP-Blur release, in plain words.

    Parameters
    ----------
    eps : float
        Privacy budget of the release.
    m : int
        Neighbourhood size in pixels.
    channels : int
        1 (gray) or 3 (RGB); ε covers all channels together.
    what : str, optional
        How the protected thing was described (e.g. ``"the 40x50 box"``).

    Returns
    -------
    Guarantee
        ``odds_factor = e^ε``; ``guess_bound = e^ε / (1 + e^ε)``.
    """
    eps = check_positive_float(eps, "eps")
    m = check_positive_int(m, "m")
    factor = math.exp(eps)
    bound = binary_guess_bound(eps)
    thing = f"{what}, or anything else" if what else "anything"
    colour = " ε covers all three colour channels together." if channels == 3 else ""
    sentence = (
        f"Take two versions of this image that differ only in {thing} covering at most "
        f"{m} pixels (for example the object there or not, or replaced). For every possible "
        f"released image, and so for every conclusion drawn from it, the probability under "
        f"one version is at most e^ε = {factor:.3g} times that under the other. Whatever an "
        f"observer knew before, seeing the release changes their odds between the two "
        f"versions by at most a factor of {factor:.3g}; guessing which version was released, "
        f"with both equally likely beforehand, they are right with probability at most "
        f"e^ε/(1+e^ε) = {100 * bound:.1f}% (a coin flip: 50%). This is for one release: "
        f"k releases with fresh noise cost k·ε.{colour}"
    )
    return Guarantee(eps, m, channels, factor, bound, sentence)


def protected_pixels(
    *,
    object_size: tuple[int, int] | None = None,
    pixels: int | None = None,
    box: tuple[int, int, int, int] | None = None,
    image_shape: tuple[int, ...] | None = None,
) -> tuple[int, str]:
    """``m`` for the thing to protect, and the reasoning in words.

    Exactly one of ``object_size=(w, h)``, ``pixels=N`` or ``box=(x, y, w, h)``
    (checked to lie inside ``image_shape`` if given).
    """
    given = [v is not None for v in (object_size, pixels, box)]
    if sum(given) != 1:
        raise ValueError("give exactly one of an object size WxH, a pixel count, or a box")
    if pixels is not None:
        m = check_positive_int(pixels, "pixels")
        return m, f"m = {m}: the object covers {m} pixels, and m must be at least that"
    if object_size is not None:
        w, h = (check_positive_int(v, "object size") for v in object_size)
        return w * h, f"m = {w}x{h} = {w * h}: the object's box area in pixels (m >= its size)"
    x, y, w, h = (int(v) for v in box)
    if x < 0 or y < 0 or w < 1 or h < 1:
        raise ValueError(f"box must be x,y,w,h with x, y >= 0 and w, h >= 1, got {box}")
    if image_shape is not None and (x + w > image_shape[1] or y + h > image_shape[0]):
        raise ValueError(
            f"box {x},{y},{w},{h} reaches outside the {image_shape[1]}x{image_shape[0]} image"
        )
    return w * h, (
        f"m = {w}x{h} = {w * h}: the area of the box at ({x}, {y}), so that everything "
        "inside it is covered (m >= its pixel count)"
    )
