"""Old import path of :mod:`.research.evaluate` (the results report's evaluation).

``evaluate``, ``picture_grid``, ``jpeg_bytes_for_psnr``, ``psnr``, ``ssim``
and ``_mean_metrics`` (used by the benchmarks) resolve to that module.
"""

from __future__ import annotations

from .research.evaluate import (  # noqa: F401 (re-exports)
    _mean_metrics,
    evaluate,
    jpeg_bytes_for_psnr,
    picture_grid,
    psnr,
    ssim,
)

__all__ = ["evaluate", "jpeg_bytes_for_psnr", "picture_grid", "psnr", "ssim"]
