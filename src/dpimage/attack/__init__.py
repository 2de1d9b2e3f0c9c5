"""Re-identification attacks on obfuscated images (Fan 2018/2019 after McPherson et al. 2016).

The pieces, by responsibility: :mod:`.obfuscation` (the attacked methods through
the method registry, their noise streams, averaging and its ε cost), :mod:`.data`
(labelled data, seeded splits), :mod:`.scoring` (accuracy, 1-NN), :mod:`.template`
(the template attack), :mod:`.cnn` (CNN and embedding attacks), :mod:`.identity`
(the identity bound ε·d/m), :mod:`.experiment` (a whole run) and :mod:`.report`;
:mod:`.reversal` undoes an obfuscation by optimisation (Mahloujifar et al. 2025).
Splits, obfuscation, scoring and reports need only NumPy; ``models``, ``train`` and
``reversal`` import PyTorch lazily — install the ``torch`` extra (``pip install 'dpimage[torch]'``,
pinned ``torch==2.13.0``).
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
