"""Decoy fakes: the code of a synthetic image the model itself produces.

The donor fakes of :func:`~.research.fakes.ambiguate_donor` are the true
non-zeros of stored training codes, and the stored codes are public (they were
in the model file), so an attacker can look them up
(:func:`~.research.attacks.donor_matching_attack`). Resampled fakes
(:func:`~.research.fakes.ambiguate_resample`) are drawn unit by unit and are
not a code of any image, which the public encoder exposes.

A *decoy* is instead a complete code of an image that does not exist, made
from the model's public statistics only:

1. draw a random k-sparse code ``z`` (positions weighted by the units'
   support frequency, values by inverse CDF of each unit's true values);
2. iterate ``z <- top_k(E(clip(D(z) + noise)))`` a few times
   (:data:`DECOY_ITERATIONS`), which moves ``D(z)`` onto the images the
   decoder makes and ``z`` towards a code the encoder gives such an image.
   The Gaussian pixel noise (:data:`DECOY_NOISE`) stands in for the detail
   real photos have and decoder outputs lack: with more rounds and no noise
   the decoy's code grows *more* self-consistent than a real face's and the
   re-encode attack starts to pick the decoy instead. Both settings were
   chosen on a validation split of the training people
   (``benchmarks/ambiguation_decoy_grid.py``): the lowest classifier AUC
   with the re-encode attack's recovered support within 50 +- 3 %;
3. the last round's dense code ``E(y)`` of the decoy image gives the fakes:
   in each map the ``k' - k`` largest-magnitude entries that are **off** the
   true support (where the decoy's support overlaps the true one, the true
   value stays and the decoy's next-largest entries take the freed places,
   as a top-k of the decoy restricted to the free units would);
4. per map, the fakes' magnitudes are redrawn i.i.d. from the (interpolated)
   empirical distribution of that map's true ``|v|`` and assigned in the
   decoy's rank order, keeping the decoy's signs: ``|v|`` and its rank in the
   map then carry no signal, and unseen people whose codes are weaker or
   stronger than the training faces' are not told apart by scale.

Nothing about the image enters a decoy except the distribution of its true
magnitudes per map (which the published true values show anyway) and the
positions it must avoid, and nothing stored can be matched against it. A key
holder learns nothing about anyone else from the fakes: the decoy is nobody.

The model enters through a :class:`Reencoder` (codes ``(N, C, n)`` plus
optional image noise to dense codes), so the rest of this module is NumPy.
Randomness as in :mod:`.ambiguate`: ``rng=None`` is the OS CSPRNG.
"""

from __future__ import annotations

import numpy as np

from ._random import _gaussians, _one_stream, _uniforms
from .ambiguate import _check_code, keep_top_k
from .stats import ValueStats

__all__ = [
    "DECOY_ITERATIONS",
    "DECOY_NOISE",
    "Reencoder",
    "ambiguate_decoy",
    "decoy_dense_codes",
    "random_codes",
    "reencoder",
]

#: Rounds of ``z <- top_k(E(D(noisy)))`` from the random start.
DECOY_ITERATIONS = 8
#: Standard deviation of the Gaussian noise added to each decoded decoy image
#: (pixel values in [0, 1]) before it is re-encoded.
DECOY_NOISE = 0.10


class Reencoder:
    """``z -> E(clip(D(z) + noise, 0, 1))`` of a model, in NumPy (no gradients).

    Parameters
    ----------
    model : AmbiguationModel
        The public model.
    """

    def __init__(self, model) -> None:
        self.net = model.net
        self.image_size = model.config.image_size

    def __call__(self, codes: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
        """Dense codes ``(N, C, n)``; ``noise`` ``(N, S, S)`` is added to the decoded images."""
        import torch

        with torch.no_grad():
            z = torch.from_numpy(np.ascontiguousarray(codes, dtype=np.float32))
            y = self.net.decode(z)
            if noise is not None:
                y = (y + torch.from_numpy(noise.astype(np.float32)).unsqueeze(1)).clamp(0, 1)
            return self.net.code(y).numpy()


def reencoder(model) -> Reencoder:
    """The :class:`Reencoder` of an :class:`~.bundle.AmbiguationModel`."""
    return Reencoder(model)


def _top_k_rows(dense: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Keep the ``k`` largest ``|dense|`` entries of each map (among ``allowed``); zero the rest."""
    score = np.abs(dense)
    if allowed is not None:
        score = np.where(allowed, score, -np.inf)
    return keep_top_k(dense, score, k)


def random_codes(
    stats: ValueStats, k: int, count: int, rng: int | np.random.Generator | None = None
) -> np.ndarray:
    """``count`` random k-sparse codes ``(count, C, n)`` from the public unit statistics.

    Positions: sampling without replacement with weight ``f_j`` (the unit's
    support frequency); values: inverse CDF of the unit's stored quantiles.
    """
    c, n = stats.freq.shape
    if not 1 <= k < n:
        raise ValueError(f"k must be in 1..{n - 1}, got {k}")
    weights = np.clip(stats.freq.astype(np.float64), 0.0, 1.0) + 1e-6
    u = _uniforms(rng, 2 * count * c * n).reshape(2, count, c, n)
    keys = np.log(u[0]) / weights[None]
    pos = np.argsort(-keys, axis=-1, kind="stable")[..., :k]
    mask = _mask_of(pos, n)
    codes = np.where(mask, _inverse_cdf(stats.quantiles, u[1]), 0.0).astype(np.float32)
    codes[mask & (codes == 0)] = np.float32(1e-6)
    return codes


def _inverse_cdf(quantiles: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Quantiles ``(..., Q)`` (sorted values) linearly interpolated at levels ``u`` in [0, 1].

    ``quantiles`` broadcasts against ``u``'s shape: each unit's ``(C, n, Q)``
    at ``u`` ``(..., C, n)``, or one row ``(..., 1, Q)`` at several levels.
    """
    q = quantiles.shape[-1]
    x = u * (q - 1)
    lo = np.clip(np.floor(x).astype(np.int64), 0, max(q - 2, 0))
    frac = x - lo
    full = np.broadcast_to(quantiles, (*u.shape, q))
    below = np.take_along_axis(full, lo[..., None], -1)[..., 0]
    above = np.take_along_axis(full, np.minimum(lo + 1, q - 1)[..., None], -1)[..., 0]
    return below * (1 - frac) + above * frac


def _mask_of(pos: np.ndarray, n: int) -> np.ndarray:
    mask = np.zeros((*pos.shape[:-1], n), dtype=bool)
    np.put_along_axis(mask, pos, True, axis=-1)
    return mask


def decoy_dense_codes(
    reencode: Reencoder,
    stats: ValueStats,
    k: int,
    count: int,
    *,
    iterations: int = DECOY_ITERATIONS,
    noise: float = DECOY_NOISE,
    rng: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Dense codes ``E(y)`` ``(count, C, n)`` of ``count`` synthetic decoy images ``y``.

    ``z`` starts as :func:`random_codes`; each round decodes it, adds Gaussian
    noise of standard deviation ``noise`` to the image (real photos carry
    detail the decoder does not make; without it the decoys' codes are more
    self-consistent than real ones, which the attacks exploit), re-encodes
    and keeps the top k. The last round's dense code is returned.
    """
    if iterations < 1 or noise < 0:
        raise ValueError(f"need iterations >= 1 and noise >= 0, got {iterations}, {noise}")
    rng = _one_stream(rng)
    s = reencode.image_size
    z = random_codes(stats, k, count, rng)
    for it in range(iterations):
        eps = noise * _gaussians(rng, (count, s, s)) if noise > 0 else None
        dense = reencode(z, eps)
        if it + 1 < iterations:
            z = _top_k_rows(dense, k)
    return dense


def ambiguate_decoy(
    code: np.ndarray,
    k_prime: int,
    stats: ValueStats,
    reencode: Reencoder,
    *,
    iterations: int = DECOY_ITERATIONS,
    noise: float = DECOY_NOISE,
    rng: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Add ``k' - k`` fakes per map taken from the code of a synthetic decoy image.

    Parameters
    ----------
    code : ndarray, shape (C, n) or (N, C, n)
        k-sparse code(s), exactly k non-zeros per map.
    k_prime : int
        Non-zeros per map after ambiguation, ``k < k' <= n``.
    stats : ValueStats
        The model's public statistics for this k (only ``freq`` and
        ``quantiles`` are used; stored donor codes never are).
    reencode : Reencoder
        The model's decoder and encoder (:func:`reencoder`).
    iterations, noise :
        Rounds and image noise of :func:`decoy_dense_codes`.
    rng : None, int or numpy.random.Generator, optional
        ``None`` (default) is the OS CSPRNG.

    Returns
    -------
    published, true_mask : ndarray, same shape as ``code``
        The code(s) with their fakes (float32) and the true support (the key).
    """
    code = np.asarray(code, dtype=np.float32)
    single = code.ndim == 2
    batch = code[None] if single else code
    if batch.ndim != 3:
        raise ValueError(f"code must be (C, n) or (N, C, n), got shape {code.shape}")
    rng = _one_stream(rng)
    k = 0
    for one in batch:
        _, k = _check_code(one, k_prime)
    true_mask = batch != 0
    dense = decoy_dense_codes(
        reencode, stats, k, len(batch), iterations=iterations, noise=noise, rng=rng
    )
    fakes = _top_k_rows(dense, k_prime - k, allowed=~true_mask)
    fake_mask = fakes != 0
    if np.any(fake_mask.sum(axis=-1) < k_prime - k):
        raise ValueError("a decoy code map has too few non-zero entries off the true support")
    fakes = _redraw_magnitudes(batch, true_mask, fakes, fake_mask, k_prime - k, rng)
    published = np.where(true_mask, batch, fakes).astype(np.float32)
    return (published[0], true_mask[0]) if single else (published, true_mask)


def _redraw_magnitudes(
    batch: np.ndarray,
    true_mask: np.ndarray,
    fakes: np.ndarray,
    fake_mask: np.ndarray,
    count: int,
    rng: int | np.random.Generator | None,
) -> np.ndarray:
    """Fake magnitudes drawn from each map's true magnitudes, assigned in the decoy's order.

    Per map, ``count`` magnitudes are drawn i.i.d. from the (linearly
    interpolated) empirical distribution of the true ``|v|`` of that map and
    given to the fakes by rank: the decoy's largest entry gets the largest
    draw. Signs and positions stay the decoy's. The true magnitudes are
    published anyway, so the draw reveals nothing new about the image.
    """
    n_img, c, _ = batch.shape
    k = int(true_mask[0, 0].sum())
    true_sorted = np.sort(np.where(true_mask, np.abs(batch), np.inf), axis=-1)[..., :k]
    u = np.sort(_uniforms(rng, n_img * c * count).reshape(n_img, c, count), axis=-1)
    drawn = _inverse_cdf(true_sorted[..., None, :], u)  # ascending
    order = np.argsort(np.where(fake_mask, np.abs(fakes), np.inf), axis=-1, kind="stable")
    pos = order[..., :count]  # fake positions, smallest |decoy value| first
    out = np.zeros_like(fakes)
    signs = np.sign(np.take_along_axis(fakes, pos, -1))
    signs[signs == 0] = 1.0
    np.put_along_axis(out, pos, signs * np.maximum(drawn, 1e-6), axis=-1)
    return out
