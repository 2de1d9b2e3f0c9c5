"""Speed, fidelity and memory of dpimage's core, side by side with baselines: one report.

Run::

    python benchmarks/bench_core.py            # full run, about 1-3 minutes
    python benchmarks/bench_core.py --quick    # smoke test, well under 20 s
    python benchmarks/bench_core.py --json out/bench.json

The sections live by subject: ``bench_mechanisms.py`` (DP-Pix and DP-Blur
against baselines, DP-Blur fidelity, memory, the targets) and
``bench_samplers.py`` (the discrete Laplace samplers alone); each runs alone
with the same options. Their shared inputs, timing and tables are in
``_core_common.py``. What is compared is in those files' docstrings.

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

import sys
import time

import bench_mechanisms as mechanisms
import bench_samplers as samplers
from _core_common import FULL, QUICK, Out, _machine, footer, header, make_workloads, parse_args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.split("\n\n")[0], argv)
    cfg = QUICK if args.quick else FULL
    out, start, machine = Out(), time.perf_counter(), _machine()
    header(out, machine, "core benchmark", args.quick)
    numbers = mechanisms.run(make_workloads(), cfg, out)
    samples = samplers.bench_samplers(cfg)
    samplers.report_samplers(out, samples)
    mechanisms.report_targets(out, numbers["targets"])
    doc = mechanisms.json_doc(cfg, args.quick, numbers)
    footer(out, machine, start, args.json, {**doc, "samplers": samples})
    return 0


if __name__ == "__main__":
    sys.exit(main())
