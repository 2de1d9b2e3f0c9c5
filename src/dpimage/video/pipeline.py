"""Overlap decoding with releasing and encoding: a bounded read-ahead thread.

FFmpeg's decoders (through PyAV) release the GIL while they work, so a
thread that decodes the next frames while the main thread releases and
encodes the current one uses a second core that would otherwise idle. The
order of frames, every exception and the end of the stream (including a
damaged end reported by the reader) reach the consumer unchanged.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["read_ahead"]

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
