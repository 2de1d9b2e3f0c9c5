"""`tune` with the smooth renderer: predicted vs measured quality, and which b each objective picks.

For each evaluation photo, resized to 640x427 (the size of the question "protect a
4x4 object in a 640x427 photo", m = 16), and each renderer (blocks, smooth):

- predicted MSE / SSIM per b, tuned on public look-alikes only
  (:func:`dpimage.tune.recommend_public`, the *other* bundled photos: the
  evaluated photo is left out of its own references);
- measured MSE / SSIM per b on the photo itself (other seeds);
- the b each objective recommends: ``mse``, ``ssim``, and ``mse`` with
  ``min_cells = 16`` (at least 16 cells along the shorter side).

Writes ``docs/results/tune_render/tune_render.md`` and ``.csv``::

    python benchmarks/tune_render.py --eps 0.5 --runs 3
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import cv2
import numpy as np

from dpimage import datasets, methods
from dpimage.metrics import mse, ssim
from dpimage.tune import public_references, recommend_public

SIZE = (640, 427)  # width, height
EVALUATED = ("camera", "astronaut", "coffee", "chelsea")


def _measure(image, b, m, eps, render, runs):
    spec = methods.get("dp_pix")
    params = {"b": b, "m": m, "eps": eps, "render": render}
    outs = [spec.apply(image, params, np.random.default_rng([7919, b, r])) for r in range(runs)]
    return (
        float(np.mean([mse(o, image) for o in outs])),
        float(np.mean([ssim(o, image, variant="skimage") for o in outs])),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eps", type=float, default=0.5)
    parser.add_argument("-m", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bs", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    parser.add_argument("-o", type=Path, default=Path("docs/results/tune_render"))
    args = parser.parse_args()

    rows, picks = [], []
    for gray in (True, False):
        for name, photo in datasets.photos(gray=gray).items():
            if (
                name not in EVALUATED
                or (gray and name != "camera")
                or (not gray and name == "camera")
            ):
                continue
            image = cv2.resize(photo, SIZE, interpolation=cv2.INTER_AREA)
            refs = {k: v for k, v in public_references(image.shape).items() if k != name}
            for render in ("blocks", "smooth"):
                common = dict(eps_grid=[args.eps], bs=args.bs, ssim_runs=args.runs, render=render)
                by = {
                    "mse": recommend_public(image.shape, args.m, references=refs, **common),
                    "ssim": recommend_public(
                        image.shape, args.m, references=refs, objective="ssim", **common
                    ),
                    "mse, >=16 cells": recommend_public(
                        image.shape, args.m, references=refs, min_cells=16, **common
                    ),
                }
                measured = {b: _measure(image, b, args.m, args.eps, render, args.runs)
                            for b in args.bs}  # fmt: skip
                for c in by["mse"].candidates:
                    got_mse, got_ssim = measured[c.b]
                    rows.append(
                        {
                            "image": name, "render": render, "b": c.b, "eps": args.eps,
                            "predicted_mse": round(c.mse, 1), "measured_mse": round(got_mse, 1),
                            "predicted_ssim": round(c.ssim, 4), "measured_ssim": round(got_ssim, 4),
                            "mse_source": c.mse_source,
                        }
                    )  # fmt: skip
                best_measured_mse = min(args.bs, key=lambda b: measured[b][0])
                best_measured_ssim = max(args.bs, key=lambda b: measured[b][1])
                picks.append(
                    {"image": name, "render": render, **{k: r.b for k, r in by.items()},
                     "measured best MSE": best_measured_mse,
                     "measured best SSIM": best_measured_ssim}
                )  # fmt: skip
                print(picks[-1], flush=True)

    args.o.mkdir(parents=True, exist_ok=True)
    with (args.o / "tune_render.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        f"# `tune` at 640x427, m = {args.m}, ε = {args.eps:g}: predicted (public look-alikes) "
        "vs measured (the photo)",
        "",
        f"Predicted: mean over the other bundled photos resized to 640x427 ({args.runs} seeded "
        "releases each; blocks MSE in closed form, smooth MSE simulated). Measured: "
        f"{args.runs} other seeds on the photo itself. Each cell: MSE / SSIM.",
        "",
        "| photo | render | b | predicted | measured |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['image']} | {r['render']} | {r['b']} | {r['predicted_mse']:.0f} / "
            f"{r['predicted_ssim']:.3f} | {r['measured_mse']:.0f} / {r['measured_ssim']:.3f} |"
        )
    keys = list(picks[0])[2:]
    lines += ["", "b recommended by each objective (tuned on the look-alikes) and the measured "
              "optimum on the photo:", "",
              "| photo | render | " + " | ".join(keys) + " |",
              "|---|---|" + "---|" * len(keys)]  # fmt: skip
    for p in picks:
        lines.append(
            f"| {p['image']} | {p['render']} | " + " | ".join(str(p[k]) for k in keys) + " |"
        )
    (args.o / "tune_render.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.o}/tune_render.md and .csv")


if __name__ == "__main__":
    main()
