"""Atomic, verified writes: a file appears under its final name complete or not at all.

Every file this package writes goes through :func:`atomic_writer`: the data
goes to a hidden temporary file in the destination directory
(``.dpimage-<random>.tmp``), which is flushed, synced to disk, checked to hold
every byte written, and only then renamed onto the destination.

Why the check, and why the stream has no ``fileno``
---------------------------------------------------
On a full disk ``write(2)`` may store only part of a buffer and return a short
count. Python's buffered files retry the rest (and so get the ``ENOSPC``
error), but encoders that write to the raw descriptor themselves do not all
look at the count: Pillow's JPEG encoder, given a real file, silently dropped
the tail and left JPEGs of exactly 4096 or 8192 bytes that looked written. The
stream handed out here therefore hides its descriptor (``fileno()`` raises
:class:`io.UnsupportedOperation`, so libraries fall back to ``write()``),
every ``write`` goes through :func:`_write_chunk` in a loop that stores all of
it or raises, and after ``fsync`` the file's size on disk must equal what was
written. Any failure removes the temporary file and leaves the destination as
it was.
"""

from __future__ import annotations

import errno
import io
import os
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from filelock import lock_descriptor

from ._errors import OutputExistsError

__all__ = ["TEMP_PREFIX", "TEMP_SUFFIX", "atomic_writer", "remove_stale_temporaries"]

#: Names of the temporary files (hidden, never an output name).
TEMP_PREFIX = ".dpimage-"
TEMP_SUFFIX = ".tmp"

#: Buffer of the stream; large enough that an encoder's small writes are few syscalls.
_BUFFER = 256 * 1024


def _write_chunk(fd: int, data: memoryview) -> int:
    """One ``write(2)``; returns how many bytes the OS took (a test seam for full disks)."""
    return os.write(fd, data)


class _RawFile(io.RawIOBase):
    """A raw, seekable, write-only file over ``fd`` whose writes are never short.

    ``fileno()`` is deliberately unsupported (see the module notes).
    """

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        self._pos = 0  # where the writes say the file offset is
        self.end = 0  # highest offset written: the size the file must have

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        raise io.UnsupportedOperation("fileno")

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            count = _write_chunk(self._fd, view[done:])
            if count <= 0:
                # A write that stores nothing and reports no error: treat as a full disk.
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            done += count
        self._pos += done
        self.end = max(self.end, self._pos)
        return done

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._pos = os.lseek(self._fd, offset, whence)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def truncate(self, size: int | None = None) -> int:
        size = self.tell() if size is None else size
        os.ftruncate(self._fd, size)
        self.end = size
        return size

    def close(self) -> None:
        if not self.closed:
            try:
                os.close(self._fd)
            finally:
                super().close()

    def commit_checks(self) -> None:
        """Sync to disk and check that the file holds every byte written."""
        os.fsync(self._fd)
        size = os.fstat(self._fd).st_size
        if size != self.end:
            raise OSError(
                errno.EIO, f"incomplete write: {size} of {self.end} bytes reached the disk"
            )


class _Stream(io.BufferedWriter):
    """The buffered stream :func:`atomic_writer` yields; no ``fileno`` (see module notes)."""

    def fileno(self) -> int:
        raise io.UnsupportedOperation("fileno")


def _hold(fd: int) -> bool:
    """Lock the temporary file on ``fd`` for as long as it is open (see :func:`_open_temp`).

    Returns whether it is held; a file system without ``flock`` gives
    ``False`` (its temporary files are then never removed by another run).
    """
    try:
        return lock_descriptor(fd, blocking=True)
    except OSError:
        return False


def _open_temp(directory: Path, mode: int = 0o666) -> tuple[int, Path]:
    """Create a new empty temporary file in ``directory``; return (fd, path).

    The file is locked (``flock``) through ``fd``, and stays locked until
    ``fd`` is closed, which the caller does only after the file was renamed
    or removed: that lock is what tells a live write from the leftover of a
    killed process (:func:`remove_stale_temporaries`). A cleaner that removed
    the file between its creation and the lock leaves it with no name; a new
    one is made then.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    flags |= getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = directory / f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}"
        try:
            # 0o666 by default so that the process umask decides the final
            # permissions, exactly as for a file created directly.
            fd = os.open(tmp, flags, mode)
        except FileExistsError:  # pragma: no cover - 64 random bits collided
            continue
        if _hold(fd) and os.fstat(fd).st_nlink == 0:
            os.close(fd)  # removed by a cleaner before we held it
            continue
        return fd, tmp


def _commit(tmp: Path, dest: Path, *, overwrite: bool) -> None:
    """Move the finished temporary file ``tmp`` to ``dest`` in one step."""
    if overwrite:
        os.replace(tmp, dest)
        return
    try:
        # A hard link never replaces an existing file: no race with a file
        # that appears between an existence check and the rename.
        os.link(tmp, dest)
    except FileExistsError:
        raise OutputExistsError(f"{os.fspath(dest)} already exists") from None
    except OSError:
        # The file system has no hard links: fall back to check-then-rename.
        if os.path.lexists(dest):
            raise OutputExistsError(f"{os.fspath(dest)} already exists") from None
        os.replace(tmp, dest)
        return
    os.unlink(tmp)


@contextmanager
def atomic_writer(
    path: str | os.PathLike[str], *, overwrite: bool = False, mode: int | None = None
) -> Iterator[BinaryIO]:
    """Open a binary stream whose content replaces ``path`` only when complete.

    The data goes to a temporary file in the same directory (so the final
    rename stays on one file system), which is flushed, synced, checked to
    hold every byte written and then moved onto ``path``. If anything fails
    (including a full disk at any point), the temporary file is removed,
    ``path`` is left as it was and the error is raised naming ``path``.

    Parameters
    ----------
    path : path-like
        Destination file. Its directory must exist.
    overwrite : bool, optional
        Replace ``path`` if it exists. Otherwise an existing ``path`` raises
        :class:`~dpimage.io.OutputExistsError` and is left untouched.
    mode : int, optional
        Permissions of the new file (e.g. ``0o600`` for a key), applied when
        it is created, so it is never readable by others even briefly.
        Default: ``0o666`` less the umask, as for any new file.

    Yields
    ------
    BinaryIO
        The stream to write to (seekable; ``fileno()`` is unsupported so
        that every byte goes through checked writes).
    """
    dest = Path(path)
    try:
        fd, tmp = _open_temp(dest.parent) if mode is None else _open_temp(dest.parent, mode)
    except OSError as exc:
        # Name the destination, not the random temporary name.
        raise OSError(exc.errno, exc.strerror, os.fspath(dest)) from None
    raw = _RawFile(fd)
    try:
        if mode is not None:
            os.fchmod(fd, mode)  # exactly ``mode``, whatever the umask
        with _Stream(raw, buffer_size=_BUFFER) as stream:
            yield stream  # type: ignore[misc]
            stream.flush()
            raw.commit_checks()
            # Renamed while the descriptor (and so its lock) is still open:
            # a locked temporary file is never taken for a leftover.
            _commit(tmp, dest, overwrite=overwrite)
    except BaseException as exc:
        with suppress(OSError):
            os.unlink(tmp)
        if (
            isinstance(exc, OSError)
            and exc.errno is not None
            and exc.strerror
            and (exc.filename is None or os.fspath(exc.filename) == os.fspath(tmp))
        ):
            # Name the destination (never the random temporary name, never "None").
            raise OSError(exc.errno, exc.strerror, os.fspath(dest)) from None
        raise


def _remove_if_stale(path: str) -> bool:
    """Remove the temporary file ``path`` if no live process holds it; return whether removed."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False  # gone already, a link, unreadable: not ours to judge
    try:
        try:
            if not lock_descriptor(fd, blocking=False):
                return False  # a live write holds it
        except OSError:
            return False  # no flock here: a live write cannot be told from a dead one
        held, named = os.fstat(fd), os.lstat(path)
        if (held.st_dev, held.st_ino) != (named.st_dev, named.st_ino):
            return False
        # Removed while locked, so a writer that opened it just now sees it unnamed.
        os.unlink(path)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def remove_stale_temporaries(directories: Iterable[Path], before: float | None = None) -> int:
    """Remove the temporary files of dead processes from ``directories``; return how many.

    A process killed while writing (``kill -9``, a worker lost, a video
    encode stopped) cannot remove its temporary file (``.dpimage-*.tmp``,
    never an output name). Every live write holds a lock on its temporary
    file (:func:`_open_temp`) that the kernel drops when the process ends,
    so a temporary file nobody holds is a leftover: the rule is the same
    for image batches and videos, and never touches the file of a run still
    writing, into this output or another one in the same folder.

    Parameters
    ----------
    directories : iterable of Path
        Folders to look in (not recursively).
    before : float, optional
        Also require the file to be last modified before this time
        (``time.time()``); default: any age.
    """
    removed = 0
    for directory in directories:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if not (name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)):
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                if before is not None and entry.stat(follow_symlinks=False).st_mtime >= before:
                    continue
            except OSError:
                continue
            removed += _remove_if_stale(entry.path)
    return removed
