"""What the m-neighbourhood guarantee says about identity: pixel distances between people."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..privacy import epsilon_for_distance

__all__ = ["identity_bound", "pixel_distances"]


def pixel_distances(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Number of differing pixel positions for every pair of images of *different* classes.

    Parameters
    ----------
    images : ndarray of uint8, shape (n, H, W)
    labels : ndarray of int, shape (n,)

    Returns
    -------
    ndarray of int64, one entry per unordered cross-class pair.
    """
    flat = np.asarray(images).reshape(len(images), -1)
    labels = np.asarray(labels)
    out = []
    for i in range(len(flat) - 1):
        other = np.flatnonzero(labels[i + 1 :] != labels[i]) + i + 1
        if other.size:
            out.append(np.count_nonzero(flat[other] != flat[i], axis=1))
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, dtype=np.int64)


def identity_bound(
    distances: np.ndarray, eps_values: Iterable[float], *, m: int = 16, shape: tuple[int, int]
) -> dict[str, Any]:
    """What the m-neighbourhood guarantee says about *identity* on real images.

    Parameters
    ----------
    distances : ndarray of int
        Pixel distances ``d`` between images of different people
        (:func:`pixel_distances`).
    eps_values : iterable of float
        The eps of one release.
    m : int
        The neighbourhood the release was calibrated for.
    shape : (H, W)
        Image shape (gray).

    Returns
    -------
    dict
        ``distance``: min / 5th percentile / median of ``d``; ``rows``: for
        each eps, the identity bound ``eps d / m`` at the minimum and median
        ``d`` (and the generic group-privacy ``eps * ceil(d / m)``), the ``m``
        and the noise that would bring the bound down to 1.

    Notes
    -----
    Two images ``d`` pixels apart differ by at most ``255 d C`` in L1 over the
    cell sums, so one release with noise scale ``255 m C / eps`` makes them
    ``eps d / m``-indistinguishable (:func:`dpimage.privacy.epsilon_for_distance`,
    exact for the Laplace mechanism; the generic group-privacy bound
    ``eps * ceil(d / m)`` is never smaller). A likelihood-ratio bound
    ``e^{eps d / m}`` says nothing once ``eps d / m`` is more than a few units.

    For an identity bound of 1 the noise scale on the sums must be
    ``255 d C``, whatever ``m`` and ``eps`` are chosen to get it (only the
    ratio ``m / eps = d`` matters). We report it as ``m = ceil(eps d)`` at the
    given eps, and the resulting Laplace scale of a full ``16 x 16`` cell mean
    (``255 d / 256`` grey levels) and of a single cell covering the whole
    image (``255 d / (H W)``).
    """
    from .. import cell_noise_scale

    d = np.asarray(distances)
    h, w = int(shape[0]), int(shape[1])
    stats = {
        "pairs": int(d.size),
        "pixels": h * w,
        "min": int(d.min()),
        "p05": float(np.percentile(d, 5)),
        "median": float(np.median(d)),
    }
    dmed = round(stats["median"])
    rows = []
    for eps in eps_values:
        m_needed = int(np.ceil(float(eps) * dmed))
        rows.append(
            {
                "eps": float(eps),
                "noise_scale_b16": float(cell_noise_scale((h, w), b=16, m=m, eps=eps)[0, 0]),
                "bound_min": epsilon_for_distance(stats["min"], m=m, eps=eps),
                "bound_median": epsilon_for_distance(dmed, m=m, eps=eps),
                "group_bound_median": float(eps) * -(-dmed // m),
                "m_for_bound_1": m_needed,
                "noise_scale_b16_for_bound_1": float(
                    cell_noise_scale((h, w), b=16, m=m_needed, eps=eps)[0, 0]
                ),
                "noise_scale_one_cell_for_bound_1": float(
                    cell_noise_scale((h, w), b=max(h, w), m=m_needed, eps=eps)[0, 0]
                ),
            }
        )
    return {"m": m, "distance": stats, "rows": rows}
