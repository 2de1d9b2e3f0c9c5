"""The private step: an image becomes a :class:`Release` of noisy cell means.

:func:`release_cells` is the only code that adds noise to an image: DP-Pix,
DP-Blur, video frames and regions (a crop is an image) all go through it.
Everything after it — clipping, rounding, painting blocks, blurring,
smoothing — is a renderer (:mod:`dpimage.render`) that reads the
:class:`Release` only, so it is post-processing and costs no ε.

References
----------
.. [1] L. Fan, "Image Pixelization with Differential Privacy", DBSec 2018.
.. [2] C. Canonne, G. Kamath, T. Steinke, "The Discrete Gaussian for
   Differential Privacy", NeurIPS 2020 (discrete Laplace, Def. 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .._validation import check_image, check_positive_float, check_positive_int
from ..cells import cell_counts, cell_side, cell_sums, grid_shape
from ..privacy.sampling import check_noise_scale, discrete_laplace, make_bit_source
from ..privacy.sensitivity import channels_of, l1_sensitivity

__all__ = ["RNG", "Release", "cell_noise_scale", "exact_cells", "release_cells"]

RNG = int | np.random.Generator | None
Sampler = Literal["secure", "seeded"]


@dataclass(frozen=True, eq=False)
class Release:
    """What a cell mechanism publishes: noisy cell means and public facts, nothing else.

    Attributes
    ----------
    means : ndarray of float64, shape ``(ny, nx, C)``, read-only
        Noisy integer cell sum divided by the cell's pixel count ``n_k``; not
        clipped, not rounded (that is the renderers' post-processing). For an
        exact (non-private) release, the true cell means.
    shape : tuple of int
        Shape of the released image, ``(H, W)`` or ``(H, W, C)``.
    b : int
        Cell side; cells are anchored at the top-left, the last row/column may
        be partial. :func:`release_cells` records a requested side larger than
        ``max(H, W)`` as ``max(H, W)``: the same cells (:func:`dpimage.cells.cell_side`).
    m : int or None
        Neighbourhood size the noise is calibrated for (None: exact release).
    eps : float or None
        Privacy budget spent on this release (None: exact, not private).
    channels : int
        ``C``; ε covers all channels together.
    scale : ndarray of float64, shape ``(ny, nx)``, read-only
        Laplace scale of the noise on each cell mean, ``255 m C / (n_k eps)``
        (:func:`cell_noise_scale`); zeros for an exact release. Partial cells
        are noisier, and renderers should trust them less.
    sampler : {"secure", "seeded"} or None
        Randomness the noise came from; ``"seeded"`` is reproducible and so is
        *not* a private release. None for an exact release.
    """

    means: np.ndarray
    shape: tuple[int, ...]
    b: int
    m: int | None
    eps: float | None
    channels: int
    scale: np.ndarray
    sampler: Sampler | None

    def __post_init__(self) -> None:
        ny, nx = grid_shape(self.shape[0], self.shape[1], self.b)
        if self.channels != channels_of(self.shape):
            raise ValueError(f"channels {self.channels} do not match the shape {self.shape}")
        if self.means.shape != (ny, nx, self.channels) or self.means.dtype != np.float64:
            raise ValueError(
                f"means must be float64 of shape {(ny, nx, self.channels)}, "
                f"got {self.means.dtype} {self.means.shape}"
            )
        if self.scale.shape != (ny, nx):
            raise ValueError(f"scale must have shape {(ny, nx)}, got {self.scale.shape}")
        if (self.eps is None) != (self.sampler is None) or (self.eps is None) != (self.m is None):
            raise ValueError("eps, m and sampler are all set (private) or all None (exact)")
        # A release is a published fact: nothing downstream may change it.
        self.means.setflags(write=False)
        self.scale.setflags(write=False)

    @property
    def counts(self) -> np.ndarray:
        """Pixel count ``n_k`` of every cell, shape ``(ny, nx)``, int64."""
        return cell_counts(self.shape[0], self.shape[1], self.b)

    @property
    def private(self) -> bool:
        """True for a noisy (ε-DP) release, False for exact means."""
        return self.eps is not None

    def facts(self) -> dict:
        """The public facts as a JSON-able dict (no means: those are the data)."""
        return {
            "shape": list(self.shape),
            "b": self.b,
            "m": self.m,
            "eps": self.eps,
            "channels": self.channels,
            "sampler": self.sampler,
        }


def cell_noise_scale(
    shape: tuple[int, ...], b: int = 16, m: int = 16, eps: float = 0.5
) -> np.ndarray:
    """Laplace scale of the noise on each cell mean that :func:`dpimage.dp_pix` releases.

    Parameters
    ----------
    shape : tuple of int
        Image shape ``(H, W)`` or ``(H, W, C)``.
    b, m, eps
        As for :func:`dpimage.dp_pix`.

    Returns
    -------
    scale : ndarray of float64, shape ``(ceil(H/b), ceil(W/b))``
        ``255 m C / (n_k eps)`` for a cell of ``n_k`` pixels; each channel of
        the cell gets this scale.

    Notes
    -----
    The noise is discrete Laplace with scale ``t = 255 m C / eps`` on the
    integer cell *sum*; dividing by ``n_k`` gives the scale on the mean. A
    full gray cell has ``255 m / (b^2 eps)``, the paper's value; partial
    cells have fewer pixels and so more noise.

    Examples
    --------
    >>> cell_noise_scale((20, 20), b=16, m=16, eps=0.5)
    array([[ 31.875,  127.5  ],
           [ 127.5  ,  510.   ]])
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3) or min(shape[:2]) < 1:
        raise ValueError(f"shape must be (H, W) or (H, W, C) with H, W >= 1, got {shape}")
    b = check_positive_int(b, "b")
    scale = float(_noise_scale(m, channels_of(shape), eps))
    return scale / cell_counts(shape[0], shape[1], b)


def _noise_scale(m: object, channels: int, eps: object):
    """``255 m C / eps`` as an exact Fraction, refused (ValueError) if it cannot be drawn."""
    m = check_positive_int(m, "m")
    eps = check_positive_float(eps, "eps")
    return check_noise_scale(l1_sensitivity(m, channels), eps, m=m, total_eps=eps)


def release_cells(image: np.ndarray, b: int, m: int, eps: float, rng: RNG = None) -> Release:
    """The private step of every cell mechanism: image -> cell sums -> exact noise -> Release.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W) or (H, W, 3)
        The private image (or a crop of it); never modified, never kept.
    b : int
        Cell side in pixels.
    m : int
        Neighbourhood size in pixels.
    eps : float
        Privacy budget of the whole release (all cells, all channels).
    rng : None, int or numpy.random.Generator
        ``None``: the OS CSPRNG (a private release). A seed or Generator is
        reproducible for research, and *not* private (the seed gives the noise).

    Returns
    -------
    Release
        Noisy means ``(S + Z) / n_k`` in float64 with the public facts.

    Notes
    -----
    *Neighbours* (Fan 2018's m-neighbourhood): images of the same shape
    ``H x W x C`` differing in at most ``m`` pixel positions, every channel of
    such a pixel changing by up to 255.

    *Sensitivity*: the release is a function of the integer cell sums
    ``S[k, c]`` only. One changed pixel moves exactly one sum per channel by at
    most 255, so ``||S(x) - S(x')||_1 <= 255 m C = Delta`` for any cell sizes,
    full or partial (the changed pixels' contributions add up to at most
    that, however they fall into cells).

    *Noise*: i.i.d. discrete Laplace, ``P[z] ∝ exp(-|z| eps / Delta)``, on every
    sum, drawn exactly on the integers (:func:`dpimage.privacy.discrete_laplace`);
    the density ratio of the noisy sums of two neighbours is at most
    ``exp(||S(x) - S(x')||_1 eps / Delta) <= e^eps``, so the release is eps-DP
    for the whole image [2]. Dividing by the public ``n_k`` is post-processing.

    *Scale on the mean*: ``255 m C / (n_k eps)`` (:func:`cell_noise_scale`);
    for a full gray cell the paper's ``255 m / (b^2 eps)`` [1]. A partial
    cell gets more noise, as it must: the paper's ``b^2`` there is not eps-DP.
    RGB spends the one ``eps`` across its three channels (``C = 3`` in
    ``Delta``), never ``eps`` per channel.

    *Cells larger than the image*: a side ``b > max(H, W)`` is clamped to
    ``max(H, W)`` (:func:`dpimage.cells.cell_side`). Along an axis of length
    ``L <= b`` there is one cell of ``L`` pixels for every such ``b``, so the
    clamped grid has exactly the same cells, the same counts ``n_k`` and the
    same sums; ``Delta`` and the noise scale ``Delta / eps`` do not involve
    ``b`` at all. The release is therefore the same random variable (with the
    same seed, the same values) and the privacy argument above holds
    unchanged; ``Release.b`` records the clamped side. A noise scale beyond
    what the sampler draws exactly (an absurd ``m`` or a vanishing ``eps``)
    is refused with a :class:`ValueError` before the image is read.
    """
    image = check_image(image)
    b = cell_side(check_positive_int(b, "b"), image.shape[0], image.shape[1])
    scale = _noise_scale(m, channels_of(image.shape), eps)
    m = check_positive_int(m, "m")
    eps = check_positive_float(eps, "eps")
    bits = make_bit_source(rng)
    sums = cell_sums(image, b)
    noisy = sums + discrete_laplace(scale, sums.shape, bits)
    return _from_sums(image.shape, b, noisy, m=m, eps=eps, scale=float(scale), sampler=bits.kind)


def exact_cells(image: np.ndarray, b: int) -> Release:
    """The exact cell means of ``image``, no noise: NP-Pix's input. **Not private.**

    A :class:`Release` with ``eps``, ``m`` and ``sampler`` None and ``scale``
    zero, so that the same renderers serve the non-private baselines.
    """
    image = check_image(image)
    b = cell_side(check_positive_int(b, "b"), image.shape[0], image.shape[1])  # same cells
    sums = cell_sums(image, b)
    return _from_sums(image.shape, b, sums, m=None, eps=None, scale=0.0, sampler=None)


def _from_sums(
    shape: tuple[int, ...],
    b: int,
    sums: np.ndarray,
    *,
    m: int | None,
    eps: float | None,
    scale: float,
    sampler: Sampler | None,
) -> Release:
    """The release of (noisy or exact) cell sums: means and per-cell scales over ``n_k``."""
    counts = cell_counts(shape[0], shape[1], b)
    return Release(
        means=sums / counts[:, :, None],
        shape=tuple(shape),
        b=b,
        m=m,
        eps=eps,
        channels=sums.shape[2],
        scale=scale / counts,
        sampler=sampler,
    )
