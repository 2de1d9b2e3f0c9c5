"""Overlap decoding, releasing and encoding: a read-ahead and a write-behind thread.

FFmpeg's decoders (through PyAV) release the GIL while they work, so a
thread that decodes the next frames while the main thread releases and
encodes the current one uses a second core that would otherwise idle. The
order of frames, every exception and the end of the stream (including a
damaged end reported by the reader) reach the consumer unchanged.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["WriteBehind", "read_ahead"]

T = TypeVar("T")

_END = object()


def read_ahead(items: Iterable[T], depth: int = 4) -> Iterator[T]:
    """Iterate ``items`` in a background thread, at most ``depth`` items ahead.

    Exceptions raised by ``items`` are re-raised here, at the position where
    they happened. Closing this generator early (or an exception in the
    consumer) stops the thread and closes ``items`` (e.g. a reader's file).
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not put((item, None)):
                    break
            else:
                put((_END, None))
        except BaseException as exc:  # handed to the consumer, re-raised there
            put((_END, exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=work, name="dpimage-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = buffer.get()
            if item is _END:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        thread.join()


class WriteBehind:
    """Hand frames to ``write`` in a background thread, at most ``depth`` behind.

    The encoder (PyAV/x264) releases the GIL, so encoding frame ``i`` overlaps
    releasing frame ``i + 1``. Frames are written in order; the first error of
    ``write`` is raised by the next :meth:`put` or by leaving the ``with``
    block, which waits for every frame to be written (or, on an error in the
    caller, stops the thread without writing the rest). Frames put here must
    not be modified afterwards.
    """

    def __init__(self, write: Callable[[Any], None], depth: int = 2):
        self._write = write
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._work, name="dpimage-write-behind", daemon=True)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if self._error is not None or self._cancel.is_set():
                continue  # drain without writing
            try:
                self._write(item)
            except BaseException as exc:  # re-raised in the caller's thread
                self._error = exc

    def __enter__(self) -> WriteBehind:
        self._thread.start()
        return self

    def put(self, frame: Any) -> None:
        """Queue ``frame`` for writing (blocks while ``depth`` frames wait)."""
        if self._error is not None:
            raise self._error
        self._queue.put(frame)

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self._cancel.set()
        self._queue.put(_END)
        self._thread.join()
        if exc_type is None and self._error is not None:
            raise self._error
