"""Experiment: a small CNN on the cell grid as the learned prior of ``smooth`` (torch, CPU).

The network reads, per cell, the TV grid ``g``, the clipped released means
minus ``g`` and the log of the public noise std, and predicts each cell's
4 x 4 sub-block means as a residual to ``g`` (as the shipped ridge does);
the sub-blocks are then interpolated linearly to pixels. Trained on
simulated DP-Pix releases (b = 16, Laplace noise at a random std in
[4, 512]) of public photos that no evaluation uses: the ridge's training
photos (``train_learned_smooth.TRAIN`` and Grace Hopper), scikit-learn's
china/flower and the photos of Debian's opencv-doc listed in ``OCV``.

Run (project venv with the ``attack`` extra; ``OCV_DIR`` the extracted
opencv-doc examples/data folder)::

    python benchmarks/cnn_prior_experiment.py --width 32 --depth 6 --minutes 12 --ocv OCV_DIR
    python benchmarks/cnn_prior_experiment.py --width 16 --depth 4 --ridge --minutes 8 --ocv OCV_DIR
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dpimage.render.smooth import tv_denoise_grid
from train_learned_smooth import training_images

B, SUB, P = 16, 4, 16  # cell side, sub-blocks per cell side, patch side in cells
OCV = (
    "aero1.jpg aero3.jpg aloeL.jpg apple.jpg baboon.jpg basketball1.png board.jpg building.jpg "
    "butterfly.jpg fruits.jpg home.jpg HappyFish.jpg orange.jpg rubberwhale1.png smarties.png "
    "squirrel_cls.jpg stuff.jpg left.jpg right01.jpg graf1.png blox.jpg pic1.png pic3.png "
    "pic5.png starry_night.jpg ela_original.jpg"
).split()


def photos(ocv_dir: Path | None) -> list[np.ndarray]:
    out = training_images()
    import sklearn
    from PIL import Image

    skl = Path(sklearn.__file__).parent / "datasets" / "images"
    paths = [skl / "china.jpg", skl / "flower.jpg"]
    if ocv_dir:
        paths += [ocv_dir / n for n in OCV if (ocv_dir / n).exists()]
    for p in paths:
        with Image.open(p) as im:
            out.append(np.asarray(im.convert("L")))
    return out


def clean_grids(imgs) -> list[tuple[np.ndarray, np.ndarray]]:
    """(cell means (ny, nx), sub-block means (ny*SUB, nx*SUB)) of every augmented view."""
    views = []
    for img in imgs:
        for f in (1.0, 0.7, 0.5):
            im = (
                img if f == 1.0 else cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
            )
            for off in (0, B // 2):
                v = im[off:, off:].astype(np.float64)
                ny, nx = v.shape[0] // B, v.shape[1] // B
                if ny < P or nx < P:
                    continue
                v = v[: ny * B, : nx * B]
                cells = v.reshape(ny, B, nx, B).mean(axis=(1, 3))
                q = B // SUB
                sub = v.reshape(ny * SUB, q, nx * SUB, q).mean(axis=(1, 3))
                views.append((cells.astype(np.float32), sub.astype(np.float32)))
    return views


def batch(views, n, rng, sd_range=(4.0, 512.0)):
    xs, ys = [], []
    for _ in range(n):
        cells, sub = views[rng.integers(len(views))]
        y0 = rng.integers(cells.shape[0] - P + 1)
        x0 = rng.integers(cells.shape[1] - P + 1)
        c = cells[y0 : y0 + P, x0 : x0 + P]
        s = sub[y0 * SUB : (y0 + P) * SUB, x0 * SUB : (x0 + P) * SUB]
        k = rng.integers(8)
        if k & 1:
            c, s = c[:, ::-1], s[:, ::-1]
        if k & 2:
            c, s = c[::-1], s[::-1]
        if k & 4:
            c, s = c.T, s.T
        sd = math.exp(rng.uniform(math.log(sd_range[0]), math.log(sd_range[1])))
        noisy = c + rng.laplace(0.0, sd / math.sqrt(2), size=c.shape)
        g = tv_denoise_grid(noisy[:, :, None], np.full(c.shape, sd / math.sqrt(2)))[:, :, 0]
        xs.append(inputs(g, noisy, sd))
        res = s.reshape(P, SUB, P, SUB).transpose(1, 3, 0, 2).reshape(SUB * SUB, P, P)
        base = g[None] + (ridge(g, noisy, sd) if RIDGE else 0.0)
        ys.append((res - base) / 255.0)
    return np.stack(xs).astype(np.float32), np.stack(ys).astype(np.float32)


RIDGE = False


def ridge(g, noisy, sd) -> np.ndarray:
    """The shipped ridge's sub-block residuals to g, (SUB*SUB, ny, nx)."""
    from dpimage.render.learned import _weights_at, predict

    t, w = _weights_at(sd)
    pred = predict(g, np.clip(noisy, 0, 255), sd, t, w) - g.reshape(-1, 1)
    return pred.T.reshape(SUB * SUB, *g.shape)


def inputs(g, noisy, sd) -> np.ndarray:
    """Network input: g, clipped departure of the means from g, log noise std (+ ridge)."""
    d = np.clip(np.clip(noisy, 0, 255) - g, -2 * sd, 2 * sd)
    x = [g / 255.0 - 0.5, d / 255.0, np.full(g.shape, math.log(sd) / 6.0 - 0.5)]
    if RIDGE:
        x += list(ridge(g, noisy, sd) / 255.0)
    return np.stack(x)


def build(width, depth):
    import torch.nn as nn

    layers = [nn.Conv2d(3 + 16 * RIDGE, width, 3, padding=1, padding_mode="replicate"), nn.ReLU()]
    for _ in range(depth - 2):
        layers += [nn.Conv2d(width, width, 3, padding=1, padding_mode="replicate"), nn.ReLU()]
    layers += [nn.Conv2d(width, SUB * SUB, 3, padding=1, padding_mode="replicate")]
    return nn.Sequential(*layers)


def render(net, f, s, h, w, b):
    """Pixels from a release with the network (torch forward)."""
    import torch

    sd = math.sqrt(2) * float(s.min())
    g = tv_denoise_grid(f, s)[:, :, 0]
    x = torch.from_numpy(inputs(g, f[:, :, 0], sd)[None].astype(np.float32))
    with torch.no_grad():
        r = net(x)[0].numpy() * 255.0
    if RIDGE:
        r = r + ridge(g, f[:, :, 0], sd)
    ny, nx = g.shape
    sub = (r + g[None]).reshape(SUB, SUB, ny, nx).transpose(2, 0, 3, 1).reshape(ny * SUB, nx * SUB)
    sub = np.clip(sub, 0, 255).astype(np.float32)
    px = cv2.resize(sub, (nx * b, ny * b), interpolation=cv2.INTER_LINEAR)
    return np.rint(px[:h, :w]).astype(np.uint8)[:, :, None]


def numpy_forward(layers: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    """The network's forward pass in NumPy (what a shipped renderer would run: no torch).

    ``layers``: (weights (out, in, 3, 3), bias (out,)) per convolution, ReLU between;
    ``x``: (in, ny, nx). Replicate padding, as trained.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    for i, (w, bias) in enumerate(layers):
        padded = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="edge")
        windows = sliding_window_view(padded, (3, 3), axis=(1, 2))  # (in, ny, nx, 3, 3)
        _, ny, nx = x.shape
        cols = windows.transpose(0, 3, 4, 1, 2).reshape(-1, ny * nx)  # im2col: one GEMM
        x = (w.reshape(len(w), -1) @ cols + bias[:, None]).reshape(len(w), ny, nx)
        if i < len(layers) - 1:
            x = np.maximum(x, 0.0)
    return x


def time_numpy_forward(width: int, depth: int, grid=(68, 120), repeat: int = 10) -> float:
    """Best-of-``repeat`` milliseconds of :func:`numpy_forward` on a 1080p grid (b = 16)."""
    rng = np.random.default_rng(0)
    chans = [3 + 16 * RIDGE] + [width] * (depth - 1) + [SUB * SUB]
    layers = [
        (rng.standard_normal((o, i, 3, 3)).astype(np.float32), np.zeros(o, np.float32))
        for i, o in itertools.pairwise(chans)
    ]
    x = rng.standard_normal((chans[0], *grid)).astype(np.float32)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        numpy_forward(layers, x)
        best = min(best, time.perf_counter() - t0)
    return 1000 * best


def evaluate(net, eps_list=(0.1, 0.5, 1.0, 2.0), seeds=(0, 1, 2)):
    from dpimage.metrics import mse, ssim
    from utility_renderers import load_sets, make_smooth, r_blocks, release

    sets = load_sets(["camera", "pets", "att-faces"], faces=20, digits=0, frames=5)
    smooth = make_smooth()
    for name, images in sets.items():
        for eps in eps_list:
            acc = []
            for seed in seeds:
                for i, img in enumerate(images):
                    f, s = release(img, 16, 16, eps, seed * 1000 + i)
                    h, w = img.shape[:2]
                    base = mse(img, r_blocks(f, s, h, w, 16).reshape(img.shape))
                    a = smooth(f, s, h, w, 16).reshape(img.shape)
                    c = render(net, f, s, h, w, 16).reshape(img.shape)
                    acc.append((mse(img, a) / base, mse(img, c) / base, ssim(img, a), ssim(img, c)))
            v = np.mean(acc, axis=0)
            print(
                f"{name:10s} eps={eps}: ridge {v[0]:.3f}/{v[2]:.3f}  cnn {v[1]:.3f}/{v[3]:.3f}",
                flush=True,
            )


def main() -> None:
    import torch

    p = argparse.ArgumentParser()
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--depth", type=int, default=6)
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--steps", type=int, default=None, help="train this many steps (reproducible)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--ocv", type=Path, default=None)
    p.add_argument("--save", type=Path, default=None)
    p.add_argument("--ridge", action="store_true", help="refine the shipped ridge's prediction")
    p.add_argument("--time-only", action="store_true", help="only time the NumPy forward at 1080p")
    args = p.parse_args()
    global RIDGE
    RIDGE = args.ridge
    if args.time_only:
        ms = time_numpy_forward(args.width, args.depth)
        print(f"NumPy forward, width {args.width} depth {args.depth}, 68x120 cells: {ms:.1f} ms")
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    imgs = photos(args.ocv)
    views = clean_grids(imgs)
    print(f"{len(imgs)} photos, {len(views)} views", flush=True)
    net = build(args.width, args.depth)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    start, step, run = time.perf_counter(), 0, []
    total = args.minutes * 60

    def progress() -> float:  # share of the budget used: steps if given, else wall time
        return step / args.steps if args.steps else (time.perf_counter() - start) / total

    while (done := progress()) < 1:
        el = time.perf_counter() - start
        for gr in opt.param_groups:  # cosine decay over the budget
            gr["lr"] = 1e-3 * 0.5 * (1 + math.cos(math.pi * done))
        x, y = batch(views, args.batch, rng)
        loss = torch.mean((net(torch.from_numpy(x)) - torch.from_numpy(y)) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        run.append(loss.item())
        step += 1
        if step % 200 == 0:
            print(f"step {step} {el:.0f}s loss {np.mean(run[-200:]) * 255**2:.1f}", flush=True)
    net.eval()
    if args.save:
        torch.save(net.state_dict(), args.save)
    evaluate(net)


if __name__ == "__main__":
    main()
