"""The evaluation behind the results report: key holders vs non-holders, key size, attacks.

Research: it compares the shipped fakes (mixture, decoy) with the earlier
ones (donor, resample, the public scheme's control) under every attack, and
draws the picture grid. Everything is measured on held-out data (faces of
people not in training). Run through ``dpimage ambiguate evaluate MODEL -o DIR``.
Image metrics are :mod:`dpimage.metrics`' on the 8-bit images a user sees.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np

from ... import metrics
from ...metrics import to_uint8
from ..ambiguate import random_guess
from ..attacks import (
    basis_attack,
    crossvalidated_attack,
    distinguishing_attack,
    reencode_attack,
    support_recovered,
)
from ..bundle import AmbiguationModel
from ..codec import (
    ambiguate_mixture_with,
    ambiguate_with,
    decode_images,
    sparse_codes,
    to_float16,
)
from ..decoy import DECOY_ITERATIONS, DECOY_NOISE, reencoder
from ..keys import AmbiguatedCode, ambiguated_to_bytes, key_to_bytes, make_key
from .attacks import donor_matching_attack
from .fakes import ambiguate_published, ambiguate_research
from .legacy import with_donor_codes

__all__ = [
    "evaluate",
    "evaluation_data",
    "grid_rows",
    "jpeg_bytes_for_psnr",
    "picture_grid",
    "psnr",
    "ssim",
]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of images in [0, 1], on their 8-bit versions (:func:`dpimage.metrics.psnr`)."""
    return metrics.psnr(to_uint8(a), to_uint8(b))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of images in [0, 1] on their 8-bit versions (scikit-image's 7x7 settings)."""
    return metrics.ssim(to_uint8(a), to_uint8(b), variant="skimage")


def jpeg_bytes_for_psnr(image: np.ndarray, target: float) -> tuple[int, int] | None:
    """Smallest JPEG (Pillow, quality 1-100) of ``image`` reaching ``target`` dB; (bytes, quality).

    ``None`` if even quality 100 falls short. Header bytes are counted, as in
    any JPEG file; the comparison with the key counts the key's payload bits.
    """
    from PIL import Image

    im = Image.fromarray(to_uint8(image))
    for quality in range(1, 101):
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        decoded = np.asarray(Image.open(buf), dtype=np.float32) / 255.0
        if psnr(image, decoded) >= target:
            return buf.getbuffer().nbytes, quality
    return None


def _mean_metrics(ref: np.ndarray, out: np.ndarray) -> dict[str, float]:
    p = [psnr(a, b) for a, b in zip(ref, out, strict=True)]
    s = [ssim(a, b) for a, b in zip(ref, out, strict=True)]
    return {"psnr": float(np.mean(p)), "psnr_sd": float(np.std(p)), "ssim": float(np.mean(s))}


def _ambiguate_all(
    codes, k_prime, stats, rng, scheme="decoy", reencode=None, decoy=None, images=None, model=None
):
    if scheme == "mixture":
        k = int((codes[0, 0] != 0).sum())
        published, masks = ambiguate_mixture_with(model, images, k, k_prime, rng)
        return to_float16(published), masks
    if scheme == "decoy":
        published, masks = ambiguate_with(
            codes, k_prime, stats, scheme, rng, reencode=reencode, **(decoy or {})
        )
        return to_float16(published), masks
    pubs, masks = [], []
    for code in codes:
        if scheme == "published":
            p, m = ambiguate_published(code, k_prime, rng=rng)
        else:
            p, m = ambiguate_research(code, k_prime, stats, scheme, rng)
        pubs.append(to_float16(p))
        masks.append(m)
    return np.stack(pubs), np.stack(masks)


def evaluate(
    model: AmbiguationModel,
    train: np.ndarray,
    test: np.ndarray,
    *,
    ks: tuple[int, ...] = (64, 128),
    seed: int = 0,
    attacker_images: int = 80,
    decoy_rounds: int = DECOY_ITERATIONS,
    decoy_noise: float = DECOY_NOISE,
    test_groups: np.ndarray | None = None,
    picture_scheme: str = "mixture",
    log: Callable[[str], None] | None = None,
) -> tuple[dict, dict[str, np.ndarray]]:
    """Measure everything the results section reports.

    Parameters
    ----------
    model : AmbiguationModel
        Trained model with statistics for every k in ``ks``.
    train, test : ndarray, shape (N, S, S)
        Prepared images in [0, 1]; the attacker trains its classifier on
        ambiguations of ``train[:attacker_images]`` (its own images), all
        other numbers are on ``test`` (unseen identities).
    ks : tuple of int
        Key holders' sparsities; non-holders see k' = 2k.
    seed : int
        Seeds the fakes of this evaluation (reproducible research run).
    decoy_rounds, decoy_noise : int, float
        Settings of the decoy fakes (:func:`~.decoy.decoy_dense_codes`).
    test_groups : ndarray, shape (N,), optional
        Group of each test image for :func:`~.attacks.crossvalidated_attack`
        (faces: the person); default: every image its own group.
    picture_scheme : {"mixture", "decoy"}
        The fakes whose decodes the picture grid shows (the model's default).

    Returns
    -------
    results : dict
        Nested numbers per k (see the keys); JSON-able.
    pictures : dict
        Decoded test images per setting, for :func:`picture_grid`.
    """
    say = log or (lambda _msg: None)
    rng = np.random.default_rng(seed)
    results: dict = {"n_test": len(test), "n_attacker_images": attacker_images, "per_k": {}}
    pictures: dict[str, np.ndarray] = {"original": test}
    c, n = model.config.maps, model.config.code_length
    own = train[:attacker_images]
    schemes = ("decoy", "donor", "resample", "published")
    if model.basis is not None:  # format 1 files have no face basis
        schemes = ("mixture", *schemes)
    reencode = reencoder(model)
    decoy = {"decoy_rounds": decoy_rounds, "decoy_noise": decoy_noise}
    results["decoy_settings"] = {"rounds": decoy_rounds, "noise": decoy_noise}
    results["picture_scheme"] = picture_scheme
    groups = np.arange(len(test)) if test_groups is None else np.asarray(test_groups)
    for k in ks:
        k_prime = 2 * k
        stats = with_donor_codes(model, train, k)  # format 2 files store none: rebuild them
        codes = to_float16(sparse_codes(model, test, k))
        own_codes = to_float16(sparse_codes(model, own, k))
        holder = decode_images(model, codes)
        row: dict = {"k_prime": k_prime, "holder": _mean_metrics(test, holder)}
        pictures[f"holder_k{k}"] = holder
        for scheme in schemes:
            published, masks = _ambiguate_all(
                codes, k_prime, stats, rng, scheme, reencode, decoy, test, model
            )
            everything = decode_images(model, published)
            guesses = np.stack([random_guess(p, k, rng=rng) for p in published])
            attack_guess = reencode_attack(model, published, k, iterations=5)
            attacked = decode_images(model, attack_guess)
            say(f"k={k} {scheme}: decoded; running the distinguishing attack")
            auc = distinguishing_attack(
                model,
                stats,
                _ambiguate_all(own_codes, k_prime, stats, rng, scheme, reencode, decoy, own, model),
                (published, masks),
                seed=seed,
                groups=groups,
            )
            in_population = crossvalidated_attack(
                model, stats, (published, masks), groups, seed=seed, interval=True
            )
            auc["auc_in_population"] = in_population["auc"]
            auc["auc_in_population_low"] = in_population["low"]
            auc["auc_in_population_high"] = in_population["high"]
            auc["in_population_support_recovered"] = in_population["support_recovered"]
            classified = decode_images(model, auc.pop("guess"))
            auc.update(_mean_metrics(test, classified))
            row[scheme] = {
                "holder": _mean_metrics(test, decode_images(model, np.where(masks, published, 0))),
                "nonholder_all": _mean_metrics(test, everything),
                "nonholder_random_guess": _mean_metrics(test, decode_images(model, guesses)),
                "reencode_attack": {
                    **_mean_metrics(test, attacked),
                    "support_recovered": support_recovered(attack_guess != 0, masks),
                },
                "distinguishing": auc,
            }
            if stats.donors is not None:
                matched = donor_matching_attack(model, published, masks, k, donors=stats.donors)
                guess = matched.pop("guess")
                row[scheme]["donor_matching"] = {
                    **matched,
                    **_mean_metrics(test, decode_images(model, guess)),
                }
            if scheme == "mixture" and model.basis is not None:
                found = basis_attack(model, published, masks, k)
                guess = found.pop("guess")
                row[scheme]["basis_attack"] = {
                    **found,
                    **_mean_metrics(test, decode_images(model, guess)),
                }
            if scheme == picture_scheme:
                pictures[f"holder_k{k}"] = decode_images(model, np.where(masks, published, 0))
                pictures[f"all_kp{k_prime}"] = everything
                pictures[f"guess_k{k}"] = decode_images(model, guesses)
                pictures[f"attack_k{k}"] = attacked
                key = make_key(published[0], masks[0], bytes(16), "0" * 32)
                row["key_file_bytes"] = len(key_to_bytes(key))
                row["ambiguated_file_bytes"] = len(
                    ambiguated_to_bytes(
                        AmbiguatedCode(published[0], k_prime, test.shape[1], bytes(16), "0" * 32)
                    )
                )
            say(f"k={k} {scheme}: {row[scheme]}")
        jpeg = [jpeg_bytes_for_psnr(t, psnr(t, h)) for t, h in zip(test, holder, strict=True)]
        jpeg_sizes = [j[0] for j in jpeg if j is not None]
        row.update(
            {
                "key_payload_bytes": c * k_prime / 8,
                "key_payload_bytes_over_n": c * n / 8,
                "jpeg_same_psnr_bytes_median": float(np.median(jpeg_sizes)) if jpeg_sizes else None,
                "jpeg_reached": len(jpeg_sizes),
                "log2_guesses_per_map": float(_log2_binom(k_prime, k)),
            }
        )
        results["per_k"][k] = row
    return results, pictures


def _log2_binom(n: int, k: int) -> float:
    from math import lgamma, log

    return (lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1)) / log(2)


def picture_grid(pictures: dict[str, np.ndarray], rows: list[str], count: int = 8) -> np.ndarray:
    """uint8 grid: one row per setting, ``count`` test images per row, 2-pixel gaps."""
    first = pictures[rows[0]]
    s = first.shape[1]
    gap = 2
    grid = np.full((len(rows) * (s + gap) - gap, count * (s + gap) - gap), 255, dtype=np.uint8)
    for r, name in enumerate(rows):
        for i in range(count):
            tile = to_uint8(pictures[name][i])
            grid[r * (s + gap) : r * (s + gap) + s, i * (s + gap) : i * (s + gap) + s] = tile
    return grid


def evaluation_data(
    model: AmbiguationModel, data: str, test_size: int = 200
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str]:
    """The attacker's own images, the test images, their groups and a description.

    ``data="faces"``: the 80 images of AT&T people 33-40 (unseen in training),
    grouped by person; the attacker's images are the training faces.
    ``data="digits"``: ``test_size`` MNIST test digits evenly spaced over the
    10,000 (their writers are disjoint from the training set's); the
    attacker's images are the first 80 training digits.

    Raises
    ------
    ValueError
        If the model does not fit the data set or ``test_size`` is too large.
    """
    from ... import ambiguation as lib  # looked up at call time: tests narrow the sets

    if data == "faces":
        train_images, test_images = lib.face_images(model.config.image_size)
        return train_images, test_images, lib.face_test_people(), "AT&T people 33-40, all 80 images"
    if data != "digits":
        raise ValueError(f"data must be 'faces' or 'digits', got {data!r}")
    if model.config.image_size != 32:
        raise ValueError("this model was not trained on digits (32x32 inputs)")
    test_all = lib.digit_images("test")
    if test_size > len(test_all):
        raise ValueError(f"--test-size must be at most {len(test_all)}")
    index = np.linspace(0, len(test_all) - 1, test_size).round().astype(int)
    subset = f"MNIST test, {test_size} digits evenly spaced over the 10,000"
    return lib.digit_images("train", limit=80), test_all[index], None, subset


def grid_rows(ks: tuple[int, ...]) -> list[str]:
    """Row names of :func:`picture_grid` for the evaluated key sizes."""
    rows = ["original"]
    for k in ks:
        rows += [f"holder_k{k}", f"all_kp{2 * k}", f"guess_k{k}", f"attack_k{k}"]
    return rows
