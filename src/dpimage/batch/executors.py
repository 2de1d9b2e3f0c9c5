"""Running many jobs: serially, on a local process pool, or on a Dask cluster.

:func:`run_jobs` streams: at most ``window`` inputs are in flight at once, so
memory stays bounded however many files there are, and results come back in
input order (ordered progress and messages), whatever order workers finish in.
Every executor calls the same :func:`~dpimage.batch.release.process_one`, so
the files and the manifest are the same whatever the number of workers.
"""

from __future__ import annotations

import os
import secrets
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..io import Job
from .journal import read_journal
from .release import (
    EXISTS,
    FAILED,
    SKIPPED,
    WRITTEN,
    ReleaseParams,
    Result,
    process_many,
    process_one,
    skip_message,
)
from .worker import keep_freed_memory, worker_setup

__all__ = ["run_jobs"]


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


def _began_here(params: ReleaseParams, name: str) -> bool:
    """Whether this run's journal records that this run began writing output ``name``."""
    for run in read_journal(params.journal):  # type: ignore[arg-type]
        if run.get("run") == params.run_id:
            return any(path == name for path, _ in [*run["outputs"], *run["unconfirmed"]])
    return False


def _finish(result: Result, job: Job, params: ReleaseParams) -> Result:
    """Map ``"exists"`` from a worker to what it means for this run.

    :func:`run_jobs` submits only jobs whose output did not exist when it
    looked, and the plan gives every output to exactly one job, so an output
    that a worker then finds already there was written by an earlier attempt
    of the same job in this run (a Dask task re-run after its worker died
    after the write) or by someone else in the meantime. With a journal the
    two are told apart: only a write this run's journal shows it began is
    counted as written (once); anything else is not this run's release and
    is reported as skipped. Without a journal it is counted (spent ε is
    never left out of the books).
    """
    if result.status != EXISTS:
        return result
    if params.journal is not None and not _began_here(params, job.name):
        return Result(
            result.index,
            result.name,
            SKIPPED,
            messages=(
                ("skip", f"skipped {job.target}: appeared during the run, written by "
                 "another program (not counted as this run's release)"),
            ),
        )  # fmt: skip
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
        (default: the output exists and neither ``params.overwrite`` nor
        ``job.redo`` is set).
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
            return not (params.overwrite or job.redo) and os.path.lexists(job.target)

    def pending() -> Iterator[tuple[int, Job] | Result]:
        for index, job in enumerate(jobs):
            if skip(job):
                yield Result(index, job.name, SKIPPED, messages=(skip_message(job.target),))
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
    from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = _pool_context()

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=worker_setup, initargs=(os.getpid(),)
        )

    state: dict[str, Any] = {"pool": new_pool()}
    futures: dict[Any, tuple[int, Job]] = {}
    attempts: dict[int, int] = {}
    done_queue: deque[tuple[int, Result]] = deque()

    unsent: list[tuple[int, Job]] = []  # refused by a pool already found broken

    def submit_one(index: int, job: Job) -> None:
        try:
            future = state["pool"].submit(process_one, job, params, index)
        except BrokenProcessPool:
            # A worker died after the last wait and the pool noticed first:
            # the job never ran; it goes to the new pool with the others.
            unsent.append((index, job))
            return
        attempts[index] = attempts.get(index, 0) + 1
        futures[future] = (index, job)

    def submit(group: list[tuple[int, Job]]) -> None:
        for index, job in group:
            submit_one(index, job)

    def wait_one() -> list[tuple[int, Result]]:
        while not done_queue:
            # With a broken pool every future ends at once (with an error).
            done, _ = wait(list(futures), return_when=ALL_COMPLETED if unsent else FIRST_COMPLETED)
            broken = []
            for fut in done:
                index, job = futures.pop(fut)
                try:
                    done_queue.append((index, _finish(fut.result(), job, params)))
                except BrokenProcessPool:
                    broken.append((index, job))
            if broken or unsent:
                # A worker died (killed, out of memory, crashed in a decoder):
                # every job still in the pool is lost with it. Rebuild the pool
                # and run each lost job again, once.
                broken.extend(futures.values())
                futures.clear()
                retry = sorted([*broken, *unsent], key=lambda item: item[0])
                unsent.clear()
                state["pool"].shutdown(wait=True, cancel_futures=True)
                state["pool"] = new_pool()
                for index, job in retry:
                    if attempts.get(index, 0) >= 2:
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
