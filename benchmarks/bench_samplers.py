"""The discrete Laplace samplers alone: dpimage's exact sampler against OpenDP and NumPy.

Run::

    python benchmarks/bench_samplers.py            # about 30 s
    python benchmarks/bench_samplers.py --quick    # smoke test
    python benchmarks/bench_samplers.py --json out/bench_samplers.json

(``python benchmarks/bench_core.py`` runs this and ``bench_mechanisms.py`` in one report.)

**Samplers alone**, for the cell counts of 1920x1080 at b=16 (8160 values)
   and at b0=4 (129600 values), scale ``laplace_scale(16, 1, 0.5)`` = 8160:
   dpimage's exact sampler with ``SecureBits`` and with ``SeededBits``,
   OpenDP's discrete Laplace (``vector_domain(atom_domain(T="i64"))``,
   ``l1_distance(T="i64")``, ``>> then_laplace``; input list built outside
   the timing, output converted to an int64 array inside it), and NumPy's
   float ``Generator.laplace`` (inexact, for reference). Reported as ms per
   call and millions of values per second.
"""

from __future__ import annotations

import sys
import time
from importlib.metadata import version

import numpy as np

from _core_common import (
    FULL,
    QUICK,
    Out,
    _machine,
    _ms,
    _stats,
    footer,
    header,
    parse_args,
    time_group,
)
from dpimage.privacy import SecureBits, SeededBits, discrete_laplace, laplace_scale


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


def report_samplers(out: Out, samplers: dict) -> None:
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.split("\n\n")[0], argv)
    cfg = QUICK if args.quick else FULL
    out, start, machine = Out(), time.perf_counter(), _machine()
    header(out, machine, "sampler benchmark", args.quick)
    samplers = bench_samplers(cfg)
    report_samplers(out, samplers)
    doc = {"quick": args.quick, "config": cfg, "samplers": samplers}
    footer(out, machine, start, args.json, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
