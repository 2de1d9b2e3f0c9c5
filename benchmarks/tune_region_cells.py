"""Choose ``render.region.SPATIAL_CELLS`` on public photos that no evaluation uses.

A box's luma is drawn either cell by cell (inverse-variance blend with the
published surroundings) or, for a grid of at least ``SPATIAL_CELLS`` cells
each way, by the ``smooth`` renderer on the residual to the surroundings'
prior. This script places square boxes of n x n cells (n = 2 ... 12, at
b = 16) at random spots of the tuning photos and measures the MSE inside the
box both ways, same release (same seed): the threshold is the smallest n
from which the spatial drawing wins on average.

Tuning photos (never evaluated, ``bench_regions.py`` uses others): scikit-image's
rocket and stereo motorcycle, scikit-learn's china and flower (RGB). Defaults of
``pixelate`` (DP-Pix b = 16, m = 16, eps = 0.5, smooth, luma-chroma).

Run (about 2 minutes)::

    python benchmarks/tune_region_cells.py [--boxes 8] [--seeds 2]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

import dpimage.render.region as region
from dpimage.regions import method_regions
from dpimage.render.region import published_mask

PARAMS = {"b": 16, "m": 16, "eps": 0.5, "render": "smooth", "colour": "luma-chroma"}


def photos() -> dict[str, np.ndarray]:
    import skimage.data as data
    import sklearn

    skl = Path(sklearn.__file__).parent / "datasets" / "images"
    out = {"rocket": data.rocket(), "motorcycle": data.stereo_motorcycle()[0]}
    for name in ("china", "flower"):
        with Image.open(skl / f"{name}.jpg") as im:
            out[name] = np.asarray(im.convert("RGB"))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--boxes", type=int, default=8, help="boxes per photo and size")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--sizes", type=int, nargs="*", default=[2, 3, 4, 5, 6, 7, 8, 10, 12])
    args = p.parse_args()
    rng = np.random.default_rng(0)
    b = PARAMS["b"]
    print(f"{'cells':>5s} {'boxes':>5s} {'per cell MSE':>12s} {'spatial MSE':>11s} {'ratio':>6s}")
    for n in args.sizes:
        side = n * b
        per_cell, spatial = [], []
        for image in photos().values():
            h, w = image.shape[:2]
            for _ in range(args.boxes):
                x, y = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
                boxes = [(x, y, x + side, y + side)]
                inside = ~published_mask(image.shape, boxes)
                for seed in range(args.seeds):
                    for threshold, acc in ((10**9, per_cell), (1, spatial)):
                        region.SPATIAL_CELLS = threshold
                        out = method_regions(image, boxes, "dp_pix", PARAMS, seed, context="border")
                        diff = out[inside].astype(np.float64) - image[inside]
                        acc.append(float((diff**2).mean()))
        a, s = np.mean(per_cell), np.mean(spatial)
        print(f"{n:5d} {len(per_cell):5d} {a:12.0f} {s:11.0f} {s / a:6.3f}", flush=True)


if __name__ == "__main__":
    main()
