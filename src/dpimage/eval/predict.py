r"""Closed-form expected MSE of DP-Pix and DP-Blur on a given image.

Notation: image ``x`` of ``H x W`` pixels and ``C`` channels; cell ``k`` holds
``n_k`` pixels with mean ``mu_k`` (per channel); the mechanism adds discrete
Laplace noise ``Z_k`` of scale ``t = 255 m C / eps`` to the integer cell sum,
so the released mean is ``mu_k + zeta_k`` with ``zeta_k = Z_k / n_k``, then
clipped to ``[0, 255]`` and rounded.

DP-Pix
------
The output is constant over each cell, so for any released value ``c_k``::

    sum_{p in k} (c_k - x_p)^2 = n_k (c_k - mu_k)^2 + sum_{p in k} (x_p - mu_k)^2 .

The second term is the NP-Pix error. Ignoring clipping (``clip=False``), ``c_k
- mu_k = (round(mu_k) - mu_k) + zeta_k`` up to rounding, the cross term has
mean 0, and::

    E[MSE] = MSE(NP-Pix(x), x) + Var(Z) / (H W) * sum_k 1 / n_k        (1)

with the exact discrete Laplace variance ``Var(Z) = 2 q / (1 - q)^2``,
``q = exp(-1/t)`` (``~ 2 t^2``). The NP-Pix error is measured on the image
(with its rounded means, so (1) is exact as ``eps -> inf`` and carries the
rounding of the means, ~1/12, when the noise is wide). The same for every
channel, so (1) holds for gray and RGB alike (``t`` already carries ``C``).

Clipping (``clip=True``): with ``zeta`` approximated by a continuous Laplace
of scale ``s = t / n_k`` and ``a = mu_k``, ``B = 255 - mu_k`` the distances to
the clip bounds, integrating gives::

    E[(clip(mu + zeta) - mu)^2] = 2 s^2 - s (a + s) e^{-a/s} - s (B + s) e^{-B/s}
    E[clip(mu + zeta) - mu]     = (s / 2) (e^{-a/s} - e^{-B/s})                 (2)

and ``n_k`` times the first replaces ``Var(Z) / n_k`` in (1). Clipping can only
shrink the error, and does so strongly when cell means sit near 0 or 255
(MNIST) or the noise is wide (small ``eps``, large ``m``, small ``b``).

DP-Blur
-------
DP-Pix at cell side ``b0``, painted at full size and blurred with the ``k x k``
Gaussian ``g`` (reflected borders). Output pixel ``p`` is
``sum_k w_{p,k} c_k`` with *effective weights* ``w_{p,k}`` = the sum of the
kernel taps (after border reflection) that fall on cell ``k``. The kernel and
the grid are separable, so ``w_{p,k} = wy[p_y, k_y] wx[p_x, k_x]``. With
independent cell noise of variance ``v_k``::

    E[MSE] = MSE(blur(NP-Pix_b0(x)), x) + 1/(H W) sum_k v_k sum_p w_{p,k}^2
           = MSE(...) + 1/(H W) sum_{k_y, k_x} v_{k_y k_x} cy[k_y] cx[k_x]   (3)

with ``cy[k_y] = sum_{p_y} wy[p_y, k_y]^2`` (likewise ``cx``). Without clipping
``v_k = Var(Z) / n_k^2``; the noise passes through the blur with its variance
multiplied by the squared effective weights, a factor of about
``b0^2 / (4 pi sigma^2)`` below DP-Pix at ``b0`` away from the borders. With
``clip=True``, ``v_k`` is the clipped variance from (2) and the bias
``d_k = E[c_k] - mu_k`` shifts the mean image: the first term becomes
``MSE(blur(NP-Pix_b0(x) + d), x)`` (computed in floating point and added as a
correction to the measured NP term). The rounding of the noisy means before the
blur is ignored (variance <= 1/12, then averaged down by the blur).

PSNR is reported as ``10 log10(255^2 / E[MSE])`` (the PSNR of the expected
MSE, which by Jensen's inequality is at most the expected PSNR). SSIM has no
closed form here; :mod:`dpimage.tune` measures it by simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .._validation import (
    check_image,
    check_kernel_size,
    check_positive_float,
    check_positive_int,
)
from ..cells import cell_counts, cell_sums
from ..mechanisms import np_blur, np_pix
from ..metrics import mse, psnr_from_mse
from ..privacy.sensitivity import channels_of, laplace_scale
from ..render.blur import upsample_blur_axis

__all__ = [
    "UtilityPrediction",
    "clipped_laplace_moments",
    "discrete_laplace_variance",
    "expected_clip_fraction",
    "predict_dp_blur",
    "predict_dp_pix",
    "predict_method",
]


@dataclass(frozen=True)
class UtilityPrediction:
    """Expected MSE (and the PSNR of it) of one DP release of one image.

    ``mse = np_mse + noise_mse``: the non-private approximation error measured
    on the image plus the expected contribution of the noise.
    """

    method: str
    mse: float
    np_mse: float
    noise_mse: float
    clip: bool

    @property
    def psnr(self) -> float:
        """``10 log10(255^2 / mse)`` in dB."""
        return psnr_from_mse(self.mse)


def discrete_laplace_variance(scale: float) -> float:
    """Variance of ``Z`` with ``P[Z = z] ∝ exp(-|z| / scale)``: ``2 q / (1 - q)^2``.

    ``q = exp(-1 / scale)``; for large ``scale`` this tends to the continuous
    Laplace variance ``2 scale^2`` from below (by about 1/6).

    Examples
    --------
    >>> round(discrete_laplace_variance(1.0), 6)
    1.683747
    """
    scale = check_positive_float(scale, "scale")
    one_minus_q = -math.expm1(-1.0 / scale)
    return 2.0 * (1.0 - one_minus_q) / one_minus_q**2


def clipped_laplace_moments(
    mu: np.ndarray, s: np.ndarray | float, low: float = 0.0, high: float = 255.0
) -> tuple[np.ndarray, np.ndarray]:
    """Bias and second moment of ``clip(mu + N, low, high) - mu``, ``N ~ Laplace(0, s)``.

    Parameters
    ----------
    mu : array_like
        Values in ``[low, high]`` (cell means).
    s : array_like or float
        Laplace scale(s) ``>= 0``, broadcast against ``mu``.

    Returns
    -------
    bias, second : ndarray
        ``E[clip(mu + N) - mu]`` and ``E[(clip(mu + N) - mu)^2]``, from (2) in
        the module docstring. ``s = 0`` gives ``(0, 0)``.
    """
    mu = np.asarray(mu, dtype=np.float64)
    s = np.broadcast_to(np.asarray(s, dtype=np.float64), mu.shape)
    a = np.clip(mu - low, 0.0, None)
    big_b = np.clip(high - mu, 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ea = np.where(s > 0, np.exp(-a / s), 0.0)
        eb = np.where(s > 0, np.exp(-big_b / s), 0.0)
        bias = 0.5 * s * (ea - eb)
        second = 2.0 * s**2 - s * (a + s) * ea - s * (big_b + s) * eb
    return np.where(s > 0, bias, 0.0), np.clip(np.where(s > 0, second, 0.0), 0.0, None)


def _noise_scale_on_sums(shape: tuple[int, ...], m: int, eps: float) -> float:
    return float(laplace_scale(m, channels_of(shape), eps))


def predict_dp_pix(
    image: np.ndarray, b: int = 16, m: int = 16, eps: float = 0.5, *, clip: bool = False
) -> UtilityPrediction:
    """Expected MSE of :func:`dpimage.dp_pix` on ``image`` (block output).

    Parameters
    ----------
    image : ndarray of uint8, (H, W) or (H, W, 3)
    b, m, eps
        As for :func:`dpimage.dp_pix`.
    clip : bool, default False
        ``False``: formula (1) of the module docstring, which ignores clipping
        to ``[0, 255]`` (an upper bound on the true error). ``True``: the
        clipped-Laplace correction (2).

    Returns
    -------
    UtilityPrediction
    """
    image = check_image(image)
    b = check_positive_int(b, "b")
    m = check_positive_int(m, "m")
    eps = check_positive_float(eps, "eps")
    height, width = image.shape[:2]
    np_mse = mse(np_pix(image, b=b), image)
    t = _noise_scale_on_sums(image.shape, m, eps)
    counts = cell_counts(height, width, b).astype(np.float64)
    if not clip:
        noise = discrete_laplace_variance(t) * float(np.sum(1.0 / counts)) / (height * width)
    else:
        means = cell_sums(image, b) / counts[:, :, None]
        _, second = clipped_laplace_moments(means, (t / counts)[:, :, None])
        noise = float(np.sum(counts[:, :, None] * second)) / (height * width * second.shape[2])
    return UtilityPrediction("dp-pix", np_mse + noise, np_mse, noise, clip)


def expected_clip_fraction(image: np.ndarray, b: int = 16, m: int = 16, eps: float = 0.5) -> float:
    """Expected fraction of noisy cell means (cells x channels) that DP-Pix clips.

    With the continuous Laplace approximation of scale ``s = t / n_k``, a cell
    mean ``mu`` leaves ``[0, 255]`` with probability
    ``(e^{-mu/s} + e^{-(255-mu)/s}) / 2``. A diagnostic of where the no-clip
    formula (1) stops holding; for DP-Blur pass ``b = b0``.
    """
    image = check_image(image)
    b = check_positive_int(b, "b")
    t = _noise_scale_on_sums(
        image.shape, check_positive_int(m, "m"), check_positive_float(eps, "eps")
    )
    counts = cell_counts(image.shape[0], image.shape[1], b).astype(np.float64)
    means = cell_sums(image, b) / counts[:, :, None]
    s = (t / counts)[:, :, None]
    return float(np.mean(0.5 * (np.exp(-means / s) + np.exp(-(255.0 - means) / s))))


def _reflect101(index: np.ndarray, n: int) -> np.ndarray:
    """OpenCV's ``BORDER_REFLECT_101`` index map (``gfedcb|abcdefgh|gfedcba``), any distance."""
    if n == 1:
        return np.zeros_like(index)
    period = 2 * n - 2
    folded = np.abs(index) % period
    return np.where(folded >= n, period - folded, folded)


@lru_cache(maxsize=64)
def _effective_weights(n: int, b0: int, k: int, sigma: float) -> np.ndarray:
    """``w[p, j]``: weight of cell ``j`` (cells of ``b0`` along one axis) in blurred pixel ``p``.

    The 1-D Gaussian taps of ``cv2.getGaussianKernel(k, sigma)`` at offsets
    ``-k//2 .. k//2`` around ``p``, each source index reflected as OpenCV does,
    summed per cell. Rows sum to 1. Read-only (cached).
    """
    taps = cv2.getGaussianKernel(k, sigma, ktype=cv2.CV_64F).ravel()
    half = k // 2
    pixels = np.arange(n)[:, None]
    sources = _reflect101(pixels + np.arange(-half, half + 1)[None, :], n)
    cells = sources // b0
    weights = np.zeros((n, -(-n // b0)))
    np.add.at(
        weights, (np.broadcast_to(pixels, cells.shape), cells), np.broadcast_to(taps, cells.shape)
    )
    weights.setflags(write=False)
    return weights


def _blurred_blocks(
    grid: np.ndarray, height: int, width: int, b0: int, k: int, sigma: float
) -> np.ndarray:
    """Float32 Gaussian blur of the block image of ``grid`` ``(ny, nx, C)``, unrounded.

    The same separable blur (``BORDER_REFLECT_101``) as ``cv2.GaussianBlur`` of
    ``render_blocks(grid)``, computed from the cells without building the block
    image first (:func:`dpimage.render.blur.upsample_blur_axis`, the path
    :func:`dpimage.dp_blur` uses): equal to float32 rounding, ~4x faster for
    ``k = 99`` on a 1080p photo.
    """
    kernel = cv2.getGaussianKernel(k, sigma, ktype=cv2.CV_64F)
    low = np.ascontiguousarray(grid.astype(np.float32))
    rows = upsample_blur_axis(low, width, b0, kernel, axis=1)
    return upsample_blur_axis(rows, height, b0, kernel, axis=0)


def predict_dp_blur(
    image: np.ndarray,
    b0: int = 4,
    k: int = 99,
    m: int = 16,
    eps: float = 0.5,
    *,
    sigma: float | None = None,
    clip: bool = False,
) -> UtilityPrediction:
    """Expected MSE of :func:`dpimage.dp_blur` on ``image``, formula (3) of the module docstring.

    Parameters
    ----------
    image : ndarray of uint8, (H, W) or (H, W, 3)
    b0, k, m, eps, sigma
        As for :func:`dpimage.dp_blur`.
    clip : bool, default False
        Include the clipped-Laplace bias and variance of the cell means.

    Returns
    -------
    UtilityPrediction
    """
    image = check_image(image)
    b0 = check_positive_int(b0, "b0")
    k = check_kernel_size(k)
    m = check_positive_int(m, "m")
    eps = check_positive_float(eps, "eps")
    sigma = 0.0 if sigma is None or sigma == 0 else check_positive_float(sigma, "sigma")
    height, width = image.shape[:2]
    mosaic = np_pix(image, b=b0)
    np_mse = mse(np_blur(mosaic, k=k, sigma=sigma or None), image)
    t = _noise_scale_on_sums(image.shape, m, eps)
    counts = cell_counts(height, width, b0).astype(np.float64)
    cy = np.sum(_effective_weights(height, b0, k, sigma) ** 2, axis=0)
    cx = np.sum(_effective_weights(width, b0, k, sigma) ** 2, axis=0)
    spread = np.outer(cy, cx)  # sum_p w_{p,k}^2 per cell
    if not clip:
        variance = discrete_laplace_variance(t) / counts**2
        noise = float(np.sum(spread * variance)) / (height * width)
        return UtilityPrediction("dp-blur", np_mse + noise, np_mse, noise, clip)
    grid = np_pix(image, b=b0, output="grid").astype(np.float64)
    grid = grid if grid.ndim == 3 else grid[:, :, None]
    bias, second = clipped_laplace_moments(grid, (t / counts)[:, :, None])
    variance = second - bias**2
    noise = float(np.sum(spread[:, :, None] * variance)) / (height * width * grid.shape[2])
    shifted = _blurred_blocks(grid + bias, height, width, b0, k, sigma)
    plain = _blurred_blocks(grid, height, width, b0, k, sigma)
    x = (image if image.ndim == 3 else image[:, :, None]).astype(np.float64)
    shape3 = (height, width, -1)
    correction = mse(shifted.reshape(shape3), x) - mse(plain.reshape(shape3), x)
    np_part = np_mse + correction
    return UtilityPrediction("dp-blur", np_part + noise, np_part, noise, clip)


def predict_method(
    method: str, image: np.ndarray, params: dict | None = None, *, clip: bool = False
) -> UtilityPrediction | None:
    """Expected MSE of a registry method on ``image``, or None where no closed form exists.

    ``method`` is any name or alias of :mod:`dpimage.methods`; ``params`` its
    parameters (defaults filled in). DP-Pix with the blocks renderer and
    DP-Blur have closed forms (on the RGB path, or any gray image); other
    methods, renderers and the luma/chroma path return None.
    """
    from .. import methods

    spec = methods.get(method)
    p = spec.validate(params)
    if p.get("colour", "rgb") != "rgb" and np.ndim(image) == 3:
        return None
    if spec.name == "dp_pix" and p["render"] == "blocks":
        return predict_dp_pix(image, b=p["b"], m=p["m"], eps=p["eps"], clip=clip)
    if spec.name == "dp_blur" and p["render"] == "blocks":
        return predict_dp_blur(
            image, b0=p["b0"], k=p["k"], m=p["m"], eps=p["eps"], sigma=p["sigma"], clip=clip
        )
    return None
