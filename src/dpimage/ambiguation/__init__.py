"""Sparse-code image ambiguation with keys (seed 004: Ferdowsi et al., ICASSP 2020).

An autoencoder encodes an image into C sparse code maps (exactly k non-zeros
out of n each); the shared file carries k' > k non-zeros per map, the k' - k
fakes drawn to look like true values, and a small separate key says which are
true. Needs the ``torch`` and ``ambiguation`` extras
(``pip install 'dpimage[torch,ambiguation]'``).

Not differential privacy: the protection is computational (the non-holder must
find k of k' per map) and empirical (the attacks in :mod:`.attacks`).
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "dpimage.ambiguation needs PyTorch and safetensors: "
        "pip install 'dpimage[torch,ambiguation]'"
    ) from exc

from .ambiguate import ambiguate, ambiguate_donor, ambiguate_published, random_guess
from .bundle import AmbiguationModel, ValueStats, fit_value_stats, load_model, save_model
from .codec import decode_code, decode_images, encode_image, sparse_codes
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
from .model import ModelConfig, SparseCodeAutoencoder, top_k
from .train import (
    TrainSettings,
    digit_images,
    face_images,
    face_test_people,
    prepare_image,
    train_model,
)

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
    "ambiguate",
    "ambiguate_decoy",
    "ambiguate_donor",
    "ambiguate_mixture",
    "ambiguate_published",
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
