"""Speed, fidelity and memory of dpimage's core, side by side with baselines.

Run::

    python benchmarks/bench_core.py            # full run, about 1-3 minutes
    python benchmarks/bench_core.py --quick    # smoke test, well under 20 s
    python benchmarks/bench_core.py --json out/bench.json

What is compared (all in the same process, candidates of a row interleaved
round-robin so that background load hits them alike):

1. **DP-Pix** (b=16, m=16, eps=0.5) on five workloads — 1920x1080 gray and
   RGB, 768x576 gray, 112x92 gray, and a batch of 100 84x84 RGB images (time
   for the whole batch):

   * ``dpimage secure``  — ``dpimage.dp_pix(img, rng=None)``: exact discrete
     Laplace on integer cell sums, bits from OpenSSL's CTR_DRBG (``ssl.RAND_bytes``).
     The private path.
   * ``dpimage seeded``  — ``dpimage.dp_pix(img, rng=gen)`` with one
     ``numpy.random.Generator`` made outside the timing loop (reproducible,
     not a private release).
   * ``numpy baseline``  — a plain NumPy DP-Pix written here: reshape-mean of
     the full cells, edge cells by slicing, float ``Generator.laplace`` with
     the paper's scale ``255 m / (b^2 eps)``, clip, two ``np.repeat``,
     ``astype(uint8)``.
   * ``seed-000 loop``   — the per-cell Python loop of the original notebook
     (``np.mean`` of each cell, float Laplace noise of the same scale drawn
     for the cell values in one ``Generator.laplace`` call as the notebook's
     ``add_laplace_noise`` does, clip, per-cell assignment to paint the
     blocks, ``uint8``), re-written here from its description; partial cells
     are averaged over the pixels they have.

   Both baselines use the paper's formula everywhere, which is *not* eps-DP
   for partial cells or colour (see DESIGN.md §2); they are speed references
   only. Ratios above 1 in ``X/secure`` mean dpimage's secure path is faster
   than X; ``secure/seeded`` is the price of the OS CSPRNG.

2. **DP-Blur** (b0=4, k=99, m=16, eps=0.5) on the same workloads: dpimage
   secure and seeded, ``dp_pix`` (b=16) secure in the same rounds (for
   ``secure/dp_pix``), a naive version (the NumPy baseline DP-Pix at b0=4,
   then ``cv2.GaussianBlur`` of the 8-bit block image), and one
   ``cv2.GaussianBlur(img, (99, 99), 0)`` of the uint8 input alone.
   ``secure/GaussianBlur`` below 1 means the whole private release costs less
   than one plain OpenCV blur.

3. **Samplers alone**, for the cell counts of 1920x1080 at b=16 (8160 values)
   and at b0=4 (129600 values), scale ``laplace_scale(16, 1, 0.5)`` = 8160:
   dpimage's exact sampler with ``SecureBits`` and with ``SeededBits``,
   OpenDP's discrete Laplace (``vector_domain(atom_domain(T="i64"))``,
   ``l1_distance(T="i64")``, ``>> then_laplace``; input list built outside
   the timing, output converted to an int64 array inside it), and NumPy's
   float ``Generator.laplace`` (inexact, for reference). Reported as ms per
   call and millions of values per second.

4. **DP-Blur fidelity** on 1920x1080 gray: with the same seed, ``dp_blur``
   must equal a Gaussian blur of ``dp_pix(img, b=4)`` up to rounding. We
   report the max difference to OpenCV's 8-bit blur (fixed-point), to the
   rounded float64 blur, the share of pixels within +/-2 of the 8-bit blur,
   and the 8-bit blur's own error against the float64 blur.

5. **Memory**: peak extra memory (``tracemalloc``; NumPy arrays, including
   those OpenCV returns, are tracked; OpenCV's internal scratch buffers are
   not) of one call on 1920x1080 RGB.

How to read it: look at the ratios first. They compare candidates timed
in the same rounds, so they survive background load better than the
milliseconds do; the last line prints the load average (on 2 CPUs, above ~1
means something else competed, and OpenCV's multi-threaded blur suffers most).
A final "Targets" table checks the goals: secure DP-Pix >= 7x faster than the
NumPy baseline at 1080p (gray and RGB) and no slower on 112x92, >= 30x faster
than the loop, secure <= 2x seeded; DP-Blur <= 3x DP-Pix (1080p gray and RGB,
timed in the same rounds) and no slower than one ``cv2.GaussianBlur``.

Timings are medians of ``n`` repeats (``n`` shown next to each number; it
adapts to a time budget per candidate) after one warm-up call, measured with
``time.perf_counter``. Inputs are real photographs, not noise: the bundled
``data/samples/astronaut.jpg`` resized with ``cv2.INTER_CUBIC`` (gray via
``cv2.cvtColor``); the batch is 100 distinct random 84x84 crops (fixed seed)
of the four bundled samples.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import cv2
import numpy as np

import dpimage
from dpimage.privacy import SecureBits, SeededBits, discrete_laplace, laplace_scale

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


# --------------------------------------------------------------------------- baselines


def loop_baseline_pix(
    img: np.ndarray, b: int, m: int, eps: float, gen: np.random.Generator
) -> np.ndarray:
    """The seed-000 notebook's DP-Pix: a Python loop over cells (speed reference only).

    Mean of each cell with ``np.mean`` (partial cells: over the pixels they
    have), float Laplace noise of the paper's scale on each cell value (one
    vectorised draw, as the notebook's ``add_laplace_noise``), clip, then a
    second loop paints each cell. Not eps-DP for partial cells or colour.
    """
    x = img[:, :, None] if img.ndim == 2 else img
    h, w, c = x.shape
    ny, nx = -(-h // b), -(-w // b)
    px = np.zeros((ny, nx, c))
    for i in range(ny):
        for j in range(nx):
            px[i, j, :] = np.mean(x[i * b : (i + 1) * b, j * b : (j + 1) * b], axis=(0, 1))
    scale = 255 * m / (b * b * eps)
    noisy = np.clip(px + gen.laplace(loc=0.0, scale=scale, size=px.shape), 0, 255)
    out = np.empty((h, w, c), dtype=np.uint8)
    for i in range(ny):
        for j in range(nx):
            out[i * b : (i + 1) * b, j * b : (j + 1) * b] = noisy[i, j].astype(np.uint8)
    return out[:, :, 0] if img.ndim == 2 else out


def numpy_baseline_pix(
    img: np.ndarray, b: int, m: int, eps: float, gen: np.random.Generator
) -> np.ndarray:
    """A plain vectorised NumPy DP-Pix (speed reference only; paper's scale everywhere)."""
    x = img[:, :, None] if img.ndim == 2 else img
    h, w, c = x.shape
    fy, fx = h // b, w // b  # full cells per axis
    hf, wf = fy * b, fx * b
    ny, nx = -(-h // b), -(-w // b)
    means = np.empty((ny, nx, c))
    means[:fy, :fx] = x[:hf, :wf].reshape(fy, b, fx, b, c).mean(axis=(1, 3))
    if wf < w:  # right column of partial cells
        means[:fy, fx] = x[:hf, wf:].reshape(fy, b * (w - wf), c).mean(axis=1)
    if hf < h:  # bottom row of partial cells
        means[fy, :fx] = x[hf:, :wf].reshape(h - hf, fx, b, c).mean(axis=(0, 2))
    if hf < h and wf < w:
        means[fy, fx] = x[hf:, wf:].mean(axis=(0, 1))
    noisy = means + gen.laplace(scale=255 * m / (b * b * eps), size=means.shape)
    blocks = np.repeat(np.repeat(np.clip(noisy, 0, 255), b, axis=0), b, axis=1)
    out = blocks[:h, :w].astype(np.uint8)
    return out[:, :, 0] if img.ndim == 2 else out


def naive_blur(img: np.ndarray, gen: np.random.Generator) -> np.ndarray:
    """DP-Blur the obvious way: NumPy-baseline DP-Pix at b0, then one 8-bit GaussianBlur."""
    return cv2.GaussianBlur(numpy_baseline_pix(img, B0, M, EPS, gen), (K, K), 0)


# --------------------------------------------------------------------------- timing


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


# --------------------------------------------------------------------------- sections


def bench_pix(workloads: dict, cfg: dict) -> dict:
    gen_seeded = np.random.default_rng(0)
    gen_np = np.random.default_rng(1)
    gen_loop = np.random.default_rng(2)
    out = {}
    for label, work in workloads.items():
        cands = {
            "dpimage secure": _call(lambda im: dpimage.dp_pix(im, B, M, EPS, rng=None), work),
            "dpimage seeded": _call(lambda im: dpimage.dp_pix(im, B, M, EPS, rng=gen_seeded), work),
            "numpy baseline": _call(lambda im: numpy_baseline_pix(im, B, M, EPS, gen_np), work),
            "seed-000 loop": _call(lambda im: loop_baseline_pix(im, B, M, EPS, gen_loop), work),
        }
        t = time_group(cands, cfg)
        t["ratios"] = {
            "loop/secure": _ratio(t["seed-000 loop"], t["dpimage secure"]),
            "numpy/secure": _ratio(t["numpy baseline"], t["dpimage secure"]),
            "numpy/seeded": _ratio(t["numpy baseline"], t["dpimage seeded"]),
            "secure/seeded": _ratio(t["dpimage secure"], t["dpimage seeded"]),
        }
        out[label] = t
    return out


def bench_blur(workloads: dict, cfg: dict) -> dict:
    gen_seeded = np.random.default_rng(0)
    gen_naive = np.random.default_rng(1)
    out = {}
    for label, work in workloads.items():
        cands = {
            "dpimage secure": _call(lambda im: dpimage.dp_blur(im, B0, K, M, EPS, rng=None), work),
            "dpimage seeded": _call(
                lambda im: dpimage.dp_blur(im, B0, K, M, EPS, rng=gen_seeded), work
            ),
            "naive (numpy pix + GaussianBlur)": _call(lambda im: naive_blur(im, gen_naive), work),
            "GaussianBlur alone": _call(lambda im: cv2.GaussianBlur(im, (K, K), 0), work),
            "dpimage dp_pix secure": _call(lambda im: dpimage.dp_pix(im, B, M, EPS), work),
        }
        t = time_group(cands, cfg)
        t["ratios"] = {
            "secure/dp_pix": _ratio(t["dpimage secure"], t["dpimage dp_pix secure"]),
            "secure/GaussianBlur": _ratio(t["dpimage secure"], t["GaussianBlur alone"]),
            "naive/secure": _ratio(t["naive (numpy pix + GaussianBlur)"], t["dpimage secure"]),
            "secure/seeded": _ratio(t["dpimage secure"], t["dpimage seeded"]),
        }
        out[label] = t
    return out


def _opendp_measurement(scale: float):
    """OpenDP's discrete Laplace on a vector of int64, or (None, reason)."""
    try:
        import opendp.prelude as dp
    except ImportError as exc:
        return None, f"opendp not importable ({exc})"
    try:
        dp.enable_features("contrib")
        space = dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64")
        meas = space >> dp.m.then_laplace(scale)
        meas([0, 0, 0])
    except Exception as exc:  # any construction failure skips the row
        return None, f"opendp {version('opendp')}: construction failed ({exc})"
    return meas, f"opendp {version('opendp')}"


def bench_samplers(cfg: dict) -> dict:
    scale = laplace_scale(16, 1, 0.5)  # Fraction(8160)
    secure, seeded = SecureBits(), SeededBits(np.random.default_rng(0))
    gen = np.random.default_rng(0)
    meas, odp_note = _opendp_measurement(float(scale))
    out: dict = {"scale": float(scale), "opendp": odp_note, "sizes": {}}
    for n, label in ((8160, "1080p cells at b=16"), (129600, "1080p cells at b0=4")):
        cands = {
            "dpimage exact, SecureBits": lambda n=n: discrete_laplace(scale, n, secure),
            "dpimage exact, SeededBits": lambda n=n: discrete_laplace(scale, n, seeded),
            "numpy Generator.laplace (float, inexact)": lambda n=n: gen.laplace(
                scale=float(scale), size=n
            ),
        }
        t = time_group(cands, cfg)
        if meas is not None:
            zeros = [0] * n

            def run_odp(zeros=zeros):
                return np.asarray(meas(zeros), dtype=np.int64)

            if n > 10000:  # seconds per call: fixed small repeat count
                meas([0] * 1000)  # warm-up
                samples = []
                for _ in range(cfg["opendp_big"]):
                    t0 = time.perf_counter()
                    run_odp()
                    samples.append(time.perf_counter() - t0)
                t["OpenDP then_laplace (i64)"] = _stats(samples)
            else:
                t.update(
                    time_group(
                        {"OpenDP then_laplace (i64)": run_odp}, {**cfg, "max": min(cfg["max"], 15)}
                    )
                )
        for v in t.values():
            v["values_per_s"] = n / (v["median_ms"] / 1e3)
        out["sizes"][str(n)] = {"label": label, "results": t}
    return out


def fidelity(img: np.ndarray) -> dict:
    g = dpimage.dp_pix(img, b=B0, rng=5)
    d = dpimage.dp_blur(img, rng=5).astype(np.int32)
    ref8 = cv2.GaussianBlur(g, (K, K), 0).astype(np.int32)
    ref64 = cv2.GaussianBlur(g.astype(np.float64), (K, K), 0)
    diff8 = np.abs(d - ref8)
    return {
        "max_abs_vs_opencv_8bit": int(diff8.max()),
        "max_abs_vs_rint_float64": int(np.abs(d - np.rint(ref64)).max()),
        "frac_within_2_of_opencv_8bit": float((diff8 <= 2).mean()),
        "pixels_off_by_more_than_2_of_opencv_8bit": int((diff8 > 2).sum()),
        "opencv_8bit_max_abs_vs_float64": float(np.abs(ref8 - ref64).max()),
        "opencv_8bit_max_abs_vs_rint_float64": int(np.abs(ref8 - np.rint(ref64)).max()),
    }


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


def memory(img: np.ndarray) -> dict:
    gen = np.random.default_rng(0)
    return {
        "input_mb": img.nbytes / 2**20,
        "dpimage dp_pix (secure)": _peak_mb(lambda: dpimage.dp_pix(img)),
        "numpy baseline pix": _peak_mb(lambda: numpy_baseline_pix(img, B, M, EPS, gen)),
        "dpimage dp_blur (secure)": _peak_mb(lambda: dpimage.dp_blur(img)),
        "naive blur": _peak_mb(lambda: naive_blur(img, gen)),
    }


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


def targets(pix: dict, blur: dict) -> list[tuple[str, float, str, bool]]:
    r = pix["1920x1080 gray"]["ratios"]
    rgb = pix["1920x1080 RGB"]["ratios"]
    small = pix["112x92 gray"]["ratios"]
    rb = blur["1920x1080 gray"]["ratios"]
    rb_rgb = blur["1920x1080 RGB"]["ratios"]
    rows = [
        ("DP-Pix 1080p gray: numpy baseline / secure", r["numpy/secure"], ">= 7"),
        ("DP-Pix 1080p RGB: numpy baseline / secure", rgb["numpy/secure"], ">= 7"),
        ("DP-Pix 112x92 gray: numpy baseline / secure", small["numpy/secure"], ">= 1"),
        ("DP-Pix 1080p gray: seed-000 loop / secure", r["loop/secure"], ">= 30"),
        ("DP-Pix 1080p gray: secure / seeded", r["secure/seeded"], "<= 2"),
        ("DP-Blur 1080p gray: secure / DP-Pix secure", rb["secure/dp_pix"], "<= 3"),
        ("DP-Blur 1080p RGB: secure / DP-Pix secure", rb_rgb["secure/dp_pix"], "<= 3"),
        ("DP-Blur 1080p gray: secure / one GaussianBlur", rb["secure/GaussianBlur"], "<= 1"),
    ]
    out = []
    for name, value, goal in rows:
        bound = float(goal.split()[1])
        out.append((name, value, goal, value >= bound if goal.startswith(">") else value <= bound))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="few repeats (smoke test)")
    ap.add_argument("--json", type=Path, help="write all numbers to this JSON file")
    args = ap.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    out = Out()
    start = time.perf_counter()
    machine = _machine()
    out.text(
        f"dpimage {machine['dpimage']} core benchmark — {machine['date']}, "
        f"{machine['nproc']} CPUs ({machine['cpu']}), Python {machine['python']}, "
        f"NumPy {machine['numpy']}, OpenCV {machine['opencv']} "
        f"({machine['opencv_threads']} threads), OpenDP {machine['opendp']}"
        f"{' [--quick]' if args.quick else ''}"
    )
    out.text(INPUTS_NOTE)
    out.text(
        "Times: median ms of n repeats (time.perf_counter, one warm-up call first, "
        "candidates interleaved). Ratios > 1 in X/secure: dpimage secure is faster."
    )

    workloads = make_workloads()
    pix = bench_pix(workloads, cfg)
    out.table(
        f"DP-Pix (b={B}, m={M}, eps={EPS}) — median ms (n repeats)",
        [
            "workload",
            "dpimage secure",
            "dpimage seeded",
            "numpy baseline",
            "seed-000 loop",
            "loop/secure",
            "numpy/secure",
            "numpy/seeded",
            "secure/seeded",
        ],
        [
            [
                w,
                _ms(t["dpimage secure"]),
                _ms(t["dpimage seeded"]),
                _ms(t["numpy baseline"]),
                _ms(t["seed-000 loop"]),
                *(_x(v) for v in t["ratios"].values()),
            ]
            for w, t in pix.items()
        ],
    )

    blur = bench_blur(workloads, cfg)
    out.table(
        f"DP-Blur (b0={B0}, k={K}, m={M}, eps={EPS}) — median ms (n repeats)",
        [
            "workload",
            "dpimage secure",
            "dpimage seeded",
            "naive: numpy pix + GaussianBlur",
            "GaussianBlur alone (uint8)",
            "dp_pix b=16 secure",
            "secure/dp_pix",
            "secure/GaussianBlur",
            "naive/secure",
            "secure/seeded",
        ],
        [
            [
                w,
                _ms(t["dpimage secure"]),
                _ms(t["dpimage seeded"]),
                _ms(t["naive (numpy pix + GaussianBlur)"]),
                _ms(t["GaussianBlur alone"]),
                _ms(t["dpimage dp_pix secure"]),
                *(_x(v) for v in t["ratios"].values()),
            ]
            for w, t in blur.items()
        ],
    )

    samplers = bench_samplers(cfg)
    names = list(samplers["sizes"]["8160"]["results"])
    rows = []
    for name in names:
        row = [name]
        for size in samplers["sizes"].values():
            t = size["results"][name]
            row += [_ms(t), f"{t['values_per_s'] / 1e6:.3g}"]
        rows.append(row)
    out.table(
        f"Discrete Laplace samplers alone, scale {samplers['scale']:g} — median ms, M values/s",
        ["sampler", "n=8160 ms", "n=8160 Mval/s", "n=129600 ms", "n=129600 Mval/s"],
        rows,
    )
    if "OpenDP then_laplace (i64)" not in names:
        out.text(f"OpenDP row skipped: {samplers['opendp']}")

    fid = fidelity(workloads["1920x1080 gray"])
    out.table(
        "DP-Blur fidelity, 1920x1080 gray: d = dp_blur(img, rng=5), "
        "g = dp_pix(img, b=4, rng=5) (same noise)",
        ["quantity", "value"],
        [
            ["max |d - GaussianBlur(g) 8-bit|", str(fid["max_abs_vs_opencv_8bit"])],
            ["max |d - rint(GaussianBlur(g float64))|", str(fid["max_abs_vs_rint_float64"])],
            [
                "share of pixels with |d - 8-bit blur| <= 2",
                f"{100 * fid['frac_within_2_of_opencv_8bit']:.4f}% "
                f"({fid['pixels_off_by_more_than_2_of_opencv_8bit']} px off by > 2)",
            ],
            [
                "OpenCV 8-bit blur: max |8-bit - float64|",
                f"{fid['opencv_8bit_max_abs_vs_float64']:.3f}",
            ],
            [
                "OpenCV 8-bit blur: max |8-bit - rint(float64)|",
                str(fid["opencv_8bit_max_abs_vs_rint_float64"]),
            ],
        ],
    )

    mem = memory(workloads["1920x1080 RGB"])
    out.table(
        f"Peak extra memory (tracemalloc), one call on 1920x1080 RGB "
        f"(input {mem['input_mb']:.1f} MB)",
        ["call", "MB"],
        [[k, f"{v:.1f}"] for k, v in mem.items() if k != "input_mb"],
    )

    tg = targets(pix, blur)
    out.table(
        "Targets",
        ["target", "measured", "goal", "met"],
        [[n, f"{v:.2f}", g, "yes" if ok else "NO"] for n, v, g, ok in tg],
    )
    elapsed = time.perf_counter() - start
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    out.text(
        f"Total {elapsed:.0f} s; 1-min load average {machine['loadavg_start']} at start, "
        f"{load:.2f} at end (2 CPUs: > ~1 means other work competed for them)."
    )

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        machine["loadavg_end"] = load
        doc = {
            "machine": machine,
            "quick": args.quick,
            "config": cfg,
            "inputs": INPUTS_NOTE,
            "params": {"b": B, "m": M, "eps": EPS, "b0": B0, "k": K},
            "dp_pix": pix,
            "dp_blur": blur,
            "samplers": samplers,
            "fidelity": fid,
            "memory_mb": mem,
            "elapsed_s": elapsed,
            "targets": [{"target": n, "measured": v, "goal": g, "met": ok} for n, v, g, ok in tg],
        }
        args.json.write_text(json.dumps(doc, indent=2))
        out.text(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
