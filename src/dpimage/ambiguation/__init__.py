"""Sparse-code image ambiguation with keys (Ferdowsi et al., ICASSP 2020).

An autoencoder encodes an image into C sparse code maps (exactly k non-zeros
out of n each); the shared file carries k' > k non-zeros per map, the k' - k
fakes drawn to look like true values, and a small separate key says which are
true. The fakes to use are the ones the model file records: *mixture* fakes
(:mod:`.mixture`, faces) or *decoy* fakes (:mod:`.decoy`, digits), through
:func:`encode_image` and :func:`decode_code`; model files are format 2
(:mod:`.bundle`).

Not differential privacy: the protection is computational (the non-holder must
find k of k' per map) and empirical (the attacks in :mod:`.attacks`).

PyTorch is imported only by what needs it: the network, model files,
encoding/decoding, training and the evaluation (``pip install
'dpimage[ambiguation]'``). Keys and files (:mod:`.keys`), the fake
generators' NumPy parts and the data preparation import without it; the
names below that need it load on first use.

Research code (earlier, insecure or superseded fakes, format 1 files, the
results report's evaluation) is in :mod:`.research`; nothing here imports it.
"""

from __future__ import annotations

import importlib

from .ambiguate import random_guess
from .data import digit_images, face_images, face_test_people, prepare_image
from .decoy import ambiguate_decoy, reencoder
from .keys import (
    AmbiguatedCode,
    AmbiguationFileError,
    Key,
    KeyMismatchError,
    apply_key,
    make_key,
    read_ambiguated,
    read_key,
    write_ambiguated,
    write_key,
)
from .mixture import FaceBasis, ambiguate_mixture, fit_face_basis
from .stats import ValueStats

#: Names whose modules import PyTorch: loaded on first access.
_TORCH_NAMES = {
    "AmbiguationModel": "bundle",
    "fit_value_stats": "bundle",
    "load_model": "bundle",
    "save_model": "bundle",
    "decode_code": "codec",
    "decode_images": "codec",
    "encode_image": "codec",
    "sparse_codes": "codec",
    "ModelConfig": "model",
    "SparseCodeAutoencoder": "model",
    "top_k": "model",
    "TrainSettings": "train",
    "train_model": "train",
}


def __getattr__(name: str):
    if name in _TORCH_NAMES:
        module = importlib.import_module(f".{_TORCH_NAMES[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_TORCH_NAMES))


__all__ = [
    "AmbiguatedCode",
    "AmbiguationFileError",
    "AmbiguationModel",
    "FaceBasis",
    "Key",
    "KeyMismatchError",
    "ModelConfig",
    "SparseCodeAutoencoder",
    "TrainSettings",
    "ValueStats",
    "ambiguate_decoy",
    "ambiguate_mixture",
    "apply_key",
    "decode_code",
    "decode_images",
    "digit_images",
    "encode_image",
    "face_images",
    "face_test_people",
    "fit_face_basis",
    "fit_value_stats",
    "load_model",
    "make_key",
    "prepare_image",
    "random_guess",
    "read_ambiguated",
    "read_key",
    "reencoder",
    "save_model",
    "sparse_codes",
    "top_k",
    "train_model",
    "write_ambiguated",
    "write_key",
]
