"""Recall and false positives of the text-region detector on real photos with hand-drawn boxes.

Ground truth: ``benchmarks/data/text_regions.json`` (text boxes annotated by
eye on real images that install offline: scikit-image's ``page`` and Debian
opencv-doc's ``box_in_scene``, ``messi5``, a motion-blurred licence plate and a
defocused page; four photos without text for false positives).

* recall: share of ground-truth boxes with at least 80% of their area covered
  by the union of the detected boxes;
* false positives: detected boxes of which less than 20% of the area lies in
  any ground-truth box;
* on faces without text (the 40 AT&T/ORL faces, the Megamind frames and the
  cameraman of ``benchmarks/data/faces.json``): the share of each image inside
  text boxes, mean and worst, and the images with any box.

Run:  .venv/bin/python benchmarks/bench_text.py [-v] [--box-threshold 0.5 --min-aspect 1.5 ...]
(needs `make data` for the opencv-doc images; those missing are skipped and named).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from dpimage.regions.text import TextDetector

ROOT = Path(__file__).resolve().parents[1]
TRUTH = ROOT / "benchmarks/data/text_regions.json"
OPENCV_DATA = ROOT / "data/cache/usr/share/doc/opencv-doc/examples/data"
COVERED, FALSE_POSITIVE = 0.8, 0.2


def load(entry: dict) -> np.ndarray | None:
    """The image as uint8 RGB (or gray), from the package that ships it; None if absent."""
    source = entry["source"]
    if source.startswith("scikit-image"):
        import skimage.data

        return getattr(skimage.data, entry["name"])()
    path = OPENCV_DATA / source.split("examples/data/")[1].split()[0]
    if not path.is_file():
        return None
    return cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1].copy()


def _mask(boxes, shape) -> np.ndarray:
    mask = np.zeros(shape[:2], dtype=bool)
    for x, y, w, h in boxes:
        mask[y : y + h, x : x + w] = True
    return mask


def score(found: np.ndarray, truth: list[list[int]], shape) -> tuple[int, int, list[float]]:
    """(ground-truth boxes covered ≥ 80%, false-positive detections, coverage of each truth)."""
    found_mask, truth_mask = _mask(found, shape), _mask(truth, shape)
    cover = [float(found_mask[y : y + h, x : x + w].mean()) for x, y, w, h in truth]
    false = sum(1 for x, y, w, h in found
                if truth_mask[y : y + h, x : x + w].mean() < FALSE_POSITIVE)
    return sum(c >= COVERED for c in cover), false, cover


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=0.3)
    parser.add_argument("--box-threshold", type=float, default=0.5)
    parser.add_argument("--min-aspect", type=float, default=1.5)
    parser.add_argument("--unclip", type=float, default=1.6)
    parser.add_argument("--limit-side", type=int, default=736)
    parser.add_argument("--model", help="another DB text-detection ONNX file (default: PP-OCRv6)")
    parser.add_argument("-v", "--verbose", action="store_true", help="coverage of every box")
    args = parser.parse_args()
    detector = TextDetector(args.model, threshold=args.threshold, box_threshold=args.box_threshold,
                            min_aspect=args.min_aspect, unclip=args.unclip,
                            limit_side=args.limit_side)
    print(f"model {detector.model_file}; threshold {args.threshold}, "
          f"box_threshold {args.box_threshold}, min_aspect {args.min_aspect}, "
          f"unclip {args.unclip}, limit_side {args.limit_side}")
    print(f"{'image':22} {'truth':>5} {'found>=80%':>10} {'detections':>10} {'false pos':>9} "
          f"{'s':>5}")
    groups: dict[str, list[int]] = {}
    for entry in json.loads(TRUTH.read_text())["images"]:
        image = load(entry)
        if image is None:
            print(f"{entry['name']:22} missing (run `make data`)")
            continue
        truth = list(entry["boxes"].values())
        start = time.perf_counter()
        found = detector.detect(image)
        seconds = time.perf_counter() - start
        hit, false, cover = score(found, truth, image.shape)
        print(f"{entry['name']:22} {len(truth):5} {hit:10} {len(found):10} {false:9} "
              f"{seconds:5.2f}")
        if args.verbose:
            for label, c in zip(entry["boxes"], cover, strict=True):
                print(f"    {c:5.2f}  {label}")
        group = entry["kind"].split(":")[0]
        totals = groups.setdefault(group, [0, 0, 0, 0])
        for i, v in enumerate((len(truth), hit, len(found), false)):
            totals[i] += v
    for group, (n, hit, det, false) in groups.items():
        recall = f"recall {hit}/{n} = {hit / n:.2f}" if n else "no text"
        print(f"{group}: {recall}; {false} false positives in {det} detections")
    faces_without_text(detector)


def faces_without_text(detector: TextDetector) -> None:
    """Share of each face image (no text in it) that text boxes cover."""
    from bench_face_recall import load_images

    shares = []
    for name, image, _, _ in load_images():
        if not name.startswith(("orl_", "megamind_", "camera")):
            continue  # the other photos have text (a name tag, a shirt sponsor)
        found = detector.detect(image)
        shares.append((float(_mask(found, image.shape).mean()), name))
    hit = [f"{name} {share:.0%}" for share, name in sorted(shares, reverse=True) if share > 0]
    print(f"faces without text: {len(shares)} images, text boxes cover on average "
          f"{sum(s for s, _ in shares) / len(shares):.1%}, at most {max(shares)[0]:.0%}; "
          f"images with a box: {len(hit)} ({', '.join(hit[:8])})")


if __name__ == "__main__":
    main()
