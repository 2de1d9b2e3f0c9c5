"""Box geometry and user boxes from JSON: the public description of *where* to release.

A :data:`Box` is ``(x0, y0, x1, y1)`` in pixels, half-open. :func:`enlarge_box`
implements ``--mask-scale``; :func:`load_boxes` reads the user's boxes.
Nothing here looks at pixels.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._validation import check_positive_float

__all__ = ["Box", "UserBoxes", "enlarge_box", "load_boxes"]

#: A box as ``(x0, y0, x1, y1)`` in pixels, half-open: columns ``x0..x1-1``.
Box = tuple[int, int, int, int]


def _clip_box(box: Sequence[float], width: int, height: int) -> Box | None:
    """Integer box covering ``box`` (rounded outwards), clipped; None if empty."""
    x0 = max(0, math.floor(box[0]))
    y0 = max(0, math.floor(box[1]))
    x1 = min(width, math.ceil(box[2]))
    y1 = min(height, math.ceil(box[3]))
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1, y1)


def enlarge_box(box: Sequence[float], scale: float, width: int, height: int) -> Box | None:
    """Scale ``box`` about its centre by ``scale`` (>= 1 grows), clip to the image.

    Returns ``None`` if nothing of it lies inside the image.
    """
    scale = check_positive_float(scale, "mask_scale")
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hw, hh = (x1 - x0) * scale / 2, (y1 - y0) * scale / 2
    return _clip_box((cx - hw, cy - hh, cx + hw, cy + hh), width, height)


def _hull(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _iou(a: Box, b: Box) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def _xywh_to_boxes(rects: np.ndarray | Sequence) -> list[tuple[float, float, float, float]]:
    return [(float(x), float(y), float(x + w), float(y + h)) for x, y, w, h in rects]


@dataclass(frozen=True)
class UserBoxes:
    """Boxes from a JSON file: some for every frame, some for given frames.

    Attributes
    ----------
    fixed : list of box
        Applied to every frame.
    per_frame : dict of int to list of box
        Applied to the frame with that index (0-based) only.
    """

    fixed: list[tuple[float, float, float, float]] = field(default_factory=list)
    per_frame: dict[int, list[tuple[float, float, float, float]]] = field(default_factory=dict)

    name = "boxes: user-given"

    def for_frame(self, index: int) -> list[tuple[float, float, float, float]]:
        """All boxes of frame ``index``."""
        return self.fixed + self.per_frame.get(index, [])


def _parse_box_list(value: object, where: str) -> list[tuple[float, float, float, float]]:
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list of [x, y, width, height] boxes")
    boxes = []
    for item in value:
        if (
            not isinstance(item, list)
            or len(item) != 4
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in item)
            or not all(math.isfinite(v) for v in item)
        ):
            raise ValueError(f"{where}: each box must be [x, y, width, height], got {item!r}")
        x, y, w, h = (float(v) for v in item)
        if w <= 0 or h <= 0:
            raise ValueError(f"{where}: box width and height must be > 0, got {item!r}")
        boxes.append((x, y, x + w, y + h))
    return boxes


def load_boxes(path: str | os.PathLike[str]) -> UserBoxes:
    """Read user boxes from JSON.

    Accepted forms (pixel units, ``[x, y, width, height]``, top-left origin)::

        [[x, y, w, h], ...]                                   # every frame
        {"boxes": [[x, y, w, h], ...],                        # every frame
         "frames": {"0": [[x, y, w, h]], "12": [[...]]}}      # given frames

    Raises
    ------
    ValueError
        With a one-line message if the file is missing, not JSON or malformed.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{p}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{p}: not valid JSON ({exc})") from None
    if isinstance(data, list):
        data = {"boxes": data}
    if not isinstance(data, dict) or not set(data) <= {"boxes", "frames"}:
        raise ValueError(f"{p}: expected a list of boxes or an object with 'boxes'/'frames'")
    fixed = _parse_box_list(data.get("boxes", []), f"{p}: boxes")
    frames = data.get("frames", {})
    if not isinstance(frames, dict):
        raise ValueError(f"{p}: 'frames' must map frame numbers to box lists")
    per_frame: dict[int, list] = {}
    for key, value in frames.items():
        try:
            index = int(key)
        except ValueError:
            raise ValueError(f"{p}: frame key {key!r} is not an integer") from None
        if index < 0:
            raise ValueError(f"{p}: frame key {key!r} is negative")
        per_frame[index] = _parse_box_list(value, f"{p}: frame {key}")
    if not fixed and not per_frame:
        raise ValueError(f"{p}: no boxes")
    return UserBoxes(fixed=fixed, per_frame=per_frame)
