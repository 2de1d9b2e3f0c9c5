"""Mixture fakes: a symmetric draft between the image and random mixture faces.

Why the earlier generators can be told apart
--------------------------------------------
Every earlier scheme gives the image its own top-k support and then puts
the fakes *around* it: the fakes may only use units the image left free.
That alone is a signal. A unit most faces use (support frequency ``f``
near or above 1/2) is in the true support with probability ``f`` but can
carry a fake with probability at most ``1 - f``, so popular units are
mostly true, whatever the fakes' values look like. Measured on training
people with fakes taken from *real* faces of other people (the best a
generator could do), "top-k of the image, then top-k of the decoy off it"
still gives the distinguishing classifier an AUC of 0.57-0.67.

The symmetric draft
-------------------
Here the image and ``m - 1`` decoys (``k' = m k``) are encoded to dense
codes, and in each map the units are shared out by one rule that treats
all ``m`` images alike: all ``m n`` activations are visited in decreasing
``|h|``; an activation takes its unit if the unit is still free and its
image still has fewer than ``k`` units. Every image ends with exactly ``k``
units, the supports are disjoint, and each published value is the value its
own image has there. The rule is symmetric: permuting the images permutes
the result. So if the decoys were drawn from the same distribution as the
image, the published code would be an exchangeable mixture of ``m`` codes
and *no* attacker, however strong, could tell the true ``k`` from the
others better than chance. Measured: with decoys that are real images of
other people from the victims' own population, the classifier's AUC is
0.49-0.51 (``benchmarks/ambiguation_mixture_validation.py``).

The price is paid by the key holder: where a decoy wins a unit the image
wanted, the image takes its next-best unit, so the key decodes a slightly
worse code than the plain top-k (about 0.2 dB at k = 64 and 0.5 dB at
k = 128 on faces, see docs/results/ambiguation.md).

The decoys
----------
What is left to the attacker is the difference between the decoys and real
images. A decoy is a fresh draw from a Gaussian with the mean and covariance
of the training images, ``y = mean + w @ factors`` with ``w ~ N(0, I)``:
in distribution, a random linear mixture of *all* training images with
Gaussian weights, so no training person dominates any decoy and there is no
finite pool an attacker could memorise or match (the donor scheme's flaw).
The model file stores only the mean and the scaled principal directions
(:class:`FaceBasis`), never an image or a code. Nothing of the image enters
its decoy.

Giving each decoy the image's brightness and contrast
(:func:`match_brightness_contrast`, ``match_contrast=True``) was tried and
is not the default: on validation people the model never saw (as the test
people and real users are) it made the decoys' codes *weaker* than real
faces' and the in-population classifier's AUC rose from 0.51-0.52 to
0.56-0.58 (``benchmarks/ambiguation_mixture_validation.py
--unseen-victims``). The cost of not matching: images far darker, brighter
or flatter than the training faces get decoys of another contrast, which
magnitudes can reveal; train the model on images like those to be shared.

Randomness as in :mod:`.ambiguate`: ``rng=None`` is the OS CSPRNG; the
decoys (and so the key) are as secret as that source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._random import _gaussians, _one_stream

__all__ = [
    "FaceBasis",
    "ambiguate_mixture",
    "draft_supports",
    "fit_face_basis",
    "match_brightness_contrast",
    "publish_drafted",
    "sample_decoy_images",
]


@dataclass(frozen=True)
class FaceBasis:
    """Gaussian model of the training images: ``mean + w @ factors``, ``w ~ N(0, I)``.

    Attributes
    ----------
    mean : ndarray, shape (S, S)
        Mean training image, float32 in [0, 1].
    factors : ndarray, shape (R, S, S)
        Principal directions of the training images, each scaled by the
        standard deviation along it (so ``factors`` spans the sample
        covariance exactly: ``cov = F^T F`` for ``F`` the flattened factors).
    """

    mean: np.ndarray
    factors: np.ndarray

    def __post_init__(self) -> None:
        if (
            self.mean.ndim != 2
            or self.factors.ndim != 3
            or self.factors.shape[1:] != self.mean.shape
        ):
            raise ValueError(
                f"a face basis needs mean (S, S) and factors (R, S, S), "
                f"got {self.mean.shape} and {self.factors.shape}"
            )


def fit_face_basis(images: np.ndarray, *, tolerance: float = 1e-6) -> FaceBasis:
    """The Gaussian :class:`FaceBasis` of ``images`` ``(N, S, S)`` (N >= 2).

    ``factors`` are the right singular vectors of the centred data scaled by
    ``s / sqrt(N - 1)``; directions with ``s <= tolerance * s_max`` are dropped.
    """
    images = np.asarray(images)
    if images.ndim != 3 or len(images) < 2:
        raise ValueError(f"need images (N >= 2, S, S), got shape {images.shape}")
    flat = images.reshape(len(images), -1).astype(np.float64)
    mean = flat.mean(axis=0)
    centred = flat - mean
    if len(flat) > flat.shape[1]:  # many images (MNIST): eigenvectors of the D x D covariance
        eigval, eigvec = np.linalg.eigh(centred.T @ centred)
        s, vt = np.sqrt(np.clip(eigval[::-1], 0.0, None)), eigvec[:, ::-1].T
    else:
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
    keep = s > tolerance * max(float(s[0]), 1e-300)
    factors = (s[keep, None] * vt[keep]) / np.sqrt(len(images) - 1)
    shape = images.shape[1:]
    return FaceBasis(
        mean=mean.reshape(shape).astype(np.float32),
        factors=factors.reshape(-1, *shape).astype(np.float32),
    )


def sample_decoy_images(
    basis: FaceBasis, count: int, rng: int | np.random.Generator | None = None
) -> np.ndarray:
    """``count`` fresh draws ``clip(mean + w @ factors, 0, 1)``, float32 ``(count, S, S)``."""
    r = len(basis.factors)
    w = _gaussians(rng, (count, r))
    flat = basis.factors.reshape(r, -1).astype(np.float64)
    y = basis.mean.reshape(1, -1) + w @ flat
    return np.clip(y, 0.0, 1.0).reshape(count, *basis.mean.shape).astype(np.float32)


def match_brightness_contrast(decoys: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Give each decoy ``(N, S, S)`` its image's mean and standard deviation; clip to [0, 1]."""
    axes = (-2, -1)
    d_mean = decoys.mean(axis=axes, keepdims=True)
    d_std = decoys.std(axis=axes, keepdims=True)
    i_mean = images.mean(axis=axes, keepdims=True)
    i_std = images.std(axis=axes, keepdims=True)
    out = (decoys - d_mean) / np.maximum(d_std, 1e-6) * i_std + i_mean
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def draft_supports(dense: np.ndarray, k: int) -> np.ndarray:
    """Share each map's units among ``m`` images, ``k`` each, by decreasing ``|h|``.

    Parameters
    ----------
    dense : ndarray, shape (m, N, C, n)
        Dense codes of the ``m`` images drafting together (for each of ``N``
        groups), ``m k <= n``.
    k : int
        Units per image and map.

    Returns
    -------
    ndarray, shape (m, N, C, n), bool
        Disjoint supports, exactly ``k`` units per image and map. Permuting
        the ``m`` images permutes the result (ties in ``|h|``, which real
        codes do not have, go to the lower image index).
    """
    dense = np.asarray(dense)
    if dense.ndim != 4:
        raise ValueError(f"dense codes must be (m, N, C, n), got shape {dense.shape}")
    m, n_groups, c, n = dense.shape
    if not 1 <= k or m * k > n:
        raise ValueError(f"{m} images of k={k} units do not fit in n={n} units")
    # (N, C, m*n): image-major, so a stable sort breaks exact ties by image index
    scores = np.abs(dense).transpose(1, 2, 0, 3).reshape(n_groups, c, m * n)
    order = np.argsort(-scores, axis=-1, kind="stable")
    out = np.zeros((m, n_groups, c, n), dtype=bool)
    for g in range(n_groups):
        for ci in range(c):
            taken = np.zeros(n, dtype=bool)
            counts = np.zeros(m, dtype=np.int64)
            left = m * k
            for flat in order[g, ci]:
                who, unit = divmod(int(flat), n)
                if taken[unit] or counts[who] == k:
                    continue
                taken[unit] = True
                counts[who] += 1
                out[who, g, ci, unit] = True
                left -= 1
                if left == 0:
                    break
    return out


def ambiguate_mixture(
    images: np.ndarray,
    k: int,
    k_prime: int,
    basis: FaceBasis,
    encode: Callable[[np.ndarray], np.ndarray],
    *,
    match_contrast: bool = False,
    rng: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Publish each image's code drafted together with ``k'/k - 1`` mixture decoys.

    Parameters
    ----------
    images : ndarray, shape (S, S) or (N, S, S)
        Prepared images in [0, 1] (:func:`~.data.prepare_image`).
    k, k_prime : int
        True and published non-zeros per map; ``k'`` must be a multiple of
        ``k`` (``m = k'/k`` images draft: the image and ``m - 1`` decoys).
    basis : FaceBasis
        The model's Gaussian model of its training images.
    encode : callable
        Images ``(N, S, S)`` -> dense codes ``(N, C, n)`` (the model's
        encoder before top-k; :func:`~.codec.dense_codes`).
    match_contrast : bool
        Give each decoy its image's brightness and contrast (measured worse on
        unseen people; see the module docstring).
    rng : None, int or numpy.random.Generator, optional
        ``None`` (default) is the OS CSPRNG.

    Returns
    -------
    published : ndarray, float32, shape (C, n) or (N, C, n)
        ``k'`` non-zeros per map: the image's ``k`` drafted values and the
        decoys' drafted values.
    true_mask : ndarray, bool, same shape
        The image's drafted units: the key. Decoding ``published`` on it
        gives the key holder's image.
    """
    images = np.asarray(images, dtype=np.float32)
    single = images.ndim == 2
    batch = images[None] if single else images
    if batch.ndim != 3 or batch.shape[1:] != basis.mean.shape:
        raise ValueError(
            f"images must be (S, S) or (N, S, S) with S = {basis.mean.shape[0]}, "
            f"got shape {images.shape}"
        )
    if k < 1 or k_prime <= k or k_prime % k:
        raise ValueError(
            f"mixture fakes need k' to be a multiple of k greater than k (default 2k), "
            f"got k={k}, k'={k_prime}"
        )
    rng = _one_stream(rng)
    m = k_prime // k
    n_img = len(batch)
    decoys = sample_decoy_images(basis, (m - 1) * n_img, rng).reshape(
        m - 1, n_img, *batch.shape[1:]
    )
    if match_contrast:
        decoys = np.stack([match_brightness_contrast(d, batch) for d in decoys])
    everyone = np.concatenate([batch[None], decoys])  # (m, N, S, S); image first
    dense = np.asarray(encode(everyone.reshape(m * n_img, *batch.shape[1:])), dtype=np.float32)
    if dense.ndim != 3 or len(dense) != m * n_img:
        raise ValueError(f"encode must return (N, C, n) dense codes, got shape {dense.shape}")
    dense = dense.reshape(m, n_img, *dense.shape[1:])
    if m * k > dense.shape[-1]:
        raise ValueError(f"k' = {k_prime} exceeds the code length n = {dense.shape[-1]}")
    published, true_mask = publish_drafted(dense, k)
    return (published[0], true_mask[0]) if single else (published, true_mask)


def publish_drafted(dense: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Draft ``dense`` ``(m, N, C, n)`` (:func:`draft_supports`) and publish every drafted value.

    Image 0 is the one being shared: its drafted support is the key. Returns
    ``(published (N, C, n) float32, true_mask (N, C, n) bool)``; a drafted
    unit whose activation is exactly 0 is published as 1e-6 so it stays a
    non-zero.
    """
    supports = draft_supports(dense, k)
    values = np.where(dense == 0, np.float32(1e-6), dense)
    published = np.where(supports, values, 0.0).sum(axis=0).astype(np.float32)
    return published, supports[0]
