"""Run a whole batch into an output place and keep its manifest: :func:`run_batch`.

This is what ``dpimage pixelate`` and ``dpimage blur`` do, as a library call:
plan the outputs, fold in the journal of any interrupted run, release every
input (:func:`~dpimage.batch.executors.run_jobs`), and record what was
released in the manifest, also when the run is interrupted. The command line
only parses its options, calls it, and prints.

Resuming
--------
An output that exists when the run starts is skipped (unless ``overwrite``),
so rerunning an interrupted command completes the rest. Writes are atomic and
verified (:func:`dpimage.io.atomic_writer`): a write that did not complete
(a full disk, a kill) leaves nothing under the output's name, so the next
run does it again. The journal (:mod:`dpimage.batch.journal`) lets the next
run record the outputs of a run killed before its manifest: confirmed
outputs are counted, and an output whose write began but was never confirmed
is counted (it may have been released) and written again. Temporary files a
killed process left are removed (:func:`dpimage.io.remove_stale_temporaries`).

One run at a time
-----------------
The whole run, from reading the manifest to writing it, holds the output's
lock (:func:`dpimage.io.lock.output_lock`): a second run into the same output
refuses before it writes anything (:class:`dpimage.io.lock.OutputBusyError`,
a ``ValueError``), so no run can overwrite another's record or count another's
file as its own.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..io import (
    Job,
    Plan,
    build_manifest,
    merge_manifests,
    plan_outputs,
    read_manifest,
    remove_stale_temporaries,
    total_epsilon_all_runs,
    write_manifest,
)
from ..io.lock import output_lock
from ..io.manifest import recorded_releases, region_counts
from ..io.naming import number_plan
from .executors import run_jobs
from .journal import journal_path, read_journal, start_journal
from .release import SEED_DERIVATION, SKIPPED, WRITTEN, ReleaseParams, Result

__all__ = ["BatchInterrupted", "BatchReport", "run_batch"]


@dataclass
class BatchReport:
    """What a batch did, for the caller to show.

    Attributes
    ----------
    command : str
        The command recorded in the manifest (``"pixelate"``, ``"blur"``).
    params : ReleaseParams
        The run's parameters (with its journal and run id).
    plan : dpimage.io.Plan
        The planned outputs, the inputs refused (``plan.problems``) and the
        earlier outputs left out (``plan.excluded``).
    workers : int
        Local worker processes used (1 with a Dask client).
    written : list of (str, float)
        Outputs written by this run and the ε each spent.
    regions : dict of str to int
        Region mode: how many regions each output written by this run
        released (derived from the image; empty otherwise).
    skipped : int
        Outputs that existed and were left alone.
    failed : int
        Inputs that failed, refused inputs included (and 1 if no input was
        found at all). A manifest that could not be written is not counted
        here: see :attr:`manifest_error`.
    received : int
        Inputs whose result came back.
    manifest : dict or None
        The manifest of everything released there, this run included: on
        disk unless :attr:`manifest_error` says otherwise (``None``: nothing
        was ever released there).
    manifest_written : bool
        Whether this run wrote the manifest (only when something was
        released: a run that wrote nothing leaves no manifest behind).
    manifest_error : str or None
        One line saying why the manifest could not be written, naming it.
    stale_removed : int
        Temporary files of killed runs (or of this run's dead workers) that
        this run removed from the output's folders: a temporary file no
        live process holds (:func:`dpimage.io.remove_stale_temporaries`).
    interrupted : bool
        Whether the run was stopped (Ctrl-C) before all inputs were done.
    elapsed_s : float
        Wall-clock seconds of the run.
    """

    command: str
    params: ReleaseParams
    plan: Plan
    workers: int = 1
    written: list[tuple[str, float]] = field(default_factory=list)
    regions: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    failed: int = 0
    received: int = 0
    manifest: dict[str, Any] | None = None
    manifest_written: bool = False
    manifest_error: str | None = None
    stale_removed: int = 0
    interrupted: bool = False
    elapsed_s: float = 0.0

    @property
    def manifest_path(self) -> Path:
        """Where the manifest is (or would be)."""
        return self.plan.manifest_path

    @property
    def journal(self) -> Path:
        """The run's journal (removed when the run ends and its manifest is written)."""
        return journal_path(self.plan.manifest_path)

    @property
    def left(self) -> int:
        """Inputs not done (an interrupted run): rerunning the same command does them."""
        return len(self.plan.jobs) - self.received

    @property
    def regions_total(self) -> int:
        """Regions released in the outputs this run wrote (region mode; derived from the images)."""
        return sum(self.regions.values())

    @property
    def epsilon_this_run(self) -> float:
        """ε spent by the outputs this run wrote."""
        return math.fsum(eps for _, eps in self.written)

    @property
    def total_epsilon(self) -> float:
        """ε of every release the manifest records, runs with other settings included."""
        return total_epsilon_all_runs(self.manifest) if self.manifest else 0.0

    @property
    def epsilon_earlier_runs(self) -> float:
        """The part of :attr:`total_epsilon` spent by runs with other settings."""
        if not self.manifest:
            return 0.0
        return total_epsilon_all_runs(self.manifest) - float(self.manifest["total_epsilon"])

    @property
    def earlier_runs(self) -> int:
        """Runs with other settings the manifest keeps under ``previous_runs``."""
        return len(self.manifest.get("previous_runs", [])) if self.manifest else 0


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run_batch`, after the manifest recorded what was done.

    Attributes
    ----------
    report : BatchReport
        What the run did before it was stopped.
    """

    def __init__(self, report: BatchReport) -> None:
        super().__init__("interrupted")
        self.report = report


def _fold_journal(
    on_disk: dict[str, Any] | None, journal: Path, base: Path, header: dict[str, Any]
) -> tuple[dict[str, Any] | None, set[str]]:
    """The manifest with the journal of interrupted runs folded in, and the outputs to redo.

    Confirmed outputs are releases. An output begun and never confirmed
    whose file is there may have been released: it is counted, and written
    again unless the manifest already records it from that run.
    """
    previous = on_disk
    known = recorded_releases(on_disk) if on_disk else set()
    redo: set[str] = set()
    for run in read_journal(journal):
        run_id = str(run.get("run"))
        unconfirmed = [
            (name, eps) for name, eps in run["unconfirmed"] if os.path.lexists(base / name)
        ]
        redo.update(name for name, _ in unconfirmed if (name, run_id) not in known)
        outputs = [*run["outputs"], *unconfirmed]
        if not outputs:
            continue
        seed = run.get("seed")
        interrupted = build_manifest(
            command=run.get("command", header["command"]),
            mechanism=run.get("mechanism", header["mechanism"]),
            parameters=run.get("parameters", {}),
            outputs=outputs,
            seed=seed,
            seed_derivation=SEED_DERIVATION if seed is not None else None,
            run=run_id,
        )
        previous = merge_manifests(interrupted, previous)
    return previous, redo


def _recorded_paths(manifest: dict[str, Any] | None) -> set[str]:
    if manifest is None:
        return set()
    runs = [manifest, *manifest.get("previous_runs", [])]
    return {entry["path"] for run in runs for entry in run.get("outputs", [])}


def _unreported(report: BatchReport) -> None:
    """Add this run's confirmed outputs whose results never came back (an interrupted run)."""
    have = {name for name, _ in report.written}
    for run in read_journal(report.journal):
        if run.get("run") != report.params.run_id:
            continue
        for name, eps in run["outputs"]:
            if name not in have:
                report.written.append((name, eps))
                have.add(name)


def _record(
    report: BatchReport,
    previous: dict[str, Any] | None,
    on_disk: dict[str, Any] | None,
    completed: bool,
) -> None:
    """Write the manifest if anything was released; remove the journal once it is recorded."""
    params = report.params
    if not report.written and previous == on_disk:
        # Nothing released: no manifest is written (and none is left empty).
        report.manifest = on_disk
        if completed:
            with suppress(OSError):
                os.unlink(report.journal)
        return
    own = build_manifest(
        command=report.command,
        mechanism=params.mechanism_name,
        parameters=params.manifest_parameters(),
        outputs=report.written,
        seed=params.seed,
        seed_derivation=SEED_DERIVATION if params.seed is not None else None,
        run=params.run_id,
    )
    if params.regions is not None and report.regions:
        own.update(region_counts(report.regions))
    merged = merge_manifests(own, previous)
    try:
        write_manifest(merged, report.manifest_path)
    except OSError as exc:
        why = exc.strerror or str(exc)
        report.manifest = merged
        report.manifest_error = (
            f"cannot write the manifest {report.manifest_path}: {why}; the outputs are "
            f"written and {report.journal.name} beside it keeps their record: run the same "
            "command again to write the manifest"
        )
        return
    report.manifest, report.manifest_written = merged, True
    if completed:
        # Kept after an interruption: a remote worker may still finish a file,
        # which the next run then records from the journal.
        with suppress(OSError):
            os.unlink(report.journal)


def run_batch(
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    params: ReleaseParams,
    *,
    command: str,
    fmt: str | None = None,
    workers: int = 1,
    client: Any = None,
    on_plan: Callable[[BatchReport], None] | None = None,
    on_result: Callable[[Result], None] | None = None,
    numbered: bool = False,
) -> BatchReport:
    """Release every input into ``out`` and record the run in the manifest there.

    Parameters
    ----------
    inputs : sequence of path-like
        Files and directories (see :func:`dpimage.io.plan_outputs`; output
        directories of dpimage runs inside them are left out).
    out : path-like
        Output file (one input file) or directory.
    params : ReleaseParams
        What to do to each input.
    command : str
        Command name recorded in the manifest.
    fmt : str, optional
        Output extension replacing each input's.
    workers : int, optional
        Local worker processes (capped at the number of inputs).
    client : distributed.Client, optional
        Run on this Dask cluster instead.
    on_plan : callable, optional
        Called once with the report before any input is read (the plan is
        known: show refused inputs, exclusions, a progress bar).
    on_result : callable, optional
        Called with each :class:`Result`, in input order.
    numbered : bool, optional
        Name outputs ``0001.ext``, ``0002.ext``, ... flat in ``out`` instead of
        copying the input names, which can identify people
        (:func:`dpimage.io.naming.number_plan`).

    Returns
    -------
    BatchReport
        What was written, skipped and failed, and the manifest as it stands.
        The manifest is merged with the one already there
        (:func:`dpimage.io.merge_manifests`): every release counts, earlier
        ones included.

    Raises
    ------
    ValueError
        If the output cannot be planned (e.g. ``out`` is a file when a
        directory is needed), the file at the manifest's place is not a
        valid dpimage manifest, or the journal's place holds a symbolic
        link; nothing is read or written then.
    dpimage.io.lock.OutputBusyError
        (a ``ValueError``) If another run is writing into ``out``; nothing is
        read or written then.
    BatchInterrupted
        On Ctrl-C, after the manifest recorded what was done.
    """
    started_at = time.time()
    plan = plan_outputs(inputs, out, fmt=fmt)
    if numbered:
        out_path = Path(out)
        keep_single = bool(out_path.suffix) and not out_path.is_dir()
        plan = number_plan(plan, out_path, keep_single=keep_single)
    journal = journal_path(plan.manifest_path)
    with output_lock(plan.manifest_path, out):
        header = {
            "run": params.run_id,
            "command": command,
            "mechanism": params.mechanism_name,
            "parameters": params.manifest_parameters(),
            "seed": params.seed,
        }
        try:
            on_disk = read_manifest(plan.manifest_path)
        except OSError as exc:
            raise ValueError(f"existing manifest {plan.manifest_path}: {exc.strerror}") from None
        except ValueError as exc:
            raise ValueError(f"existing manifest {exc}") from None
        if os.path.islink(journal):
            raise ValueError(
                f"{journal}: the run journal is a symbolic link; dpimage does not follow links "
                "in an output it writes: remove it"
            )
        folders = {plan.manifest_path.parent} | {job.target.parent for job in plan.jobs}
        stale = remove_stale_temporaries(folders)
        previous, redo = _fold_journal(on_disk, journal, plan.manifest_path.parent, header)
        recorded = _recorded_paths(previous)
        params = replace(params, journal=os.fspath(journal))
        jobs = [replace(job, redo=True) if job.name in redo else job for job in plan.jobs]
        report = BatchReport(
            command, params, plan, workers=1 if client else max(1, min(workers, len(jobs)))
        )
        report.failed = len(plan.problems) + (0 if plan.jobs or plan.problems else 1)
        report.stale_removed = stale
        if on_plan is not None:
            on_plan(report)

        def stream() -> Iterator[Job]:
            # The journal's header goes first, just before the first job that
            # will write anything, so that a run writing nothing creates nothing.
            started = False
            for job in jobs:
                writes = params.overwrite or job.redo or not os.path.lexists(job.target)
                if not started and writes:
                    started = True
                    # the output's own journal record will say what is wrong
                    with suppress(OSError):
                        start_journal(journal, header)
                yield job

        results = run_jobs(stream(), params, workers=report.workers, client=client)
        completed = False
        try:
            for result in results:
                report.received += 1
                if result.status == WRITTEN:
                    report.written.append((result.name, result.eps))
                    if result.regions is not None:
                        report.regions[result.name] = result.regions
                elif result.status == SKIPPED:
                    report.skipped += 1
                    if recorded and result.name not in recorded:
                        note = ("note", f"{result.name} is not recorded in the existing manifest")
                        result = replace(result, messages=(*result.messages, note))
                else:
                    report.failed += 1
                if on_result is not None:
                    on_result(result)
            completed = True
        except KeyboardInterrupt:
            report.interrupted = True
        finally:
            results.close()  # stop the workers before reading what they journalled
            if not completed:
                # Workers may have finished files whose results never came back.
                _unreported(report)
            _record(report, previous, on_disk, completed)
            # Also those of this run's workers that died (a pool rebuilt).
            report.stale_removed += remove_stale_temporaries(folders)
            report.elapsed_s = time.time() - started_at
    if report.interrupted:
        raise BatchInterrupted(report)
    return report
