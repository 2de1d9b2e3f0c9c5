"""Peak resident memory of the smooth renderer at small cells (Linux or macOS).

Each case runs ``dpimage.dp_pix(x, b=B, m=16, eps=0.5, rng=1, render="smooth")`` on
a random N x N uint8 image (RGB by default) in a fresh child process and reports
its peak resident set size (``ru_maxrss``), next to the peak of a child that only
imports dpimage and makes the image (the baseline), and of a child that only
releases the grid (``output="grid"``, ``--method release``: what is not the renderer)::

    python benchmarks/bench_smooth_memory.py          # b = 1, 2, 4, 16, N = 1000, all methods
    python benchmarks/bench_smooth_memory.py --side 2000 --b 1 2 --method learned
    python benchmarks/bench_smooth_memory.py --gray

A child per case, because a process's peak never goes down: one case would hide
the next.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = """
import json, resource, sys
import numpy as np
import dpimage
side, channels, b, method = json.loads(sys.argv[1])
shape = (side, side, channels) if channels > 1 else (side, side)
x = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
if b and method == "release":
    dpimage.dp_pix(x, b=b, m=16, eps=0.5, rng=1, output="grid")
elif b:
    options = {"method": method}
    y = dpimage.dp_pix(x, b=b, m=16, eps=0.5, rng=1, render="smooth", render_options=options)
    assert y.shape == x.shape
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(peak // 1024 if sys.platform != "darwin" else peak // 2**20)
"""


def peak_mb(side: int, channels: int, b: int, method: str) -> int:
    """Peak RSS in MB of one child process (``b = 0``: the baseline, no render)."""
    args = json.dumps([side, channels, b, method])
    done = subprocess.run(
        [sys.executable, "-c", CHILD, args], capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=1000, help="image side N (default 1000)")
    parser.add_argument("--b", type=int, nargs="+", default=[1, 2, 4, 16], help="cell sides")
    parser.add_argument(
        "--method",
        nargs="+",
        default=["learned", "tv", "release"],
        choices=["learned", "tv", "release"],
        help="renderer method, or 'release': the noisy grid alone (output='grid')",
    )
    parser.add_argument("--gray", action="store_true", help="one channel instead of RGB")
    opts = parser.parse_args()
    channels = 1 if opts.gray else 3
    size_mb = opts.side * opts.side * channels / 2**20
    base = peak_mb(opts.side, channels, 0, "learned")
    print(f"image {opts.side}x{opts.side}x{channels} uint8 ({size_mb:.1f} MB)")
    print(f"baseline (python, dpimage imported, image made): {base} MB peak RSS")
    print("| method | b | peak RSS (MB) | above baseline (MB) |")
    print("|---|---|---|---|")
    for method in opts.method:
        for b in opts.b:
            peak = peak_mb(opts.side, channels, b, method)
            print(f"| {method} | {b} | {peak} | {peak - base} |", flush=True)


if __name__ == "__main__":
    main()
