"""Setting up a worker process: one OpenCV thread, a tuned allocator, and a parent watch.

A worker of a local pool must not outlive the program that started it: if
that program is killed with ``kill -9`` it cannot tell its workers to stop,
and a worker waiting for its next job would wait forever (holding the
forkserver and the resource tracker alive with it: both exit once their
last client is gone). :func:`watch_parent` makes the worker exit as soon as
the main process is gone.
"""

from __future__ import annotations

import ctypes
import os
import platform
import select
import signal
import threading
import time
from typing import Any

__all__ = ["dask_worker_plugin", "keep_freed_memory", "watch_parent", "worker_setup"]

#: glibc ``mallopt`` parameters (``<malloc.h>``) and the values a batch uses.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest allowed value on 64-bit
_TRIM_THRESHOLD = 256 * 1024 * 1024

#: How often the portable fallback of :func:`watch_parent` looks (seconds).
_POLL_S = 0.5


def keep_freed_memory() -> bool:
    """Let this process reuse freed image buffers instead of returning them to the OS.

    A batch allocates and frees the same few multi-megabyte arrays for every
    file (the decoded image, the released one, the encoder's buffers). With
    glibc's defaults the freed memory is trimmed back to the kernel after each
    file and page-faulted (zero-filled) back in for the next one: measured on
    1,000 1920×1080 JPEGs, decode + encode took 30 ms per file that way and 19
    ms with the buffers kept (``benchmarks/bench_batch.py``). Raising the
    trim threshold to 256 MiB and serving allocations up to 32 MiB from the
    heap removes that cost; the process keeps at most its peak working set,
    which a batch reaches on its first file anyway.

    Returns
    -------
    bool
        Whether the allocator was tuned (only with glibc; elsewhere nothing
        is changed and the batch is merely slower).
    """
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success, 0 on error.
    return bool(
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists (another user's process would need the pid reused)
    return False


def watch_parent(pid: int) -> threading.Thread | None:
    """Exit this process promptly once process ``pid`` (the batch's main process) is gone.

    A daemon thread waits on a pidfd of ``pid`` where the OS has them (Linux
    5.3+: woken the instant the process ends, no polling, no pid reuse),
    otherwise (other POSIX systems) checks every half second that ``pid``
    still exists; on Windows it waits on the parent's process handle. The parent
    of a pool worker is the forkserver, not the main process, so the parent
    id alone (``os.getppid``, ``PR_SET_PDEATHSIG``) would not tell.

    The exit is immediate (``os._exit``): nobody is left to receive results,
    and a write cut short leaves only a temporary file, which the next run
    removes. Returns the thread, or ``None`` if ``pid`` is this process.
    """
    if pid == os.getpid():
        return None
    if os.name == "nt":
        # No forkserver on Windows: a spawned worker's parent is the main
        # process, whose sentinel handle is signalled when it exits (and
        # os.kill(pid, 0) would terminate it there).
        import multiprocessing
        from multiprocessing.connection import wait as wait_for

        parent = multiprocessing.parent_process()
        if parent is None or parent.pid != pid:
            return None

        def wait() -> None:
            wait_for([parent.sentinel])
            os._exit(1)

    else:
        fd = None
        if hasattr(os, "pidfd_open"):
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:
                os._exit(1)  # already gone
            except OSError:
                fd = None  # kernel without pidfds: poll instead

        def wait() -> None:
            if fd is not None:
                select.select([fd], [], [])
            else:
                while not _gone(pid):
                    time.sleep(_POLL_S)
            os._exit(1)

    thread = threading.Thread(target=wait, name="dpimage-parent-watch", daemon=True)
    thread.start()
    return thread


def worker_setup(main_pid: int | None = None) -> None:
    """Prepare a worker process: one OpenCV thread, freed buffers kept, the main process watched.

    A batch already runs one process per core; OpenCV's own thread pool in
    every worker would oversubscribe the cores (and slow everyone down). See
    :func:`keep_freed_memory` for the allocator and :func:`watch_parent` for
    ``main_pid`` (``None``: not watched, as on a Dask worker, whose nanny
    does that job).
    """
    import cv2

    cv2.setNumThreads(1)
    keep_freed_memory()
    if main_pid is not None:
        # Ctrl-C reaches the whole process group. A pool worker interrupted while it
        # holds the result queue's lock can leave the pool's shutdown waiting forever;
        # the main process handles Ctrl-C instead (cancels what has not started, lets the
        # running releases finish, records them, exits 130).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        watch_parent(main_pid)


def dask_worker_plugin() -> Any:
    """A Dask worker plugin running :func:`worker_setup` on every worker, restarted ones too."""
    from distributed import WorkerPlugin

    class _Setup(WorkerPlugin):
        name = "dpimage-worker-setup"

        def setup(self, worker: Any) -> None:
            worker_setup()

    return _Setup()
