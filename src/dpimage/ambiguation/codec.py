"""Image <-> ambiguated code: encode with a model, decode with or without a key."""

from __future__ import annotations

import numpy as np

from ..metrics import to_uint8
from ._torch import torch
from .bundle import AmbiguationModel
from .data import prepare_image
from .decoy import DECOY_ITERATIONS, DECOY_NOISE, Reencoder, ambiguate_decoy, reencoder
from .keys import AmbiguatedCode, Key, apply_key, make_key, new_payload_id
from .mixture import ambiguate_mixture
from .model import net_dense_codes
from .stats import ValueStats

__all__ = [
    "METHODS",
    "ambiguate_with",
    "decode_code",
    "decode_images",
    "dense_codes",
    "encode_image",
    "fake_defaults",
    "sparse_codes",
    "to_float16",
]

_F16_TINY = np.float32(2.0**-14)


def to_float16(code: np.ndarray) -> np.ndarray:
    """Round to float16 precision (what files store) keeping every non-zero non-zero."""
    code = np.asarray(code, dtype=np.float32)
    out = code.astype(np.float16).astype(np.float32)
    lost = (code != 0) & (np.abs(out) < _F16_TINY)
    out[lost] = np.sign(code[lost]) * _F16_TINY
    return out


@torch.no_grad()
def sparse_codes(model: AmbiguationModel, images: np.ndarray, k: int) -> np.ndarray:
    """k-sparse codes ``(N, C, n)`` of prepared images ``(N, S, S)`` in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1)
    return model.net.encode(x, k).numpy()


def dense_codes(model: AmbiguationModel, images: np.ndarray) -> np.ndarray:
    """Dense codes ``(N, C, n)`` (before top-k) of prepared images ``(N, S, S)`` in [0, 1]."""
    return net_dense_codes(model.net, images)


@torch.no_grad()
def decode_images(model: AmbiguationModel, codes: np.ndarray) -> np.ndarray:
    """Images ``(N, S, S)`` float32 in [0, 1] from codes ``(N, C, n)``."""
    z = torch.from_numpy(np.ascontiguousarray(codes, dtype=np.float32))
    return model.net.decode(z).squeeze(1).numpy()


def encode_image(
    model: AmbiguationModel,
    image: np.ndarray,
    *,
    k: int,
    k_prime: int,
    method: str | None = None,
    rng: int | np.random.Generator | None = None,
    decoy_rounds: int | None = None,
    decoy_noise: float | None = None,
) -> tuple[AmbiguatedCode, Key]:
    """Encode one uint8 image into a shareable ambiguated code and its key.

    Parameters
    ----------
    model : AmbiguationModel
        Trained model with statistics for ``k``.
    image : ndarray
        uint8 ``(H, W)`` or ``(H, W, 3)``; converted to gray, centre-cropped to a
        square and resized to the model's side (see :func:`~.data.prepare_image`).
    k, k_prime : int
        True and published non-zeros per code map.
    method : {"mixture", "decoy"}, optional
        Default: the method the model file records (:func:`fake_defaults`).
        Fakes from a symmetric draft with ``k'/k - 1`` random mixture faces
        (:func:`~.mixture.ambiguate_mixture`, faces; ``k'`` a multiple of
        ``k``; the key holder decodes the image's drafted code, not its
        plain top-k) or from the code of a synthetic decoy image
        (:func:`~.decoy.ambiguate_decoy`, digits).
    rng : None, int or numpy.random.Generator, optional
        Source of the fakes; ``None`` (default) is the OS CSPRNG. A seed
        makes the fakes reproducible, and whoever knows it can recover the key.
    decoy_rounds, decoy_noise : int, float, optional
        Settings of the decoy fakes (:func:`~.decoy.decoy_dense_codes`);
        default: the model's (:func:`fake_defaults`).

    Returns
    -------
    (AmbiguatedCode, Key)
        The ambiguated code (nothing else from the image) and the key that
        opens it. The payload id is fresh random bytes.
    """
    if k not in model.stats:
        raise ValueError(f"this model supports k in {sorted(model.stats)}, got k={k}")
    default_method, default_rounds, default_noise = fake_defaults(model)
    method = default_method if method is None else method
    decoy_rounds = default_rounds if decoy_rounds is None else decoy_rounds
    decoy_noise = default_noise if decoy_noise is None else decoy_noise
    x = prepare_image(image, model.config.image_size)[None]
    if method == "mixture":
        published, true_mask = ambiguate_mixture_with(model, x[0], k, k_prime, rng)
    else:
        code = to_float16(sparse_codes(model, x, k)[0])
        published, true_mask = ambiguate_with(
            code,
            k_prime,
            model.stats[k],
            method,
            rng,
            reencode=reencoder(model),
            decoy_rounds=decoy_rounds,
            decoy_noise=decoy_noise,
        )
    published = to_float16(published)
    payload_id = new_payload_id()
    amb = AmbiguatedCode(
        published=published,
        k_prime=k_prime,
        image_size=model.config.image_size,
        payload_id=payload_id,
        model_fingerprint=model.fingerprint,
    )
    return amb, make_key(published, true_mask, payload_id, model.fingerprint)


#: Fake generators validated for use (faces: mixture, digits: decoy); the earlier
#: ones are research (:mod:`.research.fakes`), not for sharing.
METHODS = ("mixture", "decoy")


def fake_defaults(model: AmbiguationModel) -> tuple[str, int, float]:
    """``(method, decoy_rounds, decoy_noise)`` the model file records, else the library's.

    ``dpimage ambiguate train`` records the generator validated for the data
    set (faces: mixture; digits: decoy with 16 rounds and no noise, because
    a Gaussian is a poor model of digits: docs/results/ambiguation.md). A file without
    the record uses mixture fakes if it has a face basis, decoy otherwise.
    """
    fakes = model.fakes or {}
    method = fakes.get("method") or ("mixture" if model.basis is not None else "decoy")
    if method not in METHODS:
        raise ValueError(f"the model file records an unknown fake method {method!r}")
    rounds = int(fakes.get("decoy_rounds", DECOY_ITERATIONS))
    noise = float(fakes.get("decoy_noise", DECOY_NOISE))
    return method, rounds, noise


def ambiguate_mixture_with(
    model: AmbiguationModel,
    images: np.ndarray,
    k: int,
    k_prime: int,
    rng: int | np.random.Generator | None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~.mixture.ambiguate_mixture` with the model's face basis and encoder."""
    if model.basis is None:
        raise ValueError(
            "this model file has no face basis for mixture fakes (format version 1): "
            "retrain it, or use method 'decoy'"
        )
    return ambiguate_mixture(
        images, k, k_prime, model.basis, lambda batch: dense_codes(model, batch), rng=rng
    )


def ambiguate_with(
    code: np.ndarray,
    k_prime: int,
    stats: ValueStats,
    method: str,
    rng: int | np.random.Generator | None,
    *,
    reencode: Reencoder | None = None,
    decoy_rounds: int = DECOY_ITERATIONS,
    decoy_noise: float = DECOY_NOISE,
) -> tuple[np.ndarray, np.ndarray]:
    """Dispatch to the code-based fake generator named by ``method``.

    ``code`` is ``(C, n)``, or ``(N, C, n)`` for ``"decoy"`` (which needs the
    model's ``reencode``, :func:`~.decoy.reencoder`). ``"mixture"`` needs the
    image, not its code: see :func:`ambiguate_mixture_with`.
    """
    if method == "decoy":
        if reencode is None:
            raise ValueError("decoy fakes need the model (reencode=reencoder(model))")
        return ambiguate_decoy(
            code, k_prime, stats, reencode, iterations=decoy_rounds, noise=decoy_noise, rng=rng
        )
    if method == "mixture":
        raise ValueError("mixture fakes are made from the image: use ambiguate_mixture_with")
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def decode_code(
    model: AmbiguationModel, code: AmbiguatedCode, key: Key | None = None
) -> np.ndarray:
    """Decode to a uint8 ``(S, S)`` image: the true code with a key, all k' non-zeros without.

    Raises
    ------
    KeyMismatchError
        If ``key`` was made for another file or model.
    ValueError
        If the file was made with another model.
    """
    if code.model_fingerprint != model.fingerprint:
        raise ValueError("this ambiguated file was made with another model (fingerprint differs)")
    if code.published.shape != (model.config.maps, model.config.code_length):
        raise ValueError("this ambiguated file does not fit the model's code shape")
    z = apply_key(code, key) if key is not None else code.published
    return to_uint8(decode_images(model, z[None])[0])
