"""Speed, fidelity and memory of DP-Pix and DP-Blur, side by side with baselines.

Run::

    python benchmarks/bench_mechanisms.py            # about 1-2 minutes
    python benchmarks/bench_mechanisms.py --quick    # smoke test
    python benchmarks/bench_mechanisms.py --json out/bench_mechanisms.json

(``python benchmarks/bench_core.py`` runs this and ``bench_samplers.py`` in one report.)

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

3. **DP-Blur fidelity** on 1920x1080 gray: with the same seed, ``dp_blur``
   must equal a Gaussian blur of ``dp_pix(img, b=4)`` up to rounding. We
   report the max difference to OpenCV's 8-bit blur (fixed-point), to the
   rounded float64 blur, the share of pixels within +/-2 of the 8-bit blur,
   and the 8-bit blur's own error against the float64 blur.

4. **Memory**: peak extra memory (``tracemalloc``; NumPy arrays, including
   those OpenCV returns, are tracked; OpenCV's internal scratch buffers are
   not) of one call on 1920x1080 RGB.

A final "Targets" table checks the goals: secure DP-Pix >= 7x faster than the
NumPy baseline at 1080p (gray and RGB) and no slower on 112x92, >= 30x faster
than the loop, secure <= 2x seeded; DP-Blur <= 3x DP-Pix (1080p gray and RGB,
timed in the same rounds) and no slower than one ``cv2.GaussianBlur``.
"""

from __future__ import annotations

import sys
import time

import cv2
import numpy as np

import dpimage
from _core_common import (
    B0,
    EPS,
    FULL,
    INPUTS_NOTE,
    QUICK,
    B,
    K,
    M,
    Out,
    _call,
    _machine,
    _ms,
    _peak_mb,
    _ratio,
    _x,
    footer,
    header,
    make_workloads,
    parse_args,
    time_group,
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


def memory(img: np.ndarray) -> dict:
    gen = np.random.default_rng(0)
    return {
        "input_mb": img.nbytes / 2**20,
        "dpimage dp_pix (secure)": _peak_mb(lambda: dpimage.dp_pix(img)),
        "numpy baseline pix": _peak_mb(lambda: numpy_baseline_pix(img, B, M, EPS, gen)),
        "dpimage dp_blur (secure)": _peak_mb(lambda: dpimage.dp_blur(img)),
        "naive blur": _peak_mb(lambda: naive_blur(img, gen)),
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


# --------------------------------------------------------------------------- report


def report_pix(out: Out, pix: dict) -> None:
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


def report_blur(out: Out, blur: dict) -> None:
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


def report_fidelity(out: Out, fid: dict) -> None:
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


def report_memory(out: Out, mem: dict) -> None:
    out.table(
        f"Peak extra memory (tracemalloc), one call on 1920x1080 RGB "
        f"(input {mem['input_mb']:.1f} MB)",
        ["call", "MB"],
        [[k, f"{v:.1f}"] for k, v in mem.items() if k != "input_mb"],
    )


def report_targets(out: Out, tg: list) -> None:
    out.table(
        "Targets",
        ["target", "measured", "goal", "met"],
        [[n, f"{v:.2f}", g, "yes" if ok else "NO"] for n, v, g, ok in tg],
    )


def run(workloads: dict, cfg: dict, out: Out) -> dict:
    """Every section of this file, reported as it goes; the numbers for the JSON file."""
    pix = bench_pix(workloads, cfg)
    report_pix(out, pix)
    blur = bench_blur(workloads, cfg)
    report_blur(out, blur)
    fid = fidelity(workloads["1920x1080 gray"])
    report_fidelity(out, fid)
    mem = memory(workloads["1920x1080 RGB"])
    report_memory(out, mem)
    tg = targets(pix, blur)
    return {"dp_pix": pix, "dp_blur": blur, "fidelity": fid, "memory_mb": mem, "targets": tg}


def json_doc(cfg: dict, quick: bool, numbers: dict) -> dict:
    tg = [{"target": n, "measured": v, "goal": g, "met": ok} for n, v, g, ok in numbers["targets"]]
    return {
        "quick": quick,
        "config": cfg,
        "inputs": INPUTS_NOTE,
        "params": {"b": B, "m": M, "eps": EPS, "b0": B0, "k": K},
        **numbers,
        "targets": tg,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.split("\n\n")[0], argv)
    cfg = QUICK if args.quick else FULL
    out, start, machine = Out(), time.perf_counter(), _machine()
    header(out, machine, "DP-Pix/DP-Blur benchmark", args.quick)
    numbers = run(make_workloads(), cfg, out)
    report_targets(out, numbers["targets"])
    footer(out, machine, start, args.json, json_doc(cfg, args.quick, numbers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
