"""Release a batch of image files: one input at a time, in a process pool, or on Dask.

Everything the command line does to *one* input lives in :func:`process_one`:
read the file, run the mechanism, write the result atomically, append one line
to the run's journal. It returns a small :class:`Result` (a status and one-line
messages), never pixels, so it can run in any process: the serial loop, a local
process pool (:func:`run_jobs` with ``workers > 1``) or a Dask cluster
(:func:`run_jobs` with ``client=``) all call the same function, and so give the
same files and the same manifest whatever the number of workers.

:func:`run_jobs` streams: at most ``window`` inputs are in flight at once, so
memory stays bounded however many files there are, and results come back in
input order (ordered progress and messages), whatever order workers finish in.

Resuming
--------
An output that exists when the run starts is skipped (unless ``overwrite``),
so rerunning an interrupted command completes the rest. Outputs are written
atomically (:func:`dpimage.io.atomic_writer`), so a killed run leaves no partial
file. Each written output is recorded in a journal file beside the manifest
(``.dpimage-manifest.json.journal``: one JSON line per output, appended with
``O_APPEND`` just before the output's atomic rename) so that a run killed before
it could write its manifest loses no record: the next run folds the entries
whose output exists into the manifest
(:func:`dpimage.io.manifest.merge_manifests`) and removes the journal.
Temporary files that a killed process could not remove are removed by the next
run (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import platform
import secrets
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .io import InputError, Job, OutputError, OutputExistsError, read_image, write_image
from .mechanisms import dp_blur, dp_pix
from .roi import RegionSpec, dp_blur_regions, dp_pix_regions, find_regions

__all__ = [
    "SEED_DERIVATION",
    "ReleaseParams",
    "Result",
    "describe_error",
    "journal_path",
    "keep_freed_memory",
    "process_many",
    "process_one",
    "read_journal",
    "remove_stale_temporaries",
    "run_jobs",
    "seeded_rng",
    "start_journal",
]

#: How a seeded run gives each output its own reproducible generator: the same
#: seed and output path always give the same noise, whatever else is in the
#: batch and whichever worker draws it.
SEED_DERIVATION = "numpy.random.default_rng([seed, *sha256(output path, UTF-8)[:16] as 4 uint32])"

#: Per-input failures: reported on one line, the batch carries on.
PER_INPUT_ERRORS = (InputError, OutputError, OSError, ValueError, MemoryError)

_MECHANISMS: dict[str, Callable[..., np.ndarray]] = {"dp_pix": dp_pix, "dp_blur": dp_blur}
_REGION_MECHANISMS: dict[str, Callable[..., np.ndarray]] = {
    "dp_pix": dp_pix_regions,
    "dp_blur": dp_blur_regions,
}

#: Result statuses.
WRITTEN, SKIPPED, FAILED, EXISTS = "written", "skipped", "failed", "exists"


def seeded_rng(seed: int, name: str) -> np.random.Generator:
    """The reproducible generator of output ``name`` in a run seeded with ``seed``.

    See :data:`SEED_DERIVATION`. Not a private release: anyone with the seed
    can regenerate the noise.
    """
    digest = hashlib.sha256(name.encode("utf-8")).digest()[:16]
    words = np.frombuffer(digest, dtype="<u4")
    return np.random.default_rng([seed, *(int(w) for w in words)])


def describe_error(exc: BaseException, source: Path | None = None) -> str:
    """One line for a per-input failure, naming the file."""
    if isinstance(exc, InputError):
        return str(exc)  # already starts with the input path
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else source
        text = f"{where}: {exc.strerror}"
        if source is not None and where is not None and Path(where) != source:
            text = f"{source}: {text}"
        return text
    if isinstance(exc, MemoryError):
        first = "not enough memory for this image"
    else:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{source}: {first}" if source is not None else first


@dataclass(frozen=True)
class ReleaseParams:
    """What a run does to every input; small and picklable, shipped to workers.

    Attributes
    ----------
    mechanism : {"dp_pix", "dp_blur"}
        Library mechanism applied to each image.
    options : mapping
        Its keyword arguments other than the image and ``rng`` (e.g. ``b``,
        ``m``, ``eps``, ``output`` for DP-Pix).
    eps : float
        ε each output spends (as recorded in the manifest).
    seed : int or None
        ``None`` for a private release (secure sampler); an integer for a
        reproducible, NOT private, research run (see :func:`seeded_rng`).
    quality : int
        JPEG/WebP quality of the outputs.
    overwrite : bool
        Replace existing outputs (never an input).
    max_pixels : int or None
        Decompression-bomb limit for reading.
    journal : str or None
        Journal file to append one line per written output to (see module
        notes); ``None`` for none.
    run_id : str
        Identifies this run's lines in the journal.
    regions : RegionSpec or None
        Release only these regions of each image (faces, people or user
        boxes), the rest untouched; ``None`` releases the whole image. An
        image in which no region is found fails (it would go out as is).
    """

    mechanism: str
    options: Mapping[str, Any]
    eps: float
    seed: int | None = None
    quality: int = 95
    overwrite: bool = False
    max_pixels: int | None = None
    journal: str | None = None
    run_id: str = field(default_factory=lambda: secrets.token_hex(8))
    regions: RegionSpec | None = None

    def __post_init__(self) -> None:
        if self.mechanism not in _MECHANISMS:
            raise ValueError(
                f"unknown mechanism {self.mechanism!r}; use one of: {', '.join(_MECHANISMS)}"
            )

    @property
    def mechanism_name(self) -> str:
        """The mechanism as the manifest names it (``dp_pix_regions`` in region mode)."""
        return self.mechanism if self.regions is None else f"{self.mechanism}_regions"

    def release(self, image: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """Apply the mechanism to one image array (or to its regions)."""
        if self.regions is None:
            return _MECHANISMS[self.mechanism](image, rng=rng, **self.options)
        boxes = find_regions(image, self.regions)
        if not boxes:
            raise ValueError(
                f"no {self.regions.source} found; nothing written (the image would go out as is)"
            )
        options = {key: value for key, value in self.options.items() if key != "output"}
        return _REGION_MECHANISMS[self.mechanism](image, boxes, rng=rng, **options)


@dataclass(frozen=True)
class Result:
    """What became of one input: small, so it travels back from any worker.

    Attributes
    ----------
    index : int
        Position of the input in the run (results are yielded in this order).
    name : str
        The output's path relative to the manifest's directory.
    status : str
        ``"written"``, ``"skipped"`` (the output existed before the run),
        ``"failed"``, or, from :func:`process_one` only, ``"exists"`` (the
        output appeared after the run checked for it; see :func:`run_jobs`).
    eps : float
        ε spent on this output (0 unless written).
    messages : tuple of (str, str)
        ``(level, text)`` lines to show, level one of ``"note"``, ``"skip"``,
        ``"error"``.
    """

    index: int
    name: str
    status: str
    eps: float = 0.0
    messages: tuple[tuple[str, str], ...] = ()


def _skip_message(target: Path) -> tuple[str, str]:
    return ("skip", f"skipped {target}: already exists (use --overwrite)")


def process_one(job: Job, params: ReleaseParams, index: int = 0) -> Result:
    """Read one input, release it with ``params`` and write the output atomically.

    Parameters
    ----------
    job : dpimage.io.Job
        The input file and its planned output.
    params : ReleaseParams
        Mechanism, privacy parameters and output options of the run.
    index : int, optional
        Position of the job in the run, copied into the result.

    Returns
    -------
    Result
        Status and messages. Per-input problems (unreadable, corrupt, refused
        output, ...) are returned as ``"failed"`` with a one-line message
        naming the file, never raised. An output that already exists is
        left untouched and reported as ``"exists"`` unless
        ``params.overwrite``.

    Notes
    -----
    Pixels never leave this function: only the small :class:`Result` does,
    so it suits process pools and remote workers. The written output is
    appended to ``params.journal`` (if given) just before its atomic rename.
    """
    target = job.target
    if not params.overwrite and os.path.lexists(target):
        return Result(index, job.name, EXISTS, messages=(_skip_message(target),))
    messages: list[tuple[str, str]] = []
    journal_problem = None
    try:
        image, notices = read_image(job.source, max_pixels=params.max_pixels)
        messages.extend(("note", notice) for notice in notices)
        rng = seeded_rng(params.seed, job.name) if params.seed is not None else None
        released = params.release(image, rng)
        del image
        if params.journal is not None:
            # Recorded before the output appears, so a run killed at any
            # instant loses no record; an entry whose output never appeared
            # is dropped when the journal is read back (nothing was released).
            record = {"run": params.run_id, "path": job.name, "epsilon": params.eps}
            try:
                _append_journal(params.journal, record)
            except OSError as exc:
                # Said only if the output itself can be written (else its own
                # error names the problem).
                journal_problem = describe_error(exc)
        write_image(
            released,
            target,
            quality=params.quality,
            overwrite=params.overwrite,
            protect=[job.source],
        )
    except OutputExistsError:
        return Result(index, job.name, EXISTS, messages=(_skip_message(target),))
    except PER_INPUT_ERRORS as exc:
        messages.append(("error", f"error: {describe_error(exc, job.source)}"))
        return Result(index, job.name, FAILED, messages=tuple(messages))
    if journal_problem is not None:
        messages.append(("note", f"{target}: not in the run's journal ({journal_problem})"))
    return Result(index, job.name, WRITTEN, params.eps, tuple(messages))


# ---------------------------------------------------------------------------
# Journal: one JSON line per written output, so a killed run loses no record
# ---------------------------------------------------------------------------


def journal_path(manifest_path: str | os.PathLike[str]) -> Path:
    """Where the journal of the run writing ``manifest_path`` lives (a hidden file beside it)."""
    manifest = Path(manifest_path)
    return manifest.with_name(f".{manifest.name}.journal")


def _append_journal(path: str | os.PathLike[str], record: Mapping[str, Any]) -> None:
    """Append one JSON line with a single ``write`` on an ``O_APPEND`` descriptor.

    Each line is written whole by one system call, so lines from several
    worker processes appending at once do not interleave on a local file
    system.
    """
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def start_journal(path: str | os.PathLike[str], header: Mapping[str, Any]) -> None:
    """Append a run's header (its settings) to the journal, creating it if needed."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    _append_journal(path, {"header": dict(header)})


def remove_stale_temporaries(directories: Iterable[Path], before: float) -> int:
    """Remove this package's temporary files older than ``before`` from ``directories``.

    A process killed while writing (``kill -9``, a worker lost) cannot remove
    its temporary file (``.dpimage-*.tmp``, never an output name). Files last
    modified before ``before`` (the current run's start, as ``time.time()``)
    cannot belong to this run. Returns how many were removed.
    """
    from .io.files import _TEMP_PREFIX, _TEMP_SUFFIX

    removed = 0
    for directory in directories:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if not (name.startswith(_TEMP_PREFIX) and name.endswith(_TEMP_SUFFIX)):
                continue
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < before:
                    os.unlink(entry.path)
                    removed += 1
            except OSError:
                continue
    return removed


def read_journal(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The runs recorded in a journal: each header with its ``outputs`` list.

    Returns
    -------
    list of dict
        One dict per run found, in order: the header's keys (``run``,
        ``command``, ``mechanism``, ``parameters``, ``seed``) plus
        ``outputs``, a list of ``(path, epsilon)``. A torn last line (a
        run killed mid-write) is ignored; a missing file gives ``[]``.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return []
    runs: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(record, dict):
            continue
        if "header" in record and isinstance(record["header"], dict):
            header = dict(record["header"])
            runs.setdefault(str(header.get("run")), {**header, "outputs": []})
        elif "run" in record and "path" in record:
            run = runs.get(str(record["run"]))
            if run is not None:
                run["outputs"].append((str(record["path"]), float(record["epsilon"])))
    return list(runs.values())


# ---------------------------------------------------------------------------
# Running a batch: serial, local process pool, or Dask
# ---------------------------------------------------------------------------


#: glibc ``mallopt`` parameters (``<malloc.h>``) and the values a batch uses.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest allowed value on 64-bit
_TRIM_THRESHOLD = 256 * 1024 * 1024


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


def worker_setup() -> None:
    """Prepare a worker process: one OpenCV thread, freed buffers kept for reuse.

    A batch already runs one process per core; OpenCV's own thread pool in
    every worker would oversubscribe the cores (and slow everyone down). See
    :func:`keep_freed_memory` for the allocator.
    """
    import cv2

    cv2.setNumThreads(1)
    keep_freed_memory()


def dask_worker_plugin() -> Any:
    """A Dask worker plugin running :func:`worker_setup` on every worker, restarted ones too."""
    from distributed import WorkerPlugin

    class _Setup(WorkerPlugin):
        name = "dpimage-worker-setup"

        def setup(self, worker: Any) -> None:
            worker_setup()

    return _Setup()


def _pool_context() -> Any:
    """A multiprocessing context safe to use from a program with threads.

    ``forkserver`` (POSIX): workers fork from a clean single-threaded server
    that has imported dpimage once, so starting them is cheap and no lock
    held by another thread (progress display, Pillow) is inherited.
    """
    import multiprocessing as mp

    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["dpimage.batch"])
        return ctx
    return mp.get_context("spawn")


def _lost_result(index: int, job: Job, why: str) -> Result:
    return Result(
        index,
        job.name,
        FAILED,
        messages=(("error", f"error: {job.source}: {why}"),),
    )


def _finish(result: Result, job: Job, params: ReleaseParams) -> Result:
    """Map ``"exists"`` from a worker to what it means for this run.

    :func:`run_jobs` submits only jobs whose output did not exist when it
    looked, and the plan gives every output to exactly one job, so an output
    that a worker then finds already there was written by an earlier attempt
    of the same job in this run (a Dask task re-run after its worker died
    after the write). It is counted once, as written.
    """
    if result.status != EXISTS:
        return result
    return Result(
        result.index,
        result.name,
        WRITTEN,
        params.eps,
        (("note", f"{job.target}: completed by an earlier attempt of this job"),),
    )


def run_jobs(
    jobs: Iterable[Job],
    params: ReleaseParams,
    *,
    workers: int = 1,
    client: Any = None,
    window: int | None = None,
    skip: Callable[[Job], bool] | None = None,
    chunk: int = 8,
) -> Iterator[Result]:
    """Process ``jobs`` and yield one :class:`Result` per job, in job order.

    Parameters
    ----------
    jobs : iterable of dpimage.io.Job
        Consumed lazily; at most ``window`` jobs are in flight at once.
    params : ReleaseParams
        What to do to each input.
    workers : int, optional
        Local worker processes (default 1: in this process). Ignored when
        ``client`` is given.
    client : distributed.Client, optional
        Run on this Dask cluster instead. Its workers must see the same input
        and output paths.
    window : int, optional
        Most jobs submitted and not yet yielded (default ``4 × workers``, or
        ``2 × chunk ×`` the cluster's threads). Bounds memory and the
        reordering buffer.
    skip : callable, optional
        ``skip(job)`` true: yield ``"skipped"`` without running the job
        (default: the output exists and ``params.overwrite`` is false).
    chunk : int, optional
        Jobs per Dask task (default 8; a local pool takes one job at a time).
        Each task costs the scheduler, the client and the worker a few
        milliseconds of CPU, as much as a 1080p DP-Pix release; grouping
        consecutive jobs amortises it (1,000 1080p JPEGs on a 2-worker
        LocalCluster: 61 files/s one job per task, 80 with eight).

    Yields
    ------
    Result
        ``"written"``, ``"skipped"`` or ``"failed"``, in the order of ``jobs``.

    Notes
    -----
    A job whose worker process dies is run again (a local pool is rebuilt;
    Dask reschedules by itself); a job that kills its worker twice is
    reported as failed. A re-run finding the output already written counts
    it once (see :func:`_finish`).

    The process running the jobs (this one when ``workers == 1``, else each
    local or Dask worker) has its allocator tuned by
    :func:`keep_freed_memory`, the main cost after the codec otherwise.
    """
    if workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers}")
    if chunk < 1:
        raise ValueError(f"chunk must be a positive integer, got {chunk}")
    if skip is None:

        def skip(job: Job) -> bool:
            return not params.overwrite and os.path.lexists(job.target)

    def pending() -> Iterator[tuple[int, Job] | Result]:
        for index, job in enumerate(jobs):
            if skip(job):
                yield Result(index, job.name, SKIPPED, messages=(_skip_message(job.target),))
            else:
                yield index, job

    if client is not None:
        yield from _run_dask(pending(), params, client, window, chunk)
    elif workers == 1:
        keep_freed_memory()
        for item in pending():
            if isinstance(item, Result):
                yield item
            else:
                index, job = item
                yield _finish(process_one(job, params, index), job, params)
    else:
        yield from _run_pool(pending(), params, workers, window or 4 * workers)


def _ordered(
    items: Iterator[tuple[int, Job] | Result],
    submit: Callable[[list[tuple[int, Job]]], Any],
    wait_one: Callable[[], list[tuple[int, Result]]],
    window: int,
    chunk: int = 1,
) -> Iterator[Result]:
    """Keep up to ``window`` jobs in flight and yield results in index order.

    ``submit(group)`` starts a group of up to ``chunk`` ``(index, job)``
    pairs; ``wait_one()`` blocks until some group finishes and returns its
    ``(index, result)`` pairs.
    """
    ready: dict[int, Result] = {}
    order: deque[int] = deque()
    group: list[tuple[int, Job]] = []
    in_flight = 0
    exhausted = False
    while True:
        while not exhausted and len(order) < window:
            item = next(items, None)
            if item is None:
                exhausted = True
                break
            if isinstance(item, Result):
                ready[item.index] = item
                order.append(item.index)
            else:
                group.append(item)
                order.append(item[0])
                if len(group) == chunk:
                    submit(group)
                    in_flight += len(group)
                    group = []
        if group:
            # The window is full or the input is over: nothing more will join it.
            submit(group)
            in_flight += len(group)
            group = []
        while order and order[0] in ready:
            yield ready.pop(order.popleft())
        if not order and exhausted:
            return
        if in_flight == 0:
            continue
        finished = wait_one()
        in_flight -= len(finished)
        ready.update(finished)


def _run_pool(
    items: Iterator[tuple[int, Job] | Result],
    params: ReleaseParams,
    workers: int,
    window: int,
) -> Iterator[Result]:
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = _pool_context()

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(workers, mp_context=ctx, initializer=worker_setup)

    state: dict[str, Any] = {"pool": new_pool()}
    futures: dict[Any, tuple[int, Job]] = {}
    attempts: dict[int, int] = {}
    done_queue: deque[tuple[int, Result]] = deque()

    def submit_one(index: int, job: Job) -> None:
        attempts[index] = attempts.get(index, 0) + 1
        futures[state["pool"].submit(process_one, job, params, index)] = (index, job)

    def submit(group: list[tuple[int, Job]]) -> None:
        for index, job in group:
            submit_one(index, job)

    def wait_one() -> list[tuple[int, Result]]:
        while not done_queue:
            done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
            broken = []
            for fut in done:
                index, job = futures.pop(fut)
                try:
                    done_queue.append((index, _finish(fut.result(), job, params)))
                except BrokenProcessPool:
                    broken.append((index, job))
            if broken:
                # A worker died (killed, out of memory, crashed in a decoder):
                # every job still in the pool is lost with it. Rebuild the pool
                # and run each lost job again, once.
                broken.extend(futures.values())
                futures.clear()
                state["pool"].shutdown(wait=True, cancel_futures=True)
                state["pool"] = new_pool()
                for index, job in sorted(broken, key=lambda item: item[0]):
                    if attempts[index] >= 2:
                        done_queue.append(
                            (index, _lost_result(index, job, "worker process died twice on it"))
                        )
                    else:
                        submit_one(index, job)
        return [done_queue.popleft()]

    try:
        yield from _ordered(items, submit, wait_one, window)
    finally:
        state["pool"].shutdown(wait=True, cancel_futures=True)


def process_many(group: list[tuple[int, Job]], params: ReleaseParams) -> list[Result]:
    """:func:`process_one` on each ``(index, job)`` pair: one Dask task for several jobs."""
    return [process_one(job, params, index) for index, job in group]


def _run_dask(
    items: Iterator[tuple[int, Job] | Result],
    params: ReleaseParams,
    client: Any,
    window: int | None,
    chunk: int,
) -> Iterator[Result]:
    from distributed import as_completed

    if window is None:
        threads = sum(client.nthreads().values()) or 1
        window = 2 * chunk * threads
    token = secrets.token_hex(6)
    futures: dict[str, tuple[list[tuple[int, Job]], Any]] = {}
    stream = as_completed()

    def submit(group: list[tuple[int, Job]]) -> None:
        future = client.submit(
            process_many, group, params, key=f"dpimage-{token}-{group[0][0]}", pure=False
        )
        futures[future.key] = (group, future)
        stream.add(future)

    def wait_one() -> list[tuple[int, Result]]:
        future = next(stream)
        group, _ = futures.pop(future.key)
        try:
            results = future.result()
            finished = [
                (index, _finish(result, job, params))
                for (index, job), result in zip(group, results, strict=True)
            ]
        except Exception as exc:  # KilledWorker, or a worker-side crash
            why = f"Dask task failed ({type(exc).__name__}: {exc})"
            finished = [(index, _lost_result(index, job, why)) for index, job in group]
        future.release()
        return finished

    try:
        yield from _ordered(items, submit, wait_one, window, chunk)
    finally:
        if futures:
            client.cancel([future for _, future in futures.values()])
