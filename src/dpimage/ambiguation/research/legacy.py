"""Format 1 model files: the stored training codes (donors) the insecure donor fakes used.

Format 1 files stored up to :data:`~dpimage.ambiguation.bundle.MAX_DONORS`
k-sparse training codes per k. That was a mistake: an attacker matches donor
fakes against them (:mod:`.attacks`) and anyone can decode them into the
training faces. :func:`~dpimage.ambiguation.bundle.load_model` still reads
them (:func:`~dpimage.ambiguation.bundle.read_donor_codes`);
:func:`with_donor_codes` rebuilds the pool from training images for research
runs on format 2 files.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..bundle import MAX_DONORS, AmbiguationModel
from ..codec import sparse_codes, to_float16
from ..stats import ValueStats

__all__ = ["with_donor_codes"]


def with_donor_codes(model: AmbiguationModel, images: np.ndarray, k: int) -> ValueStats:
    """The model's statistics for ``k`` with a donor pool, as format 1 files stored it.

    Keeps stored donors; otherwise takes the float16-rounded k-sparse codes
    of the first :data:`~dpimage.ambiguation.bundle.MAX_DONORS` of ``images``
    (the training images).
    """
    stats = model.stats[k]
    if stats.donors is not None:
        return stats
    return replace(stats, donors=to_float16(sparse_codes(model, images[:MAX_DONORS], k)))
