"""Re-identification attacks on obfuscated images (Fan 2018/2019 after McPherson et al. 2016).

``protocol`` (splits, obfuscation, averaging, the attack loop) and ``report``
need only NumPy; ``models`` and ``train`` import PyTorch lazily — install the
``torch`` extra (``pip install 'dpimage[torch]'``, pinned ``torch==2.13.0``).
"""

from .protocol import (
    KINDS,
    LabelledData,
    Method,
    averaging_cost,
    confusion_summary,
    identity_bound,
    method_rng,
    noise_free,
    obfuscate,
    paper_methods,
    pixel_distances,
    run_attack,
    split_for_seed,
    stratified_split,
    template_attack,
)

__all__ = [
    "KINDS",
    "LabelledData",
    "Method",
    "averaging_cost",
    "confusion_summary",
    "identity_bound",
    "method_rng",
    "noise_free",
    "obfuscate",
    "paper_methods",
    "pixel_distances",
    "run_attack",
    "split_for_seed",
    "stratified_split",
    "template_attack",
]
