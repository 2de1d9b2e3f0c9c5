"""Link detections over time and carry boxes across missed frames.

A face the detector misses in one frame stays covered: :func:`link_tracks`
links per-frame boxes into :class:`Track` objects, :func:`covered_boxes`
fills the gaps between keyframes (the hull of the two boxes) and holds a
box for ``carry`` frames before the first and after the last detection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .geometry import Box, _hull, _iou

__all__ = ["Track", "covered_boxes", "link_tracks"]


@dataclass
class Track:
    """One object followed over time: the frames it was detected in and its boxes."""

    keyframes: list[int] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)


def link_tracks(
    detections: Mapping[int, Sequence[Box]], *, max_gap: int, min_iou: float = 0.1
) -> list[Track]:
    """Link per-frame boxes into tracks, greedily by overlap.

    Frames are visited in order; each box joins the track whose last box
    overlaps it most (IoU >= ``min_iou``), provided that track was last seen
    at most ``max_gap`` frames earlier and has not taken a box in this frame.
    Unmatched boxes start new tracks.

    Parameters
    ----------
    detections : mapping of int to sequence of Box
        Boxes (already enlarged and clipped) per frame index.
    max_gap : int
        Largest number of frames between two detections of one track.
    min_iou : float
        Smallest overlap that links two boxes.

    Returns
    -------
    list of Track
    """
    tracks: list[Track] = []
    for frame in sorted(detections):
        boxes = list(detections[frame])
        alive = [t for t in tracks if frame - t.keyframes[-1] <= max_gap]
        pairs = sorted(
            ((_iou(t.boxes[-1], box), ti, bi) for ti, t in enumerate(alive)
             for bi, box in enumerate(boxes)),
            reverse=True,
        )
        used_t: set[int] = set()
        used_b: set[int] = set()
        for overlap, ti, bi in pairs:
            if overlap < min_iou:
                break
            if ti in used_t or bi in used_b:
                continue
            alive[ti].keyframes.append(frame)
            alive[ti].boxes.append(boxes[bi])
            used_t.add(ti)
            used_b.add(bi)
        for bi, box in enumerate(boxes):
            if bi not in used_b:
                tracks.append(Track([frame], [box]))
    return tracks


def covered_boxes(
    tracks: Sequence[Track], n_frames: int, *, carry: int
) -> list[list[tuple[int, Box]]]:
    """The box each track covers in each frame, as ``(track index, box)`` per frame.

    Between two keyframes of a track the box is the hull of the two detected
    boxes (covers the object wherever it moved in between); before the first
    and after the last keyframe the nearest box is held for ``carry`` frames.
    So a miss of up to ``max_gap`` frames (see :func:`link_tracks`) is bridged,
    and a detection that arrives late still covers the frames just before it.

    Parameters
    ----------
    tracks : sequence of Track
    n_frames : int
        Frames in the clip.
    carry : int
        Frames to hold a box before its first and after its last detection.

    Returns
    -------
    list (one per frame) of list of (int, Box)
    """
    if carry < 0:
        raise ValueError(f"carry must be >= 0, got {carry}")
    out: list[list[tuple[int, Box]]] = [[] for _ in range(n_frames)]
    for ti, track in enumerate(tracks):
        keys, boxes = track.keyframes, track.boxes
        for f in range(max(0, keys[0] - carry), min(keys[0], n_frames)):
            out[f].append((ti, boxes[0]))
        for j, key in enumerate(keys):
            if key < n_frames:
                out[key].append((ti, boxes[j]))
            if j + 1 < len(keys):
                hull = _hull(boxes[j], boxes[j + 1])
                for f in range(key + 1, min(keys[j + 1], n_frames)):
                    out[f].append((ti, hull))
        for f in range(keys[-1] + 1, min(keys[-1] + carry + 1, n_frames)):
            out[f].append((ti, boxes[-1]))
    return out
