"""The re-identification protocol of Fan (2018, 2019) after McPherson et al. (2016).

The adversary gets the *obfuscated* training images with their labels
(identity or digit), trains a classifier, and predicts the labels of the
obfuscated test images produced by the same method. Everything here is
seeded and reproducible: a seed fixes the split, the noise of every method
and the network's initialisation. Seeded noise is fine for measuring an
attack and is **not** a private release (whoever has the seed can subtract
the noise).

Stronger adversaries than the papers':

* **averaging** — the same image released ``r`` times with fresh noise and
  averaged before training/classification; ``r`` releases of one image cost
  ``r * eps`` by basic composition (:func:`averaging_cost`);
* **nearest neighbour in a learned embedding** — the penultimate layer of the
  network trained on the *clean* training images embeds the obfuscated
  images; each test image takes the label of its nearest (cosine) obfuscated
  training image (``nn-embed``) or clean training image (``nn-embed-clean``:
  the adversary holds reference photos of every candidate).

The pieces live in modules by responsibility, re-exported here:

* :mod:`~dpimage.attack.obfuscation` — the attacked methods (through the
  method registry), their noise streams, averaging and its ε cost;
* :mod:`~dpimage.attack.data` — labelled data and the seeded splits;
* :mod:`~dpimage.attack.scoring` — accuracy, collapse detection, 1-NN;
* :mod:`~dpimage.attack.template` — the template attack (no training);
* :mod:`~dpimage.attack.cnn` — the CNN and embedding attacks (torch);
* :mod:`~dpimage.attack.identity` — the identity bound ε·d/m;
* :mod:`~dpimage.attack.experiment` — a whole run: methods from options,
  resuming, the result files.
"""

from .cnn import run_attack
from .data import LabelledData, split_for_seed, stratified_split
from .identity import identity_bound, pixel_distances
from .obfuscation import (
    KINDS,
    Method,
    averaging_cost,
    method_rng,
    noise_free,
    obfuscate,
    paper_methods,
)
from .scoring import confusion_summary, nearest_neighbour_accuracy
from .template import template_attack

__all__ = [
    "KINDS",
    "LabelledData",
    "Method",
    "averaging_cost",
    "confusion_summary",
    "identity_bound",
    "method_rng",
    "nearest_neighbour_accuracy",
    "noise_free",
    "obfuscate",
    "paper_methods",
    "pixel_distances",
    "run_attack",
    "split_for_seed",
    "stratified_split",
    "template_attack",
]
