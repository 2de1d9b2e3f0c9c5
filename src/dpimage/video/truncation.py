"""Telling a complete input video from one that ends early.

FFmpeg's decoder, with frame threads, ends quietly where a truncated file's
data ends; with other thread modes it raises. Either way the frames decoded
are compared with what the container announces (its frame count, or its
duration times the frame rate), so that a partial clip is never passed off as
the whole one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["TruncatedVideoError", "shortfall"]


class TruncatedVideoError(ValueError):
    """The input ended before the frames its container announces (nothing was written)."""


def shortfall(
    src: Path, decoded: int, info: Any, damaged: list[str]
) -> dict[str, Any] | None:
    """How the input ended early, or None if it decoded completely.

    A stated frame count must be met exactly; a duration-based estimate
    (Matroska, WebM) may be off by rounding, so 1% (at least one frame) is
    allowed. Any decoder error counts as an early end.
    """
    announced = info.expected_frames
    short = bool(damaged)
    if announced is not None:
        expected, source = announced
        slack = 0 if source == "frame count" else max(1, expected // 100)
        short = short or decoded < expected - slack
    else:
        expected, source = None, None
    if not short:
        return None
    seconds = float(decoded / info.rate)
    where = (
        f"the input ended early: {decoded} frames decoded"
        + (f" of the {expected} its {source} announces" if expected is not None else "")
        + f"; it stops at frame {decoded} (t = {seconds:.2f} s)"
        + (f", {damaged[0]}" if damaged else "")
    )
    return {
        "input_ended_early": True,
        "frames_released": decoded,
        "frames_announced": expected,
        "announced_by": source,
        "ends_at_seconds": round(seconds, 3),
        "message": f"{src}: {where}",
    }
