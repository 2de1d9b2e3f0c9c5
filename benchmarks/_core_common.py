"""What the core benchmarks share: the inputs, round-robin timing, the tables and the machine.

Used by ``bench_mechanisms.py`` (DP-Pix, DP-Blur, fidelity, memory),
``bench_samplers.py`` (the discrete Laplace samplers) and ``bench_core.py``
(all of them, one report).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import cv2
import numpy as np

import dpimage

try:
    from rich.console import Console
    from rich.table import Table
except ImportError:  # pragma: no cover - rich ships with typer
    Console = None
    Table = None

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
SAMPLE_FILES = ("astronaut.jpg", "camera.png", "chelsea.jpg", "coffee.jpg")

B, M, EPS = 16, 16, 0.5
B0, K = 4, 99
BATCH, CROP = 100, 84

# Per-candidate time budget (s), minimum and maximum repeats.
FULL = {"budget": 2.5, "min": 7, "max": 151, "opendp_big": 3}
QUICK = {"budget": 0.1, "min": 2, "max": 11, "opendp_big": 1}


# --------------------------------------------------------------------------- inputs


def _load_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise SystemExit(f"cannot read {path}")
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(img[:, :, :3], cv2.COLOR_BGR2RGB)


def _resized(rgb: np.ndarray, width: int, height: int, gray: bool) -> np.ndarray:
    out = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_CUBIC)
    return cv2.cvtColor(out, cv2.COLOR_RGB2GRAY) if gray else out


def _batch(seed: int = 2026) -> list[np.ndarray]:
    """``BATCH`` distinct random ``CROP x CROP`` RGB crops of the bundled samples."""
    sources = []
    for name in SAMPLE_FILES:
        img = _load_rgb(SAMPLES / name)
        h, w = img.shape[:2]
        if min(h, w) < CROP:  # not the case for the bundled files; kept for safety
            f = CROP / min(h, w)
            img = cv2.resize(
                img,
                (max(CROP, round(w * f)), max(CROP, round(h * f))),
                interpolation=cv2.INTER_CUBIC,
            )
        sources.append(img)
    rng = np.random.default_rng(seed)
    seen: set[tuple[int, int, int]] = set()
    crops = []
    while len(crops) < BATCH:
        s = int(rng.integers(len(sources)))
        h, w = sources[s].shape[:2]
        key = (s, int(rng.integers(h - CROP + 1)), int(rng.integers(w - CROP + 1)))
        if key in seen:
            continue
        seen.add(key)
        y, x = key[1], key[2]
        crops.append(np.ascontiguousarray(sources[s][y : y + CROP, x : x + CROP]))
    return crops


def make_workloads() -> dict[str, np.ndarray | list[np.ndarray]]:
    astro = _load_rgb(SAMPLES / "astronaut.jpg")
    return {
        "1920x1080 gray": _resized(astro, 1920, 1080, gray=True),
        "1920x1080 RGB": _resized(astro, 1920, 1080, gray=False),
        "768x576 gray": _resized(astro, 768, 576, gray=True),
        "112x92 gray": _resized(astro, 92, 112, gray=True),  # 112 rows x 92 columns
        f"{BATCH}x 84x84 RGB": _batch(),
    }


INPUTS_NOTE = (
    "Inputs: real photos. data/samples/astronaut.jpg (512x512 RGB) resized with "
    "cv2.INTER_CUBIC to each size, gray via cv2.cvtColor(RGB2GRAY); 1920x1080 is "
    "W x H, 112x92 is H x W (AT&T face size). Batch: 100 distinct random 84x84 RGB "
    "crops (seed 2026) of astronaut, camera (gray->RGB), chelsea and coffee."
)


def _stats(samples: list[float]) -> dict:
    return {
        "median_ms": 1e3 * statistics.median(samples),
        "min_ms": 1e3 * min(samples),
        "max_ms": 1e3 * max(samples),
        "n": len(samples),
    }


def time_group(cands: dict[str, Callable[[], object]], cfg: dict) -> dict[str, dict]:
    """Warm up each candidate, pick its repeat count, then time them round-robin."""
    gc.collect()
    reps = {}
    for name, fn in cands.items():
        t0 = time.perf_counter()
        fn()  # warm-up (also the estimate of one call)
        est = time.perf_counter() - t0
        reps[name] = int(min(cfg["max"], max(cfg["min"], cfg["budget"] / max(est, 1e-6))))
    samples: dict[str, list[float]] = {name: [] for name in cands}
    for r in range(max(reps.values())):
        for name, fn in cands.items():
            if r < reps[name]:
                t0 = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - t0)
    return {name: _stats(s) for name, s in samples.items()}


def _over_batch(fn: Callable[[np.ndarray], object], imgs: list[np.ndarray]) -> Callable[[], None]:
    def run() -> None:
        for im in imgs:
            fn(im)

    return run


def _call(
    fn: Callable[[np.ndarray], object], work: np.ndarray | list[np.ndarray]
) -> Callable[[], object]:
    if isinstance(work, list):
        return _over_batch(fn, work)
    return lambda: fn(work)


def _ratio(a: dict, b: dict) -> float:
    return a["median_ms"] / b["median_ms"]


def _peak_mb(fn: Callable[[], object]) -> float:
    fn()  # warm-up outside tracing
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    result = fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del result
    return (peak - base) / 2**20


# --------------------------------------------------------------------------- output


def _ms(t: dict) -> str:
    v = t["median_ms"]
    txt = f"{v:.3g}" if v < 10 else f"{v:.0f}" if v >= 100 else f"{v:.1f}"
    return f"{txt} (n={t['n']})"


def _x(r: float) -> str:
    return f"{r:.2f}x" if r < 10 else f"{r:.0f}x"


class Out:
    """Print tables with rich if available, plain text otherwise."""

    def __init__(self) -> None:
        self.console = Console(width=160) if Console is not None else None

    def table(self, title: str, header: list[str], rows: list[list[str]]) -> None:
        if self.console is not None:
            self.console.print(f"\n{title}", highlight=False, markup=False)
            tab = Table()
            for i, h in enumerate(header):
                tab.add_column(h, justify="left" if i == 0 else "right")
            for row in rows:
                tab.add_row(*row)
            self.console.print(tab)
            return
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        print(f"\n{title}")
        for row in [header, *rows]:
            print(
                "  ".join(
                    str(c).rjust(w) if i else str(c).ljust(w)
                    for i, (c, w) in enumerate(zip(row, widths, strict=True))
                )
            )

    def text(self, msg: str) -> None:
        if self.console is not None:
            self.console.print(msg, highlight=False, markup=False)
        else:
            print(msg)


def _machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        odp = version("opendp")
    except Exception:
        odp = None
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "opencv_threads": cv2.getNumThreads(),
        "opendp": odp,
        "dpimage": dpimage.__version__,
        "loadavg_start": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def parse_args(description: str, argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="few repeats (smoke test)")
    ap.add_argument("--json", type=Path, help="write all numbers to this JSON file")
    return ap.parse_args(argv)


def header(out: Out, machine: dict, what: str, quick: bool) -> None:
    """The machine line, the inputs and how to read the times."""
    out.text(
        f"dpimage {machine['dpimage']} {what} — {machine['date']}, "
        f"{machine['nproc']} CPUs ({machine['cpu']}), Python {machine['python']}, "
        f"NumPy {machine['numpy']}, OpenCV {machine['opencv']} "
        f"({machine['opencv_threads']} threads), OpenDP {machine['opendp']}"
        f"{' [--quick]' if quick else ''}"
    )
    out.text(INPUTS_NOTE)
    out.text(
        "Times: median ms of n repeats (time.perf_counter, one warm-up call first, "
        "candidates interleaved). Ratios > 1 in X/secure: dpimage secure is faster."
    )


def footer(out: Out, machine: dict, start: float, path: Path | None, doc: dict) -> None:
    """Total time and load average; every number to ``path`` as JSON when given."""
    elapsed = time.perf_counter() - start
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    out.text(
        f"Total {elapsed:.0f} s; 1-min load average {machine['loadavg_start']} at start, "
        f"{load:.2f} at end (2 CPUs: > ~1 means other work competed for them)."
    )
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        machine["loadavg_end"] = load
        path.write_text(json.dumps({"machine": machine, **doc, "elapsed_s": elapsed}, indent=2))
        out.text(f"Wrote {path}")
