"""Release a batch of image files: one input at a time, in a process pool, or on Dask.

The package, by responsibility:

- :mod:`~dpimage.batch.release`: one input → one release (:func:`process_one`,
  :class:`ReleaseParams`, :class:`Result`, the seeded per-output generator);
- :mod:`~dpimage.batch.journal`: the record of every write that survives a
  ``kill -9`` (begun / done / abandoned);
- :mod:`~dpimage.batch.executors`: :func:`run_jobs`, streaming jobs through
  the serial loop, a local process pool or a Dask cluster, in input order;
- :mod:`~dpimage.batch.worker`: worker set-up (OpenCV threads, allocator,
  exiting when the main process is gone);
- :mod:`~dpimage.batch.run`: :func:`run_batch`, a whole run into an output
  place with its manifest (what ``dpimage pixelate`` and ``blur`` call).

Every executor calls the same :func:`process_one`, so the files and the
manifest are the same whatever the number of workers. See
:mod:`dpimage.batch.run` for resuming and :mod:`dpimage.batch.journal` for
what a killed run leaves.
"""

from __future__ import annotations

from ..io.atomic import remove_stale_temporaries
from .executors import run_jobs
from .journal import (
    journal_path,
    read_journal,
    record_abandoned,
    record_begin,
    record_done,
    start_journal,
)
from .release import (
    EXISTS,
    FAILED,
    PER_INPUT_ERRORS,
    SEED_DERIVATION,
    SKIPPED,
    WRITTEN,
    ReleaseParams,
    Result,
    describe_error,
    process_many,
    process_one,
    seeded_rng,
)
from .run import BatchInterrupted, BatchReport, run_batch
from .worker import dask_worker_plugin, keep_freed_memory, watch_parent, worker_setup

__all__ = [
    "EXISTS",
    "FAILED",
    "PER_INPUT_ERRORS",
    "SEED_DERIVATION",
    "SKIPPED",
    "WRITTEN",
    "BatchInterrupted",
    "BatchReport",
    "ReleaseParams",
    "Result",
    "dask_worker_plugin",
    "describe_error",
    "journal_path",
    "keep_freed_memory",
    "process_many",
    "process_one",
    "read_journal",
    "record_abandoned",
    "record_begin",
    "record_done",
    "remove_stale_temporaries",
    "run_batch",
    "run_jobs",
    "seeded_rng",
    "start_journal",
    "watch_parent",
    "worker_setup",
]
