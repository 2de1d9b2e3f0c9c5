"""Region mode: how a released face or text box looks next to the picture around it.

Compares the two ways region mode draws a box (``context`` of
:func:`dpimage.regions.method_regions`): ``none``, the crop's release drawn on
its own (region mode until now), and ``border``, the release drawn with the
published pixels around the boxes as a prior
(:func:`dpimage.render.region.render_region`). Same release (same seed) for both.

Inputs: the hand-labelled boxes of ``benchmarks/data/faces.json`` (faces,
enlarged by the CLI's ``--mask-scale`` 1.6 as ``--faces`` does) and
``benchmarks/data/text_regions.json`` (text, as ``--text`` uses them: not
enlarged) on the photos that install offline: astronaut (scikit-image),
Grace Hopper (matplotlib), messi5, licenseplate_motion, text_defocus and
box_in_scene (Debian opencv-doc, ``make data``). The CLI's defaults for
``pixelate`` (DP-Pix b=16, m=16, eps=0.5, smooth, luma-chroma) and ``blur``
(DP-Blur b0=4, k=99, m=16, eps=0.5, blocks, RGB); seeds 0-2.

Measures, over the pixels inside the boxes:

* MSE to the original (RGB, all channels);
* chroma: the mean chroma magnitude ``sqrt(Co^2 + Cg^2)`` in the normalised
  YCoCg of :mod:`dpimage.privacy.colour` (Co = (R - B)/2, Cg = (2G - R - B)/4),
  as a ratio to the original's (1.0: as colourful as the photo).

Run:  python benchmarks/bench_regions.py [--seeds 3] [--pictures docs/results/regions]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from dpimage.privacy.colour import rgb_to_ycocg
from dpimage.regions import DEFAULT_MASK_SCALE, enlarge_box, method_regions
from dpimage.render.region import published_mask

ROOT = Path(__file__).resolve().parents[1]
OPENCV = ROOT / "data" / "cache" / "usr" / "share" / "doc" / "opencv-doc" / "examples" / "data"
METHODS = {
    "pixelate": ("dp_pix", {"b": 16, "m": 16, "eps": 0.5, "render": "smooth",
                            "colour": "luma-chroma"}),
    "blur": ("dp_blur", {"b0": 4, "k": 99, "m": 16, "eps": 0.5, "render": "blocks",
                         "colour": "rgb"}),
}  # fmt: skip


def _path(name: str) -> Path | None:
    if name == "astronaut":
        return ROOT / "data" / "samples" / "astronaut.jpg"
    if name == "grace_hopper":
        import matplotlib

        return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    path = OPENCV / f"{name}.{'png' if name == 'box_in_scene' else 'jpg'}"
    return path if path.exists() else None


def cases() -> list[tuple[str, np.ndarray, list[tuple[int, int, int, int]]]]:
    """``(label, RGB image, boxes)`` for every labelled photo found."""
    found = []
    for kind, file, scale in (("faces", "faces.json", DEFAULT_MASK_SCALE),
                              ("text", "text_regions.json", 1.0)):  # fmt: skip
        for entry in json.loads((ROOT / "benchmarks" / "data" / file).read_text())["images"]:
            path = _path(entry["name"])
            rects = entry.get("faces", entry.get("boxes", []))
            rects = list(rects.values()) if isinstance(rects, dict) else rects
            if path is None or not path.exists() or not rects:
                continue
            image = np.asarray(Image.open(path).convert("RGB"))
            h, w = image.shape[:2]
            boxes = [enlarge_box((x, y, x + bw, y + bh), scale, w, h) for x, y, bw, bh in rects]
            found.append((f"{entry['name']} {kind}", image, [b for b in boxes if b is not None]))
    return found


def chroma(pixels: np.ndarray) -> float:
    """Mean ``sqrt(Co^2 + Cg^2)`` of RGB pixels ``(n, 3)``."""
    ycocg = rgb_to_ycocg(pixels)
    return float(np.hypot(ycocg[:, 1], ycocg[:, 2]).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--pictures", type=Path, help="write before/after PNGs here (seed 0)")
    args = parser.parse_args()
    totals: dict[tuple[str, str], list[list[float]]] = {}
    print(f"{'case':28s} {'mode':9s} {'chroma orig':>11s} "
          f"{'none: MSE  chroma':>19s} {'border: MSE  chroma':>21s}")  # fmt: skip
    for label, image, boxes in cases():
        inside = ~published_mask(image.shape, boxes)
        original = image[inside]
        base = chroma(original)
        for mode, (method, params) in METHODS.items():
            row, shown = {}, {}
            for context in ("none", "border"):
                mse, ratio = [], []
                for seed in range(args.seeds):
                    out = method_regions(image, boxes, method, params, seed, context=context)
                    diff = out[inside].astype(np.float64) - original
                    mse.append(float((diff**2).mean()))
                    ratio.append(chroma(out[inside]) / base if base else np.nan)
                    if seed == 0:
                        shown[context] = out
                row[context] = (np.mean(mse), np.mean(ratio))
                totals.setdefault((mode, context), []).append([np.mean(mse), np.mean(ratio)])
            if args.pictures is not None:
                _picture(args.pictures / f"{label.replace(' ', '_')}_{mode}.png", image,
                         [shown["none"], shown["border"]], boxes)
            print(f"{label:28s} {mode:9s} {base:11.1f} "
                  f"{row['none'][0]:10.0f} {row['none'][1]:7.2f} "
                  f"{row['border'][0]:12.0f} {row['border'][1]:7.2f}")  # fmt: skip
    print("\nmean over cases (MSE, chroma ratio):")
    for (mode, context), values in totals.items():
        mse, ratio = np.nanmean(values, axis=0)
        colour = [r for _, r in values if not np.isnan(r)]
        within = np.mean([abs(r - 1) <= 0.2 for r in colour])
        print(f"  {mode:9s} {context:7s} MSE {mse:7.0f}  chroma ratio {ratio:.2f}  "
              f"cases within 20 %: {within:.0%}")


def _picture(path: Path, image, outputs, boxes) -> None:
    """Original | before (``none``) | after (``border``), cropped around the boxes, one PNG."""
    x0 = max(min(b[0] for b in boxes) - 40, 0)
    y0 = max(min(b[1] for b in boxes) - 40, 0)
    x1 = min(max(b[2] for b in boxes) + 40, image.shape[1])
    y1 = min(max(b[3] for b in boxes) + 40, image.shape[0])
    gap = np.full((y1 - y0, 4, 3), 255, np.uint8)
    row = [image[y0:y1, x0:x1]]
    for out in outputs:
        row += [gap, out[y0:y1, x0:x1]]
    picture = Image.fromarray(np.concatenate(row, axis=1))
    picture.thumbnail((600, 240))
    path.parent.mkdir(parents=True, exist_ok=True)
    # a 256-colour palette keeps the docs small; the smooth patches show no banding at this size
    picture.quantize(256, dither=Image.Dither.NONE).save(path, optimize=True)


if __name__ == "__main__":
    main()
