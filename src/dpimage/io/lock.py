"""One output belongs to one run at a time: an advisory lock held for the whole run.

A run reads the manifest of its output when it starts and writes it back when
it ends; a second run into the same output in between would overwrite the
first one's record (releases lost from the books), and the first run to end
would remove the journal the other still writes. So every run that writes
into an output (a batch's folder or single file, a video file) holds
:func:`output_lock` on its manifest from before it reads the manifest until
after it has written it. A second run refuses at once
(:class:`OutputBusyError`, before it writes anything) rather than waiting:
it would otherwise start, possibly hours later, against outputs it never
planned for, with nothing on the screen saying why it does not progress.

The lock is ``flock`` on a hidden file beside the manifest
(``.dpimage-manifest.json.lock``, ``.OUT.mp4.manifest.json.lock``) taken with
:func:`filelock.lock_descriptor`. The kernel drops it when the process ends,
``kill -9`` included, so a dead run never blocks the next. The file is
removed when the run ends (so a finished output holds only its files and
its manifest): it is unlinked while still locked, and a run that locks a
file no longer under that name (removed by the previous holder in between)
simply tries again, so two runs can never both believe they hold it.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from filelock import lock_descriptor

__all__ = ["OutputBusyError", "lock_path", "output_lock"]


class OutputBusyError(ValueError):
    """Another live run holds the output (a usage error: choose another output or wait)."""


def lock_path(manifest: str | os.PathLike[str]) -> Path:
    """The lock file of the output whose manifest is ``manifest`` (hidden, beside it)."""
    path = Path(manifest)
    return path.with_name(f".{path.name}.lock")


def _make_dirs(directory: Path) -> list[Path]:
    """Create ``directory`` and its missing parents; return those created (deepest first)."""
    missing = []
    current = directory
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    if not current.is_dir():
        raise NotADirectoryError(
            errno.ENOTDIR, f"{os.fspath(current)} is a file, not a directory"
        )
    for path in reversed(missing):
        with suppress(FileExistsError):
            path.mkdir()
    return missing


def _refuse_link(lock: Path, output: str) -> None:
    raise OutputBusyError(
        f"{lock}: is a symbolic link; dpimage does not follow links in an output it "
        f"writes ({output}): remove it"
    )


@contextmanager
def output_lock(manifest: str | os.PathLike[str], output: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the output whose manifest is ``manifest`` for the duration of the ``with`` block.

    Parameters
    ----------
    manifest : path-like
        The output's manifest (see :func:`dpimage.io.files.manifest_for`);
        its directory is created if needed (and removed again at the end if
        the run left it empty).
    output : path-like
        The output as the user named it, for the message.

    Yields
    ------
    Path
        The lock file.

    Raises
    ------
    OutputBusyError
        If another live run holds it (one line naming the output), or the
        lock's place holds a symbolic link.
    OSError
        If the lock file cannot be created (a read-only folder, ...), naming
        ``output``.
    """
    lock = lock_path(manifest)
    try:
        created = _make_dirs(lock.parent)
    except NotADirectoryError as exc:
        raise OSError(exc.errno, exc.strerror, os.fspath(output)) from None
    except OSError as exc:
        why = f"cannot create directory {lock.parent} ({exc.strerror or exc})"
        raise OSError(exc.errno, why, os.fspath(output)) from None
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = -1
    try:
        while True:
            try:
                fd = os.open(lock, flags, 0o666)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    _refuse_link(lock, os.fspath(output))
                why = f"cannot create its lock file {lock.name} ({exc.strerror or exc})"
                raise OSError(exc.errno, why, os.fspath(output)) from None
            if not lock_descriptor(fd, blocking=False):
                os.close(fd)
                fd = -1
                raise OutputBusyError(
                    f"{os.fspath(output)}: another dpimage run is writing this output "
                    f"(it holds {lock.name}); wait for it to end or choose another output"
                )
            try:
                on_disk = os.lstat(lock)
            except FileNotFoundError:
                on_disk = None
            held = os.fstat(fd)
            if on_disk is not None and (on_disk.st_dev, on_disk.st_ino) == (
                held.st_dev,
                held.st_ino,
            ):
                break
            # The previous holder removed this file after we opened it: take the new one.
            os.close(fd)
            fd = -1
        yield lock
    finally:
        if fd >= 0:
            # Unlinked while still held: whoever opens the name next gets a new file.
            with suppress(OSError):
                os.unlink(lock)
            os.close(fd)
        for directory in created:  # deepest first; only if the run left it empty
            try:
                directory.rmdir()
            except OSError:
                break
