"""Research code of :mod:`dpimage.ambiguation`: kept to reproduce the results, not to share images.

- :mod:`.fakes` — earlier fake generators: ``ambiguate_resample`` (per-unit
  resampling), ``ambiguate_donor`` (**insecure**: fakes copied from stored
  training codes, matchable) and ``ambiguate_published`` (the public
  scheme's control, broken by a threshold on ``|v|``);
- :mod:`.attacks` — the donor-matching attack on donor fakes;
- :mod:`.legacy` — donor pools as format 1 model files stored them (needs
  PyTorch; import it by name);
- :mod:`.evaluate` — the evaluation behind ``dpimage ambiguate evaluate``
  (needs PyTorch; import it by name).

Use :func:`dpimage.ambiguation.encode_image` with the model's recorded
method (mixture for faces, decoy for digits) to share images.
"""

from __future__ import annotations

from .attacks import donor_match_scores, donor_matching_attack
from .fakes import ambiguate_donor, ambiguate_published, ambiguate_resample

__all__ = [
    "ambiguate_donor",
    "ambiguate_published",
    "ambiguate_resample",
    "donor_match_scores",
    "donor_matching_attack",
]
