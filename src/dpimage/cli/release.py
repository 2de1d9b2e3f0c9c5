"""``dpimage pixelate`` and ``dpimage blur`` (``compare`` is in :mod:`.compare`).

A thin layer: it checks arguments, plans where outputs go, and for each
input reads the image, calls one library mechanism and writes the result.
No maths happens here. Every problem with one input is reported on one line
and the batch carries on; the exit code is non-zero if anything failed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .. import dp_blur, dp_pix
from ..batch import (
    SKIPPED,
    WRITTEN,
    ReleaseParams,
    Result,
    journal_path,
    read_journal,
    remove_stale_temporaries,
    run_jobs,
    start_journal,
)
from ..io import (
    Job,
    build_manifest,
    merge_manifests,
    plan_outputs,
    read_manifest,
    write_manifest,
)
from ..io.naming import number_plan
from ..privacy import SEEDED_WARNING
from ._app import app
from ._common import (
    SEED_DERIVATION,
    B0Opt,
    EpsOpt,
    FormatOpt,
    InputsArg,
    KOpt,
    MaxPixelsOpt,
    MOpt,
    NumberedOpt,
    OutputOpt,
    OverwriteOpt,
    QualityOpt,
    SeedOpt,
    _check_common,
    _check_library_parameters,
    _describe,
    _fmt_eps,
    _say,
    _stderr,
    _UsageError,
)
from ._parallel import DaskOpt, SchedulerOpt, WorkersOpt, check_parallel, dask_client
from ._regions import (
    DEFAULT_MASK_SCALE,
    BoxesOpt,
    FaceDetectorOpt,
    FaceScaleOpt,
    FacesOpt,
    MaskScaleOpt,
    PeopleOpt,
    TextOpt,
    region_spec,
)


@dataclass
class _Batch:
    """What one ``pixelate`` or ``blur`` run does to each image, and its tally."""

    command: str
    params: ReleaseParams
    m: int
    workers: int = 1
    dask: bool = False
    scheduler: str | None = None
    written: list[tuple[str, float]] = field(default_factory=list)
    skipped: int = 0
    failed: int = 0

    @property
    def eps(self) -> float:
        return self.params.eps

    @property
    def seed(self) -> int | None:
        return self.params.seed


_STYLES = {"note": "yellow", "skip": "yellow", "error": "red"}


def _show(console: Console, result: Result, recorded: set[str]) -> None:
    for level, text in result.messages:
        line = f"note: {text}" if level == "note" and not text.startswith("note:") else text
        _say(console, line, _STYLES.get(level, ""))
    if result.status == SKIPPED and recorded and result.name not in recorded:
        _say(console, f"note: {result.name} is not recorded in the existing manifest", "yellow")


def _previous_record(manifest_path: Path, journal: Path, header: dict[str, Any]) -> dict | None:
    """The existing manifest with any journal of an interrupted run folded in."""
    try:
        previous = read_manifest(manifest_path)
    except (OSError, ValueError) as exc:
        raise _UsageError(f"existing manifest {exc}") from None
    for run in read_journal(journal):
        # Only outputs that exist were released; an entry without its file
        # is a write the interrupted run never finished.
        outputs = [
            (name, eps) for name, eps in run["outputs"] if (manifest_path.parent / name).is_file()
        ]
        if not outputs:
            continue
        interrupted = build_manifest(
            command=run.get("command", header["command"]),
            mechanism=run.get("mechanism", header["mechanism"]),
            parameters=run.get("parameters", {}),
            outputs=outputs,
            seed=run.get("seed"),
            seed_derivation=SEED_DERIVATION if run.get("seed") is not None else None,
        )
        previous = merge_manifests(interrupted, previous)
    return previous


def _run_batch(
    batch: _Batch, inputs: list[Path], out: Path, fmt: str | None, *, numbered: bool = False
) -> None:
    console = _stderr()
    params = batch.params
    started_at = time.time()
    if batch.seed is not None:
        _say(console, SEEDED_WARNING, "bold red")
    try:
        plan = plan_outputs(inputs, out, fmt=fmt)
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    if numbered:
        plan = number_plan(plan, out, keep_single=bool(out.suffix) and not out.is_dir())

    journal = journal_path(plan.manifest_path)
    header = {
        "run": params.run_id,
        "command": batch.command,
        "mechanism": params.mechanism_name,
        "parameters": batch_parameters(params),
        "seed": params.seed,
    }
    previous = _previous_record(plan.manifest_path, journal, header)
    recorded = _recorded_paths(previous)
    params = replace(params, journal=os.fspath(journal))

    for shown, reason in plan.problems:
        _say(console, f"error: {shown}: {reason}", "red")
        batch.failed += 1
    if not plan.jobs and not plan.problems:
        _say(console, "error: no images found (recognised by extension) in the inputs", "red")
        batch.failed += 1

    def jobs() -> Iterator[Job]:
        # The journal's header goes first, just before the first job that
        # will write anything, so that a run writing nothing creates nothing.
        started = False
        for job in plan.jobs:
            if not started and (params.overwrite or not os.path.lexists(job.target)):
                started = True
                with suppress(OSError):  # the output's own write will say what is wrong
                    start_journal(journal, header)
            yield job

    completed = False
    show_bar = len(plan.jobs) + len(plan.problems) > 1
    workers = max(1, min(batch.workers, len(plan.jobs)))
    try:
        with (
            dask_client(batch.workers, batch.dask, batch.scheduler) as client,
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                disable=not show_bar,
            ) as progress,
        ):
            task = progress.add_task(batch.command, total=len(plan.jobs))
            for result in run_jobs(jobs(), params, workers=workers, client=client):
                _show(progress.console, result, recorded)
                if result.status == WRITTEN:
                    batch.written.append((result.name, result.eps))
                elif result.status == SKIPPED:
                    batch.skipped += 1
                else:
                    batch.failed += 1
                progress.advance(task)
        completed = True
    finally:
        if not completed:
            # Interrupted: workers may have finished files whose results never
            # came back (or, on a remote cluster, may still be writing). Their
            # journal entries go into the manifest, and the journal is kept for
            # the next run to fold in whatever appears after this point.
            _add_journalled(batch, journal, params.run_id, plan.manifest_path.parent)
        # Even after an interruption, record what was released so far, merged
        # with what the directory's manifest already holds.
        manifest = build_manifest(
            command=batch.command,
            mechanism=params.mechanism_name,
            parameters=batch_parameters(params),
            outputs=batch.written,
            seed=batch.seed,
            seed_derivation=SEED_DERIVATION if batch.seed is not None else None,
        )
        remove_stale_temporaries({job.target.parent for job in plan.jobs}, started_at)
        if batch.written or os.path.lexists(journal):
            try:
                write_manifest(merge_manifests(manifest, previous), plan.manifest_path)
                if completed:
                    with suppress(FileNotFoundError):
                        os.unlink(journal)
            except OSError as exc:
                _say(console, f"error: manifest: {_describe(exc)}", "red")
                batch.failed += 1

    elapsed = time.time() - started_at
    if len(plan.jobs) > 1:
        where = (
            f"Dask cluster {batch.scheduler}"
            if batch.scheduler
            else f"Dask LocalCluster of {batch.workers}"
            if batch.dask
            else f"{workers} worker process{'es' if workers > 1 else ''}"
        )
        processed = len(batch.written) + batch.failed
        _say(
            console,
            f"{len(plan.jobs)} inputs in {elapsed:.1f} s on {where}"
            + (f" ({processed / elapsed:.1f} processed/s)" if elapsed > 0 else ""),
        )
    note = " (seeded: NOT a private release)" if batch.seed is not None else ""
    typer.echo(
        f"{len(batch.written)} written, {batch.skipped} skipped, {batch.failed} failed; "
        f"ε spent per image = {_fmt_eps(batch.eps)}, "
        f"total ε = {_fmt_eps(manifest['total_epsilon'])} (m={batch.m}){note}"
    )


def _add_journalled(batch: _Batch, journal: Path, run_id: str, base: Path) -> None:
    """Add this run's journalled outputs that exist but whose results were not received."""
    have = {name for name, _ in batch.written}
    for run in read_journal(journal):
        if run.get("run") != run_id:
            continue
        for name, eps in run["outputs"]:
            if name not in have and (base / name).is_file():
                batch.written.append((name, eps))
                have.add(name)


def _recorded_paths(manifest: dict | None) -> set[str]:
    if manifest is None:
        return set()
    runs = [manifest, *manifest.get("previous_runs", [])]
    return {entry["path"] for run in runs for entry in run.get("outputs", [])}


def batch_parameters(params: ReleaseParams) -> dict[str, Any]:
    """The mechanism parameters as the manifest records them."""
    recorded = dict(params.options)
    if params.regions is not None:
        recorded["regions"] = params.regions.describe()
    return recorded


def _release_command(
    command: str,
    mechanism: str,
    options: dict[str, Any],
    check: Callable[[np.ndarray], Any],
    inputs: list[Path],
    output: Path,
    common: dict[str, Any],
    regions_args: tuple[bool, bool, Path | None, float, str, bool, str | None],
    *,
    grid: bool = False,
) -> None:
    """The body shared by ``pixelate`` and ``blur``: check, plan, release, summarise.

    Any bad argument raises a ``ValueError`` (exit 2, one line); a failed
    input makes the exit code 1 after the summary.
    """
    ext = _check_common(common["seed"], common["quality"], common["fmt"], common["max_pixels"])
    _check_library_parameters(check)
    n_workers = check_parallel(common["workers"], common["dask"], common["scheduler"])
    regions = region_spec(*regions_args)
    if regions is not None and grid:
        raise _UsageError("--grid cannot be combined with --faces/--people/--text/--boxes")
    params = ReleaseParams(
        mechanism=mechanism,
        options=options,
        eps=options["eps"],
        seed=common["seed"],
        quality=common["quality"],
        overwrite=common["overwrite"],
        max_pixels=common["max_pixels"],
        regions=regions,
    )
    batch = _Batch(
        command, params, options["m"], workers=n_workers, dask=common["dask"],
        scheduler=common["scheduler"],
    )
    _run_batch(batch, inputs, output, ext, numbered=common["numbered"])
    if batch.failed:
        raise typer.Exit(code=1)


@app.command()
def pixelate(
    inputs: InputsArg,
    output: OutputOpt,
    b: Annotated[int, typer.Option("-b", help="Cell side in pixels.")] = 16,
    m: MOpt = 16,
    eps: EpsOpt = 0.5,
    seed: SeedOpt = None,
    grid: Annotated[
        bool, typer.Option("--grid", help="Write one pixel per cell instead of blocks.")
    ] = False,
    quality: QualityOpt = 95,
    fmt: FormatOpt = None,
    overwrite: OverwriteOpt = False,
    numbered: NumberedOpt = False,
    max_pixels: MaxPixelsOpt = None,
    workers: WorkersOpt = None,
    dask: DaskOpt = False,
    scheduler: SchedulerOpt = None,
    faces: FacesOpt = False,
    face_detector: FaceDetectorOpt = "centerface",
    scale: FaceScaleOpt = None,
    people: PeopleOpt = False,
    text: TextOpt = False,
    boxes: BoxesOpt = None,
    mask_scale: MaskScaleOpt = DEFAULT_MASK_SCALE,
) -> None:
    """DP-Pix: pixelate with noise calibrated to ε (Fan 2018)."""
    mode = "grid" if grid else "blocks"
    common = {k: v for k, v in locals().items() if k in _COMMON}
    _release_command(
        "pixelate", "dp_pix", {"b": b, "m": m, "eps": eps, "output": mode},
        lambda px: dp_pix(px, b=b, m=m, eps=eps, rng=0, output=mode),
        inputs, output, common, (faces, people, boxes, mask_scale, face_detector, text, scale),
        grid=grid,
    )


@app.command()
def blur(
    inputs: InputsArg,
    output: OutputOpt,
    b0: B0Opt = 4,
    k: KOpt = 99,
    sigma: Annotated[
        float | None,
        typer.Option(
            "--sigma", help="Gaussian σ; default (or 0): derived from k.", show_default=False
        ),
    ] = None,
    m: MOpt = 16,
    eps: EpsOpt = 0.5,
    seed: SeedOpt = None,
    quality: QualityOpt = 95,
    fmt: FormatOpt = None,
    overwrite: OverwriteOpt = False,
    numbered: NumberedOpt = False,
    max_pixels: MaxPixelsOpt = None,
    workers: WorkersOpt = None,
    dask: DaskOpt = False,
    scheduler: SchedulerOpt = None,
    faces: FacesOpt = False,
    face_detector: FaceDetectorOpt = "centerface",
    scale: FaceScaleOpt = None,
    people: PeopleOpt = False,
    text: TextOpt = False,
    boxes: BoxesOpt = None,
    mask_scale: MaskScaleOpt = DEFAULT_MASK_SCALE,
) -> None:
    """DP-Blur: DP-Pix with small cells, then a Gaussian blur (Fan 2019)."""
    common = {k: v for k, v in locals().items() if k in _COMMON}
    # The library judges sigma like every other parameter (0 or None: derived from k).
    _release_command(
        "blur", "dp_blur", {"b0": b0, "k": k, "sigma": sigma, "m": m, "eps": eps},
        lambda px: dp_blur(px, b0=b0, k=k, m=m, eps=eps, rng=0, sigma=sigma),
        inputs, output, common, (faces, people, boxes, mask_scale, face_detector, text, scale),
    )


_COMMON = (
    "seed", "quality", "fmt", "overwrite", "numbered", "max_pixels", "workers", "dask", "scheduler",
)
