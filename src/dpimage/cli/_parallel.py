"""Options and set-up for running a batch on several processes or a Dask cluster."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from ..batch import dask_worker_plugin
from ._app import UsageProblem

WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="Worker processes (default: the machine's cores); with --dask, the cluster's size.",
        show_default=False,
    ),
]
DaskOpt = Annotated[
    bool,
    typer.Option("--dask", help="Run on a Dask LocalCluster started for this run (extra: dist)."),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="ADDRESS",
        help="Run on an existing Dask cluster, e.g. tcp://host:8786 (extra: dist). "
        "Its workers must see the input and output paths.",
        show_default=False,
    ),
]

_DIST_MISSING = (
    "--dask and --scheduler need Dask's distributed scheduler: pip install 'dpimage[dist]'"
)


def default_workers() -> int:
    """The machine's cores (the ones this process may use, where the OS says)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def check_parallel(workers: int | None, dask: bool, scheduler: str | None) -> int:
    """Validate the options before anything is read; return the worker count."""
    if dask and scheduler is not None:
        raise UsageProblem("use either --dask (a new local cluster) or --scheduler ADDRESS")
    if scheduler is not None and workers is not None:
        raise UsageProblem("--workers sizes a local pool or --dask cluster; not with --scheduler")
    if dask or scheduler is not None:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise UsageProblem(_DIST_MISSING) from None
    return workers if workers is not None else default_workers()


@contextmanager
def dask_client(workers: int, dask: bool, scheduler: str | None) -> Iterator[Any]:
    """A Dask client for the run, or ``None`` when running locally.

    ``--dask`` starts a LocalCluster of ``workers`` single-threaded worker
    processes (no dashboard) and closes it afterwards; ``--scheduler``
    connects to an existing cluster and leaves it running.
    """
    if not dask and scheduler is None:
        yield None
        return
    from distributed import Client, LocalCluster

    if dask:
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                # No dashboard; the scheduler's small HTTP server (health, metrics) on a
                # port the system picks: None would mean the fixed port 8787, so two runs
                # at once would collide on it.
                dashboard_address=":0",
                scheduler_kwargs={"dashboard": False},
                host="127.0.0.1",
            ) as cluster,
            Client(cluster) as client,
        ):
            client.register_plugin(dask_worker_plugin())
            yield client
        return
    try:
        client = Client(scheduler, timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageProblem(f"--scheduler {scheduler}: cannot connect ({exc})") from None
    with client:
        yield client
