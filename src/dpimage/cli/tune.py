"""``dpimage tune``: from "what do I protect?" to m, ε, b and predicted utility."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..io import OutputExistsError, read_image, write_image
from ._app import InputFailed, UsageProblem, app
from ._common import _PER_INPUT_ERRORS, _describe, _say, _stderr


def _parse_size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not match:
        raise ValueError(f"--object must be WxH in pixels (e.g. 40x50), got {text!r}")
    return int(match.group(1)), int(match.group(2))


def _parse_box(text: str) -> tuple[int, int, int, int]:
    parts = text.split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"--box must be x,y,w,h in pixels (e.g. 120,80,60,70), got {text!r}")
    x, y, w, h = (int(p) for p in parts)
    return x, y, w, h


def _parse_eps_list(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--eps-grid must be comma-separated numbers, got {text!r}") from None
    if not values or any(not (v > 0 and v < float("inf")) for v in values):
        raise ValueError(f"--eps-grid values must be finite and > 0, got {text!r}")
    return values


def _table(rec) -> Table:
    cell = "b0" if rec.method == "dp-blur" else "b"
    table = Table(title=f"{rec.method}: predicted utility at m = {rec.m} (★ = best {cell} per ε)")
    table.add_column("ε", justify="right")
    table.add_column(cell, justify="right")
    table.add_column("MSE", justify="right")
    table.add_column("PSNR dB", justify="right")
    table.add_column("SSIM", justify="right")
    table.add_column("", justify="left")
    last = None
    for c in rec.candidates:
        if last is not None and c.eps != last:
            table.add_section()
        last = c.eps
        mark = "★" if c.best_b else ""
        if c.eps == rec.eps and c.b == rec.b:
            mark = "★ recommended"
        table.add_row(
            f"{c.eps:g}",
            str(c.b),
            f"{c.mse:,.0f}",
            f"{c.psnr:.1f}",
            "-" if c.ssim is None else f"{c.ssim:.3f}",
            mark,
            style="bold" if mark.endswith("recommended") else None,
        )
    return table


@app.command()
def tune(
    image: Annotated[Path, typer.Argument(metavar="IMAGE", help="Your image.", show_default=False)],
    object_size: Annotated[
        str | None,
        typer.Option("--object", help="Size WxH in pixels of what to protect.", show_default=False),
    ] = None,
    pixels: Annotated[
        int | None,
        typer.Option("--pixels", help="Pixel count of what to protect.", show_default=False),
    ] = None,
    box: Annotated[
        str | None,
        typer.Option(
            "--box",
            help="x,y,w,h of what to protect (e.g. a face) in this image.",
            show_default=False,
        ),
    ] = None,
    target_psnr: Annotated[
        float | None,
        typer.Option(
            "--target-psnr",
            help="Smallest ε whose best b reaches this predicted PSNR (dB).",
            show_default=False,
        ),
    ] = None,
    eps: Annotated[
        float | None,
        typer.Option(
            "-e", "--eps", help="Use this ε instead of recommending one.", show_default=False
        ),
    ] = None,
    eps_grid: Annotated[
        str, typer.Option("--eps-grid", help="ε values to compare.")
    ] = "0.1,0.3,0.5,1,2",
    method: Annotated[
        str, typer.Option("--method", help="dp-pix or dp-blur (b is then DP-Blur's b0).")
    ] = "dp-pix",
    k: Annotated[int, typer.Option("-k", help="DP-Blur kernel size (odd).")] = 99,
    ssim_runs: Annotated[
        int, typer.Option("--ssim-runs", help="Seeded simulations per (b, ε) for SSIM; 0: skip.")
    ] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the SSIM simulations.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    preview: Annotated[
        Path | None,
        typer.Option(
            "--preview",
            help="Write a release at the recommended settings (fresh secure noise).",
            show_default=False,
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing preview.")
    ] = False,
) -> None:
    """Recommend m, ε and b for IMAGE, with what ε guarantees and the predicted utility."""
    from .. import dp_blur, dp_pix
    from ..tune import protected_pixels, recommend

    err = _stderr()

    if method not in ("dp-pix", "dp-blur"):
        raise UsageProblem(f"--method must be dp-pix or dp-blur, got {method!r}")
    if ssim_runs < 0 or seed < 0:
        raise UsageProblem("--ssim-runs and --seed must be >= 0")
    if preview is not None and preview.exists() and not overwrite:
        raise UsageProblem(f"--preview {preview} exists (use --overwrite)")
    if preview is not None and preview.resolve() == image.resolve():
        raise UsageProblem("--preview must not be the input image")
    try:
        grid = _parse_eps_list(eps_grid)
        size = _parse_size(object_size) if object_size is not None else None
        region = _parse_box(box) if box is not None else None
        if eps is not None and not (eps > 0 and eps < float("inf")):
            raise ValueError(f"--eps must be a finite number > 0, got {eps}")
        if k < 1 or k % 2 == 0:
            raise ValueError(f"-k must be a positive odd integer, got {k}")
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    if sum(v is not None for v in (size, pixels, region)) != 1:
        raise UsageProblem(
            "say what to protect with exactly one of --object WxH, --pixels N, --box x,y,w,h"
        )
    try:
        pixels_array, notices = read_image(image)
    except _PER_INPUT_ERRORS as exc:
        raise InputFailed(f"{_describe(exc, image)}") from None
    for notice in notices:
        _say(err, f"note: {notice}", "yellow")
    try:
        m, m_reason = protected_pixels(
            object_size=size, pixels=pixels, box=region, image_shape=pixels_array.shape
        )
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    what = None
    if region is not None:
        what = f"the {region[2]}x{region[3]} box at ({region[0]}, {region[1]})"
    elif size is not None:
        what = f"an object of {size[0]}x{size[1]} pixels"
    rec = recommend(
        pixels_array,
        m,
        m_reason=m_reason,
        method=method,
        eps=eps,
        eps_grid=grid,
        k=k,
        target_psnr=target_psnr,
        ssim_runs=ssim_runs,
        seed=seed,
        what=what,
    )
    if as_json:
        typer.echo(json.dumps(rec.to_dict(), indent=2, ensure_ascii=False))
    else:
        out = Console(highlight=False, soft_wrap=False)
        height, width = pixels_array.shape[:2]
        colour = "RGB" if pixels_array.ndim == 3 else "gray"
        out.print(f"[bold]{image.name}[/bold]: {width}x{height} {colour}")
        out.print(f"[bold]m[/bold]  {rec.m_reason}")
        out.print(f"[bold]ε[/bold]  {rec.eps_reason}")
        if rec.b is not None:
            cell = "b0" if method == "dp-blur" else "b"
            best = rec.best()
            out.print(
                f"[bold]{cell}[/bold]  {cell} = {rec.b}: smallest predicted MSE at ε = {rec.eps:g} "
                f"(PSNR {best.psnr:.1f} dB" + (f", SSIM {best.ssim:.3f})" if best.ssim else ")")
            )
        out.print(_table(rec))
        out.print(
            f"[dim]MSE/PSNR: closed form with clipping (dpimage.eval.predict). "
            f"{rec.ssim_note}.[/dim]"
        )
        if rec.guarantee is not None:
            out.print(f"\n[bold]What ε = {rec.eps:g} guarantees[/bold]: {rec.guarantee.sentence}")
        for note in rec.notes:
            out.print(f"[dim]{note}[/dim]")
    if preview is not None:
        cell_name = "b0" if method == "dp-blur" else "b"
        if rec.eps is None:
            _say(err, "no preview: no ε meets the target", "yellow")
            raise typer.Exit(code=1)
        if method == "dp-pix":
            released = dp_pix(pixels_array, b=rec.b, m=m, eps=rec.eps)
        else:
            released = dp_blur(pixels_array, b0=rec.b, k=k, m=m, eps=rec.eps)
        try:
            write_image(released, preview, overwrite=overwrite, protect=[image])
        except OutputExistsError as exc:
            raise InputFailed(f"{exc} (use --overwrite)") from None
        except _PER_INPUT_ERRORS as exc:
            raise InputFailed(f"{_describe(exc)}") from None
        _say(
            err,
            f"wrote {preview}: a real DP release (secure noise) at m = {m}, ε = {rec.eps:g}, "
            f"{cell_name} = {rec.b}; publishing it spends ε = {rec.eps:g}",
        )
