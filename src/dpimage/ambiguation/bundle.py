"""A trained model with its fake-value statistics, stored as safetensors.

The model file holds the network weights; for each supported sparsity k, the
statistics :mod:`.ambiguate` and :mod:`.decoy` draw fakes from: how often
each code unit is in the true support (``freq``) and quantiles of the true
non-zero values at each unit (``quantiles``); and the Gaussian model of the
training images that :mod:`.mixture` draws its decoys from (mean image and
scaled principal directions). All are measured on the *training* images,
never on an image being encoded; none is an image or a code of one.

Format version 1 files also stored up to 256 training codes per k (the
donors of :func:`~.ambiguate.ambiguate_donor`). That was a mistake: an
attacker matches donor fakes against them (:mod:`.attacks`) and anyone can
decode them into the training faces. Version 2 files do not store them and
add the face basis; version 1 files are still read. Files are read with
:mod:`safetensors` only: no pickle is ever loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .mixture import FaceBasis
from .model import ModelConfig, SparseCodeAutoencoder

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "AmbiguationModel",
    "ValueStats",
    "fit_value_stats",
    "load_model",
    "save_model",
]

FORMAT = "dpimage.ambiguation.model"
FORMAT_VERSION = "2"
#: Versions :func:`load_model` reads (1: donor codes, no face basis).
READABLE_VERSIONS = ("1", "2")
#: Quantiles kept per unit for inverse-CDF sampling of fake values.
N_QUANTILES = 65
#: Units with fewer true activations than this use their map's pooled quantiles.
MIN_UNIT_COUNT = 24
#: Training codes used as the donor pool of the (insecure) donor fakes.
MAX_DONORS = 256


@dataclass(frozen=True)
class ValueStats:
    """Where and how large true non-zeros are, for one sparsity k.

    Attributes
    ----------
    donors : ndarray, shape (D, C, n), optional
        k-sparse codes of (up to ``MAX_DONORS``) training images, the source
        of :func:`~.ambiguate.ambiguate_donor`'s fakes. Only version 1 model
        files store them (and :func:`fit_value_stats` with ``donors=True``).
    freq : ndarray, shape (C, n)
        Fraction of training images in which each unit is in the true support.
    quantiles : ndarray, shape (C, n, Q)
        Quantiles (levels ``linspace(0, 1, Q)``) of the true values at each
        unit; units seen fewer than ``MIN_UNIT_COUNT`` times get their map's
        pooled quantiles.
    """

    freq: np.ndarray
    quantiles: np.ndarray
    donors: np.ndarray | None = None


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


@torch.no_grad()
def _dense_codes(net: SparseCodeAutoencoder, images: np.ndarray, batch: int = 64) -> np.ndarray:
    net.eval()
    out = []
    for start in range(0, len(images), batch):
        x = torch.from_numpy(images[start : start + batch]).float().unsqueeze(1)
        out.append(net.code(x).numpy())
    return np.concatenate(out)


def fit_value_stats(
    net: SparseCodeAutoencoder, images: np.ndarray, k: int, *, donors: bool = False
) -> ValueStats:
    """Measure support frequencies and value quantiles of the k-sparse codes of ``images``.

    Parameters
    ----------
    net : SparseCodeAutoencoder
        Trained network.
    images : ndarray, shape (N, S, S)
        Training images as float32 in [0, 1].
    k : int
        Sparsity per code map.
    donors : bool
        Also keep the codes of the first ``MAX_DONORS`` images (for
        :func:`~.ambiguate.ambiguate_donor`; never saved in a model file).
    """
    codes = _dense_codes(net, images)  # (N, C, n)
    _, c, n = codes.shape
    order = np.argsort(-np.abs(codes), axis=-1, kind="stable")[..., :k]
    mask = np.zeros(codes.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=-1)
    freq = mask.mean(axis=0)
    levels = np.linspace(0.0, 1.0, N_QUANTILES)
    quantiles = np.empty((c, n, N_QUANTILES), dtype=np.float32)
    for ci in range(c):
        pooled = np.quantile(codes[:, ci][mask[:, ci]], levels)
        for j in range(n):
            values = codes[mask[:, ci, j], ci, j]
            quantiles[ci, j] = (
                np.quantile(values, levels) if values.size >= MIN_UNIT_COUNT else pooled
            )
    kept = None
    if donors:
        kept = np.where(mask, codes, 0.0)[:MAX_DONORS].astype(np.float16).astype(np.float32)
    return ValueStats(freq=freq.astype(np.float32), quantiles=quantiles, donors=kept)


def _file_fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:32]


def save_model(model: AmbiguationModel, path: str | os.PathLike[str]) -> str:
    """Write weights, configuration and statistics to a safetensors file.

    Returns the file's fingerprint (first 128 bits of its SHA-256), which
    ambiguated files and keys record to refuse decoding with another model.
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


def load_model(path: str | os.PathLike[str]) -> AmbiguationModel:
    """Read a model written by :func:`save_model` (safetensors only, never pickle).

    Raises
    ------
    ValueError
        If the file is not a dpimage ambiguation model, has another format
        version, or its tensors do not match its configuration.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
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
    stats = {}
    c, n = config.maps, config.code_length
    for name in tensors:
        if name.startswith("stats.k") and name.endswith(".freq"):
            k = int(name[len("stats.k") : -len(".freq")])
            freq = tensors[name].numpy()
            quantiles = tensors.get(f"stats.k{k}.quantiles")
            if quantiles is None or freq.shape != (c, n) or quantiles.shape[:2] != (c, n):
                raise ValueError(f"{path}: malformed statistics for k={k}")
            donors = tensors.get(f"stats.k{k}.donors")
            if donors is not None:
                donors = donors.float().numpy()
                if donors.ndim != 3 or donors.shape[1:] != (c, n):
                    raise ValueError(f"{path}: malformed donor codes for k={k}")
            stats[k] = ValueStats(freq=freq, quantiles=quantiles.numpy(), donors=donors)
    basis = None
    if "basis.mean" in tensors or "basis.factors" in tensors:
        try:
            basis = FaceBasis(
                mean=tensors["basis.mean"].float().numpy(),
                factors=tensors["basis.factors"].float().numpy(),
            )
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{path}: malformed face basis ({exc})") from None
        if basis.mean.shape != (config.image_size, config.image_size):
            raise ValueError(f"{path}: the face basis does not fit the image size")
    try:
        fakes = json.loads(metadata.get("fakes", "{}"))
    except ValueError:
        fakes = None
    if not isinstance(fakes, dict):
        raise ValueError(f"{path}: malformed fake settings")
    return AmbiguationModel(
        net=net, stats=stats, fingerprint=_file_fingerprint(path), basis=basis, fakes=fakes
    )
