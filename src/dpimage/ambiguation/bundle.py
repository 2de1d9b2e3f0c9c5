"""A trained model with its fake-value statistics, stored as safetensors.

The model file holds the network weights; for each supported sparsity k, the
statistics :mod:`.decoy` draws fakes from (:class:`~.stats.ValueStats`: how
often each code unit is in the true support and quantiles of the true
non-zero values at each unit); and the Gaussian model of the training images
that :mod:`.mixture` draws its decoys from (mean image and scaled principal
directions). All are measured on the *training* images, never on an image
being encoded; none is an image or a code of one.

This writes format version 2. Version 1 files, which also stored training
codes (the donors of the insecure research fakes), are still read
(:func:`read_donor_codes`; what research does with them is
:mod:`.research.legacy`). Files are read with :mod:`safetensors` only: no pickle
is ever loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._torch import torch
from .mixture import FaceBasis
from .model import ModelConfig, SparseCodeAutoencoder, net_dense_codes
from .stats import ValueStats, value_stats_from_codes

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MAX_DONORS",
    "AmbiguationModel",
    "ValueStats",
    "fit_value_stats",
    "load_model",
    "read_donor_codes",
    "save_model",
]

FORMAT = "dpimage.ambiguation.model"
FORMAT_VERSION = "2"
#: Versions :func:`load_model` reads (1: donor codes, no face basis; see read_donor_codes).
READABLE_VERSIONS = ("1", "2")

#: Training codes format 1 files kept per k as the donor pool.
MAX_DONORS = 256


def read_donor_codes(
    tensors: dict, k: int, shape: tuple[int, int], path: object
) -> np.ndarray | None:
    """The donor codes ``(D, C, n)`` float32 a format 1 file stores for ``k``, if any.

    Format 1 files stored up to :data:`MAX_DONORS` k-sparse training codes per
    k (tensors ``stats.k{k}.donors``). That was a mistake: an attacker matches
    donor fakes against them and anyone can decode them into the training
    faces; format 2 stores no code.

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


@dataclass
class AmbiguationModel:
    """Network, configuration, fake-value statistics, face basis and a file fingerprint.

    ``fakes`` records the fake generator validated for this model's data
    (``{"method": ..., "decoy_rounds": ..., "decoy_noise": ...}``, keys
    optional); :func:`~.codec.encode_image` uses it when no method is given.
    Empty (as in version 1 files): mixture fakes if the file has a face
    basis, decoy fakes otherwise.
    """

    net: SparseCodeAutoencoder
    stats: dict[int, ValueStats] = field(default_factory=dict)
    fingerprint: str = ""
    basis: FaceBasis | None = None
    fakes: dict = field(default_factory=dict)

    @property
    def config(self) -> ModelConfig:
        return self.net.config


def fit_value_stats(net: SparseCodeAutoencoder, images: np.ndarray, k: int) -> ValueStats:
    """Measure support frequencies and value quantiles of the k-sparse codes of ``images``.

    Parameters
    ----------
    net : SparseCodeAutoencoder
        Trained network.
    images : ndarray, shape (N, S, S)
        Training images as float32 in [0, 1].
    k : int
        Sparsity per code map.
    """
    net.eval()
    return value_stats_from_codes(net_dense_codes(net, images, batch=64), k)


def _file_fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:32]


def save_model(model: AmbiguationModel, path: str | os.PathLike[str]) -> str:
    """Write weights, configuration and statistics to a safetensors file (format 2).

    Returns the file's fingerprint (first 128 bits of its SHA-256), which
    ambiguated files and keys record to refuse decoding with another model.
    Donor codes (research, format 1) are never written.
    """
    from safetensors.torch import save as save_bytes

    from ..io import atomic_writer

    tensors = {f"net.{name}": t.detach().contiguous() for name, t in model.net.state_dict().items()}
    for k, st in model.stats.items():
        tensors[f"stats.k{k}.freq"] = torch.from_numpy(np.ascontiguousarray(st.freq))
        tensors[f"stats.k{k}.quantiles"] = torch.from_numpy(np.ascontiguousarray(st.quantiles))
    if model.basis is not None:
        tensors["basis.mean"] = torch.from_numpy(np.ascontiguousarray(model.basis.mean))
        tensors["basis.factors"] = torch.from_numpy(np.ascontiguousarray(model.basis.factors))
    metadata = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "config": model.config.to_json(),
        "fakes": json.dumps(model.fakes, sort_keys=True),
    }
    path = Path(path)
    data = save_bytes(tensors, metadata=metadata)
    with atomic_writer(path, overwrite=True) as fh:
        fh.write(data)
    model.fingerprint = _file_fingerprint(path)
    return model.fingerprint


def _read_file(path: Path) -> tuple[dict, dict]:
    """Metadata and tensors of a dpimage model file of a readable version."""
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise ValueError(f"{path}: no such model file")
    try:
        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
            tensors = {name: fh.get_tensor(name) for name in fh.keys()}
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise ValueError(f"{path}: not a safetensors model file ({exc})") from None
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path}: not a dpimage ambiguation model")
    if metadata.get("version") not in READABLE_VERSIONS:
        raise ValueError(
            f"{path}: model format version {metadata.get('version')!r} is not supported "
            f"(this dpimage reads versions {', '.join(READABLE_VERSIONS)})"
        )
    return metadata, tensors


def _read_net(path: Path, metadata: dict, tensors: dict) -> SparseCodeAutoencoder:
    try:
        config = ModelConfig.from_json(metadata["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: bad model configuration ({exc})") from None
    net = SparseCodeAutoencoder(config)
    state = {name[4:]: t for name, t in tensors.items() if name.startswith("net.")}
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ValueError(f"{path}: weights do not match the configuration ({first})") from None
    net.eval()
    return net


def _read_stats(path: Path, version: str, tensors: dict, config: ModelConfig) -> dict:
    stats = {}
    c, n = config.maps, config.code_length
    for name in tensors:
        if name.startswith("stats.k") and name.endswith(".freq"):
            k = int(name[len("stats.k") : -len(".freq")])
            freq = tensors[name].numpy()
            quantiles = tensors.get(f"stats.k{k}.quantiles")
            if quantiles is None or freq.shape != (c, n) or quantiles.shape[:2] != (c, n):
                raise ValueError(f"{path}: malformed statistics for k={k}")
            donors = None
            if version == "1":  # format 1 stored donor codes (research only)
                donors = read_donor_codes(tensors, k, (c, n), path)
            stats[k] = ValueStats(freq=freq, quantiles=quantiles.numpy(), donors=donors)
    return stats


def _read_basis(path: Path, tensors: dict, config: ModelConfig) -> FaceBasis | None:
    if "basis.mean" not in tensors and "basis.factors" not in tensors:
        return None
    try:
        basis = FaceBasis(
            mean=tensors["basis.mean"].float().numpy(),
            factors=tensors["basis.factors"].float().numpy(),
        )
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: malformed face basis ({exc})") from None
    if basis.mean.shape != (config.image_size, config.image_size):
        raise ValueError(f"{path}: the face basis does not fit the image size")
    return basis


def load_model(path: str | os.PathLike[str]) -> AmbiguationModel:
    """Read a model written by :func:`save_model` (safetensors only, never pickle).

    Reads format versions 2 and 1 (whose donor codes go to ``ValueStats.donors``).

    Raises
    ------
    ValueError
        If the file is not a dpimage ambiguation model, has another format
        version, or its tensors do not match its configuration.
    """
    path = Path(path)
    metadata, tensors = _read_file(path)
    net = _read_net(path, metadata, tensors)
    stats = _read_stats(path, metadata["version"], tensors, net.config)
    basis = _read_basis(path, tensors, net.config)
    try:
        fakes = json.loads(metadata.get("fakes", "{}"))
    except ValueError:
        fakes = None
    if not isinstance(fakes, dict):
        raise ValueError(f"{path}: malformed fake settings")
    return AmbiguationModel(
        net=net, stats=stats, fingerprint=_file_fingerprint(path), basis=basis, fakes=fakes
    )
