"""Telling a complete input video from one that ends early.

FFmpeg's decoder, with frame threads, ends quietly where a truncated file's
data ends; with other thread modes it raises. Either way what was decoded is
compared with what the container announces, so that a partial clip is never
passed off as the whole one:

* a stated frame count (MP4, MOV) must be met exactly;
* a stated duration (Matroska, WebM) is compared with *time*: where the last
  decoded frame ends (its timestamp plus its duration). Counting frames
  against duration x frame rate would call every complete variable-rate clip
  (a phone slowing down in the dark, a screen recording) truncated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["TruncatedVideoError", "shortfall"]


class TruncatedVideoError(ValueError):
    """The input ended before what its container announces (nothing was written)."""


def _slack(duration: float, rate: float) -> float:
    """Seconds a complete clip may fall short of its stated duration.

    Muxers round the duration and may count an audio track that outlasts the
    video, or guess the last frame's length: 1% of the duration, and at least
    two frames at the stated rate.
    """
    return max(duration / 100, 2 / rate)


def shortfall(src: Path, decoded: int, info: Any, log: Any) -> dict[str, Any] | None:
    """How the input ended early, or None if it decoded completely.

    Parameters
    ----------
    src : Path
        The input (named in the message).
    decoded : int
        Frames released.
    info : VideoInfo
        What the container announces (:func:`dpimage.video.io.probe`).
    log : DecodeLog
        What the decoding passes met; any decoder error counts as an early end.
    """
    damaged = log.damaged
    short = bool(damaged)
    reached = None if log.end_time is None else log.end_time - info.start
    seconds = reached if reached is not None else float(decoded / info.rate)
    stops = f"; it stops at frame {decoded} (t = {seconds:.2f} s)"
    if info.expected_frames is not None:
        expected = info.expected_frames
        short = short or decoded < expected
        stops = f" of the {expected} its frame count announces" + stops
    elif info.duration and reached is not None:
        short = short or reached < info.duration - _slack(info.duration, float(info.rate))
        stops = (
            f", up to t = {reached:.2f} s of the {info.duration:.2f} s its duration "
            f"announces; it stops at frame {decoded}"
        )
    if not short:
        return None
    where = (
        f"the input ended early: {decoded} frames decoded"
        + stops
        + (f", {damaged[0]}" if damaged else "")
    )
    return {
        "input_ended_early": True,
        "frames_released": decoded,
        "frames_announced": info.expected_frames,
        "seconds_announced": info.duration,
        "announced_by": "frame count" if info.expected_frames is not None
        else "duration" if info.duration else None,
        "ends_at_seconds": round(seconds, 3),
        "message": f"{src}: {where}",
    }
