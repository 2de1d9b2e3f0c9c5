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
import resource
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from dpimage.datasets import find_vtest
from dpimage.video import RegionSettings, VideoSettings, process_video, run_to_end
from dpimage.video.io import VideoWriter, probe, read_frames
from dpimage.video.pipeline import WriteBehind, read_ahead

REAL_TIME_FPS = 10.0


def _cpu() -> float:
    """CPU seconds of this process so far, all threads (x264's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _row(label: str, frames: int, wall: float, cpu: float, note: str = "") -> None:
    print(f"{label:<48} {frames:4d} frames {wall:7.1f} s {frames / wall:6.1f} fps "
          f"cpu {cpu:5.1f} s{note}")


def _encode_only(src: Path, dst: Path, method: str) -> tuple[int, float, float]:
    """Encode frames released beforehand (kept in memory): what x264 alone costs on
    released content, with no decoding and no release in the timing."""
    from dpimage import methods

    info = probe(src)
    spec = methods.get(method)
    released = [spec.apply(frame) for frame in read_frames(src)]  # library defaults
    t0, c0 = time.perf_counter(), _cpu()
    with VideoWriter(dst, width=info.width, height=info.height, rate=info.rate,
                     overwrite=True) as writer:
        for frame in released:
            writer.write(frame)
    return writer.frames_written, time.perf_counter() - t0, _cpu() - c0


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
                        help=f"comma-separated, from: baseline,{','.join(CASES)},"
                             "encode-pix,encode-blur")
    parser.add_argument("--frames", type=int, default=None, help="only the first N frames")
    args = parser.parse_args()
    src = find_vtest()
    print(f"input: {src.name}, load average before: {_load()}")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        if args.frames:
            src = _clip(src, args.frames, tmp)
        t0, c0 = time.perf_counter(), _cpu()
        n = _baseline(src, tmp / "baseline.mp4")
        _row("decode + encode only (baseline)", n, time.perf_counter() - t0, _cpu() - c0)
        t0, c0 = time.perf_counter(), _cpu()
        n = _baseline(src, tmp / "baseline2.mp4", threaded=True)
        _row("decode + encode only, threads as the release", n, time.perf_counter() - t0,
             _cpu() - c0)
        for name in args.cases.split(","):
            if name == "baseline":
                continue
            if name.startswith("encode-"):  # e.g. encode-pix: x264 on released frames
                method = {"pix": "dp_pix", "blur": "dp_blur"}[name.split("-", 1)[1]]
                n, wall, cpu = _encode_only(src, tmp / f"{name}.mp4", method)
                _row(f"encode only, frames released by {method} beforehand", n, wall, cpu)
                continue
            label, settings = CASES[name]
            t0, c0 = time.perf_counter(), _cpu()
            result = run_to_end(process_video(src, tmp / f"{name}.mp4", settings, overwrite=True))
            dt = time.perf_counter() - t0
            acc = result.accounting
            fps = acc.frames / dt
            verdict = "faster than real time" if fps >= REAL_TIME_FPS else "SLOWER than real time"
            _row(label, acc.frames, dt, _cpu() - c0,
                 f"  ({verdict}; {acc.releases} releases, object eps {acc.eps_object:g})")
    print(f"load average after: {_load()} (2 cores, shared)")


if __name__ == "__main__":
    main()
