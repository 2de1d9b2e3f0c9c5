"""The luma/chroma budget split: tuning on public photos, and the gain over the old split.

The release of Y, Co, Cg is exactly ``max(eps_Y, eps_Cg, eps_Y/2 + eps_Co + eps_Cg/2)``-DP
(``dpimage.privacy.colour``). The old default, 0.7 / 0.15 / 0.15 of eps justified by basic
composition, therefore spent only 0.7 eps; the new one spends exactly eps
(``eps_Y = s eps``, ``eps_Co = eps_Cg = (2 - s) eps / 3``, default ``s = 1``).

Usage::

    python benchmarks/colour_split.py --tune   # luma share s x chroma factor, tuning photos only
    python benchmarks/colour_split.py          # old vs new default, blocks and smooth

``--tune`` runs on the public tuning photos only (rocket, motorcycle, Grace Hopper), never on
the evaluation photos; the default run compares the shipped renderers (``dpimage.render.colour``
blocks and smooth) on the old and new default splits, one seeded release each (the same seed
for both, so the comparison is paired); ``MSE / blocks`` is against the papers' RGB DP-Pix
blocks under the same seed. Writes CSV and markdown under ``docs/results/utility/``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from dpimage.metrics import mse, ssim
from dpimage.privacy.colour import chroma_factor_for
from dpimage.release import release_colour
from dpimage.render import colour as colour_render
from utility_renderers import TUNE_IMAGES, load_sets, r_blocks, release, write

EPSILONS = (0.1, 0.2, 0.5, 1.0, 2.0)
EVAL_IMAGES = ("astronaut", "chelsea", "coffee", *TUNE_IMAGES)


def old_budgets(eps: float) -> tuple[float, float, float]:
    """The previous default: 0.7 eps on Y, 0.15 eps on each of Co, Cg (sum <= eps)."""
    eps_y = eps * 0.7
    eps_c = (eps - eps_y) / 2.0
    return eps_y, eps_c, eps_c


def old_release(img, b, m, eps, seed):
    budgets = old_budgets(eps)
    factor = chroma_factor_for(b, m, budgets[1])
    return release_colour(img, b, m, eps, seed, budgets=budgets, chroma_factor=factor)


def _row(name, eps, label, vals, args):
    v = np.array(vals)
    return {
        "set": name, "eps": eps, "renderer": label, "b": args.b, "m": args.m, "n": len(vals),
        "seeds": " ".join(map(str, args.seeds)), "mse": float(v[:, 0].mean()),
        "mse_ratio": float(v[:, 1].mean()), "mse_ratio_sd": float(v[:, 1].std()),
        "psnr": float(np.mean(10 * np.log10(255.0**2 / v[:, 0]))), "ssim": float(v[:, 2].mean()),
    }  # fmt: skip


def measure(names, releases: dict, renderers, args) -> list[dict]:
    """``releases``: label -> (img, b, m, eps, seed) -> ColourRelease.

    ``mse_ratio`` is against the papers' DP-Pix (RGB, blocks) under the same seed, as in
    the other utility tables.
    """
    sets = load_sets(list(names), 0, 0, 0)
    rows = []
    for name, (img,) in sets.items():
        for eps in args.eps:
            acc: dict[str, list] = {}
            for seed in args.seeds:
                means, scale = release(img, args.b, args.m, eps, seed)
                h, w = img.shape[:2]
                base = mse(img, r_blocks(means, scale, h, w, args.b))
                for label, make in releases.items():
                    rel = make(img, args.b, args.m, eps, seed)
                    for r in renderers:
                        out = colour_render.get(r)(rel)
                        e = mse(img, out)
                        acc.setdefault(f"{label} {r}", []).append((e, e / base, ssim(img, out)))
            rows += [_row(name, eps, k, vals, args) for k, vals in acc.items()]
            print(f"done {name} eps={eps}", file=sys.stderr, flush=True)
    return rows


def tune(args) -> list[dict]:
    releases = {"old 0.7/0.15/0.15 auto": old_release}
    for share in args.shares:
        for f in (*args.factors, None):

            def make(img, b, m, eps, seed, share=share, f=f):
                return release_colour(img, b, m, eps, seed, luma_share=share, chroma_factor=f)

            releases[f"s={share} f={'auto' if f is None else f}"] = make
    return measure(TUNE_IMAGES, releases, ("smooth",), args)


def gain(args) -> list[dict]:
    releases = {
        "old 0.7/0.15/0.15": old_release,
        "new 1/(1/3)/(1/3)": lambda img, b, m, eps, seed: release_colour(img, b, m, eps, seed),
    }
    return measure(EVAL_IMAGES, releases, ("blocks", "smooth"), args)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--eps", type=float, nargs="+", default=list(EPSILONS))
    p.add_argument("-b", type=int, default=16)
    p.add_argument("-m", type=int, default=16)
    p.add_argument("--tune", action="store_true", help="share x chroma factor, tuning photos")
    p.add_argument("--shares", type=float, nargs="+", default=[0.8, 0.9, 1.0])
    p.add_argument("--factors", type=int, nargs="+", default=[2, 4, 8])
    args = p.parse_args(argv)
    start = time.perf_counter()
    if args.tune:
        write(tune(args), "colour_split_tune")
    else:
        write(gain(args), "colour_split")
    print(f"wall {time.perf_counter() - start:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
