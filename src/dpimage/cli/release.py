"""``dpimage pixelate``, ``dpimage blur`` and ``dpimage compare``.

A thin layer: it checks arguments, plans where outputs go, and for each
input reads the image, calls one library mechanism and writes the result.
No maths happens here. Every problem with one input is reported on one line
and the batch carries on; the exit code is non-zero if anything failed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .. import dp_blur, dp_pix, np_blur, np_pix
from ..io import (
    OutputExistsError,
    build_manifest,
    plan_outputs,
    read_image,
    write_image,
    write_manifest,
)
from ..privacy import SEEDED_WARNING
from ..roi import dp_blur_regions, dp_pix_regions
from ._app import app
from ._common import (
    _PER_INPUT_ERRORS,
    SEED_DERIVATION,
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
    _seeded_rng,
    _stderr,
    _usage_exit,
    _UsageError,
)
from ._regions import (
    BoxesOpt,
    FacesOpt,
    MaskScaleOpt,
    PeopleOpt,
    chosen_source,
    still_region_release,
)


@dataclass
class _Batch:
    """What one ``pixelate`` or ``blur`` run does to each image."""

    command: str
    mechanism: str
    parameters: dict[str, Any]
    eps: float
    m: int
    release: Callable[[np.ndarray, np.random.Generator | None], np.ndarray]
    seed: int | None
    quality: int
    overwrite: bool
    max_pixels: int | None
    written: list[tuple[str, float]] = field(default_factory=list)
    skipped: int = 0
    failed: int = 0


def _run_batch(batch: _Batch, inputs: list[Path], out: Path, fmt: str | None) -> None:
    console = _stderr()
    if batch.seed is not None:
        _say(console, SEEDED_WARNING, "bold red")
    try:
        plan = plan_outputs(inputs, out, fmt=fmt)
    except ValueError as exc:
        raise _UsageError(str(exc)) from None

    for shown, reason in plan.problems:
        _say(console, f"error: {shown}: {reason}", "red")
        batch.failed += 1
    if not plan.jobs and not plan.problems:
        _say(console, "error: no images found (recognised by extension) in the inputs", "red")
        batch.failed += 1

    show_bar = len(plan.jobs) + len(plan.problems) > 1
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not show_bar,
        ) as progress:
            task = progress.add_task(batch.command, total=len(plan.jobs))
            for job in plan.jobs:
                _one_job(batch, job.source, job.target, job.name, progress.console)
                progress.advance(task)
    finally:
        # Even after an interruption, record what was released so far.
        manifest = build_manifest(
            command=batch.command,
            mechanism=batch.mechanism,
            parameters=batch.parameters,
            outputs=batch.written,
            seed=batch.seed,
            seed_derivation=SEED_DERIVATION if batch.seed is not None else None,
        )
        if batch.written:
            try:
                write_manifest(manifest, plan.manifest_path)
            except OSError as exc:
                _say(console, f"error: manifest: {_describe(exc)}", "red")
                batch.failed += 1

    note = " (seeded: NOT a private release)" if batch.seed is not None else ""
    typer.echo(
        f"{len(batch.written)} written, {batch.skipped} skipped, {batch.failed} failed; "
        f"ε spent per image = {_fmt_eps(batch.eps)}, "
        f"total ε = {_fmt_eps(manifest['total_epsilon'])} (m={batch.m}){note}"
    )


def _one_job(batch: _Batch, source: Path, target: Path, name: str, console: Console) -> None:
    if os.path.lexists(target) and not batch.overwrite:
        _say(console, f"skipped {target}: already exists (use --overwrite)", "yellow")
        batch.skipped += 1
        return
    try:
        image, notices = read_image(source, max_pixels=batch.max_pixels)
        for notice in notices:
            _say(console, f"note: {notice}", "yellow")
        rng = _seeded_rng(batch.seed, name) if batch.seed is not None else None
        released = batch.release(image, rng)
        write_image(
            released, target, quality=batch.quality, overwrite=batch.overwrite, protect=[source]
        )
    except OutputExistsError:
        _say(console, f"skipped {target}: already exists (use --overwrite)", "yellow")
        batch.skipped += 1
        return
    except _PER_INPUT_ERRORS as exc:
        _say(console, f"error: {_describe(exc, source)}", "red")
        batch.failed += 1
        return
    batch.written.append((name, batch.eps))


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
        parameters = {"b": b, "m": m, "eps": eps, "output": mode}
        release = lambda image, rng: dp_pix(image, b=b, m=m, eps=eps, rng=rng, output=mode)  # noqa: E731
        source = chosen_source(faces, people, boxes)
        if source is not None:
            if grid:
                raise _UsageError("--grid cannot be combined with --faces/--people/--boxes")
            release, parameters["regions"] = still_region_release(
                source, boxes, mask_scale,
                lambda image, regions, rng: dp_pix_regions(
                    image, regions, b=b, m=m, eps=eps, rng=rng
                ),
            )
        batch = _Batch(
            command="pixelate",
            mechanism="dp_pix" if source is None else "dp_pix_regions",
            parameters=parameters,
            eps=eps,
            m=m,
            release=release,
            seed=seed,
            quality=quality,
            overwrite=overwrite,
            max_pixels=max_pixels,
        )
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
        parameters = {"b0": b0, "k": k, "sigma": sigma, "m": m, "eps": eps}
        release = lambda image, rng: dp_blur(  # noqa: E731
            image, b0=b0, k=k, m=m, eps=eps, rng=rng, sigma=sigma
        )
        source = chosen_source(faces, people, boxes)
        if source is not None:
            release, parameters["regions"] = still_region_release(
                source, boxes, mask_scale,
                lambda image, regions, rng: dp_blur_regions(
                    image, regions, b0=b0, k=k, m=m, eps=eps, rng=rng, sigma=sigma
                ),
            )
        batch = _Batch(
            command="blur",
            mechanism="dp_blur" if source is None else "dp_blur_regions",
            parameters=parameters,
            eps=eps,
            m=m,
            release=release,
            seed=seed,
            quality=quality,
            overwrite=overwrite,
            max_pixels=max_pixels,
        )
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
