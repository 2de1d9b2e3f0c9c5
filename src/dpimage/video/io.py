"""Video files in and out with PyAV (FFmpeg): decode anything, encode H.264 or VP9.

Reading yields upright RGB ``uint8`` frames. Writing keeps the input's size
and frame rate, drops audio unless asked, copies **no** container or stream
metadata (GPS, device, creation time, titles), and is atomic: frames go to a
hidden temporary file in the destination directory that replaces the
destination only once the container is complete. An interrupted run leaves
no half-written video under the output name.

Default encodings (chosen from what the PyAV wheel can encode here):

* ``.mp4``, ``.mov``, ``.mkv``: H.264 (libx264), CRF 18, preset ``superfast``,
  4:2:0 chroma (4:4:4 for odd sizes, which 4:2:0 cannot hold). ``superfast``
  encodes the noisy mosaics ~1.7x faster than ``veryfast`` at about the same size;
* ``.webm``: VP9 (libvpx-vp9), CRF 30, constant quality.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..io import InputError, OutputError, OutputExistsError
from ..io.atomic import _commit, _open_temp

__all__ = [
    "VIDEO_FORMATS",
    "VideoInfo",
    "VideoWriter",
    "count_frames",
    "encoding_for",
    "import_av",
    "probe",
    "read_frames",
    "sample_frames",
]

_H264 = ("libx264", {"crf": "18", "preset": "superfast"}, "H.264 (libx264) CRF 18, superfast")

#: Output extension -> (container format, codec, codec options, description).
VIDEO_FORMATS: dict[str, tuple[str, str, dict[str, str], str]] = {
    "mp4": ("mp4", *_H264),
    "mov": ("mov", *_H264),
    "mkv": ("matroska", *_H264),
    "webm": ("webm", "libvpx-vp9", {"crf": "30", "b": "0"}, "VP9 (libvpx-vp9) CRF 30"),
}


def import_av() -> Any:
    """Import PyAV, or raise ImportError naming the extra to install."""
    try:
        import av
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "video needs PyAV: pip install 'dpimage[video]' (or pip install av)"
        ) from None
    return av


def encoding_for(path: str | os.PathLike[str]) -> tuple[str, str, dict[str, str], str]:
    """Container, codec, options and description for an output path (by extension)."""
    ext = Path(path).suffix.lstrip(".").lower()
    if ext not in VIDEO_FORMATS:
        raise OutputError(
            f"{os.fspath(path)}: unknown video extension {ext!r}; use one of: "
            + ", ".join(sorted(VIDEO_FORMATS))
        )
    return VIDEO_FORMATS[ext]


@dataclass(frozen=True)
class VideoInfo:
    """What the reader needs to know about an input video (never written anywhere)."""

    width: int
    height: int
    rate: Fraction
    frames: int | None
    has_audio: bool
    duration: float | None = None

    @property
    def expected_frames(self) -> tuple[int, str] | None:
        """Frames the container announces, and where that figure comes from.

        The stream's frame count when the container states one (MP4, MOV),
        else its duration times the frame rate (Matroska, WebM), else None.
        """
        if self.frames:
            return self.frames, "frame count"
        if self.duration:
            return round(self.duration * self.rate), "duration"
        return None


def _open_input(path: Path) -> Any:
    av = import_av()
    if not path.is_file():
        raise InputError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise InputError(f"{path}: not a readable video ({exc.strerror or exc})") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{path}: no video stream")
    return container


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Size, frame rate, frame count (if the container states it) and audio presence."""
    p = Path(path)
    with contextlib.closing(_open_input(p)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        frames = int(stream.frames) if stream.frames else None
        if stream.duration and stream.time_base:
            duration: float | None = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000  # AV_TIME_BASE
        else:
            duration = None
        return VideoInfo(
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            rate=Fraction(rate),
            frames=frames,
            has_audio=bool(container.streams.audio),
            duration=duration,
        )


def _decode(container: Any, path: Path, damaged: list[str] | None) -> Iterator[Any]:
    """Decoded frames of the first video stream; a damaged end is reported, not hidden.

    With frame threads (``thread_type="AUTO"``) FFmpeg's decoder ends quietly
    where the data ends; with other modes it raises. Either way the caller
    compares the frames it got with :attr:`VideoInfo.expected_frames`. A decoder
    error after at least one frame is appended to ``damaged`` (when given) and
    ends the stream; before any frame, or without ``damaged``, it raises
    :class:`~dpimage.io.InputError`.
    """
    av = import_av()
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    n = 0
    try:
        for frame in container.decode(stream):
            n += 1
            yield frame
    except av.FFmpegError as exc:
        reason = exc.strerror or str(exc)
        if damaged is None or n == 0:
            raise InputError(f"{path}: decoding failed ({reason})") from None
        damaged.append(f"decoding failed after frame {n} ({reason})")


def read_frames(
    path: str | os.PathLike[str], *, damaged: list[str] | None = None
) -> Iterator[np.ndarray]:
    """Decode the first video stream to RGB ``uint8`` arrays ``(H, W, 3)``, in order.

    Raises :class:`~dpimage.io.InputError` (one line, naming the file) if the
    file cannot be decoded. A decoder error after some frames ends the stream
    and is appended to ``damaged`` if a list is given (see :func:`_decode`).
    """
    p = Path(path)
    with contextlib.closing(_open_input(p)) as container:
        for frame in _decode(container, p, damaged):
            yield frame.to_ndarray(format="rgb24")


def sample_frames(
    path: str | os.PathLike[str],
    every: int,
    *,
    gray: bool = False,
    damaged: list[str] | None = None,
) -> Iterator[np.ndarray | None]:
    """Decode every frame but convert only every ``every``-th; ``None`` for the others.

    For a detector that runs on some frames: the codec must decode them all,
    but colour conversion is skipped where it is not needed. ``gray=True``
    yields ``(H, W)`` luma frames, otherwise RGB ``(H, W, 3)``.
    """
    p = Path(path)
    fmt = "gray" if gray else "rgb24"
    with contextlib.closing(_open_input(p)) as container:
        for i, frame in enumerate(_decode(container, p, damaged)):
            yield frame.to_ndarray(format=fmt) if i % every == 0 else None


def count_frames(path: str | os.PathLike[str], *, damaged: list[str] | None = None) -> int:
    """Number of decodable video frames (decodes the stream; exact, not the header's claim)."""
    p = Path(path)
    with contextlib.closing(_open_input(p)) as container:
        return sum(1 for _ in _decode(container, p, damaged))


class VideoWriter:
    """Encode RGB frames to ``path`` atomically; use as a context manager.

    Parameters
    ----------
    path : path-like
        Destination; the extension selects the encoding (:data:`VIDEO_FORMATS`).
    width, height : int
        Frame size (kept from the input).
    rate : Fraction
        Frame rate (kept from the input); frames are stamped ``i / rate``.
    overwrite : bool
        Replace an existing ``path``; otherwise :class:`OutputExistsError`.
    audio_from : path-like, optional
        Copy the audio packets of this file's first audio stream (no
        re-encoding, no stream metadata). ``None`` drops audio.

    Notes
    -----
    No metadata is copied from anywhere: the muxer writes only its own
    technical tags (e.g. ``encoder=Lavf...``). On an exception inside the
    ``with`` block, or if the encoder fails, the temporary file is removed and
    ``path`` is left as it was.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        width: int,
        height: int,
        rate: Fraction,
        overwrite: bool = False,
        audio_from: str | os.PathLike[str] | None = None,
    ):
        self.path = Path(path)
        self.format, self.codec, self.options, self.description = encoding_for(self.path)
        self.width, self.height, self.rate = int(width), int(height), Fraction(rate)
        self.overwrite = overwrite
        self.audio_from = Path(audio_from) if audio_from is not None else None
        self.frames_written = 0
        self._container: Any = None
        self._stream: Any = None
        self._tmp: Path | None = None
        self._tmp_fd: int | None = None
        self._audio_source: Any = None
        self._audio_stream: Any = None

    def __enter__(self) -> VideoWriter:
        av = import_av()
        if os.path.lexists(self.path) and not self.overwrite:
            raise OutputExistsError(f"{self.path} already exists")
        if not self.path.parent.is_dir():
            # As the image commands do: create the output's directory.
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputError(
                    f"{self.path}: cannot create directory {self.path.parent} "
                    f"({exc.strerror or exc})"
                ) from None
        # The descriptor stays open (holding the temporary file's lock) until the
        # file is renamed or removed: a live encode is never taken for a leftover.
        self._tmp_fd, self._tmp = _open_temp(self.path.parent)
        try:
            self._container = av.open(str(self._tmp), mode="w", format=self.format)
            stream = self._container.add_stream(self.codec, rate=self.rate)
            stream.width, stream.height = self.width, self.height
            even = self.width % 2 == 0 and self.height % 2 == 0
            stream.pix_fmt = "yuv420p" if even or self.codec != "libx264" else "yuv444p"
            if self.codec == "libvpx-vp9" and not even:
                stream.pix_fmt = "yuv444p"
            stream.options = dict(self.options)
            stream.codec_context.time_base = 1 / self.rate
            self._stream = stream
            if self.audio_from is not None:
                self._add_audio()
        except BaseException:
            self._discard()
            raise
        return self

    def write(self, frame: np.ndarray) -> None:
        """Encode one RGB ``uint8`` frame of the writer's size."""
        av = import_av()
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(
                f"frame must be uint8 ({self.height}, {self.width}, 3), "
                f"got {frame.dtype} {frame.shape}"
            )
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        vf.pts = self.frames_written
        vf.time_base = 1 / self.rate
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self.frames_written += 1

    def _add_audio(self) -> None:
        av = import_av()
        source = av.open(str(self.audio_from), mode="r", metadata_errors="ignore")
        self._audio_source = source
        if source.streams.audio:
            self._audio_stream = self._container.add_stream_from_template(
                source.streams.audio[0]
            )
            self._audio_stream.metadata.clear()

    def _copy_audio(self) -> None:
        if self._audio_stream is None:
            return
        src = self._audio_source.streams.audio[0]
        for packet in self._audio_source.demux(src):
            if packet.dts is None:
                continue
            packet.stream = self._audio_stream
            self._container.mux(packet)

    def _close_audio(self) -> None:
        if self._audio_source is not None:
            with contextlib.suppress(Exception):
                self._audio_source.close()
            self._audio_source = None

    def _discard(self) -> None:
        self._close_audio()
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
        self._release_tmp()
        self._container = None

    def _release_tmp(self) -> None:
        if self._tmp_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._tmp_fd)
            self._tmp_fd = None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self._discard()
            return
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._copy_audio()
            self._close_audio()
            self._container.close()
            self._container = None
            with open(self._tmp, "rb+") as stream:
                os.fsync(stream.fileno())
            _commit(self._tmp, self.path, overwrite=self.overwrite)
        except BaseException:
            self._discard()
            raise
        self._release_tmp()
