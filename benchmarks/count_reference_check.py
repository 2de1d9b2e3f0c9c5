"""How good is the reference people count? Plain and moving-box HOG against hand counts.

Reads ``docs/results/counting/hand_counts.csv`` (video frame, people counted by
hand on the original) and recomputes, on every 8th frame of PETS-2009
``vtest.avi`` (the background: the median of those 100 originals), the plain
HOG count and the reference count of ``dpimage eval count`` (HOG boxes with
>= 10 % moving pixels). Prints the table and the mean absolute errors::

    make data && python benchmarks/count_reference_check.py
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from dpimage import datasets
from dpimage.eval import counting
from dpimage.regions.detectors import PeopleDetector

HAND = Path("docs/results/counting/hand_counts.csv")
STEP = 8


def main() -> None:
    hand = {int(r["video_frame"]): int(r["hand_count"]) for r in csv.DictReader(HAND.open())}
    frames = datasets.street_frames(step=STEP)
    bg = counting.background(frames)
    detector = PeopleDetector()
    rows = []
    for video_frame, count in sorted(hand.items()):
        frame = frames[video_frame // STEP]
        boxes = detector(frame)
        moving = np.abs(frame.astype(np.float32) - bg) > 25
        kept = [b for b in boxes if counting._box_share(moving, *b) >= 0.1]
        rows.append((video_frame, count, len(boxes), len(kept)))
    print("| video frame | by hand | plain HOG | moving-box HOG (reference) |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(map(str, r)) + " |")
    a = np.array(rows, dtype=float)
    for name, col in (("plain HOG", 2), ("moving-box HOG", 3)):
        err = a[:, col] - a[:, 1]
        print(f"{name}: mean absolute error {np.abs(err).mean():.2f}, bias {err.mean():+.2f}")


if __name__ == "__main__":
    main()
