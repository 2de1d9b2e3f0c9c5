"""Pixelization and blur, non-private and differentially private.

All four mechanisms take a ``uint8`` array of shape ``(H, W)`` (gray) or
``(H, W, 3)`` (RGB), never modify it, and return a new ``uint8`` array.

The private ones are two steps: :func:`dpimage.release.release_cells` (the
only code that touches the image and adds noise) and a renderer of
:mod:`dpimage.render` (post-processing of that release). DP-Pix renders with
``"blocks"`` (or any other renderer), DP-Blur is the release at ``b0``
rendered with ``"blur"``. NP-Pix is the blocks renderer on the exact means.

References
----------
.. [1] L. Fan, "Image Pixelization with Differential Privacy", DBSec 2018.
.. [2] L. Fan, "Practical Image Obfuscation with Provable Privacy", ICME 2019.
.. [3] C. Canonne, G. Kamath, T. Steinke, "The Discrete Gaussian for
   Differential Privacy", NeurIPS 2020 (discrete Laplace, Def. 4).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from ._validation import (
    check_image,
    check_kernel_size,
    check_positive_float,
    check_positive_int,
    check_sigma,
)
from .privacy.sampling import make_bit_source
from .release import (
    RNG,
    ColourRelease,
    check_colour,
    exact_cells,
    release_image,
)
from .render import check_renderer
from .render import render as _render
from .render.blocks import blocks, pixel_grid
from .render.blur import blur, gaussian_blur

__all__ = ["dp_blur", "dp_pix", "np_blur", "np_pix"]

Output = Literal["blocks", "grid"]

def _check_output(output: str) -> str:
    if output not in ("blocks", "grid"):
        raise ValueError(f"output must be 'blocks' or 'grid', got {output!r}")
    return output


def np_pix(image: np.ndarray, b: int = 16, *, output: Output = "blocks") -> np.ndarray:
    """Non-private pixelization (mosaic): every ``b x b`` cell becomes its mean.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W) or (H, W, 3)
    b : int
        Cell side in pixels; the last row/column of cells may be partial and
        is averaged over its own pixels only.
    output : {"blocks", "grid"}
        ``"blocks"`` paints each mean over its cell (same shape as ``image``);
        ``"grid"`` returns one pixel per cell, shape ``(ceil(H/b), ceil(W/b)[, 3])``.

    Returns
    -------
    ndarray of uint8

    Notes
    -----
    The blocks renderer on the exact cell means (:func:`dpimage.release.exact_cells`).
    Deterministic: a CNN trained on mosaics re-identifies 96% of AT&T faces
    (McPherson et al. 2016). Offers no privacy guarantee; a baseline only.
    """
    image = check_image(image)
    b = check_positive_int(b, "b")
    output = _check_output(output)
    exact = exact_cells(image, b)
    return pixel_grid(exact) if output == "grid" else blocks(exact)


def dp_pix(
    image: np.ndarray,
    b: int = 16,
    m: int = 16,
    eps: float = 0.5,
    rng: RNG = None,
    *,
    output: Output = "blocks",
    render: str = "blocks",
    render_options: Mapping[str, Any] | None = None,
    colour: str = "rgb",
) -> np.ndarray:
    """Differentially private pixelization, DP-Pix (Fan 2018), exact and eps-DP.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W) or (H, W, 3)
    b : int, default 16
        Cell side in pixels.
    m : int, default 16
        Neighbourhood size: any two images differing in at most ``m`` pixels
        are made indistinguishable up to ``e**eps``.
    eps : float, default 0.5
        Privacy budget spent by this call, for the whole image (all channels).
    rng : None, int or numpy.random.Generator
        ``None`` draws from the OS CSPRNG (a private release). A seed or
        Generator makes the output reproducible for research — and therefore
        *not* private: whoever has the seed can remove the noise.
    output : {"blocks", "grid"}
        Full-size image, or one pixel per cell (only with ``render="blocks"``).
    render : str, default "blocks"
        Renderer of the release (:func:`dpimage.render.names`): ``"blocks"``
        paints the cells as the paper does; ``"smooth"`` and others
        post-process the same release — the same eps, the same noise.
    render_options : mapping, optional
        Keyword options of the renderer (e.g. ``{"k": 9}`` for ``"blur"``).
    colour : {"rgb", "luma-chroma"}, default "rgb"
        Colour path of an RGB image (a gray image ignores it): ``"rgb"``
        spends ``eps`` over R, G, B as the paper does; ``"luma-chroma"``
        (alias ``"ycocg"``) releases luma at ``b`` with ``eps`` and chroma
        on coarser cells with ``eps / 3`` each
        (:func:`dpimage.release.release_colour`): the same total ``eps``, the
        exact worst case over one pixel's change of the three channels
        together (:mod:`dpimage.privacy.colour`), not their sum.

    Returns
    -------
    ndarray of uint8
        Same shape as ``image``, or ``(ceil(H/b), ceil(W/b)[, 3])`` for ``"grid"``.

    Notes
    -----
    The release is :func:`dpimage.release.release_cells`, whose docstring
    carries the derivation. In short:

    *Neighbours*: images of the same shape differing in at most ``m`` pixel
    positions, every channel of such a pixel changing by up to 255.

    *Sensitivity*: the mechanism releases the integer cell sums ``S[k, c]``.
    One changed pixel moves exactly one sum per channel by at most 255, so
    ``||S(x) - S(x')||_1 <= 255 m C = Delta`` for any cell sizes, full or
    partial.

    *Noise*: i.i.d. discrete Laplace, ``P[z] ∝ exp(-|z| eps / Delta)``, on
    each sum; this is eps-DP for the whole image (Laplace mechanism on
    integers, [3]). The released mean ``(S + Z) / n_k`` is clipped to
    ``[0, 255]`` and rounded, or otherwise rendered — post-processing, no
    extra cost.

    *Scale on the mean*: ``255 m C / (n_k eps)`` (:func:`cell_noise_scale`).
    For a full gray cell that is the paper's ``255 m / (b^2 eps)``; a partial
    cell (``n_k < b^2``) gets more, as it must: the paper's ``b^2`` there is
    not eps-DP. RGB spends the one ``eps`` across its three channels (``C = 3``
    in ``Delta``), never ``eps`` per channel.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.full((64, 64), 128, dtype=np.uint8)
    >>> dp_pix(img, rng=0).shape
    (64, 64)
    """
    image = check_image(image)
    b = check_positive_int(b, "b")
    m = check_positive_int(m, "m")
    eps = check_positive_float(eps, "eps")
    output = _check_output(output)
    render = check_renderer(render)
    if output == "grid" and render != "blocks":
        raise ValueError(f"output='grid' is the blocks renderer's grid; got render={render!r}")
    colour = check_colour(colour)
    if output == "grid" and colour != "rgb" and image.ndim == 3:
        raise ValueError("output='grid' is the RGB blocks grid; use colour='rgb'")
    make_bit_source(rng)  # validate rng before any work
    release = release_image(image, b, m, eps, rng, colour)
    if output == "grid":
        return pixel_grid(release)
    return _render(release, render, **dict(render_options or {}))


def np_blur(image: np.ndarray, k: int = 99, *, sigma: float | None = None) -> np.ndarray:
    """Non-private Gaussian blur with a ``k x k`` kernel (OpenCV).

    ``sigma=None`` lets OpenCV derive it from ``k``
    (``0.3 ((k - 1) / 2 - 1) + 0.8``, 15.2 for ``k = 99``). Borders are
    reflected (``BORDER_REFLECT_101``). No privacy guarantee.
    """
    image = check_image(image)
    k = check_kernel_size(k)
    sigma = check_sigma(sigma)
    return gaussian_blur(image, k, sigma)


def dp_blur(
    image: np.ndarray,
    b0: int = 4,
    k: int = 99,
    m: int = 16,
    eps: float = 0.5,
    rng: RNG = None,
    *,
    sigma: float | None = None,
    render: str = "blocks",
    colour: str = "rgb",
) -> np.ndarray:
    """Differentially private blur, DP-Blur (Fan 2019): DP-Pix at ``b0``, then blur.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W) or (H, W, 3)
    b0 : int, default 4
        Cell side of the DP-Pix step.
    k : int, default 99
        Odd Gaussian kernel size.
    m, eps, rng
        As for :func:`dp_pix`; the whole release costs ``eps``.
    sigma : float, optional
        Gaussian sigma; ``None`` derives it from ``k`` as OpenCV does.
    render : str, default "blocks"
        Renderer of the release *before* the blur: ``"blocks"`` is the paper's
        DP-Blur; ``"smooth"`` blurs the smooth renderer's image instead.
    colour : {"rgb", "luma-chroma"}, default "rgb"
        Colour path of the release, as for :func:`dp_pix`.

    Returns
    -------
    ndarray of uint8, same shape as ``image``

    Notes
    -----
    The only access to the image is one release at cell size ``b0``
    (:func:`dpimage.release.release_cells`: sensitivity ``255 m C`` on the
    cell sums, discrete Laplace noise of scale ``255 m C / eps`` per sum,
    ``255 m C / (n_k eps)`` per cell mean). The ``"blur"`` renderer
    (:func:`dpimage.render.blur.blur`) blurs the clipped, rounded blocks with a
    ``k x k`` Gaussian, computed from the cells (for ``k = 99`` from exact
    samples every 2 pixels, within +-1 grey level of the exact float64 blur):
    post-processing of that release, so DP-Blur is eps-DP with the same eps. The blur smooths the
    cell noise into low-frequency blotches, which raises SSIM over DP-Pix at
    the same eps [2].
    """
    image = check_image(image)
    b0 = check_positive_int(b0, "b0")
    k = check_kernel_size(k)
    m = check_positive_int(m, "m")
    eps = check_positive_float(eps, "eps")
    sigma = check_sigma(sigma)
    render = check_renderer(render)
    colour = check_colour(colour)
    if render == "blur":
        raise ValueError("render is the renderer before the blur: blocks or smooth, not blur")
    make_bit_source(rng)
    release = release_image(image, b0, m, eps, rng, colour)
    if render == "blocks" and not isinstance(release, ColourRelease):
        return blur(release, k=k, sigma=sigma)  # the paper's DP-Blur, byte for byte
    return _render(release, "blur", k=k, sigma=sigma, base=render)
