"""Format 1 model files: the stored training codes (donors) the insecure donor fakes used.

Format 1 files stored up to :data:`MAX_DONORS` k-sparse training codes per k
(tensors ``stats.k{k}.donors``). That was a mistake: an attacker matches
donor fakes against them (:mod:`.attacks`) and anyone can decode them into
the training faces. Format 2 files (:mod:`dpimage.ambiguation.bundle`) store
no code and add the face basis. :func:`~dpimage.ambiguation.bundle.load_model`
still reads format 1 files, calling :func:`read_donor_codes` for this part;
:func:`with_donor_codes` rebuilds the pool from training images for research
runs on format 2 files.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from ..stats import ValueStats

if TYPE_CHECKING:
    from ..bundle import AmbiguationModel

__all__ = ["FORMAT_1", "MAX_DONORS", "read_donor_codes", "with_donor_codes"]

#: The model file version that stored donor codes.
FORMAT_1 = "1"
#: Training codes format 1 files kept per k as the donor pool.
MAX_DONORS = 256


def read_donor_codes(
    tensors: dict, k: int, shape: tuple[int, int], path: object
) -> np.ndarray | None:
    """The donor codes ``(D, C, n)`` float32 a format 1 file stores for ``k``, if any.

    Raises
    ------
    ValueError
        If the stored tensor does not fit the model's code shape ``(C, n)``.
    """
    donors = tensors.get(f"stats.k{k}.donors")
    if donors is None:
        return None
    donors = donors.float().numpy()
    if donors.ndim != 3 or donors.shape[1:] != tuple(shape):
        raise ValueError(f"{path}: malformed donor codes for k={k}")
    return donors


def with_donor_codes(model: AmbiguationModel, images: np.ndarray, k: int) -> ValueStats:
    """The model's statistics for ``k`` with a donor pool, as format 1 files stored it.

    Keeps stored donors; otherwise takes the float16-rounded k-sparse codes
    of the first :data:`MAX_DONORS` of ``images`` (the training images).
    """
    from ..codec import sparse_codes, to_float16

    stats = model.stats[k]
    if stats.donors is not None:
        return stats
    return replace(stats, donors=to_float16(sparse_codes(model, images[:MAX_DONORS], k)))
