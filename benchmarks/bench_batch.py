"""Directory throughput: DP-Pix and DP-Blur against the codec-only limit.

Makes (once, cached) a directory of 1,000 real-content 1920×1080 JPEGs from the
bundled photos in ``data/samples`` (random crops, resized with Lanczos, random
mirror, quality 90), then times whole-directory runs through
:func:`dpimage.batch.run_jobs` — the code path of ``dpimage pixelate/blur`` —
for three workloads in the same session:

- ``codec``: read (decode) + write (encode, atomic, fsync) with no processing,
  the limit any release can reach on this machine;
- ``dp_pix``: DP-Pix at the defaults (b=16, m=16, ε=0.5), secure sampler;
- ``dp_blur``: DP-Blur at the defaults (b0=4, k=99), secure sampler;

each with 1 worker (in process), 2 worker processes (``--workers 2``) and a
Dask LocalCluster of 2 single-threaded worker processes (``--dask``). It
prints files/s, the ratio to the codec-only limit, per-worker scaling, and a
per-stage profile of one file (decode / mechanism / encode / file write) with
the alternative codecs (OpenCV's libjpeg-turbo) for finding the bottleneck.

    python benchmarks/bench_batch.py                  # 1,000 files, ~15 min on 2 loaded cores
    python benchmarks/bench_batch.py --files 100      # quicker
    python benchmarks/bench_batch.py --json out/bench_batch.json

The machine is shared: the load average (``uptime``) is printed before and
after each run; compare numbers measured at similar load.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from dpimage.batch import ReleaseParams, dask_worker_plugin, run_jobs
from dpimage.io import plan_outputs, read_image, write_image

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
CACHE = ROOT / "data" / "cache" / "bench_batch"
SIZE = (1920, 1080)  # W, H


@dataclass(frozen=True)
class CodecOnly(ReleaseParams):
    """Same pipeline as a release, with the identity in place of the mechanism."""

    def __post_init__(self) -> None:
        pass

    def release(self, image: np.ndarray, rng: object) -> np.ndarray:
        return image


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def make_inputs(folder: Path, count: int) -> list[Path]:
    """``count`` distinct 1920×1080 JPEGs from the bundled photos (made once)."""
    folder.mkdir(parents=True, exist_ok=True)
    existing = sorted(folder.glob("frame*.jpg"))
    if len(existing) >= count:
        return existing[:count]
    photos = []
    for path in sorted(SAMPLES.iterdir()):
        if path.suffix.lower() in (".jpg", ".png"):
            with Image.open(path) as im:
                photos.append(im.convert("RGB"))
    rng = np.random.default_rng(2026)
    target_ratio = SIZE[0] / SIZE[1]
    for i in range(count):
        path = folder / f"frame{i:05d}.jpg"
        if path.exists():
            continue
        photo = photos[i % len(photos)]
        w, h = photo.size
        # A random crop of the widest 16:9 window at 60-100% of it.
        cw = min(w, int(h * target_ratio))
        scale = rng.uniform(0.6, 1.0)
        cw = max(32, int(cw * scale))
        ch = int(cw / target_ratio)
        x = int(rng.integers(0, w - cw + 1))
        y = int(rng.integers(0, h - ch + 1))
        frame = photo.crop((x, y, x + cw, y + ch)).resize(SIZE, Image.Resampling.LANCZOS)
        if rng.random() < 0.5:
            frame = frame.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        tmp = path.with_suffix(".part")
        frame.save(tmp, format="JPEG", quality=90)
        os.replace(tmp, path)
    return sorted(folder.glob("frame*.jpg"))[:count]


WORKLOADS = {
    "codec": lambda: CodecOnly(mechanism="codec", options={}, eps=0.0),
    "dp_pix": lambda: ReleaseParams(
        mechanism="dp_pix", options={"b": 16, "m": 16, "eps": 0.5, "output": "blocks"}, eps=0.5
    ),
    "dp_blur": lambda: ReleaseParams(
        mechanism="dp_blur", options={"b0": 4, "k": 99, "sigma": None, "m": 16, "eps": 0.5}, eps=0.5
    ),
}


def timed_run(inputs: Path, out: Path, params: ReleaseParams, workers: int, client) -> float:
    """Files/s of one whole-directory run (planning included, cluster start excluded)."""
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    plan = plan_outputs([inputs], out)
    results = list(run_jobs(plan.jobs, params, workers=workers, client=client))
    elapsed = time.perf_counter() - start
    bad = [r for r in results if r.status != "written"]
    if bad:
        raise SystemExit(f"benchmark run failed: {bad[0]}")
    shutil.rmtree(out, ignore_errors=True)
    return len(results) / elapsed


def stage_profile(paths: list[Path], scratch: Path) -> dict[str, float]:
    """Median ms per stage for single files, in this process."""
    import cv2

    import dpimage

    stages: dict[str, list[float]] = {}

    def clock(name, fn):
        t0 = time.perf_counter()
        value = fn()
        stages.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
        return value

    scratch.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(paths):
        raw = path.read_bytes()
        image, _ = clock("read_image (Pillow decode + checks)", lambda p=path: read_image(p))
        clock("  Pillow decode only", lambda r=raw: np.asarray(Image.open(io.BytesIO(r))))
        clock(
            "  cv2.imdecode (libjpeg-turbo)",
            lambda r=raw: cv2.imdecode(np.frombuffer(r, np.uint8), cv2.IMREAD_COLOR),
        )
        pix = clock("dp_pix (b=16)", lambda im=image: dpimage.dp_pix(im))
        if i < 4:
            clock("dp_blur (b0=4, k=99)", lambda im=image: dpimage.dp_blur(im))
        clock(
            "  Pillow encode q95 (photo)",
            lambda im=image: Image.fromarray(im).save(io.BytesIO(), "JPEG", quality=95),
        )
        clock(
            "  Pillow encode q95 (DP-Pix output)",
            lambda im=pix: Image.fromarray(im).save(io.BytesIO(), "JPEG", quality=95),
        )
        clock(
            "  cv2.imencode q95 (photo)",
            lambda im=image: cv2.imencode(".jpg", im[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95]),
        )
        clock(
            "write_image (encode + atomic write + fsync)",
            lambda im=image, j=i: write_image(im, scratch / f"w{j}.jpg"),
        )
    return {name: statistics.median(values) for name, values in stages.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--workloads", default="codec,dp_pix,dp_blur")
    parser.add_argument("--modes", default="1,2,dask")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    print(f"load average before: {load()}  (cores: {os.cpu_count()})", flush=True)
    t0 = time.perf_counter()
    paths = make_inputs(args.cache / "1080p", args.files)
    print(f"{len(paths)} inputs 1920x1080 JPEG q90 in {args.cache / '1080p'} "
          f"({sum(p.stat().st_size for p in paths) / 1e6:.0f} MB, "
          f"made/found in {time.perf_counter() - t0:.0f} s)", flush=True)
    inputs = args.cache / f"set{args.files}"
    if not inputs.exists() or len(list(inputs.iterdir())) != len(paths):
        shutil.rmtree(inputs, ignore_errors=True)
        inputs.mkdir(parents=True)
        for path in paths:
            os.link(path, inputs / path.name)

    scratch = Path(tempfile.mkdtemp(prefix="dpimage-bench-"))
    report: dict[str, object] = {"files": len(paths), "load_before": load()}
    try:
        profile = stage_profile(paths[:12], scratch / "profile")
        print("\nper-file stages (median ms, one process):")
        for name, ms in profile.items():
            print(f"  {name:<46} {ms:7.1f}")
        report["stages_ms"] = profile

        workloads = args.workloads.split(",")
        modes = args.modes.split(",")
        rates: dict[str, dict[str, float]] = {w: {} for w in workloads}
        print("\nfiles/s (whole directory; load average 1/5/15 min after each run):")
        for mode in modes:
            client = cluster = None
            if mode == "dask":
                # Started only now: an idle cluster's heartbeats would slow the other modes.
                from distributed import Client, LocalCluster

                c0 = time.perf_counter()
                cluster = LocalCluster(
                    n_workers=2, threads_per_worker=1, processes=True,
                    host="127.0.0.1", dashboard_address=None,
                )  # fmt: skip
                client = Client(cluster)
                client.register_plugin(dask_worker_plugin())  # as `dpimage --dask` does
                report["dask_cluster_start_s"] = time.perf_counter() - c0
            try:
                for workload in workloads:
                    params = WORKLOADS[workload]()
                    workers = 1 if mode == "dask" else int(mode)
                    rate = timed_run(inputs, scratch / "out", params, workers, client)
                    rates[workload][mode] = rate
                    label = "dask LocalCluster(2)" if mode == "dask" else f"--workers {mode}"
                    print(
                        f"  {workload:<8} {label:<22} {rate:7.2f} files/s   load {load()}",
                        flush=True,
                    )
            finally:
                if client is not None:
                    client.close()
                    cluster.close()
        report["files_per_s"] = rates

        print("\nratios:")
        for mode in modes:
            if "codec" in rates and mode in rates["codec"]:
                for workload in workloads:
                    if workload != "codec" and mode in rates[workload]:
                        r = rates[workload][mode] / rates["codec"][mode]
                        print(f"  {workload}/codec  ({mode}): {r:.2f}")
        for workload in workloads:
            got = rates[workload]
            if "1" in got and "2" in got:
                print(f"  {workload}: 2 workers / 1 worker = {got['2'] / got['1']:.2f}")
            if "2" in got and "dask" in got:
                print(f"  {workload}: dask(2) / --workers 2 = {got['dask'] / got['2']:.2f}")
        report["load_after"] = load()
        print(f"\nload average after: {report['load_after']}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
