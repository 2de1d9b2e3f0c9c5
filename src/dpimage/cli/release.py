"""``dpimage pixelate``, ``dpimage blur`` and ``dpimage compare``.

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

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .. import dp_blur, dp_pix, np_blur, np_pix
from ..batch import BatchInterrupted, BatchReport, ReleaseParams, Result, run_batch
from ..io import OutputExistsError, read_image, write_image
from ..privacy import SEEDED_WARNING
from ._app import app
from ._common import (
    _PER_INPUT_ERRORS,
    B0Opt,
    EpsOpt,
    FormatOpt,
    InputsArg,
    KOpt,
    MaxPixelsOpt,
    MOpt,
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
    _usage_exit,
    _UsageError,
)
from ._parallel import DaskOpt, SchedulerOpt, WorkersOpt, check_parallel, dask_client
from ._regions import BoxesOpt, FacesOpt, MaskScaleOpt, PeopleOpt, region_spec


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

    @property
    def eps(self) -> float:
        return self.params.eps

    @property
    def seed(self) -> int | None:
        return self.params.seed


_STYLES = {"note": "yellow", "skip": "yellow", "error": "red"}


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
    note = " (seeded: NOT a private release)" if batch.seed is not None else ""
    return (
        f"{len(report.written)} written, {report.skipped} skipped, {report.failed} failed; "
        f"ε spent per image = {_fmt_eps(batch.eps)}, "
        f"total ε = {_fmt_eps(report.total_epsilon)} (m={batch.m}{runs}){note}"
    )


def _run_batch(batch: _Batch, inputs: list[Path], out: Path, fmt: str | None) -> None:
    """Run the batch in the library, showing progress; print the summary.

    Raises ``typer.Exit`` 130 after Ctrl-C and 1 if the manifest could not
    be written; sets ``batch.failed`` for the command's exit code.
    """
    console = _stderr()
    if batch.seed is not None:
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
        progress.disable = planned + len(report.plan.problems) <= 1
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
                )
            finally:
                progress.stop()
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
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
    typer.echo(_summary(batch, report))
    if report.manifest_error:
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
    max_pixels: MaxPixelsOpt = None,
    workers: WorkersOpt = None,
    dask: DaskOpt = False,
    scheduler: SchedulerOpt = None,
    faces: FacesOpt = False,
    people: PeopleOpt = False,
    boxes: BoxesOpt = None,
    mask_scale: MaskScaleOpt = 1.3,
) -> None:
    """DP-Pix: pixelate with noise calibrated to ε (Fan 2018)."""
    mode = "grid" if grid else "blocks"
    try:
        ext = _check_common(seed, quality, fmt, max_pixels)
        _check_library_parameters(lambda px: dp_pix(px, b=b, m=m, eps=eps, rng=0, output=mode))
        n_workers = check_parallel(workers, dask, scheduler)
        regions = region_spec(faces, people, boxes, mask_scale)
        if regions is not None and grid:
            raise _UsageError("--grid cannot be combined with --faces/--people/--boxes")
        params = ReleaseParams(
            mechanism="dp_pix",
            options={"b": b, "m": m, "eps": eps, "output": mode},
            eps=eps,
            seed=seed,
            quality=quality,
            overwrite=overwrite,
            max_pixels=max_pixels,
            regions=regions,
        )
        batch = _Batch("pixelate", params, m, workers=n_workers, dask=dask, scheduler=scheduler)
        _run_batch(batch, inputs, output, ext)
    except _UsageError as exc:
        raise _usage_exit(exc) from None
    if batch.failed:
        raise typer.Exit(code=1)


@app.command()
def blur(
    inputs: InputsArg,
    output: OutputOpt,
    b0: B0Opt = 4,
    k: KOpt = 99,
    sigma: Annotated[
        float | None,
        typer.Option("--sigma", help="Gaussian σ; default: derived from k.", show_default=False),
    ] = None,
    m: MOpt = 16,
    eps: EpsOpt = 0.5,
    seed: SeedOpt = None,
    quality: QualityOpt = 95,
    fmt: FormatOpt = None,
    overwrite: OverwriteOpt = False,
    max_pixels: MaxPixelsOpt = None,
    workers: WorkersOpt = None,
    dask: DaskOpt = False,
    scheduler: SchedulerOpt = None,
    faces: FacesOpt = False,
    people: PeopleOpt = False,
    boxes: BoxesOpt = None,
    mask_scale: MaskScaleOpt = 1.3,
) -> None:
    """DP-Blur: DP-Pix with small cells, then a Gaussian blur (Fan 2019)."""
    try:
        ext = _check_common(seed, quality, fmt, max_pixels)
        if sigma is not None and not sigma > 0:
            raise _UsageError(f"--sigma must be a positive number, got {sigma}")
        _check_library_parameters(
            lambda px: dp_blur(px, b0=b0, k=k, m=m, eps=eps, rng=0, sigma=sigma)
        )
        n_workers = check_parallel(workers, dask, scheduler)
        regions = region_spec(faces, people, boxes, mask_scale)
        params = ReleaseParams(
            mechanism="dp_blur",
            options={"b0": b0, "k": k, "sigma": sigma, "m": m, "eps": eps},
            eps=eps,
            seed=seed,
            quality=quality,
            overwrite=overwrite,
            max_pixels=max_pixels,
            regions=regions,
        )
        batch = _Batch("blur", params, m, workers=n_workers, dask=dask, scheduler=scheduler)
        _run_batch(batch, inputs, output, ext)
    except _UsageError as exc:
        raise _usage_exit(exc) from None
    if batch.failed:
        raise typer.Exit(code=1)


# ---------------------------------------------------------------------------
# compare: one side-by-side picture of all four mechanisms
# ---------------------------------------------------------------------------


def _side_by_side(panels: list[tuple[np.ndarray, str, str]]) -> np.ndarray:
    """Lay out equally sized panels in a row, each with a two-line label above."""
    from PIL import Image, ImageDraw, ImageFont

    height, width = panels[0][0].shape[:2]
    size = max(10, min(20, width // 24))
    font = ImageFont.load_default(size=size)
    gap, pad = 8, 4
    label_h = 2 * (size + pad) + pad
    canvas = Image.new(
        "RGB", (len(panels) * width + (len(panels) + 1) * gap, height + label_h + 2 * gap), "white"
    )
    draw = ImageDraw.Draw(canvas)
    for i, (pixels, title, detail) in enumerate(panels):
        x = gap + i * (width + gap)
        draw.text((x, gap), title, fill="black", font=font)
        draw.text((x, gap + size + pad), detail, fill=(80, 80, 80), font=font)
        canvas.paste(Image.fromarray(pixels).convert("RGB"), (x, gap + label_h))
    return np.asarray(canvas)


@app.command()
def compare(
    image: Annotated[
        Path, typer.Argument(metavar="IMAGE", help="One image file.", show_default=False)
    ],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Output picture (PNG).", show_default=False)
    ],
    b: Annotated[int, typer.Option("-b", help="Cell side for NP-Pix and DP-Pix.")] = 16,
    b0: B0Opt = 4,
    k: KOpt = 99,
    m: MOpt = 16,
    eps: EpsOpt = 0.5,
    seed: SeedOpt = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite/--no-overwrite", help="Replace an existing output.")
    ] = True,
    max_pixels: MaxPixelsOpt = None,
) -> None:
    """Original, NP-Pix, DP-Pix, NP-Blur and DP-Blur side by side in one picture."""
    console = _stderr()
    try:
        _check_common(seed, 95, None, max_pixels)
        _check_library_parameters(lambda px: dp_pix(px, b=b, m=m, eps=eps, rng=0))
        _check_library_parameters(lambda px: dp_blur(px, b0=b0, k=k, m=m, eps=eps, rng=0))
    except _UsageError as exc:
        raise _usage_exit(exc) from None
    if seed is not None:
        _say(console, SEEDED_WARNING, "bold red")
    try:
        pixels, notices = read_image(image, max_pixels=max_pixels)
        for notice in notices:
            _say(console, f"note: {notice}", "yellow")
        rng = np.random.default_rng(seed) if seed is not None else None
        e = _fmt_eps(eps)
        panels = [
            (pixels, "original", "(not private)"),
            (np_pix(pixels, b=b), "NP-Pix", f"b={b} (not private)"),
            (dp_pix(pixels, b=b, m=m, eps=eps, rng=rng), "DP-Pix", f"b={b} m={m} eps={e}"),
            (np_blur(pixels, k=k), "NP-Blur", f"k={k} (not private)"),
            (
                dp_blur(pixels, b0=b0, k=k, m=m, eps=eps, rng=rng),
                "DP-Blur",
                f"b0={b0} k={k} m={m} eps={e}",
            ),
        ]
        write_image(_side_by_side(panels), output, overwrite=overwrite, protect=[image])
    except OutputExistsError as exc:
        _say(console, f"error: {exc} (use --overwrite)", "red")
        raise typer.Exit(code=1) from None
    except _PER_INPUT_ERRORS as exc:
        _say(console, f"error: {_describe(exc, image)}", "red")
        raise typer.Exit(code=1) from None
    _say(
        console,
        "note: the picture shows the original image: it is a visual aid, not a private release",
        "yellow",
    )
    typer.echo(
        f"wrote {output}; DP-Pix and DP-Blur each spend ε = {e} (m={m}), "
        f"{_fmt_eps(2 * eps)} together on this image"
    )
