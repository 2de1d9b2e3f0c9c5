"""Precision and recall of ``--people`` on PETS-2009, plain HOG against region mode's filter.

Labels: ``benchmarks/data/pets_people_boxes.csv`` lists every box plain HOG
(``PeopleDetector()``: Daimler SVM, no filter) finds on the 11 frames counted
by hand in ``docs/results/counting/hand_counts.csv``, each judged by eye on
the frame: ``people`` is how many people it covers (most of their body, the
box not much taller than twice the person), 0 for a false box (lamp post,
tripod, doors, vans, a box over a group or a stretch of road). A box of a run
counts as the labelled box it overlaps most (IoU >= 0.7); one matching none
counts as false.

* precision: true boxes / boxes;
* recall: people covered by the true boxes kept / people counted by hand;
* area: share of the frame inside the union of the boxes after ``--mask-scale``
  1.6 (what region mode releases).

Then the video view: the first 400 frames, detection every 5th frame and tracks
carried 10 frames as ``dpimage video --people`` does; boxes per frame (max and
mean) and the mean area share of a frame::

    make data && python benchmarks/bench_people.py
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from dpimage import datasets
from dpimage.regions import DEFAULT_MASK_SCALE, covered_boxes, enlarge_box, link_tracks
from dpimage.regions.detectors import PEOPLE_MIN_SCORE, PeopleDetector, filter_people
from dpimage.video.regions import count_regions

LABELS = Path(__file__).parent / "data" / "pets_people_boxes.csv"
HAND = Path(__file__).parent.parent / "docs" / "results" / "counting" / "hand_counts.csv"
STEP = 8  # the hand-counted frames are multiples of 8
SETTINGS = {
    "plain HOG (before)": (0.0, False),
    f"score >= {PEOPLE_MIN_SCORE:g}": (PEOPLE_MIN_SCORE, False),
    "box holding a stronger one dropped": (0.0, True),
    "both (region mode now)": (PEOPLE_MIN_SCORE, True),
}


def _iou(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _area_share(boxes, shape) -> float:
    mask = np.zeros(shape, bool)
    for box in boxes:
        grown = enlarge_box(box, DEFAULT_MASK_SCALE, shape[1], shape[0])
        if grown is not None:
            x0, y0, x1, y1 = grown
            mask[y0:y1, x0:x1] = True
    return float(mask.mean())


def still_frames() -> None:
    hand = {int(r["video_frame"]): int(r["hand_count"]) for r in csv.DictReader(HAND.open())}
    labels = defaultdict(list)
    for r in csv.DictReader(LABELS.open()):
        x, y, w, h = (int(r[k]) for k in "xywh")
        labels[int(r["video_frame"])].append(((x, y, x + w, y + h), int(r["people"])))
    frames = datasets.street_frames(step=STEP)
    detector = PeopleDetector()
    scored = {vf: detector.scored(frames[vf // STEP]) for vf in sorted(hand)}
    print("| filter | boxes | true | precision | people covered / by hand | recall "
          "| area share (mean, max) |")
    print("|---|---|---|---|---|---|---|")
    for name, (floor, enclosing) in SETTINGS.items():
        boxes = true = covered = 0
        areas = []
        for vf, found in scored.items():
            kept = [box for box, _ in filter_people(found, floor, enclosing)]
            boxes += len(kept)
            for box in kept:
                match = max(labels[vf], key=lambda lab, box=box: _iou(box, lab[0]))
                people = match[1] if _iou(box, match[0]) >= 0.7 else 0
                true += people > 0
                covered += people
            areas.append(_area_share(kept, frames[0].shape))
        total = sum(hand.values())
        print(f"| {name} | {boxes} | {true} | {true / boxes:.2f} | {covered} / {total} "
              f"| {covered / total:.2f} | {np.mean(areas):.2f}, {max(areas):.2f} |")


def video_frames(n: int = 400, every: int = 5, carry: int = 10) -> None:
    frames = datasets.street_frames(limit=n)
    detector = PeopleDetector()
    scored = {i: detector.scored(frames[i]) for i in range(0, len(frames), every)}
    print(f"\nvideo, first {len(frames)} frames, detection every {every}, carry {carry}:")
    print("| filter | tracks | boxes per frame (max, mean) | area share (mean) |")
    print("|---|---|---|---|")
    for name, (floor, enclosing) in SETTINGS.items():
        detections = {}
        for i, found in scored.items():
            kept = [box for box, _ in filter_people(found, floor, enclosing)]
            grown = [enlarge_box(b, DEFAULT_MASK_SCALE, 768, 576) for b in kept]
            detections[i] = [b for b in grown if b is not None]
        tracks = link_tracks(detections, max_gap=carry)
        covered = covered_boxes(tracks, len(frames), carry=carry)
        found = count_regions(covered)
        areas = []
        for row in covered:
            mask = np.zeros((576, 768), bool)
            for _, (x0, y0, x1, y1) in row:
                mask[y0:y1, x0:x1] = True
            areas.append(mask.mean())
        print(f"| {name} | {found['tracks']} | {found['boxes_per_frame_max']}, "
              f"{found['boxes_per_frame_mean']:.1f} | {np.mean(areas):.2f} |")


if __name__ == "__main__":
    still_frames()
    video_frames()
