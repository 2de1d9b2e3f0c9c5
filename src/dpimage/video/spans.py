"""Time spans of a clip to release; every frame outside them is published as it is.

A span is ``(start, end)`` in seconds, ``end`` ``None`` for "to the end of
the clip". Frame ``i`` is at ``i / rate`` seconds (the output is written at
the input's constant rate, stamped so: :class:`dpimage.video.io.VideoWriter`),
and lies in a span when ``start <= i / rate < end``, in exact rational
arithmetic (a frame on a boundary is never in two spans or in none by rounding).

Privacy: frames outside the spans are not protected at all (decoded and
re-encoded, pixels unchanged up to the encoder's loss); the accounting counts
only the releases inside the spans.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Sequence
from fractions import Fraction

__all__ = [
    "OUTSIDE_SPANS",
    "Span",
    "check_spans",
    "describe_spans",
    "in_spans",
    "parse_span",
    "split_by_spans",
]

Span = tuple[float, float | None]

#: What happens to the frames outside the spans (recorded in the manifest).
OUTSIDE_SPANS = (
    "published as they are: decoded and re-encoded with the pixels unchanged (up to the "
    "encoder's loss), NOT protected at all; releases and epsilon count only the frames "
    "inside the spans"
)

_SPAN = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*-\s*(\d+(?:\.\d*)?|\.\d+)?\s*$")


def parse_span(text: str) -> Span:
    """``"10-25"`` -> ``(10.0, 25.0)``; ``"60-"`` -> ``(60.0, None)`` (seconds).

    Raises
    ------
    ValueError
        If ``text`` is not ``START-END`` or ``START-`` with ``START < END``.
    """
    match = _SPAN.match(text)
    if match is None:
        raise ValueError(
            f"a span is START-END or START- in seconds (e.g. 10-25, 60-), got {text!r}"
        )
    start = float(match.group(1))
    end = float(match.group(2)) if match.group(2) is not None else None
    return check_spans([(start, end)])[0]


def check_spans(spans: Iterable[Sequence[float | None]]) -> tuple[Span, ...]:
    """Spans sorted by start; :class:`ValueError` for a bad or overlapping one."""
    checked: list[Span] = []
    for span in spans:
        if len(span) != 2:
            raise ValueError(f"a span is (start, end) in seconds, got {tuple(span)!r}")
        start, end = span
        if start is None or not (math.isfinite(start) and start >= 0):
            raise ValueError(f"a span starts at a time >= 0 s, got {start!r}")
        if end is not None and not (math.isfinite(end) and end > start):
            raise ValueError(f"a span ends after it starts, got {start:g}-{end:g}")
        checked.append((float(start), None if end is None else float(end)))
    checked.sort(key=lambda s: s[0])
    for (s0, e0), (s1, _) in itertools.pairwise(checked):
        if e0 is None or s1 < e0:
            raise ValueError(f"spans overlap: {_text((s0, e0))} and one starting at {s1:g} s")
    return tuple(checked)


def _text(span: Span) -> str:
    start, end = span
    return f"{start:g}-" + ("" if end is None else f"{end:g}")


def in_spans(index: int, rate: Fraction, spans: Sequence[Span]) -> int | None:
    """The position in ``spans`` of the span holding frame ``index``, or ``None``."""
    t = Fraction(index) / Fraction(rate)
    for k, (start, end) in enumerate(spans):
        if Fraction(start) <= t and (end is None or t < Fraction(end)):
            return k
    return None


def split_by_spans(
    covered: list[list[tuple[int, tuple[int, int, int, int]]]],
    rate: Fraction,
    spans: Sequence[Span],
) -> list[list[tuple[int, tuple[int, int, int, int]]]]:
    """Region boxes only in the frames inside ``spans``; a track cut into one per span.

    A track that goes on across two spans becomes two tracks, so that its
    first frame in each span is a fresh release (never a release of a frame
    before the gap, pasted) and the per-track accounting counts each part.
    """
    if not spans:
        return covered
    ids: dict[tuple[int, int], int] = {}
    out: list[list[tuple[int, tuple[int, int, int, int]]]] = []
    for i, row in enumerate(covered):
        k = in_spans(i, rate, spans)
        if k is None:
            out.append([])
            continue
        out.append([(ids.setdefault((tid, k), len(ids)), box) for tid, box in row])
    return out


def describe_spans(spans: Sequence[Span], rate: Fraction, frames: int) -> dict[str, object]:
    """The manifest's record of the spans released, and what became of the rest."""
    inside = sum(1 for i in range(frames) if in_spans(i, rate, spans) is not None)
    return {
        "released_seconds": [[start, end] for start, end in spans],
        "frame_time": "frame i is at i / frame_rate seconds; in a span when start <= t < end",
        "frame_rate": str(Fraction(rate)),
        "frames_inside": inside,
        "frames_outside": frames - inside,
        "outside": OUTSIDE_SPANS,
    }
