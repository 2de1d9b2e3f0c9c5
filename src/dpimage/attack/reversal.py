"""The reversal attack: undo an obfuscation by optimisation (Mahloujifar et al. 2025).

The adversary knows the method and its public parameters (``k``, ``sigma``,
``b``, ``b0``) and models the method's forward operator ``G`` in PyTorch —
with the library's border rule and its 8-bit rounding — then looks for the
image whose obfuscation matches the published one::

    x* = argmin_x  mean (G(x) - y)^2  +  tv * TV(x)      subject to 0 <= x <= 255

(Adam on the pixels, from ``x = y``). Rounding has no useful gradient, so it
is taken straight through (the forward pass rounds, the backward pass is the
identity), as Mahloujifar et al. do for Pillow's and OpenCV's 8-bit blur; the
small total-variation term is the image prior. For the DP methods ``G`` is the
same operator without the noise, which the adversary does not know: it fits
the noisy release as if it were noise-free, which is all it can do short of a
stronger prior.

The operators:

=============  ===============================================================
NP-Blur        separable Gaussian (``cv2.getGaussianKernel`` taps), borders
               reflected as OpenCV's ``BORDER_REFLECT_101``, rounded
NP-Pix         exact cell means at ``b``, rounded, painted over their blocks
DP-Pix         the same as NP-Pix (the noise is unknown)
DP-Blur        cell means at ``b0``, rounded, painted, then the NP-Blur model
DP-Pix smooth  cell means at ``b``, interpolated linearly between the cell
               centres, rounded — a stand-in for the smooth renderer (whose
               denoising of the unknown noise the adversary cannot invert)
=============  ===============================================================

PyTorch is imported lazily (the ``torch`` extra). Reference: S. Mahloujifar
et al., "Privacy Blur: Quantifying Privacy and Utility for Image Data
Release", arXiv:2512.16086, 2025.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..metrics import psnr, ssim
from ._torch import import_torch
from .data import LabelledData, split_for_seed
from .obfuscation import Method, method_rng, noise_free, obfuscate
from .scoring import confusion_summary, nearest_neighbour_accuracy
from .template import nearest_template

__all__ = [
    "DEFAULT_EPS",
    "DEFAULT_STEPS",
    "DEFAULT_TV",
    "KINDS",
    "ReversalResult",
    "blur_matrix",
    "forward_model",
    "reflect101_index",
    "reversal_attack",
    "reverse",
    "train_clean_model",
    "write_reversal_files",
]

#: Adam steps and TV weight of :func:`reverse`, chosen on 8 AT&T faces of
#: another split (seed 1) under NP-Blur k=99 and k=25 and DP-Pix eps=0.5:
#: TV 0.05-0.2 are within 0.3 dB of each other; 1000 steps gain another
#: 0.3-0.5 dB on NP-Blur (nothing on DP-Pix) at 3x the time.
DEFAULT_STEPS = 300
DEFAULT_TV = 0.1
#: The methods :func:`reversal_attack` is run on by default, with eps 0.5 and 1.
KINDS = ("np-blur", "np-pix", "dp-pix", "dp-blur", "dp-pix-smooth")
DEFAULT_EPS = (0.5, 1.0)
_LR = 2.0


def reflect101_index(n: int, pad: int) -> np.ndarray:
    """Indices of ``range(-pad, n + pad)`` folded into ``[0, n)`` as OpenCV's BORDER_REFLECT_101.

    ``gfedcb|abcdefgh|gfedcba``, repeated for pads wider than the image
    (period ``2 (n - 1)``), which is what OpenCV's separable filters do.
    """
    idx = np.arange(-pad, n + pad)
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    idx = np.abs(idx) % period
    return np.where(idx >= n, period - idx, idx)


def _round_st(torch: Any, x: Any) -> Any:
    """Round to integers in the forward pass, identity in the backward pass."""
    return x + (torch.round(x) - x).detach()


def blur_matrix(n: int, k: int, sigma: float | None) -> np.ndarray:
    """The ``(n, n)`` matrix of OpenCV's 1-D Gaussian blur along an axis of length ``n``.

    Tap ``t`` of ``cv2.getGaussianKernel(k, sigma)`` reads pixel
    ``reflect101_index(n, k // 2)[i + t]`` for output ``i``; taps that fold onto
    the same pixel add up, so kernels wider than the image are exact too.
    """
    import cv2

    taps = cv2.getGaussianKernel(k, float(sigma or 0), ktype=cv2.CV_64F).ravel()
    source = reflect101_index(n, k // 2)
    out = np.zeros((n, n))
    rows = np.repeat(np.arange(n), k)
    cols = source[np.arange(n)[:, None] + np.arange(k)[None, :]].ravel()
    np.add.at(out, (rows, cols), np.tile(taps, n))
    return out


def _gaussian(torch: Any, k: int, sigma: float | None, shape: tuple[int, int]):
    """``x (N, H, W) -> B_h x B_w^T``: OpenCV's ``GaussianBlur(x, (k, k), sigma)`` in float.

    Two small matrix products (:func:`blur_matrix`) instead of a ``k``-tap
    convolution: the same sums, several times faster for ``k = 99``.
    """
    h, w = shape
    rows = torch.tensor(blur_matrix(h, k, sigma), dtype=torch.float32)
    cols = torch.tensor(blur_matrix(w, k, sigma).T.copy(), dtype=torch.float32)
    return lambda x: rows @ x @ cols


def _cell_means(torch: Any, x: Any, b: int) -> Any:
    """Means of the ``b x b`` cells of ``x (N, H, W)`` (partial cells: their own pixels)."""
    f = torch.nn.functional
    h, w = x.shape[1:]
    ny, nx = -(-h // b), -(-w // b)
    padded = f.pad(x[:, None], (0, nx * b - w, 0, ny * b - h))
    ones = f.pad(torch.ones(1, 1, h, w, dtype=x.dtype), (0, nx * b - w, 0, ny * b - h))
    return (f.avg_pool2d(padded, b) / f.avg_pool2d(ones, b))[:, 0]


def _blocks(grid: Any, h: int, w: int, b: int) -> Any:
    return grid.repeat_interleave(b, 1).repeat_interleave(b, 2)[:, :h, :w]


def forward_model(method: Method, shape: tuple[int, int]) -> Callable[[Any], Any]:
    """The adversary's differentiable model ``G`` of ``method`` on ``(H, W)`` images.

    Returns a function of a float tensor ``(N, H, W)`` on the 0..255 scale
    giving the modelled output (rounded, straight through). The noise of the
    DP methods is not modelled: it is unknown to the adversary.
    """
    torch = import_torch()
    f = torch.nn.functional
    h, w = shape
    p = method.spec.validate(method.params()) if method.spec is not None else {}
    kind = method.kind
    if kind == "none":
        return lambda x: x
    if kind == "np-blur":
        blur = _gaussian(torch, p["k"], p["sigma"], shape)
        return lambda x: _round_st(torch, blur(x))
    if kind in ("np-pix", "dp-pix"):
        b = p["b"]
        return lambda x: _blocks(_round_st(torch, _cell_means(torch, x, b)), h, w, b)
    if kind == "dp-blur":
        b0, blur = p["b0"], _gaussian(torch, p["k"], p["sigma"], shape)
        return lambda x: _round_st(
            torch, blur(_blocks(_round_st(torch, _cell_means(torch, x, b0)), h, w, b0))
        )
    if kind == "dp-pix-smooth":
        b = p["b"]

        def smooth(x: Any) -> Any:
            grid = _cell_means(torch, x, b)
            ny, nx = grid.shape[1:]
            up = f.interpolate(grid[:, None], size=(ny * b, nx * b), mode="bilinear")
            return _round_st(torch, up[:, 0, :h, :w])

        return smooth
    raise ValueError(f"no reversal model for {method.label}")


def reverse(
    released: np.ndarray,
    method: Method,
    *,
    steps: int = DEFAULT_STEPS,
    tv: float = DEFAULT_TV,
    threads: int = 1,
    batch: int = 64,
) -> np.ndarray:
    """The images whose modelled obfuscation best matches ``released`` ``(N, H, W)``: uint8.

    Minimises ``mean (G(x) - y)^2 + tv * TV(x)`` over ``0 <= x <= 255`` with
    Adam, starting from the release itself; ``TV`` is the mean isotropic
    total variation (grey levels per pixel). Deterministic for fixed inputs
    and ``threads``.
    """
    torch = import_torch()
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not tv >= 0:
        raise ValueError(f"tv must be >= 0, got {tv}")
    released = np.asarray(released)
    if released.ndim != 3:
        raise ValueError(f"released must be (N, H, W), got shape {released.shape}")
    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        model = forward_model(method, released.shape[1:])
        out = [
            _reverse_batch(torch, model, released[i : i + batch], steps, tv)
            for i in range(0, len(released), batch)
        ]
    finally:
        torch.set_num_threads(previous)
    return np.concatenate(out)


def _reverse_batch(torch: Any, model: Callable, y_np: np.ndarray, steps: int, tv: float):
    y = torch.tensor(np.asarray(y_np, dtype=np.float32))
    x = y.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=_LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.mean((model(x) - y) ** 2)
        if tv > 0:
            dx = x[:, :-1, 1:] - x[:, :-1, :-1]
            dy = x[:, 1:, :-1] - x[:, :-1, :-1]
            loss = loss + tv * torch.mean(torch.sqrt(dx * dx + dy * dy + 1e-2))
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            x.clamp_(0.0, 255.0)
    return np.rint(x.detach().numpy()).clip(0, 255).astype(np.uint8)


@dataclass
class ReversalResult:
    """Rows (one per method and image set), and the pictures for the grids.

    ``pictures[set][method label] = (released, reconstructed)`` for the first
    few images of the set; ``originals[set]`` the same images unobfuscated.
    """

    rows: list[dict[str, Any]]
    originals: dict[str, np.ndarray]
    pictures: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]
    seconds: float


def _quality(originals: np.ndarray, images: np.ndarray) -> tuple[float, float]:
    """Mean PSNR and SSIM of ``images`` against ``originals``, image by image."""
    pairs = list(zip(originals, images, strict=True))
    return (
        float(np.mean([psnr(a, b) for a, b in pairs])),
        float(np.mean([ssim(a, b) for a, b in pairs])),
    )


def _reid(y_true: np.ndarray, pred: np.ndarray, name: str) -> dict[str, Any]:
    summary = confusion_summary(y_true, pred)
    return {
        f"{name}_accuracy": summary["accuracy"],
        f"{name}_top_share": summary["top_class_share"],
    }


def reversal_attack(
    data: LabelledData | None,
    methods: list[Method],
    *,
    seed: int = 0,
    n_images: int = 40,
    extra: Mapping[str, np.ndarray] | None = None,
    steps: int = DEFAULT_STEPS,
    tv: float = DEFAULT_TV,
    threads: int = 1,
    clean_model: Any = None,
    shown: int = 4,
    log: Callable[[str], None] = lambda _: None,
) -> ReversalResult:
    """Reverse each method's releases; score the reconstructions against the originals.

    ``data`` (labelled faces): the seed's split (:func:`split_for_seed`); the
    first ``n_images`` test images, one per class in turn, are released under
    each method (noise from :func:`method_rng`, as the other attacks) and
    reversed. Re-identification against the seed's pool of clean reference
    photos, for the release and for its reconstruction: the template attack
    (:func:`nearest_template`: L1-nearest noise-free template of each
    reference for the release, L1-nearest clean photo for the reconstruction)
    and, with ``clean_model`` (the CNN trained on the clean pool,
    :func:`~dpimage.attack.train.train_classifier`), the CNN's label and the
    nearest clean photo in its embedding. ``extra``: unlabelled images
    (e.g. a street frame), scored by PSNR and SSIM only.
    """
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    originals: dict[str, np.ndarray] = {}
    pictures: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    sets: list[tuple[str, np.ndarray, np.ndarray | None]] = []
    if data is not None:
        x_pool, y_pool, x_test, y_test, _, _ = split_for_seed(data, seed)
        order = np.argsort(
            [np.count_nonzero(y_test[:i] == y) for i, y in enumerate(y_test)], kind="stable"
        )[:n_images]  # one image per class, then a second one, ...
        sets.append((data.name, x_test[np.sort(order)], y_test[np.sort(order)]))
    for name, image in (extra or {}).items():
        sets.append((name, np.asarray(image)[None], None))
    for name, images, labels in sets:
        originals[name] = images[:shown]
        pictures[name] = {}
        for method in methods:
            t0 = time.perf_counter()
            released = obfuscate(images, method, method_rng(seed, method))
            recon = reverse(released, method, steps=steps, tv=tv, threads=threads)
            psnr_rel, ssim_rel = _quality(images, released)
            psnr_rec, ssim_rec = _quality(images, recon)
            row: dict[str, Any] = {
                "dataset": name,
                "seed": seed,
                "method": method.label,
                "kind": method.kind,
                "eps": method.eps if method.private else "",
                "n_images": len(images),
                "steps": steps,
                "tv": tv,
                "psnr_release": psnr_rel,
                "psnr_reconstruction": psnr_rec,
                "ssim_release": ssim_rel,
                "ssim_reconstruction": ssim_rec,
            }
            if labels is not None:
                flat_pool = x_pool.reshape(len(x_pool), -1).astype(np.float32)
                templates = np.stack([noise_free(im, method) for im in x_pool])
                templates = templates.reshape(len(x_pool), -1).astype(np.float32)
                row |= _reid(labels, y_pool[nearest_template(templates, released)], "template")
                row |= _reid(labels, y_pool[nearest_template(flat_pool, recon)], "template_recon")
                if clean_model is not None:
                    from .train import embed, predict

                    gallery = embed(clean_model, x_pool)
                    for tag, x in (("", released), ("_recon", recon)):
                        row |= _reid(labels, predict(clean_model, x).argmax(1), f"cnn{tag}")
                        near = nearest_neighbour_accuracy(gallery, y_pool, embed(clean_model, x))
                        row |= _reid(labels, near, f"nn_clean{tag}")
            row["seconds"] = round(time.perf_counter() - t0, 1)
            rows.append(row)
            pictures[name][method.label] = (released[:shown], recon[:shown])
            log(
                f"{name} {method.label}: PSNR {psnr_rel:.2f} -> {psnr_rec:.2f} dB, "
                f"SSIM {ssim_rel:.3f} -> {ssim_rec:.3f} ({row['seconds']:.0f} s)"
            )
    return ReversalResult(rows, originals, pictures, time.perf_counter() - start)


def train_clean_model(data: LabelledData, seed: int, model: str, config: Any = None) -> Any:
    """The CNN trained on the seed's clean training faces (as the embedding attacks use)."""
    from .cnn import _train
    from .data import _Split

    split = _Split.make(data, seed, 0.125)
    return _train(data, split, split.x_pool, model, config, seed)


RUNS_CSV = "reversal_runs.csv"

_REID = (
    ("template", "nearest template (L1, clean photos)"),
    ("cnn", "clean-trained CNN"),
    ("nn_clean", "NN in clean embedding, clean gallery"),
)


def _crop(image: np.ndarray, limit: int = 256) -> np.ndarray:
    """The central half of an image larger than ``limit`` pixels (full resolution, smaller PNG)."""
    h, w = image.shape[:2]
    if max(h, w) <= limit:
        return image
    return image[h // 4 : h // 4 + h // 2, w // 4 : w // 4 + w // 2]


def _grid(originals: np.ndarray, pictures: dict[str, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Columns: original, then each method; rows per image: release, then reconstruction."""
    import cv2

    gap, band = 4, 40
    cells = [_crop(im) for im in originals]
    h, w = cells[0].shape[:2]
    titles = ["original", *pictures]
    canvas = np.full(
        (band + len(cells) * (2 * h + gap) + gap, len(titles) * (w + gap) + gap), 255, np.uint8
    )
    for c, title in enumerate(titles):
        x0 = gap + c * (w + gap)
        # OpenCV's Hershey fonts are ASCII only
        label = title.replace("ε", "eps").replace(" render=smooth", " smooth")
        for line, text in enumerate(_wrap(label, w)):
            cv2.putText(canvas, text, (x0, 11 + 12 * line), cv2.FONT_HERSHEY_PLAIN, 0.8, 0, 1)
        for i in range(len(cells)):
            y0 = band + i * (2 * h + gap)
            if c == 0:
                canvas[y0 : y0 + h, x0 : x0 + w] = cells[i]
                continue
            released, recon = pictures[title]
            canvas[y0 : y0 + h, x0 : x0 + w] = _crop(released[i])
            canvas[y0 + h : y0 + 2 * h, x0 : x0 + w] = _crop(recon[i])
    return canvas


def _wrap(text: str, width: int) -> list[str]:
    """Split a label into up to three lines that fit ``width`` pixels of OpenCV's small font."""
    per_line = max(6, width // 8)
    words, lines = text.split(), [""]
    for word in words:
        if lines[-1] and len(lines[-1]) + 1 + len(word) > per_line and len(lines) < 3:
            lines.append(word)
        else:
            lines[-1] = f"{lines[-1]} {word}".strip()
    return lines


def merge_results(results: list[ReversalResult]) -> ReversalResult:
    """One result from the runs of several seeds: all rows; the first seed's pictures."""
    if not results:
        raise ValueError("no results to merge")
    return ReversalResult(
        rows=[row for result in results for row in result.rows],
        originals=results[0].originals,
        pictures=results[0].pictures,
        seconds=sum(result.seconds for result in results),
    )


def _seed_means(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per method: the numeric columns averaged over the seeds, in first-seen order."""
    by_method: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_method.setdefault(row["method"], []).append(row)
    means = []
    for group in by_method.values():
        mean = dict(group[0])
        for key, value in group[0].items():
            if isinstance(value, float) and key != "eps":
                mean[key] = float(np.mean([row[key] for row in group]))
        means.append(mean)
    return means


def _markdown(result: ReversalResult, command: str) -> str:
    text = "# Reversal attack\n\n"
    if command:
        text += f"```bash\n{command}\n```\n\n"
    seeds = sorted({row["seed"] for row in result.rows})
    if len(seeds) > 1:
        text += (
            f"Means over seeds {', '.join(map(str, seeds))} (each seed: its own split, noise "
            "and clean network; every seed's row is in the CSV). Pictures: seed "
            f"{result.rows[0]['seed']}.\n\n"
        )
    for name in dict.fromkeys(row["dataset"] for row in result.rows):
        rows = _seed_means([row for row in result.rows if row["dataset"] == name])
        reid = [(key, title) for key, title in _REID if f"{key}_accuracy" in rows[0]]
        head = ["method", "PSNR release → reconstruction (dB)", "SSIM release → reconstruction"]
        head += [f"{title}: release → reconstruction (%)" for _, title in reid]
        count = f"{rows[0]['n_images']} images"
        count += f" × {len(seeds)} seeds" if len(seeds) > 1 else ""
        lines = [f"## {name} ({count})\n", "| " + " | ".join(head) + " |"]
        lines.append("|" + "---|" * len(head))
        for row in rows:
            cells = [
                row["method"],
                f"{row['psnr_release']:.2f} → {row['psnr_reconstruction']:.2f}",
                f"{row['ssim_release']:.3f} → {row['ssim_reconstruction']:.3f}",
            ]
            cells += [
                f"{100 * row[f'{key}_accuracy']:.1f} → {100 * row[f'{key}_recon_accuracy']:.1f}"
                for key, _ in reid
            ]
            lines.append("| " + " | ".join(cells) + " |")
        text += "\n".join(lines) + "\n\n"
    return text


def write_reversal_files(
    result: ReversalResult, out: Any, *, command: str = ""
) -> tuple[str, list[str]]:
    """Write ``reversal_runs.csv``, ``reversal.md`` and one grid PNG per image set (atomic).

    Returns the Markdown and the names of the files written.
    """
    import csv
    import io
    from pathlib import Path

    import cv2

    from ..io import atomic_writer

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fields = list(dict.fromkeys(key for row in result.rows for key in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(result.rows)
    text = _markdown(result, command)
    files = {RUNS_CSV: buf.getvalue().encode()}
    for i, name in enumerate(result.pictures):
        png_name = f"reversal_{i}.png"
        ok, png = cv2.imencode(".png", _grid(result.originals[name], result.pictures[name]))
        if not ok:
            raise OSError(f"could not encode {png_name}")
        files[png_name] = png.tobytes()
        text += f"![{name}: releases (upper) and reconstructions (lower)]({png_name})\n\n"
    files["reversal.md"] = text.encode("utf-8")
    for file_name, payload in files.items():
        with atomic_writer(out / file_name, overwrite=True) as fh:
            fh.write(payload)
    return text, list(files)
