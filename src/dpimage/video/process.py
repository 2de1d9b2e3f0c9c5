"""The frame loop: decode, (detect,) release, encode — as generators, no CLI.

:func:`process_video` is a generator that yields :class:`Progress` events
and returns a :class:`VideoResult` (``result = yield from process_video(...)``
or drive it with :func:`run_to_end`). Full-frame mode is one pass. Region mode
is two passes over the file: the first decodes and runs the detector, links
detections into tracks and fixes which frames release afresh (so that a
``--total-eps`` budget can be split before any noise is drawn); the second
decodes again, releases and encodes. Only processed frames ever reach the
encoder.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import read_manifest, remove_stale_temporaries
from ..io.files import manifest_for
from ..io.lock import output_lock
from ..regions import (
    Box,
    Track,
    covered_boxes,
    link_tracks,
)
from .accounting import (
    account,
    full_frame_release_frames,
    region_release_frames,
    split_budget,
)
from .io import DecodeLog, VideoWriter, count_frames, probe, read_frames, sample_frames
from .pipeline import WriteBehind, read_ahead
from .record import record_release
from .regions import FrameCountError, RegionSettings, Release, count_regions, region_stream
from .settings import VideoResult, VideoSettings
from .spans import in_spans, split_by_spans
from .truncation import TruncatedVideoError, shortfall

__all__ = ["Progress", "full_frame_stream", "process_video", "run_to_end"]


@dataclass(frozen=True)
class Progress:
    """One step of work: ``stage`` is ``"counting"``, ``"detecting"`` or ``"releasing"``."""

    stage: str
    done: int
    total: int | None



# ---------------------------------------------------------------------------
# Pure frame streams
# ---------------------------------------------------------------------------


def full_frame_stream(
    frames: Iterable[np.ndarray],
    release: Release,
    every: int,
    fresh: list[int],
    inside: Callable[[int], int | None] | None = None,
) -> Iterator[np.ndarray]:
    """Release frames ``0, N, 2N, ...`` and repeat each release until the next.

    The index of every fresh release is appended to ``fresh``. With
    ``inside`` (frame index -> its time span, or ``None``), a frame outside
    every span passes through as it is, and the first frame of each span is
    released afresh (see :func:`~dpimage.video.accounting.full_frame_release_frames`).
    """
    last: np.ndarray | None = None
    span: int | None = None
    for i, frame in enumerate(frames):
        k = 0 if inside is None else inside(i)
        if k is None:
            span = None
            yield frame  # outside the spans: published as it is
            continue
        if last is None or k != span or i % every == 0:
            last = release(frame)
            fresh.append(i)
        span = k
        yield last


# ---------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------


def _detect_pass(
    src: Path,
    regions: RegionSettings,
    width: int,
    height: int,
    expected: int | None,
    log: DecodeLog | None = None,
    inside: Callable[[int], int | None] | None = None,
) -> Generator[Progress, None, tuple[list[Track], int]]:
    detect = regions.make_detector(width, height)
    detections: dict[int, list[Box]] = {}
    n = 0
    every = 1 if regions.source == "boxes" else regions.detect_every
    # HOG works on luma; user boxes need no pixels at all (decoded only to count);
    # the face and text networks take colour
    gray = not {"faces", "text"} & set(regions.source.split("+"))
    for i, frame in enumerate(sample_frames(src, every if regions.source != "boxes" else 10**9,
                                            gray=gray, log=log)):
        # outside the spans nothing is released: the detector is not run there
        if i % every == 0 and (inside is None or inside(i) is not None):
            detections[i] = detect(frame, i)  # scaled and clipped
        n = i + 1
        yield Progress("detecting", n, max(n, expected) if expected else None)
    tracks = link_tracks(detections, max_gap=max(regions.carry, 1))
    return tracks, n


def process_video(
    src: str | Path,
    dst: str | Path,
    settings: VideoSettings,
    *,
    overwrite: bool = False,
    allow_partial: bool = False,
) -> Generator[Progress, None, VideoResult]:
    """Release a video file and record it. Yields :class:`Progress`; returns :class:`VideoResult`.

    The output belongs to this run until it ends: the run holds the output's
    lock (:func:`dpimage.io.lock.output_lock`) from before it reads the
    manifest beside ``dst`` (``OUT.mp4.manifest.json``) until after it wrote
    it with this release added (:mod:`dpimage.video.record`); temporary files
    of killed runs in ``dst``'s folder are removed once it holds the lock
    (:func:`dpimage.io.remove_stale_temporaries`; counted in
    :attr:`VideoResult.stale_removed` and said in its notices). The frames
    are released by :func:`_release_frames`.

    Raises
    ------
    dpimage.io.lock.OutputBusyError
        (a ``ValueError``) If another run is writing ``dst``; nothing is read
        or written then.
    ValueError
        If the manifest beside ``dst`` is not a valid dpimage manifest
        (naming it); nothing is read or written then.
    """
    src, dst = Path(src), Path(dst)
    if dst.is_dir():
        # found before the lock and any decoding: encoding every frame to fail at the end
        # helps no one
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a video file", str(dst))
    manifest_path = manifest_for(dst, directory=False)
    with output_lock(manifest_path, dst):
        previous = read_manifest(manifest_path)
        removed = remove_stale_temporaries([dst.parent])
        result = yield from _release_frames(src, dst, settings, overwrite, allow_partial)
        if removed:
            result.stale_removed = removed
            result.notices.append(
                f"removed {removed} temporary file(s) that killed runs had left in {dst.parent}"
            )
        record_release(dst, manifest_path, previous, settings, result)
    return result


def _release_frames(
    src: Path, dst: Path, settings: VideoSettings, overwrite: bool, allow_partial: bool
) -> Generator[Progress, None, VideoResult]:
    """Release a video file's frames into ``dst``, unrecorded (see :func:`process_video`).

    Nothing is written under ``dst`` unless the whole clip was encoded. An
    input that ends before the frames its container announces (a truncated
    or damaged file) raises :class:`TruncatedVideoError`, naming the frame and
    time where it stops, and writes nothing, unless ``allow_partial=True``:
    then the frames there are go out and :attr:`VideoResult.partial` says so.
    """
    info = probe(src)
    log = DecodeLog()
    notices: list[str] = []
    if any(info.orientation):
        turns, mirror = info.orientation
        notices.append(
            "display rotation applied to the pixels"
            + (f" ({90 * turns} degrees counter-clockwise)" if turns else "")
            + (" (mirrored)" if mirror else "")
            + f": the output is {info.width}x{info.height} and upright, with no rotation flag"
        )
    audio_from = None
    if info.has_audio:
        if settings.keep_audio:
            audio_from = src
            notices.append("audio kept as is (--keep-audio): voices and sounds are NOT protected")
        else:
            notices.append("audio dropped (use --keep-audio to keep it, unprotected)")
    regions = settings.regions
    inside = (
        functools.partial(in_spans, rate=info.rate, spans=settings.spans)
        if settings.spans
        else None
    )
    regions_found = None

    if regions is None:
        every = settings.every
        n_planned = None
        eps = settings.eps
        if settings.total_eps is not None:
            n_planned = count_frames(src, log=log)
            yield Progress("counting", n_planned, n_planned)
            planned_full = full_frame_release_frames(n_planned, every, inside)
            if not planned_full:
                raise ValueError(f"{src}: no frame lies in the spans; nothing written")
            eps = split_budget(settings.total_eps, len(planned_full))
        fresh: list[int] = []
        release = settings.release_fn(eps)
        # decoded in a read-ahead thread while this one releases and encodes
        frames: Iterable[np.ndarray] = read_ahead(read_frames(src, log=log))
        stream = full_frame_stream(frames, release, every, fresh, inside)
        mode = "per-frame" if every == 1 else "release-every"
        track_releases: dict[int, int] = {}
        total = n_planned or info.frames
    else:
        tracks, n_planned = yield from _detect_pass(
            src, regions, info.width, info.height, info.frames, log, inside
        )
        covered = covered_boxes(tracks, n_planned, carry=regions.carry)
        # outside the spans nothing is released; a track is cut into one per span
        covered = split_by_spans(covered, info.rate, settings.spans)
        regions_found = count_regions(covered, inside)
        every_r = None if regions.reuse else settings.every
        first_last: dict[int, tuple[int, int]] = {}
        for f, row in enumerate(covered):
            for t, _ in row:
                first_last[t] = (first_last.get(t, (f, f))[0], f)
        spans = list(first_last.values())
        planned = region_release_frames(spans, every_r)
        if not planned:
            where = "in any frame inside the spans" if settings.spans else "in any frame"
            raise ValueError(
                f"{src}: no {regions.source} found {where}; nothing written "
                "(region mode would release the video unchanged)"
            )
        eps = settings.eps
        if settings.total_eps is not None:
            eps = split_budget(settings.total_eps, len(planned))
        fresh = []
        track_releases = {}
        stream = region_stream(
            read_frames(src, log=log), covered, settings.region_release_fn(eps),
            every=every_r, fresh=fresh, track_releases=track_releases,
        )
        mode = "region-reuse" if regions.reuse else (
            "region-per-frame" if settings.every == 1 else "region-every"
        )
        total = n_planned

    with VideoWriter(
        dst, width=info.width, height=info.height, rate=info.rate, overwrite=overwrite,
        audio_from=audio_from,
    ) as writer:
        # encoded in a write-behind thread while this one releases the next frame
        with WriteBehind(writer.write) as encoder:
            for i, out in enumerate(stream):
                if n_planned is not None and i >= n_planned:
                    raise FrameCountError(
                        f"{src}: decoded more frames than the {n_planned} the budget was "
                        "split over"
                    )
                encoder.put(out)
                yield Progress("releasing", i + 1, total)
        n_frames = writer.frames_written
        partial = shortfall(src, n_frames, info, log)
        if partial is not None and not allow_partial:
            # Raised inside the writer: its temporary file is removed, dst untouched.
            raise TruncatedVideoError(
                f"{partial['message']}; nothing written (--allow-partial releases "
                f"the {n_frames} frames)"
            )
        if not fresh:
            # Raised inside the writer: nothing is written under dst.
            raise ValueError(f"{src}: no frame lies in the spans; nothing written")
    if n_frames == 0:  # pragma: no cover - the writer would have nothing to commit
        raise ValueError(f"{src}: no frames decoded")
    accounting = account(
        frames=n_frames,
        release_frames=fresh,
        mode=mode,
        eps=eps,
        max_track_releases=max(track_releases.values()) if track_releases else None,
    )
    if settings.total_eps is not None:
        accounting = dataclasses.replace(accounting, total_eps_budget=settings.total_eps)
        assert accounting.eps_object <= settings.total_eps
    if writer.audio_dropped:
        notices.append(
            f"audio: the {writer.format} muxer kept {writer.audio_copied - writer.audio_dropped} "
            f"of {writer.audio_copied} packets; it drops packets that are not valid audio "
            "frames, such as the fragment of a frame at the start of a clip that was cut"
        )
    if partial is not None:
        notices.append(partial["message"] + "; released as a partial video (--allow-partial)")
    if settings.spans:
        inside_n = sum(1 for i in range(n_frames) if inside(i) is not None)  # type: ignore[misc]
        notices.append(
            f"{n_frames - inside_n} of {n_frames} frames lie outside the spans: published as "
            "they are, NOT protected"
        )
    return VideoResult(
        accounting=accounting, encoding=writer.description, notices=notices, partial=partial,
        regions_found=regions_found, rate=info.rate,
    )


def run_to_end(gen: Generator[Progress, None, VideoResult]) -> VideoResult:
    """Drive :func:`process_video` without showing progress; return its result."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
