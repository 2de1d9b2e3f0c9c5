"""SSIM speed: ``dpimage.metrics.ssim`` (OpenCV box filters) against scikit-image.

``variant="skimage"`` is computed with OpenCV box filters; this times it
against ``skimage.metrics.structural_similarity`` with the same settings on a
real photo (``data/samples/coffee.jpg``) at its own size and resized to
1920x1080, against its DP-Blur release, and prints the best of ``--repeat``
runs, the ratio and the absolute difference of the two values. The machine is
shared: the load average is printed with the numbers.

    python benchmarks/bench_ssim.py
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
from skimage.metrics import structural_similarity

import dpimage
from dpimage.io import read_image
from dpimage.metrics import SSIM_VARIANTS, ssim

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "coffee.jpg"


def _best(fn, repeat: int) -> tuple[float, float]:
    best, value = float("inf"), 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    photo, _ = read_image(SAMPLE)
    print(f"load average before: {os.getloadavg()}")
    for size in (None, (1920, 1080)):
        x = photo if size is None else cv2.resize(photo, size, interpolation=cv2.INTER_CUBIC)
        y = dpimage.dp_blur(x, b0=4, k=25, m=16, eps=1.0, rng=0)
        fast, v_fast = _best(lambda x=x, y=y: ssim(x, y), args.repeat)
        ref, v_ref = _best(
            lambda x=x, y=y: structural_similarity(
                x, y, data_range=255, channel_axis=-1, **SSIM_VARIANTS["skimage"]
            ),
            args.repeat,
        )
        print(
            f"{x.shape}: dpimage {fast * 1e3:.0f} ms, scikit-image {ref * 1e3:.0f} ms, "
            f"ratio {ref / fast:.2f}, |difference| {abs(v_fast - v_ref):.1e}"
        )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
