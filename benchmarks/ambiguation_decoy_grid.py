"""Validation grid behind the decoy fakes' settings (``DECOY_ITERATIONS``, ``DECOY_NOISE``).

Not a speed benchmark. For each (iterations, noise) it ambiguates k-sparse
codes with :func:`dpimage.ambiguation.decoy.ambiguate_decoy` and runs the two
model-aware attacks of :mod:`dpimage.ambiguation.attacks`: the distinguishing
classifier (trained on ambiguations of training people 1-8, scored on
training people 9-16) and the re-encode attack (on people 9-16). The test
people (33-40) are never touched, so the settings are chosen without looking
at the numbers reported in docs/results/ambiguation.md. ``--data digits`` does the same
with training digits 0-79 (attacker) and 80-279 (victims).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ambiguation_decoy_grid.py \\
        out/ambig/faces-default.safetensors [-k 64] [--seed 1] [--data digits]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from dpimage.ambiguation import digit_images, face_images, load_model
from dpimage.ambiguation.attacks import distinguishing_attack, reencode_attack
from dpimage.ambiguation.codec import sparse_codes, to_float16
from dpimage.ambiguation.decoy import ambiguate_decoy, reencoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--data", choices=("faces", "digits"), default="faces")
    parser.add_argument("-k", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--iterations", default="2,4,6,8")
    parser.add_argument("--noise", default="0,0.05,0.1,0.15,0.2,0.3")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_model(args.model)
    if args.data == "faces":
        train, _ = face_images(model.config.image_size)  # the test people are not used
        victims, who = train[80:160], "attacker: people 1-8, validation victims: people 9-16"
    else:
        train = digit_images("train", limit=280)
        victims, who = train[80:280], "attacker: training digits 0-79, victims: 80-279"
    k, stats, re = args.k, model.stats[args.k], reencoder(model)
    own = np.stack([to_float16(z) for z in sparse_codes(model, train[:80], k)])
    val = np.stack([to_float16(z) for z in sparse_codes(model, victims, k)])
    print(f"k={k}, k'={2 * k}, {who}")
    print("iterations noise  classifier_auc  reencode_support_recovered  seconds")
    for iterations in (int(x) for x in args.iterations.split(",")):
        for noise in (float(x) for x in args.noise.split(",")):
            start = time.monotonic()
            rng = np.random.default_rng(args.seed)
            pv, mv = ambiguate_decoy(
                val, 2 * k, stats, re, iterations=iterations, noise=noise, rng=rng
            )
            pa, ma = ambiguate_decoy(
                own, 2 * k, stats, re, iterations=iterations, noise=noise, rng=rng
            )
            pv, pa = to_float16(pv), to_float16(pa)
            auc = distinguishing_attack(model, stats, (pa, ma), (pv, mv), seed=args.seed)["auc"]
            guess = reencode_attack(model, pv, k)
            recovered = ((guess != 0) & mv).sum() / mv.sum()
            print(
                f"{iterations:10d} {noise:5.2f}  {auc:14.3f}  {recovered:26.3f}  "
                f"{time.monotonic() - start:7.1f}",
                flush=True,
            )
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
