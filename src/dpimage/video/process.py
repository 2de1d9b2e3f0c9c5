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
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .. import methods
from .._validation import check_positive_int
from ..io import read_manifest, remove_stale_temporaries
from ..io.files import manifest_for
from ..io.lock import output_lock
from ..regions import (
    Box,
    Track,
    covered_boxes,
    enlarge_box,
    link_tracks,
)
from .accounting import (
    VideoAccounting,
    account,
    full_frame_release_frames,
    region_release_frames,
    split_budget,
)
from .io import DecodeLog, VideoWriter, count_frames, probe, read_frames, sample_frames
from .pipeline import WriteBehind, read_ahead
from .record import record_release
from .regions import FrameCountError, RegionSettings, region_stream
from .truncation import TruncatedVideoError, shortfall

__all__ = [
    "Progress",
    "RegionSettings",
    "TruncatedVideoError",
    "VideoResult",
    "VideoSettings",
    "full_frame_stream",
    "process_video",
    "region_stream",
    "run_to_end",
]

Release = Callable[[np.ndarray], np.ndarray]

#: The methods a video can be released with (names of :mod:`dpimage.methods`).
VIDEO_METHODS = ("dp_pix", "dp_blur")


@dataclass(frozen=True)
class VideoSettings:
    """Everything that decides a video release.

    Exactly one of ``eps`` (per fresh release) and ``total_eps`` (budget for
    the clip) is set. ``every`` is the release period (1: every frame).
    """

    method: Literal["dp_pix", "dp_blur"] = "dp_pix"  # or any alias of dpimage.methods
    b: int = 16
    b0: int = 4
    k: int = 99
    m: int = 16
    eps: float | None = 0.5
    total_eps: float | None = None
    every: int = 1
    regions: RegionSettings | None = None
    seed: int | None = None
    keep_audio: bool = False
    render: str = "blocks"  # renderer of each release (before the blur for DP-Blur)
    colour: str = "rgb"  # colour path of RGB frames (dpimage.release.colour)

    def __post_init__(self) -> None:
        try:
            name = methods.get(self.method).name  # "pix", "blur", "dp-pix", ... all resolve
        except ValueError:
            name = None
        if name not in VIDEO_METHODS:
            raise ValueError(f"method must be dp_pix or dp_blur (or an alias), got {self.method!r}")
        object.__setattr__(self, "method", name)  # the registry's spelling, as everywhere
        if (self.eps is None) == (self.total_eps is None):
            raise ValueError("give exactly one of eps and total_eps")
        check_positive_int(self.every, "every")
        if self.regions is not None and self.regions.reuse and self.every != 1:
            raise ValueError("region reuse releases once per track; it takes no release period")
        if self.seed is not None and (isinstance(self.seed, bool) or self.seed < 0):
            raise ValueError(f"seed must be a non-negative integer, got {self.seed}")
        # The method registry is the judge of b, b0, k, m, eps, render and colour.
        checked = self.spec.validate(
            self._params(self.eps if self.eps is not None else self.total_eps)
        )
        object.__setattr__(self, "colour", checked["colour"])  # "ycocg" -> "luma-chroma"

    @property
    def spec(self) -> methods.Method:
        return methods.get(self.method)

    @property
    def mechanism(self) -> str:
        return self.spec.name

    def _cell(self) -> dict[str, Any]:
        """The method's own parameters besides m and eps (b; or b0 and k), as it names them."""
        return {name: getattr(self, name) for name in self.spec.shown}

    def _params(self, eps: float) -> dict[str, Any]:
        return {**self._cell(), "m": self.m, "eps": eps, "render": self.render,
                "colour": self.colour}

    def parameters(self) -> dict[str, Any]:
        """Mechanism parameters for the manifest."""
        params = self._cell()
        params.update(m=self.m, eps=self.eps, total_eps=self.total_eps, release_every=self.every)
        if (self.render, self.colour) != ("blocks", "rgb"):
            params.update(render=self.render, colour=self.colour)
        split = self.spec.budget(self._params(self.eps)) if self.eps is not None else None
        if split is not None:  # per fresh release, for RGB frames: public parameters only
            params["colour_split"] = split
        return params

    def release_fn(self, eps: float) -> Release:
        """The mechanism at ``eps``, drawing from one stream for the whole clip."""
        rng = np.random.default_rng(self.seed) if self.seed is not None else None
        spec = self.spec
        params = spec.validate(self._params(eps))
        return lambda img: spec.apply(img, params, rng)


@dataclass(frozen=True)
class Progress:
    """One step of work: ``stage`` is ``"counting"``, ``"detecting"`` or ``"releasing"``."""

    stage: str
    done: int
    total: int | None


@dataclass
class VideoResult:
    """What a finished run did.

    ``partial`` is None for a complete input; for a truncated input released
    with ``allow_partial=True`` it says how far the input went (see
    :class:`TruncatedVideoError`).
    """

    accounting: VideoAccounting
    encoding: str
    notices: list[str] = field(default_factory=list)
    partial: dict[str, Any] | None = None
    #: The output's manifest with this release added (``None`` until recorded).
    manifest: dict[str, Any] | None = None
    manifest_path: Path | None = None
    #: One line if the manifest could not be written (the video is written).
    manifest_error: str | None = None
    #: Temporary files of killed runs removed from the output's folder.
    stale_removed: int = 0


# ---------------------------------------------------------------------------
# Pure frame streams
# ---------------------------------------------------------------------------


def full_frame_stream(
    frames: Iterable[np.ndarray], release: Release, every: int, fresh: list[int]
) -> Iterator[np.ndarray]:
    """Release frames ``0, N, 2N, ...`` and repeat each release until the next.

    The index of every fresh release is appended to ``fresh``.
    """
    last: np.ndarray | None = None
    for i, frame in enumerate(frames):
        if i % every == 0 or last is None:
            last = release(frame)
            fresh.append(i)
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
) -> Generator[Progress, None, tuple[list[Track], int]]:
    detect = regions.make_detector()
    detections: dict[int, list[Box]] = {}
    n = 0
    every = 1 if regions.source == "boxes" else regions.detect_every
    # HOG works on luma; user boxes need no pixels at all (decoded only to count);
    # the face and text networks take colour
    gray = not {"faces", "text"} & set(regions.source.split("+"))
    for i, frame in enumerate(sample_frames(src, every if regions.source != "boxes" else 10**9,
                                            gray=gray, log=log)):
        if i % every == 0:
            found = []
            for raw in detect(frame, i):
                box = enlarge_box(raw, regions.mask_scale, width, height)
                if box is not None:
                    found.append(box)
            detections[i] = found
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
        result = yield from _release_frames(
            src, dst, settings, overwrite=overwrite, allow_partial=allow_partial
        )
        if removed:
            result.stale_removed = removed
            result.notices.append(
                f"removed {removed} temporary file(s) that killed runs had left in {dst.parent}"
            )
        record_release(dst, manifest_path, previous, settings, result)
    return result


def _release_frames(
    src: str | Path,
    dst: str | Path,
    settings: VideoSettings,
    *,
    overwrite: bool = False,
    allow_partial: bool = False,
) -> Generator[Progress, None, VideoResult]:
    """Release a video file's frames into ``dst``, unrecorded (see :func:`process_video`).

    Nothing is written under ``dst`` unless the whole clip was encoded. An
    input that ends before the frames its container announces (a truncated
    or damaged file) raises :class:`TruncatedVideoError`, naming the frame and
    time where it stops, and writes nothing, unless ``allow_partial=True``:
    then the frames there are go out and :attr:`VideoResult.partial` says so.
    """
    src, dst = Path(src), Path(dst)
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

    if regions is None:
        every = settings.every
        n_planned = None
        eps = settings.eps
        if settings.total_eps is not None:
            n_planned = count_frames(src, log=log)
            yield Progress("counting", n_planned, n_planned)
            eps = split_budget(settings.total_eps, len(full_frame_release_frames(n_planned, every)))
        fresh: list[int] = []
        release = settings.release_fn(eps)
        # decoded in a read-ahead thread while this one releases and encodes
        frames: Iterable[np.ndarray] = read_ahead(read_frames(src, log=log))
        stream = full_frame_stream(frames, release, every, fresh)
        mode = "per-frame" if every == 1 else "release-every"
        track_releases: dict[int, int] = {}
        total = n_planned or info.frames
    else:
        tracks, n_planned = yield from _detect_pass(
            src, regions, info.width, info.height, info.frames, log
        )
        covered = covered_boxes(tracks, n_planned, carry=regions.carry)
        every_r = None if regions.reuse else settings.every
        first_last: dict[int, tuple[int, int]] = {}
        for f, row in enumerate(covered):
            for t, _ in row:
                first_last[t] = (first_last.get(t, (f, f))[0], f)
        spans = list(first_last.values())
        planned = region_release_frames(spans, every_r)
        if not planned:
            raise ValueError(
                f"{src}: no {regions.source} found in any frame; nothing written "
                "(region mode would release the video unchanged)"
            )
        eps = settings.eps
        if settings.total_eps is not None:
            eps = split_budget(settings.total_eps, len(planned))
        fresh = []
        track_releases = {}
        release = settings.release_fn(eps)
        stream = region_stream(
            read_frames(src, log=log), covered, release, every=every_r, fresh=fresh,
            track_releases=track_releases,
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
    return VideoResult(
        accounting=accounting, encoding=writer.description, notices=notices, partial=partial
    )


def run_to_end(gen: Generator[Progress, None, VideoResult]) -> VideoResult:
    """Drive :func:`process_video` without showing progress; return its result."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
