"""Video region mode: how much the colour of a released region flickers from frame to frame.

Faces are found and tracked as ``dpimage video --faces`` does (the best face
detector installed, boxes scaled by 1.6, tracks linked and carried over
missed frames) on the first ``--frames`` frames of Megamind.avi (Debian
opencv-doc, ``make data``); people with ``--people`` on PETS-2009 vtest.avi
(detected every 5th frame, as the CLI does). Each covered box is released in
every frame (``video`` defaults: DP-Pix b=16, m=16, eps=0.5 per frame,
smooth, luma-chroma) by the library's frame stream, drawn both ways
(``--region-drawing none`` and ``border``), with the same seed.

Flicker: for each track and each pair of consecutive frames it covers, the
change of the region's mean chroma, ``|mean(Co, Cg)_t - mean(Co, Cg)_(t-1)|``
(normalised YCoCg of :mod:`dpimage.privacy.colour`), averaged over all such
pairs; the original clip's own change is the floor (the colour really moves).
Also the MSE inside the regions. Measured on the frames before encoding (the
encoder's own loss is left out).

Run:  python benchmarks/bench_region_video.py [--clip megamind|pets] [--frames 120]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from dpimage.datasets import find_vtest
from dpimage.privacy.colour import rgb_to_ycocg
from dpimage.regions import covered_boxes, link_tracks, region_releaser
from dpimage.video.io import read_frames
from dpimage.video.regions import RegionSettings, region_stream

ROOT = Path(__file__).resolve().parents[1]
MEGAMIND = ROOT / "data" / "cache" / "usr" / "share" / "doc" / "opencv-doc" / "examples"
MEGAMIND = MEGAMIND / "data" / "Megamind.avi"
PARAMS = {"b": 16, "m": 16, "eps": 0.5, "render": "smooth", "colour": "luma-chroma"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", choices=("megamind", "pets"), default="megamind")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    path = MEGAMIND if args.clip == "megamind" else find_vtest()
    frames = []
    for i, frame in enumerate(read_frames(path)):
        if i >= args.frames:
            break
        frames.append(frame)
    height, width = frames[0].shape[:2]
    settings = RegionSettings("faces" if args.clip == "megamind" else "people",
                              detect_every=1 if args.clip == "megamind" else 5)  # fmt: skip
    detect = settings.make_detector(width, height)
    every = settings.detect_every
    detections = {i: detect(f, i) for i, f in enumerate(frames) if i % every == 0}
    tracks = link_tracks(detections, max_gap=max(settings.carry, 1))
    covered = covered_boxes(tracks, len(frames), carry=settings.carry)
    n_boxes = sum(len(row) for row in covered)
    print(f"{path.name}: {len(frames)} frames, {len(tracks)} tracks, {n_boxes} boxes released")
    rows = {"original": frames}
    for context in ("none", "border"):
        release = region_releaser("dp_pix", PARAMS, args.seed, context=context, steady=True)
        rows[context] = list(region_stream(frames, covered, release, every=1, fresh=[],
                                           track_releases={}))  # fmt: skip
    print(f"{'drawing':10s} {'chroma change / frame':>22s} {'MSE inside':>11s}")
    for name, clip in rows.items():
        change, mse = flicker(clip, covered), inside_mse(clip, frames, covered)
        print(f"{name:10s} {change:22.2f} {mse:11.0f}")


def _mean_chroma(frame: np.ndarray, box) -> np.ndarray:
    x0, y0, x1, y1 = box
    return rgb_to_ycocg(frame[y0:y1, x0:x1].reshape(-1, 3))[:, 1:].mean(axis=0)


def flicker(clip, covered) -> float:
    """Mean change of a track's mean chroma between consecutive covered frames."""
    last: dict[int, np.ndarray] = {}
    changes = []
    for t, row in enumerate(covered):
        now = {tid: _mean_chroma(clip[t], box) for tid, box in row}
        changes += [float(np.hypot(*(c - last[tid]))) for tid, c in now.items() if tid in last]
        last = now
    return float(np.mean(changes)) if changes else float("nan")


def inside_mse(clip, frames, covered) -> float:
    errors = []
    for t, row in enumerate(covered):
        for _, (x0, y0, x1, y1) in row:
            diff = clip[t][y0:y1, x0:x1].astype(np.float64) - frames[t][y0:y1, x0:x1]
            errors.append((diff**2).mean())
    return float(np.mean(errors)) if errors else float("nan")


if __name__ == "__main__":
    main()
