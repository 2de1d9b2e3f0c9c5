"""Validation runs behind the mixture fakes' design (training people only).

Not a speed benchmark. Every choice in :mod:`dpimage.ambiguation.mixture`
was made from this table, on people the evaluation in docs/results/ambiguation.md never
scores: the attacker ambiguates its own images (people 1-8), the victims are
people 9-16, the real-face decoy pool is people 17-32 and the Gaussian face
basis is fitted on people 1-8 and 17-32 (never on the victims).

Rows (each with both ways of placing the fakes):

- ``offsupport``: the image keeps its top-k; the decoy's top-(k'-k) *off* it
  become the fakes (what every earlier scheme does);
- ``draft``: :func:`~dpimage.ambiguation.mixture.draft_supports`.

Decoy sources:

- ``same-population``: another victim's real face (a different person) for
  victims, another attacker image for the attacker: decoys from exactly the
  images' distribution, the ideal a generator can only approach;
- ``real-pool``: real faces of people 17-32 (a fixed pool the attacker also
  draws from);
- ``gaussian``: :func:`~dpimage.ambiguation.mixture.sample_decoy_images`;
  ``+brightness``: with the image's mean brightness;
  ``+bc``: with the image's brightness and contrast
  (:func:`~dpimage.ambiguation.mixture.match_brightness_contrast`);
  ``+code-scale``: contrast searched so the decoy's median top-k |code|
  equals the image's; ``+unit-median``: each drafted part divided by its
  median |v| per map (the scale would travel in the key);
- ``model-decoy``: the dense code of :mod:`~dpimage.ambiguation.decoy`'s
  synthetic face.

Columns: the distinguishing classifier's AUC (trained on the attacker's own
ambiguations), the same classifier cross-validated on the victims by person
(in-population), the |v|-rank AUC, the re-encode attack's recovered
support and the key holder's PSNR.

With ``--unseen-victims`` the victims are, like the test people, people the
model never saw: a validation model is trained (same recipe as the default
model: 150 epochs, seed 0; ~1 min) on people 1-24 only, the victims are
people 25-32, the real pool people 9-24, and the basis is fitted on people
1-24 (the validation model's training set, as the real model's basis is).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ambiguation_mixture_validation.py \\
        out/ambig/faces-default.safetensors [-k 64] [--seed 1] [--unseen-victims]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from dpimage.ambiguation import TrainSettings, face_images, load_model, train_model
from dpimage.ambiguation.attacks import (
    crossvalidated_attack,
    distinguishing_attack,
    reencode_attack,
)
from dpimage.ambiguation.codec import decode_images, dense_codes, to_float16
from dpimage.ambiguation.decoy import decoy_dense_codes, reencoder
from dpimage.ambiguation.mixture import (
    draft_supports,
    fit_face_basis,
    match_brightness_contrast,
    sample_decoy_images,
)
from dpimage.ambiguation.research.evaluate import psnr


def _top_k_mask(dense: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    score = np.abs(dense) if allowed is None else np.where(allowed, np.abs(dense), -np.inf)
    mask = np.zeros(dense.shape, dtype=bool)
    np.put_along_axis(mask, np.argsort(-score, axis=-1)[..., :k], True, axis=-1)
    return mask


def _publish(hx, hy, k, placement, unit_median=False):
    if placement == "draft":
        mx, my = draft_supports(np.stack([hx, hy]), k)
    else:
        mx = _top_k_mask(hx, k)
        my = _top_k_mask(hy, k, allowed=~mx)
    scale_x = scale_y = 1.0
    if unit_median:
        scale_x = np.nanmedian(np.where(mx, np.abs(hx), np.nan), axis=-1, keepdims=True)
        scale_y = np.nanmedian(np.where(my, np.abs(hy), np.nan), axis=-1, keepdims=True)
    published = np.where(mx, hx / scale_x, np.where(my, hy / scale_y, 0.0))
    holder = np.where(mx, hx, 0.0)  # what the key holder decodes (scale restored from the key)
    return to_float16(published.astype(np.float32)), mx, to_float16(holder.astype(np.float32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("-k", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--unseen-victims", action="store_true")
    parser.add_argument(
        "--only", default="", help="Comma-separated decoy sources to run (default: all)."
    )
    parser.add_argument(
        "--gains",
        default="",
        help="Also run gaussian+bc with the decoy's contrast times each of these gains.",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_model(args.model)
    train, _ = face_images(model.config.image_size)  # the test people are not used
    if args.unseen_victims:
        seen = train[:240]
        model = train_model(seen, model.config, TrainSettings(epochs=150, seed=0))
        own, victims, pool = train[:80], train[240:320], train[80:240]
        basis = model.basis
        who = "validation model on people 1-24; attacker 1-8, victims 25-32, real pool 9-24"
    else:
        own, victims, pool = train[:80], train[80:160], train[160:320]
        basis = fit_face_basis(np.concatenate([own, pool]))
        who = "attacker people 1-8, victims 9-16, real pool 17-32"
    k, stats, rng = args.k, model.stats[args.k], np.random.default_rng(args.seed)
    print(f"k={k}, k'={2 * k}; {who}")

    def encode(images):
        return dense_codes(model, images)

    def same_population(images):
        people = np.arange(len(images)) // 10
        return images[[rng.choice(np.flatnonzero(people != p)) for p in people]]

    def gaussian(images, mode="", gain=1.0):
        y = sample_decoy_images(basis, len(images), rng)
        if mode == "brightness":
            shift = images.mean(axis=(1, 2), keepdims=True) - y.mean(axis=(1, 2), keepdims=True)
            y = np.clip(y + shift, 0, 1).astype(np.float32)
        elif mode:
            y = match_brightness_contrast(y, images)
        if gain != 1.0:
            centre = y.mean(axis=(1, 2), keepdims=True)
            y = np.clip((y - centre) * gain + centre, 0, 1).astype(np.float32)
        if mode == "code-scale":
            y = _match_code_scale(y, images)
        return y

    def _match_code_scale(y, images, steps=8):
        def med(h):
            return np.median(-np.sort(-np.abs(h), axis=-1)[..., :k], axis=(-2, -1))

        target, centre = med(encode(images)), y.mean(axis=(1, 2), keepdims=True)
        lo, hi = np.full(len(y), 0.25), np.full(len(y), 4.0)
        for _ in range(steps):
            a = np.sqrt(lo * hi)[:, None, None]
            big = med(encode(np.clip((y - centre) * a + centre, 0, 1).astype(np.float32))) > target
            hi, lo = np.where(big, a[:, 0, 0], hi), np.where(big, lo, a[:, 0, 0])
        a = np.sqrt(lo * hi)[:, None, None]
        return np.clip((y - centre) * a + centre, 0, 1).astype(np.float32)

    sources = {
        "same-population": lambda im: encode(same_population(im)),
        "real-pool": lambda im: encode(pool[rng.choice(len(pool), len(im))]),
        "gaussian": lambda im: encode(gaussian(im)),
        "gaussian+brightness": lambda im: encode(gaussian(im, "brightness")),
        "gaussian+bc": lambda im: encode(gaussian(im, "bc")),
        "gaussian+bc+code-scale": lambda im: encode(gaussian(im, "code-scale")),
        "gaussian+bc+unit-median": lambda im: encode(gaussian(im, "bc")),
        "model-decoy": lambda im: decoy_dense_codes(reencoder(model), stats, k, len(im), rng=rng),
    }
    if args.only:
        sources = {name: f for name, f in sources.items() if name in args.only.split(",")}
    for gain in (float(g) for g in args.gains.split(",") if g):
        sources[f"gaussian+bc x{gain:g}"] = lambda im, g=gain: encode(gaussian(im, "bc", g))
    people = np.arange(len(victims)) // 10
    header = (
        "source                    placement   clf_auc  in_pop_auc  |v|_rank  reencode  holder_dB"
    )
    print(header)
    for name, source in sources.items():
        for placement in ("offsupport", "draft"):
            start = time.monotonic()
            unit_median = name.endswith("unit-median")
            pa, ma, _ = _publish(encode(own), source(own), k, placement, unit_median)
            pv, mv, holder = _publish(encode(victims), source(victims), k, placement, unit_median)
            res = distinguishing_attack(model, stats, (pa, ma), (pv, mv), seed=args.seed)
            in_pop = crossvalidated_attack(model, stats, (pv, mv), people, seed=args.seed)
            guess = reencode_attack(model, pv, k)
            recovered = ((guess != 0) & mv).sum() / mv.sum()
            decoded = decode_images(model, holder)
            holder_db = np.mean([psnr(a, b) for a, b in zip(victims, decoded, strict=True)])
            print(
                f"{name:25s} {placement:10s} {res['auc']:8.3f} {in_pop:11.3f} "
                f"{res['auc_abs_value']:9.3f} {recovered:9.3f} {holder_db:10.2f}"
                f"   ({time.monotonic() - start:.0f} s)",
                flush=True,
            )
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
