"""Research code of :mod:`dpimage.ambiguation`: kept to reproduce the results, not to share images.

- :mod:`.fakes` — earlier fake generators: ``ambiguate_resample`` (per-unit
  resampling), ``ambiguate_donor`` (**insecure**: fakes copied from stored
  training codes, matchable) and ``ambiguate_published`` (the public
  scheme's control, broken by a threshold on ``|v|``);
- :mod:`.attacks` — the donor-matching attack on donor fakes;
- :mod:`.legacy` — format 1 model files (stored donor codes);
- :mod:`.evaluate` — the evaluation behind ``dpimage ambiguate evaluate``
  (needs PyTorch; import it by name).

Use :func:`dpimage.ambiguation.encode_image` with the model's recorded
method (mixture for faces, decoy for digits) to share images.
"""

from __future__ import annotations

from .attacks import donor_match_scores, donor_matching_attack
from .fakes import ambiguate_donor, ambiguate_published, ambiguate_resample
from .legacy import MAX_DONORS, read_donor_codes, with_donor_codes

__all__ = [
    "MAX_DONORS",
    "ambiguate_donor",
    "ambiguate_published",
    "ambiguate_resample",
    "donor_match_scores",
    "donor_matching_attack",
    "read_donor_codes",
    "with_donor_codes",
]
