"""End-to-end video speed on PETS-2009 vtest.avi (795 frames, 768x576, 10 fps).

Times decode + release + encode (what ``dpimage video`` does, through the same
library generator) for full-frame DP-Pix and DP-Blur and for region mode with
``--people`` and ``--faces``, next to a decode + encode baseline measured in
the same run. Real time is 10 fps. The machine is shared: the load average is
printed before and after.

Run:  python benchmarks/bench_video.py [--cases pix,people,...] [--frames N]
(needs `make data`, or DPIMAGE_DATA pointing at the folder with vtest.avi).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from dpimage.datasets import find_vtest
from dpimage.video import RegionSettings, VideoSettings, process_video, run_to_end
from dpimage.video.io import VideoWriter, probe, read_frames
from dpimage.video.pipeline import WriteBehind, read_ahead

REAL_TIME_FPS = 10.0


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _baseline(src: Path, dst: Path, threaded: bool = False) -> int:
    """Decode and encode only; ``threaded``: with the read-ahead and write-behind
    threads of the release loop (an upper bound a release could approach)."""
    info = probe(src)
    with VideoWriter(dst, width=info.width, height=info.height, rate=info.rate,
                     overwrite=True) as writer:
        if threaded:
            with WriteBehind(writer.write) as out:
                for frame in read_ahead(read_frames(src)):
                    out.put(frame)
        else:
            for frame in read_frames(src):
                writer.write(frame)
    return writer.frames_written


CASES = {
    "pix": ("full-frame DP-Pix b=16 m=16 eps=0.5", VideoSettings()),
    "people": (
        "--people DP-Pix (HOG every 5th frame, carry 10)",
        VideoSettings(regions=RegionSettings("people", detect_every=5, carry=10)),
    ),
    "people-reuse": (
        "--people --reuse DP-Pix",
        VideoSettings(regions=RegionSettings("people", detect_every=5, carry=10, reuse=True)),
    ),
    "faces": (
        "--faces DP-Pix (CenterFace, every frame)",
        VideoSettings(regions=RegionSettings("faces")),
    ),
    "blur": ("full-frame DP-Blur b0=4 k=99", VideoSettings(method="blur")),
}


def _clip(src: Path, frames: int, tmp: Path) -> Path:
    """The first ``frames`` frames of ``src`` as an H.264 clip (for a quicker run)."""
    out = tmp / f"first{frames}.mp4"
    info = probe(src)
    with VideoWriter(out, width=info.width, height=info.height, rate=Fraction(info.rate)) as w:
        for i, frame in enumerate(read_frames(src)):
            if i == frames:
                break
            w.write(frame)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="pix,people,faces,blur",
                        help=f"comma-separated, from: baseline,{','.join(CASES)}")
    parser.add_argument("--frames", type=int, default=None, help="only the first N frames")
    args = parser.parse_args()
    src = find_vtest()
    print(f"input: {src.name}, load average before: {_load()}")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        if args.frames:
            src = _clip(src, args.frames, tmp)
        t0 = time.perf_counter()
        n = _baseline(src, tmp / "baseline.mp4")
        dt = time.perf_counter() - t0
        print(f"{'decode + encode only (baseline)':<48} {n:4d} frames {dt:7.1f} s "
              f"{n / dt:6.1f} fps")
        t0 = time.perf_counter()
        n = _baseline(src, tmp / "baseline2.mp4", threaded=True)
        dt = time.perf_counter() - t0
        print(f"{'decode + encode only, threads as the release':<48} {n:4d} frames "
              f"{dt:7.1f} s {n / dt:6.1f} fps")
        for name in args.cases.split(","):
            if name == "baseline":
                continue
            label, settings = CASES[name]
            t0 = time.perf_counter()
            result = run_to_end(process_video(src, tmp / f"{name}.mp4", settings, overwrite=True))
            dt = time.perf_counter() - t0
            acc = result.accounting
            fps = acc.frames / dt
            verdict = "faster than real time" if fps >= REAL_TIME_FPS else "SLOWER than real time"
            print(f"{label:<48} {acc.frames:4d} frames {dt:7.1f} s {fps:6.1f} fps  "
                  f"({verdict}; {acc.releases} releases, object eps {acc.eps_object:g})")
    print(f"load average after: {_load()} (2 cores, shared)")


if __name__ == "__main__":
    main()
