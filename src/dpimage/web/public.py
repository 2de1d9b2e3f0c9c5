"""What the web page offers without looking at the user's image: samples and settings.

* The bundled sample photos (``dpimage/samples``, public domain and CC0), so
  the page can be tried before choosing a private image.
* :func:`public_settings`: b, m and ε from the image's size and channels
  (facts every release publishes) and the size of the thing to protect —
  never from its pixels. The cell side is the one with the smallest
  predicted MSE (:mod:`dpimage.eval.predict`) averaged over the sample
  photos resized to the user's image size: public look-alikes stand in for
  the private image, so the choice spends no privacy and reveals nothing.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .. import methods
from ..eval.predict import predict_method
from ..guarantee import binary_guess_bound
from ..tune import DEFAULT_EPS, TUNABLE, b_grid

__all__ = ["SAMPLE_TYPES", "public_settings", "sample_files", "samples_dir"]

#: Media types of the sample files served.
SAMPLE_TYPES = {".jpg": "image/jpeg", ".png": "image/png"}

# Bounds on what a request may ask for, so the look-alikes stay cheap to build.
_MAX_SIDE = 8192
_WORK_PIXELS = 256 * 256


def samples_dir() -> Path:
    """The folder of the bundled sample photos (package data of ``dpimage``)."""
    from .. import samples  # a namespace package holding only data files

    return Path(next(iter(samples.__path__)))


@functools.cache
def sample_files() -> dict[str, Path]:
    """Sample name -> file; the only names the server will open (no user paths)."""
    folder = samples_dir()
    if not folder.is_dir():
        return {}
    return {
        p.name: p for p in sorted(folder.iterdir()) if p.suffix.lower() in SAMPLE_TYPES
    }


@functools.cache
def _lookalikes(width: int, height: int, channels: int) -> tuple[np.ndarray, ...]:
    out = []
    for path in sample_files().values():
        flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
        image = cv2.imread(str(path), flag)
        if image is None:  # pragma: no cover - the bundled files decode
            continue
        if channels == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        out.append(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA))
    return tuple(out)


def _int(data: dict[str, Any], name: str, low: int, high: int, default: int | None = None) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= int(value) <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {int(value)}")
    return int(value)


def public_settings(data: dict[str, Any]) -> dict[str, Any]:
    """b, m and ε from public facts only: the image size and the thing to protect.

    Parameters
    ----------
    data : dict
        ``width``, ``height`` (the image's size), ``channels`` (1 or 3),
        ``object_width``, ``object_height`` (the thing to protect, pixels),
        ``method`` (``"dp-pix"`` or ``"dp-blur"``; for DP-Blur the cell side
        is ``b0``) and optionally ``eps`` (default :data:`dpimage.tune.DEFAULT_EPS`).

    Returns
    -------
    dict
        ``b`` (or ``b0``), ``m``, ``eps``, and ``reason``: the choice in words.

    Raises
    ------
    ValueError
        With a one-line message for a missing or out-of-range field.
    """
    width = _int(data, "width", 1, _MAX_SIDE)
    height = _int(data, "height", 1, _MAX_SIDE)
    channels = _int(data, "channels", 1, 3, 3)
    if channels == 2:
        raise ValueError("channels must be 1 (gray) or 3 (colour)")
    object_w = _int(data, "object_width", 1, width)
    object_h = _int(data, "object_height", 1, height)
    spec = methods.get(data.get("method", "dp-pix"), among=TUNABLE)
    method = spec.cli_name
    eps = data.get("eps", DEFAULT_EPS)
    if isinstance(eps, bool) or not isinstance(eps, int | float) or not eps > 0:
        raise ValueError(f"eps must be a number > 0, got {eps!r}")
    eps = float(eps)
    m = object_w * object_h
    # Work on look-alikes of at most ~256x256 pixels; scale b back to the real size.
    shrink = min(1.0, (_WORK_PIXELS / (width * height)) ** 0.5)
    work_w, work_h = max(1, round(width * shrink)), max(1, round(height * shrink))
    looks = _lookalikes(work_w, work_h, channels)
    if not looks:
        raise ValueError("the bundled sample photos are missing from this installation")
    scores: dict[int, float] = {}
    for b in b_grid((height, width)):
        # A cell of side b at full size is a cell of side b*shrink in the look-alike, and m
        # pixels there are m*shrink² pixels: the same noise per cell mean.
        b_work = max(1, round(b * shrink))
        m_work = max(1, round(m * shrink * shrink))
        params = {spec.cell: b_work, "m": m_work, "eps": eps}
        mses = [predict_method(spec.name, x, params, clip=True).mse for x in looks]
        scores[b] = float(np.mean(mses))
    best = min(scores, key=scores.__getitem__)
    side = spec.cell
    reason = (
        f"m = {object_w}×{object_h} = {m:,} pixels (the thing to protect); ε = {eps:g} "
        f"(a two-way guess is right at most {100 * binary_guess_bound(eps):.1f}% of the time); "
        f"{side} = {best}: the cell side with the smallest predicted error on the bundled "
        f"sample photos resized to {width}×{height}. Only the image size and the size of "
        "the thing to protect were used — not your image's pixels."
    )
    return {side: best, "m": m, "eps": eps, "method": method, "reason": reason}
