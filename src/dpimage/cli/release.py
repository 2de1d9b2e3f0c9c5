"""``dpimage pixelate`` and ``dpimage blur`` (``compare`` is in :mod:`.compare`).

A thin layer: it checks arguments, plans where outputs go, and for each
input reads the image, calls one library mechanism and writes the result.
No maths happens here. Every problem with one input is reported on one line
and the batch carries on; the exit code is non-zero if anything failed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..batch import BatchInterrupted, BatchReport, ReleaseParams, Result, run_batch
from ..privacy import SEEDED_WARNING
from ..regions import DEFAULT_MASK_SCALE
from ._app import InputFailed, UsageProblem, app
from ._common import (
    B0Opt,
    ColourOpt,
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
    RenderOpt,
    SeedOpt,
    _check_common,
    _check_method,
    _describe,
    _fmt_eps,
    colour_choice,
    option_group,
    render_choice,
)
from ._console import _say, _stderr
from ._parallel import DaskOpt, SchedulerOpt, WorkersOpt, check_parallel, dask_client
from ._regions import (
    BoxesOpt,
    FaceDetectorOpt,
    FaceScaleOpt,
    FacesOpt,
    KeepOpt,
    MaskScaleOpt,
    MaxRegionOpt,
    PeopleOpt,
    RegionDrawingOpt,
    TextOpt,
    TextThreshOpt,
    ThreshOpt,
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
    failed: int = 0
    report: BatchReport | None = None


_STYLES = {"info": "", "note": "yellow", "skip": "yellow", "error": "red"}


def _show(console: Console, result: Result) -> None:
    for level, text in result.messages:
        line = f"note: {text}" if level == "note" and not text.startswith("note:") else text
        _say(console, line, _STYLES.get(level, ""))


def _show_plan(console: Console, report: BatchReport) -> None:
    plan = report.plan
    for shown, reason in plan.problems:
        _say(console, f"error: {shown}: {reason}", "red")
    if plan.excluded:
        places = [os.fspath(path) for path, _ in plan.excluded]
        listed = ", ".join(places[:3]) + (f" and {len(places) - 3} more" if len(places) > 3 else "")
        _say(
            console,
            f"note: skipped {plan.excluded_files} image file(s) in {len(places)} earlier "
            f"dpimage output(s) inside the inputs ({listed}): they hold a manifest, and "
            "releasing a release spends ε again; name files explicitly to release them",
            "yellow",
        )
    for path, reason in plan.skipped:
        _say(console, f"skipped {os.fspath(path)}: {reason}", "yellow")
    if not plan.jobs and not plan.problems:
        _say(console, "error: no images found (recognised by extension) in the inputs", "red")


def _summary(batch: _Batch, report: BatchReport) -> str:
    earlier = report.earlier_runs
    runs = (
        f"; {_fmt_eps(report.epsilon_earlier_runs)} of it from {earlier} earlier "
        f"run{'s' if earlier > 1 else ''} with other settings"
        if earlier
        else ""
    )
    note = " (seeded: NOT a private release)" if batch.params.seed is not None else ""
    found = ""
    if report.regions:
        # derived from the images (the detector's count), as the manifest says
        counts = report.regions.values()
        found = (
            f"; {report.regions_total} region{'s' if report.regions_total != 1 else ''} "
            f"released in {len(report.regions)} image{'s' if len(report.regions) != 1 else ''}"
            + (f" ({min(counts)}-{max(counts)} per image)" if len(report.regions) > 1 else "")
        )
    return (
        f"{len(report.written)} written, {report.skipped + len(report.plan.skipped)} skipped, "
        f"{report.failed} failed{found}; "
        f"ε spent per image = {_fmt_eps(batch.params.eps)}, "
        f"total ε = {_fmt_eps(report.total_epsilon)} (m={batch.m}{runs}){note}"
    )


def _run_batch(
    batch: _Batch, inputs: list[Path], out: Path, fmt: str | None, *, numbered: bool = False
) -> None:
    """Run the batch in the library, showing progress; print the summary.

    Raises ``typer.Exit`` 130 after Ctrl-C and 1 if the manifest could not
    be written; sets ``batch.failed`` for the command's exit code.
    """
    console = _stderr()
    if batch.params.seed is not None:
        _say(console, SEEDED_WARNING, "bold red")
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    task: dict[str, Any] = {}

    def on_plan(report: BatchReport) -> None:
        _show_plan(console, report)
        planned = len(report.plan.jobs)
        # A bar only where it can redraw itself: on a console that is not interactive
        # (a dumb terminal, a log) Rich prints its last state and an empty line.
        progress.disable = planned + len(report.plan.problems) <= 1 or not console.is_interactive
        progress.start()
        task["id"] = progress.add_task(batch.command, total=planned)

    def on_result(result: Result) -> None:
        _show(progress.console, result)
        progress.advance(task["id"])

    try:
        with dask_client(batch.workers, batch.dask, batch.scheduler) as client:
            try:
                report = run_batch(
                    inputs,
                    out,
                    batch.params,
                    command=batch.command,
                    fmt=fmt,
                    workers=batch.workers,
                    client=client,
                    on_plan=on_plan,
                    on_result=on_result,
                    numbered=numbered,
                )
            finally:
                progress.stop()
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    except OSError as exc:  # the output's lock could not be made: nothing was read or written
        raise InputFailed(_describe(exc)) from None
    except BatchInterrupted as stop:
        done = stop.report
        if done.manifest_error:
            _say(console, f"error: {done.manifest_error}", "red")
        _say(
            console,
            f"interrupted: {len(done.written)} written, {done.left} left; "
            "run the same command again to resume",
            "yellow",
        )
        raise typer.Exit(code=130) from None
    batch.report, batch.failed = report, report.failed
    if report.manifest_error:
        _say(console, f"error: {report.manifest_error}", "red")
    if len(report.plan.jobs) > 1:
        where = (
            f"Dask cluster {batch.scheduler}"
            if batch.scheduler
            else f"Dask LocalCluster of {batch.workers}"
            if batch.dask
            else f"{report.workers} worker process{'es' if report.workers > 1 else ''}"
        )
        processed = len(report.written) + report.failed
        elapsed = report.elapsed_s
        _say(
            console,
            f"{len(report.plan.jobs)} inputs in {elapsed:.1f} s on {where}"
            + (f" ({processed / elapsed:.1f} processed/s)" if elapsed > 0 else ""),
        )
    if report.stale_removed:
        _say(
            console,
            f"note: removed {report.stale_removed} temporary file(s) that killed runs had "
            "left in the output",
            "yellow",
        )
    typer.echo(_summary(batch, report))
    if report.manifest_error:
        raise typer.Exit(code=1)


@dataclass(frozen=True)
class _Options:
    """The options ``pixelate`` and ``blur`` share after their own (see :func:`option_group`)."""

    quality: QualityOpt = 95
    fmt: FormatOpt = None
    overwrite: OverwriteOpt = False
    numbered: NumberedOpt = False
    max_pixels: MaxPixelsOpt = None
    workers: WorkersOpt = None
    dask: DaskOpt = False
    scheduler: SchedulerOpt = None
    faces: FacesOpt = False
    face_detector: FaceDetectorOpt = "auto"
    scale: FaceScaleOpt = None
    thresh: ThreshOpt = None
    text_thresh: TextThreshOpt = None
    keep: KeepOpt = None
    max_region: MaxRegionOpt = None
    people: PeopleOpt = False
    text: TextOpt = False
    boxes: BoxesOpt = None
    mask_scale: MaskScaleOpt = DEFAULT_MASK_SCALE
    region_drawing: RegionDrawingOpt = "border"
    render: RenderOpt = None
    colour: ColourOpt = None


def _release_command(
    command: str,
    mechanism: str,
    params: dict[str, Any],
    inputs: list[Path],
    output: Path,
    seed: int | None,
    options: _Options,
    *,
    grid: bool = False,
) -> None:
    """The body shared by ``pixelate`` and ``blur``: check, plan, release, summarise.

    Any bad argument raises a ``ValueError`` (exit 2, one line); a failed
    input makes the exit code 1 after the summary.
    """
    o = options
    ext = _check_common(seed, o.quality, o.fmt, o.max_pixels)
    _check_method(mechanism, params)
    n_workers = check_parallel(o.workers, o.dask, o.scheduler)
    regions = region_spec(
        o.faces, o.people, o.boxes, o.mask_scale, o.face_detector, o.text, o.scale, o.thresh,
        o.text_thresh, o.keep, o.max_region, o.region_drawing,
    )
    if regions is not None and grid:
        raise UsageProblem("--grid cannot be combined with --faces/--people/--text/--boxes")
    release = ReleaseParams(
        mechanism=mechanism,
        options=params,
        eps=params["eps"],
        seed=seed,
        quality=o.quality,
        overwrite=o.overwrite,
        max_pixels=o.max_pixels,
        regions=regions,
    )
    batch = _Batch(
        command, release, params["m"], workers=n_workers, dask=o.dask, scheduler=o.scheduler
    )
    _run_batch(batch, inputs, output, ext, numbered=o.numbered)
    if batch.failed:
        raise typer.Exit(code=1)


@app.command()
@option_group
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
    options: _Options = _Options(),
) -> None:
    """DP-Pix: pixelate with noise calibrated to ε (Fan 2018).

    Default --render smooth --colour luma-chroma (the measured best at equal ε);
    --render blocks --colour rgb is the paper's DP-Pix. --grid writes the RGB blocks grid.
    """
    params = {
        "b": b, "m": m, "eps": eps, "output": "grid" if grid else "blocks",
        "render": render_choice(options.render, "blocks" if grid else "smooth"),
        "colour": colour_choice(options.colour, "rgb" if grid else "luma-chroma"),
    }  # fmt: skip
    _release_command("pixelate", "dp_pix", params, inputs, output, seed, options, grid=grid)


@app.command()
@option_group
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
    options: _Options = _Options(),
) -> None:
    """DP-Blur: DP-Pix with small cells, then a Gaussian blur (Fan 2019).

    --render picks the image that is blurred (default blocks: the paper's DP-Blur);
    --colour as for pixelate (default rgb).
    """
    # The library judges sigma like every other parameter (0 or None: derived from k).
    params = {
        "b0": b0, "k": k, "sigma": sigma, "m": m, "eps": eps,
        "render": render_choice(options.render, "blocks"),
        "colour": colour_choice(options.colour, "rgb"),
    }  # fmt: skip
    _release_command("blur", "dp_blur", params, inputs, output, seed, options)
