"""Why digits models record decoy fakes: mixture decoys from simple generators (training digits).

Not a speed benchmark. Validation on MNIST *training* digits only: the
attacker ambiguates digits 0-79, the victims are digits 80-279, and the decoy
generators are fitted on digits 280-20,279. Every row uses the symmetric
draft of :mod:`dpimage.ambiguation.mixture` (k' = 2k); only the decoy changes:

- ``same-population``: another victim digit (the ideal);
- ``gaussian plain``: the model file's kind of Gaussian basis, fitted on the
  20,000 digits (what mixture fakes do);
- ``gaussian sharpen``: the same with the image's brightness and contrast,
  sharpened by ``sigmoid(gamma (y - 1/2))`` (digits are nearly binary);
- ``gmmC``: a C-component full-covariance Gaussian mixture on 50 principal
  components (scikit-learn), the same post-processing.

Columns: the distinguishing classifier's AUC (trained on the attacker's own
ambiguations), the in-population AUC (cross-validated on the victims, one
group per digit), the |v|-rank AUC and the re-encode attack's support.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ambiguation_digits_generators.py \\
        out/ambig/digits-default.safetensors [-k 16] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

from dpimage.ambiguation import digit_images, load_model
from dpimage.ambiguation.attacks import (
    crossvalidated_attack,
    distinguishing_attack,
    reencode_attack,
)
from dpimage.ambiguation.codec import dense_codes, to_float16
from dpimage.ambiguation.mixture import (
    fit_face_basis,
    match_brightness_contrast,
    publish_drafted,
    sample_decoy_images,
)


def _sharpen(y: np.ndarray, gamma: float | None) -> np.ndarray:
    return y if gamma is None else (1.0 / (1.0 + np.exp(-gamma * (y - 0.5)))).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("-k", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    model = load_model(args.model)
    train = digit_images("train", limit=20_280)
    own, victims, rest = train[:80], train[80:280], train[280:]
    k, stats, rng = args.k, model.stats[args.k], np.random.default_rng(args.seed)
    side = train.shape[1]

    def publish(images, decoys):
        dense = np.stack([dense_codes(model, images), dense_codes(model, decoys)])
        published, true_mask = publish_drafted(dense, k)
        return to_float16(published), true_mask

    def run(name, generate):
        start = time.monotonic()
        pa, ma = publish(own, generate(own))
        pv, mv = publish(victims, generate(victims))
        res = distinguishing_attack(model, stats, (pa, ma), (pv, mv), seed=args.seed)
        in_pop = crossvalidated_attack(model, stats, (pv, mv), np.arange(len(pv)))
        guess = reencode_attack(model, pv, k)
        recovered = ((guess != 0) & mv).sum() / mv.sum()
        print(
            f"{name:30s} {res['auc']:8.3f} {in_pop:11.3f} {res['auc_abs_value']:9.3f} "
            f"{recovered:9.3f}   ({time.monotonic() - start:.0f} s)",
            flush=True,
        )

    print(f"k={k}, k'={2 * k}; attacker digits 0-79, victims 80-279, generators 280-20,279")
    print(f"{'decoy':30s}  clf_auc  in_pop_auc  |v|_rank  reencode")

    def other_victim(images):
        shift = 1 + rng.integers(0, len(images) - 1, len(images))
        return images[(np.arange(len(images)) + shift) % len(images)]

    run("same-population", other_victim)
    basis = fit_face_basis(rest)
    run("gaussian plain (the default)", lambda im: sample_decoy_images(basis, len(im), rng))
    for gamma in (None, 8.0, 16.0):
        run(
            f"gaussian sharpen={gamma}",
            lambda im, g=gamma: match_brightness_contrast(
                _sharpen(sample_decoy_images(basis, len(im), rng), g), im
            ),
        )
    flat = rest.reshape(len(rest), -1)
    pca = PCA(50, random_state=0).fit(flat)
    coefficients = pca.transform(flat)
    for components in (10, 50):
        gmm = GaussianMixture(components, covariance_type="full", random_state=0)
        gmm.fit(coefficients)

        def sample(im, gamma, gmm=gmm):
            drawn, _ = gmm.sample(len(im))  # sorted by component: shuffle
            y = np.clip(pca.inverse_transform(drawn), 0, 1).reshape(len(im), side, side)
            y = y[rng.permutation(len(y))].astype(np.float32)
            return match_brightness_contrast(_sharpen(y, gamma), im)

        for gamma in (None, 8.0, 16.0):
            run(f"gmm{components} sharpen={gamma}", lambda im, g=gamma, s=sample: s(im, g))
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
