"""Utility of renderers at equal privacy: DP-Pix blocks, DP-Blur and smoothing candidates.

Every renderer of one (image, seed, eps) reads the *same* release: the noisy,
unclipped cell means of one DP-Pix draw at ``b`` (exact discrete Laplace on
the integer sums, as ``dpimage.dp_pix`` draws them) and the public noise
scale. DP-Blur is its own release (DP-Pix at ``b0 = 4``) under the same seed.
Hyperparameters are multiples of the noise scale, tuned with ``--tune`` on
public photos that are never evaluated (rocket, motorcycle, Grace Hopper).

Usage::

    python benchmarks/utility_renderers.py --seeds 0 1 2            # evaluation tables
    python benchmarks/utility_renderers.py --tune --seeds 0 1       # TV factor sweep
    python benchmarks/utility_renderers.py --colour --seeds 0 1 2   # RGB vs luma/chroma
    python benchmarks/utility_renderers.py --experiments            # eps split over 2 sizes; b

Writes CSV and markdown under ``docs/results/utility/``.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from dpimage import dp_blur
from dpimage.cells import cell_counts, cell_sums, render_blocks
from dpimage.metrics import mse, ssim
from dpimage.privacy.colour import ycocg_to_rgb
from dpimage.privacy.sampling import discrete_laplace, make_bit_source
from dpimage.privacy.sensitivity import laplace_scale
from dpimage.release import release_colour
from dpimage.render.learned import learned_upsample
from dpimage.render.smooth import smooth_grid, tv_denoise_grid, tv_factor, upsample_grid

OUT = Path(__file__).resolve().parents[1] / "docs" / "results" / "utility"
EPSILONS = (0.1, 0.5, 1.0, 2.0)
TUNE_IMAGES = ("rocket", "motorcycle", "grace_hopper")


# --- the release (what the mechanism publishes) ---


def release(image: np.ndarray, b: int, m: int, eps: float, seed: int):
    """Noisy unclipped cell means ``(ny, nx, C)`` and their Laplace scale ``(ny, nx)``."""
    bits = make_bit_source(seed)
    channels = 1 if image.ndim == 2 else image.shape[2]
    sums = cell_sums(image, b)
    t = laplace_scale(m, channels, eps)
    noisy = sums + discrete_laplace(t, sums.shape, bits)
    counts = cell_counts(image.shape[0], image.shape[1], b)
    return noisy / counts[:, :, None], float(t) / counts


# --- renderer candidates: (means, scale, H, W, b) -> uint8 (H, W, C) ---


def _to_u8(full: np.ndarray, shape) -> np.ndarray:
    return np.rint(np.clip(full, 0, 255)).astype(np.uint8).reshape(shape)


def r_blocks(f, s, h, w, b):
    return render_blocks(_to_u8(f, f.shape), h, w, b)


def r_linear(f, s, h, w, b):
    """No denoising: clipped means interpolated linearly."""
    return _to_u8(upsample_grid(np.clip(f, 0, 255), h, w, b), (h, w, f.shape[2]))


def r_tv_naive(f, s, h, w, b):
    """The naive floor: skimage Chambolle TV on clipped means, weight half the std, bilinear."""
    from skimage.restoration import denoise_tv_chambolle

    sd = math.sqrt(2) * float(s.min())
    g = np.clip(f, 0, 255) / 255.0
    den = denoise_tv_chambolle(g, weight=0.5 * sd / 255.0, channel_axis=-1) * 255.0
    return _to_u8(upsample_grid(den, h, w, b), (h, w, f.shape[2]))


def make_smooth(**options):
    def r(f, s, h, w, b):
        return smooth_grid(f, s, h, w, b, **options)

    return r


def r_smooth_ssim(f, s, h, w, b):
    """``smooth`` with twice the MSE-tuned TV strength: the SSIM optimum on the tuning photos."""
    sd = math.sqrt(2) * float(s.min())
    return smooth_grid(f, s, h, w, b, factor=2 * tv_factor(sd), method="tv")


def r_tv_unweighted(f, s, h, w, b):
    """Box-constrained TV without inverse-variance weights (all cells trusted equally)."""
    flat = np.full_like(s, s.min())
    return _to_u8(upsample_grid(tv_denoise_grid(f, flat), h, w, b), (h, w, f.shape[2]))


def r_wiener(f, s, h, w, b):
    """Local adaptive Wiener filter (scipy), noise power 2 s^2 per cell."""
    from scipy.signal import wiener

    out = np.empty_like(f)
    noise = 2 * float(s.min()) ** 2
    for c in range(f.shape[2]):
        out[:, :, c] = wiener(f[:, :, c], mysize=5, noise=noise)
    return _to_u8(upsample_grid(np.clip(out, 0, 255), h, w, b), (h, w, f.shape[2]))


def r_bilateral(f, s, h, w, b):
    sd = math.sqrt(2) * float(s.min())
    g = np.clip(f, 0, 255).astype(np.float32)
    out = cv2.bilateralFilter(g, d=5, sigmaColor=2.0 * sd, sigmaSpace=1.5)
    out = out.reshape(f.shape)
    return _to_u8(upsample_grid(out, h, w, b), (h, w, f.shape[2]))


def r_nlm(f, s, h, w, b):
    from skimage.restoration import denoise_nl_means

    sd = math.sqrt(2) * float(s.min()) / 255.0
    g = np.clip(f, 0, 255) / 255.0
    out = denoise_nl_means(
        g, patch_size=3, patch_distance=4, h=0.8 * sd, sigma=sd, channel_axis=-1, fast_mode=True
    )
    out = np.asarray(out).reshape(f.shape) * 255.0
    return _to_u8(upsample_grid(out, h, w, b), (h, w, f.shape[2]))


def r_bm3d(f, s, h, w, b):
    import bm3d

    sd = math.sqrt(2) * float(s.min())
    out = np.empty_like(f)
    for c in range(f.shape[2]):
        out[:, :, c] = bm3d.bm3d(f[:, :, c], sigma_psd=sd)
    return _to_u8(upsample_grid(np.clip(out, 0, 255), h, w, b), (h, w, f.shape[2]))


def renderers(with_slow: bool = True) -> dict:
    table = {
        "blocks": r_blocks,
        "linear (no denoise)": r_linear,
        "tv naive": r_tv_naive,
        "tv unweighted box": r_tv_unweighted,
        "smooth": make_smooth(),
        "smooth tv (previous)": make_smooth(method="tv"),
        "smooth ssim (2x lambda)": r_smooth_ssim,
        "smooth cubic": make_smooth(order="cubic", method="tv"),
        "smooth lanczos": make_smooth(order="lanczos", method="tv"),
        "wiener": r_wiener,
        "bilateral": r_bilateral,
    }
    if with_slow:
        table["nl-means"] = r_nlm
        try:
            import bm3d  # noqa: F401

            table["bm3d"] = r_bm3d
        except Exception:  # not installed, or its binary does not load
            print("bm3d unavailable: skipped", file=sys.stderr)
    return table


# --- data ---


def _grace_hopper() -> np.ndarray:
    import matplotlib
    from PIL import Image

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def load_sets(names: list[str], faces: int, digits: int, frames: int) -> dict:
    """name -> (list of images, gray?). Missing optional data is skipped with a note."""
    from dpimage import datasets

    photos = datasets.photos()
    photos["grace_hopper"] = _grace_hopper()
    sets = {}
    for name in names:
        try:
            if name == "camera":  # a gray photo: keep it one channel
                sets[name] = [datasets.photos(gray=True)["camera"]]
            elif name in photos:
                sets[name] = [photos[name]]
            elif name.endswith("-gray") and name[:-5] in photos:
                sets[name] = [cv2.cvtColor(photos[name[:-5]], cv2.COLOR_RGB2GRAY)]
            elif name == "att-faces":
                x, _ = datasets.orl_faces()
                sets[name] = list(x[:: max(1, len(x) // faces)][:faces])
            elif name == "mnist":
                x, _ = datasets.mnist("test")
                sets[name] = [r.reshape(28, 28) for r in x[:digits]]
            elif name == "pets":
                sets[name] = list(datasets.street_frames(step=795 // frames, limit=frames))
            else:
                raise ValueError(f"unknown image set {name!r}")
        except datasets.MissingDataError as err:
            print(f"skipped {name}: {err}", file=sys.stderr)
    return sets


# --- measurement ---


def measure(sets, table, epsilons, seeds, b, m, blur=True, stem=None):
    rows = []
    for set_name, images in sets.items():
        for eps in epsilons:
            acc: dict[str, list] = {}
            for seed in seeds:
                for i, img in enumerate(images):
                    f, s = release(img, b, m, eps, seed * 1000 + i)
                    h, w = img.shape[:2]
                    outs = {}
                    for name, r in table.items():
                        try:
                            outs[name] = r(f, s, h, w, b)
                        except ValueError:  # e.g. BM3D on a grid smaller than its block
                            pass
                    if blur:
                        outs["dp-blur"] = dp_blur(img, m=m, eps=eps, rng=seed * 1000 + i)
                    base = mse(img, outs["blocks"].reshape(img.shape))
                    for name, out in outs.items():
                        out = out.reshape(img.shape)
                        e = mse(img, out)
                        acc.setdefault(name, []).append(
                            (e, e / base, ssim(img, out) if min(h, w) >= 7 else float("nan"))
                        )
            for name, vals in acc.items():
                v = np.array(vals)
                rows.append({
                    "set": set_name, "eps": eps, "renderer": name, "b": b, "m": m,
                    "n": len(vals), "seeds": " ".join(map(str, seeds)),
                    "mse": float(v[:, 0].mean()), "mse_ratio": float(v[:, 1].mean()),
                    "mse_ratio_sd": float(v[:, 1].std()),
                    "psnr": float(np.mean(10 * np.log10(255.0**2 / v[:, 0]))),
                    "ssim": float(np.nanmean(v[:, 2])),
                })  # fmt: skip
            print(f"done {set_name} eps={eps}", file=sys.stderr, flush=True)
        if stem:
            write(rows, stem, quiet=True)  # keep what is done if a later set fails
    return rows


def write(rows, stem: str, quiet: bool = False) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    keys = list(rows[0])
    with open(OUT / f"{stem}.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in r.items()})
    lines = ["| set | eps | renderer | MSE | MSE / blocks | PSNR | SSIM | n |", "|---" * 8 + "|"]
    for r in rows:
        lines.append(
            f"| {r['set']} | {r['eps']} | {r['renderer']} | {r['mse']:.0f} | "
            f"{r['mse_ratio']:.3f} ± {r['mse_ratio_sd']:.3f} | {r['psnr']:.2f} | "
            f"{r['ssim']:.3f} | {r['n']} |"
        )
    (OUT / f"{stem}.md").write_text("\n".join(lines) + "\n")
    if not quiet:
        print("\n".join(lines))


def tune(args) -> None:
    """Sweep the TV factor on the public tuning photos (gray and colour)."""
    names = list(TUNE_IMAGES) + [f"{n}-gray" for n in TUNE_IMAGES]
    sets = load_sets(names, 0, 0, 0)
    factors = [float(x) for x in args.factors]
    table = {f"smooth factor={c}": make_smooth(factor=c) for c in factors}
    table = {"blocks": r_blocks, **table}
    rows = measure(sets, table, args.eps, args.seeds, args.b, args.m, blur=False)
    write(rows, "tune_factor")


def render_luma_chroma(rel, method: str = "learned") -> np.ndarray:
    """Smooth Y at ``b`` and Co/Cg at ``b_chroma`` (shifted into [0, 255] for the box), to RGB."""
    h, w, _ = rel.shape
    luma, chroma = rel.luma.means, rel.chroma.means + 127.5
    y = tv_denoise_grid(luma, rel.luma.scale)
    c = tv_denoise_grid(chroma, rel.chroma.scale)
    if method == "learned":
        y = learned_upsample(y, luma, rel.luma.scale, h, w, rel.b)
        c = learned_upsample(c, chroma, rel.chroma.scale, h, w, rel.b_chroma)
        c = c - 127.5
    else:
        y = upsample_grid(y, h, w, rel.b)
        c = upsample_grid(c - 127.5, h, w, rel.b_chroma)
    rgb = ycocg_to_rgb(np.concatenate([y, c], axis=2))
    return np.rint(np.clip(rgb, 0, 255)).astype(np.uint8)


def colour(args) -> None:
    """RGB (one eps over three channels) against luma/chroma releases, same total eps."""
    names = [*TUNE_IMAGES, "astronaut", "coffee", "chelsea"]
    sets = load_sets(names, 0, 0, 0)
    # eps_Y = share eps, eps_Co = eps_Cg = (2 - share) eps / 3: worst case eps (privacy.colour)
    configs = [(share, f) for share in (0.7, 0.8, 0.9, 1.0) for f in (1, 2, 4, 8)]
    if not args.colour_grid:
        configs = [(0.9, 8)]
    configs.append((1.0, None))  # the default: chroma_factor_for
    rows = []
    for name, (img,) in sets.items():
        h, w = img.shape[:2]
        for eps in args.eps:
            acc: dict[str, list] = {}
            for seed in args.seeds:
                f, s = release(img, args.b, args.m, eps, seed)
                outs = {
                    "rgb blocks": r_blocks(f, s, h, w, args.b),
                    "rgb smooth": smooth_grid(f, s, h, w, args.b),
                    "rgb smooth tv (previous)": smooth_grid(f, s, h, w, args.b, method="tv"),
                    "rgb dp-blur": dp_blur(img, m=args.m, eps=eps, rng=seed),
                }
                for share, fac in configs:
                    rel = release_colour(
                        img, args.b, args.m, eps, seed, luma_share=share, chroma_factor=fac
                    )
                    label = "auto" if fac is None else fac
                    outs[f"ycocg Y={share} chroma b×{label}"] = render_luma_chroma(rel)
                    if fac is None:
                        outs["ycocg default, tv (previous)"] = render_luma_chroma(rel, "tv")
                base = mse(img, outs["rgb blocks"])
                for k, out in outs.items():
                    e = mse(img, out)
                    acc.setdefault(k, []).append((e, e / base, ssim(img, out)))
            for k, vals in acc.items():
                v = np.array(vals)
                rows.append({
                    "set": name, "eps": eps, "renderer": k, "b": args.b, "m": args.m,
                    "n": len(vals), "seeds": " ".join(map(str, args.seeds)),
                    "mse": float(v[:, 0].mean()), "mse_ratio": float(v[:, 1].mean()),
                    "mse_ratio_sd": float(v[:, 1].std()),
                    "psnr": float(np.mean(10 * np.log10(255.0**2 / v[:, 0]))),
                    "ssim": float(v[:, 2].mean()),
                })  # fmt: skip
            print(f"done {name} eps={eps}", file=sys.stderr, flush=True)
    write(rows, args.stem if args.stem != "renderers" else "colour")


def multiscale_render(img, b, m, eps, share, seed):
    """eps split: ``share`` at ``b`` and the rest at ``2 b`` (total eps, basic composition).

    The coarse release replaces the 2x2 averages of the fine grid by their
    inverse-variance blend with it; the fine noise scale is lowered by the
    variance that the blend removes from the coarse quarter (approximate).
    """
    h, w = img.shape[:2]
    f, s = release(img, b, m, eps * share, seed)
    fc, sc = release(img, 2 * b, m, eps * (1 - share), seed + 500)
    ny, nx = (f.shape[0] // 2) * 2, (f.shape[1] // 2) * 2  # full 2x2 blocks only
    avg = f[:ny, :nx].reshape(ny // 2, 2, nx // 2, 2, -1).mean(axis=(1, 3))
    v_avg, v_c = 2 * float(s.min()) ** 2 / 4, 2 * float(sc.min()) ** 2
    keep = v_c / (v_avg + v_c)
    blend = keep * avg + (1 - keep) * fc[: ny // 2, : nx // 2]
    g = f.copy()
    g[:ny, :nx] += np.repeat(np.repeat(blend - avg, 2, axis=0), 2, axis=1)
    s_eff = s.copy()
    s_eff[:ny, :nx] *= math.sqrt(1 - (1 - keep) * 0.25)
    return smooth_grid(g, s_eff, h, w, b)


def experiments(args) -> None:
    """On the public tuning photos (gray): eps split over two cell sizes, and the cell side b."""
    sets = load_sets([f"{n}-gray" for n in TUNE_IMAGES], 0, 0, 0)
    rows = []
    for eps in args.eps:
        acc: dict[str, list] = {}
        for (img,) in sets.values():
            h, w = img.shape
            for seed in args.seeds:
                f, s = release(img, args.b, args.m, eps, seed)
                base = mse(img, r_blocks(f, s, h, w, args.b)[:, :, 0])
                outs = {f"smooth b={args.b} (one release)": smooth_grid(f, s, h, w, args.b)}
                for share in (0.85, 0.7, 0.5):
                    label = f"split eps {share}/{1 - share:.2f} over b={args.b},{2 * args.b}"
                    outs[label] = multiscale_render(img, args.b, args.m, eps, share, seed)
                for b in (8, 12, 24, 32):
                    fb, sb = release(img, b, args.m, eps, seed)
                    outs[f"smooth b={b}"] = smooth_grid(fb, sb, h, w, b)
                for k, out in outs.items():
                    e = mse(img, out[:, :, 0])
                    acc.setdefault(k, []).append((e, e / base, ssim(img, out[:, :, 0])))
        for k, vals in acc.items():
            v = np.array(vals)
            rows.append({
                "set": "tuning photos (gray)", "eps": eps, "renderer": k, "b": args.b,
                "m": args.m, "n": len(vals), "seeds": " ".join(map(str, args.seeds)),
                "mse": float(v[:, 0].mean()), "mse_ratio": float(v[:, 1].mean()),
                "mse_ratio_sd": float(v[:, 1].std()),
                "psnr": float(np.mean(10 * np.log10(255.0**2 / v[:, 0]))),
                "ssim": float(v[:, 2].mean()),
            })  # fmt: skip
    write(rows, "multiscale_and_b")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--eps", type=float, nargs="+", default=list(EPSILONS))
    p.add_argument("-b", type=int, default=16)
    p.add_argument("-m", type=int, default=16)
    p.add_argument(
        "--sets", nargs="+",
        default=["camera", "pets", "att-faces", "mnist", "astronaut", "coffee", "chelsea"],
    )  # fmt: skip
    p.add_argument("--faces", type=int, default=40)
    p.add_argument("--digits", type=int, default=50)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--fast", action="store_true", help="skip the slow candidates (NLM, BM3D)")
    p.add_argument("--renderers", nargs="+", help="only these renderers (blocks always runs)")
    p.add_argument("--tune", action="store_true")
    p.add_argument("--factors", nargs="+", default=["0.3", "0.4", "0.5", "0.6", "0.7", "0.9"])
    p.add_argument("--colour", action="store_true", help="RGB against luma/chroma releases")
    p.add_argument(
        "--colour-grid", action="store_true", help="with --colour: every luma share x chroma b"
    )
    p.add_argument(
        "--experiments", action="store_true", help="eps split over two cell sizes; choice of b"
    )
    p.add_argument("--stem", default="renderers")
    args = p.parse_args(argv)
    start = time.perf_counter()
    if args.tune:
        tune(args)
    elif args.colour:
        colour(args)
    elif args.experiments:
        experiments(args)
    else:
        sets = load_sets(args.sets, args.faces, args.digits, args.frames)
        table = renderers(not args.fast)
        if args.renderers:
            table = {k: v for k, v in table.items() if k == "blocks" or k in args.renderers}
        rows = measure(sets, table, args.eps, args.seeds, args.b, args.m, stem=args.stem)
        write(rows, args.stem)
    print(f"wall {time.perf_counter() - start:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
