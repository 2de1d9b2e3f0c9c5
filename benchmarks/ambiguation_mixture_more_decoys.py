"""Mixture fakes with k' = 2k and 3k (one and two decoys) on the 80 test faces.

Not a speed benchmark: the "More decoys" table of docs/results/ambiguation.md. Seed 0.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ambiguation_mixture_more_decoys.py \\
        docs/ambiguation/mixture_k3.json
"""

import json
import sys

import numpy as np
import torch

from dpimage.ambiguation import face_images, face_test_people, load_model
from dpimage.ambiguation.ambiguate import random_guess
from dpimage.ambiguation.attacks import (
    crossvalidated_attack,
    distinguishing_attack,
    reencode_attack,
)
from dpimage.ambiguation.codec import ambiguate_mixture_with, decode_images, to_float16
from dpimage.ambiguation.research.evaluate import _mean_metrics

torch.set_num_threads(1)
model = load_model("out/ambig/faces-default.safetensors")
train, test = face_images(64)
groups = face_test_people()
out = {}
for k in (64, 128):
    for m in (2, 3):
        rng = np.random.default_rng(0)
        kp = m * k
        if kp > 512:
            continue
        pv, mv = ambiguate_mixture_with(model, test, k, kp, rng)
        pv = to_float16(pv)
        pa, ma = ambiguate_mixture_with(model, train[:80], k, kp, rng)
        pa = to_float16(pa)
        d = distinguishing_attack(model, model.stats[k], (pa, ma), (pv, mv))
        cv = crossvalidated_attack(model, model.stats[k], (pv, mv), groups)
        g = reencode_attack(model, pv, k)
        row = {
            "holder": _mean_metrics(test, decode_images(model, np.where(mv, pv, 0)))["psnr"],
            "all": _mean_metrics(test, decode_images(model, pv))["psnr"],
            "random": _mean_metrics(
                test, decode_images(model, np.stack([random_guess(p, k, rng=rng) for p in pv]))
            )["psnr"],
            "auc": d["auc"],
            "in_pop": cv,
            "absrank": d["auc_abs_value"],
            "clf_support": d["support_recovered"],
            "reencode_support": float(((g != 0) & mv).sum() / mv.sum()),
            "reencode_psnr": _mean_metrics(test, decode_images(model, g))["psnr"],
        }
        print(k, kp, {a: round(b, 3) for a, b in row.items()}, flush=True)
        out[f"k{k}_kp{kp}"] = row
json.dump(out, open(sys.argv[1], "w"), indent=1)
