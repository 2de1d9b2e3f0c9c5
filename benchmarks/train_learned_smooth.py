"""Fit the learned upsampler of the ``smooth`` renderer on public photos (deterministic).

For each full-cell noise level ``sd`` of a geometric grid, simulated DP-Pix
releases (b = 16, Laplace noise of std ``sd`` on each cell mean; exact
discrete Laplace on the sums differs from it by rounding only) of public
photos that no evaluation uses are denoised by the weighted TV of
:mod:`dpimage.render.smooth`; a ridge regression then maps the features of
:func:`dpimage.render.learned.features` to the ``SUB x SUB`` sub-block means
of each cell (as the residual to the centre TV value). Augmentation: image
scales 1, 0.7, 0.5 (so content at other cell sizes is seen), two cell-grid
offsets, two orientations, one noise draw each.

Training photos (gray): scikit-image's rocket, stereo motorcycle (both views),
brick, grass, gravel, immunohistochemistry, Hubble deep field, page, text,
moon, horse, coins, clock, cell, retina; matplotlib's Grace Hopper. Never:
camera, astronaut, coffee, chelsea/cat, PETS-2009, AT&T faces, MNIST.

Run (about a minute)::

    python benchmarks/train_learned_smooth.py      # writes src/dpimage/render/learned_smooth.npz
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import cv2
import numpy as np

from dpimage.render.learned import ANGLES, SUB, WINDOW, features, structure
from dpimage.render.smooth import tv_denoise_grid

OUT = Path(__file__).resolve().parents[1] / "src" / "dpimage" / "render" / "learned_smooth.npz"
B = 16
AREA = cv2.INTER_AREA
SD_LEVELS = np.geomspace(4.0, 1024.0, 13)
TRAIN = (
    "rocket", "stereo_motorcycle", "brick", "grass", "gravel", "immunohistochemistry",
    "hubble_deep_field", "page", "text", "moon", "horse", "coins", "clock", "cell", "retina",
)  # fmt: skip


def training_images(exclude=()) -> list[np.ndarray]:
    """The public training photos, gray uint8 (those bundled offline with the packages)."""
    import matplotlib
    import skimage.data as data
    from PIL import Image

    out = []
    for name in (n for n in TRAIN if n not in exclude):
        img = getattr(data, name)()
        views = img[:2] if name == "stereo_motorcycle" else [img]
        for v in views:
            v = np.asarray(v)
            if v.ndim == 3:
                v = cv2.cvtColor(v[:, :, :3], cv2.COLOR_RGB2GRAY)
            if v.dtype != np.uint8:
                v = (255 * (v > 0)).astype(np.uint8) if v.dtype == bool else v.astype(np.uint8)
            out.append(v)
    if "grace_hopper" not in exclude:
        path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
        with Image.open(path) as im:
            out.append(np.asarray(im.convert("L")))
    return out


def samples(img: np.ndarray, sd: float, rng: np.random.Generator):
    """Features and sub-block residual targets of one simulated release of ``img``."""
    ny, nx = img.shape[0] // B, img.shape[1] // B
    img = img[: ny * B, : nx * B].astype(np.float64)
    cells = img.reshape(ny, B, nx, B).mean(axis=(1, 3))
    s = sd / math.sqrt(2.0)
    noisy = cells + rng.laplace(0.0, s, size=cells.shape)
    g = tv_denoise_grid(noisy[:, :, None], np.full((ny, nx), s))[:, :, 0]
    x = features(g, np.clip(noisy, 0, 255), sd)
    q = B // SUB
    sub = img.reshape(ny, SUB, q, nx, SUB, q).mean(axis=(2, 5))  # (ny, SUB, nx, SUB)
    y = sub.transpose(0, 2, 1, 3).reshape(ny * nx, SUB * SUB) - g.reshape(-1, 1)
    strength, angle = structure(g)
    return x, y.astype(np.float32), strength, angle


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ridge", type=float, default=1e-3, help="relative to the mean diagonal")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--strengths", type=int, default=3, help="edge-strength classes")
    p.add_argument("--exclude", nargs="*", default=[], help="leave these photos out (validation)")
    args = p.parse_args()
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    base = training_images(args.exclude)
    views = []
    for img in base:
        for f in (1.0, 0.7, 0.5):
            im = img if f == 1.0 else cv2.resize(img, None, fx=f, fy=f, interpolation=AREA)
            for k in (0, 1):  # two orientations (a 90-degree rotation)
                views.append(np.ascontiguousarray(np.rot90(im, k)))
    weights, thresholds = [], []
    classes = args.strengths * ANGLES
    for sd in SD_LEVELS:
        parts = [samples(v[off:, off:], float(sd), rng) for v in views for off in (0, B // 2)]
        x = np.concatenate([q[0] for q in parts])
        y = np.concatenate([q[1] for q in parts])
        strength = np.concatenate([q[2] for q in parts])
        angle = np.concatenate([q[3] for q in parts])
        # strength classes of equal size on the training cells at this noise level
        cut = np.quantile(strength, np.arange(1, args.strengths) / args.strengths)
        cls = np.searchsorted(cut, strength) * ANGLES + angle
        level = []
        for k in range(classes):
            xk = x[cls == k].astype(np.float64)
            xtx, xty = xk.T @ xk, xk.T @ y[cls == k]
            lam = args.ridge * float(np.trace(xtx)) / xtx.shape[0] + 1e-6
            level.append(np.linalg.solve(xtx + lam * np.eye(xtx.shape[0]), xty))
        weights.append(level)
        thresholds.append(cut)
        print(f"sd {sd:7.1f}: {len(x)} cells, strength cuts {np.round(cut, 1)}", flush=True)
    np.savez_compressed(
        args.out, sd_levels=SD_LEVELS, weights=np.array(weights, dtype=np.float32),
        thresholds=np.array(thresholds, dtype=np.float32),
        sub=SUB, window=WINDOW, b=B, seed=args.seed,
    )  # fmt: skip
    print(f"wrote {args.out} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
