"""Time the ``smooth`` renderer on a 1080p release (gray and RGB, b = 16).

The budget is ~10 ms on top of the release on 2 cores. Run::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_smooth.py [--repeat 20]

(the learned path does small matrix products; on a busy 2-core machine
OpenBLAS's threads make them several times slower than one thread).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dpimage import cell_noise_scale
from dpimage.render.learned import learned_upsample
from dpimage.render.smooth import smooth_grid, tv_denoise_grid, upsample_grid


def _best(fn, repeat: int) -> str:
    """Best wall time and best process CPU time (ms); CPU time is less hurt by a busy machine."""
    fn()  # warm up
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return f"{min(wall) * 1e3:.1f} ms wall / {min(cpu) * 1e3:.1f} ms CPU"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("-b", type=int, default=16)
    args = p.parse_args()
    h, w, b = 1080, 1920, args.b
    rng = np.random.default_rng(0)
    for c in (1, 3):
        scale = cell_noise_scale((h, w, c), b, 16, 0.5)
        means = rng.normal(128, 60, size=(*scale.shape, c))
        grid = tv_denoise_grid(means, scale)
        t_all = _best(lambda f=means, s=scale: smooth_grid(f, s, h, w, b), args.repeat)
        t_tv = _best(lambda f=means, s=scale: tv_denoise_grid(f, s), args.repeat)
        t_up = _best(lambda g=grid: upsample_grid(g, h, w, b), args.repeat)
        t_old = _best(lambda f=means, s=scale: smooth_grid(f, s, h, w, b, method="tv"), args.repeat)
        t_learn = _best(
            lambda g=grid, f=means, s=scale: learned_upsample(g, f, s, h, w, b), args.repeat
        )
        print(
            f"1080p C={c} b={b} grid {scale.shape}: smooth (learned) {t_all} "
            f"(TV {t_tv}, learned upsampling {t_learn}); method='tv' {t_old} "
            f"(bilinear {t_up}); best of {args.repeat}"
        )


if __name__ == "__main__":
    main()
