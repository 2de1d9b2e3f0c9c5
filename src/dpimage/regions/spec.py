"""Regions of still images in batches: a picklable description and the boxes it finds.

:class:`RegionSpec` says *which* regions (a detector or fixed boxes) and is
small enough to send to worker processes; :func:`find_regions` turns it
into boxes for one image. What to do inside the boxes is decided by the
caller (:mod:`.release`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .detectors import FACE_DETECTORS, PeopleDetector, face_detector
from .geometry import Box, UserBoxes, enlarge_box

__all__ = ["REGION_SOURCES", "RegionSpec", "find_regions"]

REGION_SOURCES = ("faces", "people", "boxes")


@dataclass(frozen=True)
class RegionSpec:
    """Which regions of each still image to release; small and picklable for workers.

    Attributes
    ----------
    source : {"faces", "people", "boxes"}
        Detector to run on each image, or fixed user boxes.
    mask_scale : float
        Each box is scaled about its centre by this factor (then clipped).
    boxes : tuple of (x0, y0, x1, y1)
        The user's boxes for ``source="boxes"`` (the same for every image).
    face_detector : {"centerface", "haar"}
        For ``source="faces"``: which detector (see
        :func:`~dpimage.regions.face_detector`; no silent fallback).
    """

    source: str
    mask_scale: float = 1.3
    boxes: tuple[tuple[float, float, float, float], ...] = ()
    face_detector: str = "centerface"

    def __post_init__(self) -> None:
        if self.source not in REGION_SOURCES:
            raise ValueError(f"region source must be one of {REGION_SOURCES}, got {self.source!r}")
        if not self.mask_scale > 0:
            raise ValueError(f"mask_scale must be > 0, got {self.mask_scale}")
        if self.face_detector not in FACE_DETECTORS:
            raise ValueError(
                f"face detector must be one of {', '.join(FACE_DETECTORS)}, "
                f"got {self.face_detector!r}"
            )

    def detector(self) -> Callable[[np.ndarray], list] | None:
        """The detector this spec runs (built once per process), or None for user boxes.

        Raises
        ------
        MissingModelError
            If the chosen detector's model is not installed.
        """
        if self.source == "boxes":
            return None
        return _cached_detector(self.source, self.face_detector)

    def describe(self) -> dict:
        """What the manifest records (nothing derived from any image).

        ``detector`` names the detector that runs, with what runs it (built
        here, so a missing model fails before any image is read).
        """
        detector = self.detector()
        return {
            "source": self.source,
            "detector": UserBoxes.name if detector is None else detector.name,
            "mask_scale": self.mask_scale,
            "not_protected": (
                "pixels outside the boxes, and the boxes' number, positions and sizes "
                "(found by a non-private detector on the raw image)"
            ),
        }


@functools.cache
def _cached_detector(source: str, face: str = "centerface") -> Callable[[np.ndarray], list]:
    # One detector per process: workers build it once, not per image.
    return face_detector(face) if source == "faces" else PeopleDetector()


def find_regions(image: np.ndarray, spec: RegionSpec) -> list[Box]:
    """Boxes of ``image`` to release under ``spec``, enlarged and clipped."""
    height, width = image.shape[:2]
    detector = spec.detector()
    raw = list(spec.boxes) if detector is None else detector(image)
    found = [enlarge_box(box, spec.mask_scale, width, height) for box in raw]
    return [box for box in found if box is not None]
