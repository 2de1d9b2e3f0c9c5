"""``dpimage tune``: from "what do I protect?" to m, ε, b and predicted utility."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..io import (
    build_manifest,
    manifest_for,
    merge_manifests,
    read_image,
    read_manifest,
    remove_stale_temporaries,
    write_image,
    write_manifest,
)
from ..io.lock import OutputBusyError, output_lock
from ._app import InputFailed, UsageProblem, app
from ._common import (
    ColourOpt,
    RenderOpt,
    _describe,
    _fmt_eps,
    check_output_file,
    colour_choice,
    failing_input,
    render_choice,
)
from ._console import _say, _stderr


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
    from .. import methods

    cell = methods.get(rec.method).cell
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
    public: Annotated[
        bool,
        typer.Option(
            "--public",
            help="Tune on public photos of IMAGE's size, not on IMAGE: a choice covered by "
            "the guarantee.",
        ),
    ] = False,
    reference: Annotated[
        Path | None,
        typer.Option(
            "--reference",
            help="Tune on this public look-alike image (resized to IMAGE's size), not on IMAGE.",
            show_default=False,
        ),
    ] = None,
    render: RenderOpt = None,
    colour: ColourOpt = None,
    objective: Annotated[
        str,
        typer.Option(
            "--objective",
            help="Best b per ε: mse (smallest MSE; can pick a coarse mosaic) or ssim "
            "(largest SSIM; keeps structure).",
        ),
    ] = "mse",
    min_cells: Annotated[
        int | None,
        typer.Option(
            "--min-cells",
            min=1,
            help="Keep at least this many cells along the shorter side (caps b).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Recommend m, ε and b for IMAGE, with what ε guarantees and the predicted utility.

    By default the numbers are computed from IMAGE itself, so the choice
    depends on the private image and is not covered by the DP guarantee;
    --public or --reference tune on public images instead (only IMAGE's size
    and colour mode are used).
    """
    from .. import methods
    from ..guarantee import protected_pixels
    from ..tune import TUNABLE, recommend

    err = _stderr()

    try:
        spec = methods.get(method, among=TUNABLE)
    except ValueError:
        raise UsageProblem(f"--method must be dp-pix or dp-blur, got {method!r}") from None
    method = spec.cli_name
    # The renderer (the table's MSE is simulated for smooth, closed form for blocks) and
    # the preview's colour path (the eps split between luma and chroma).
    look = {"render": render_choice(render, "blocks"), "colour": colour_choice(colour, "rgb")}
    render = look["render"]
    if ssim_runs < 0 or seed < 0:
        raise UsageProblem("--ssim-runs and --seed must be >= 0")
    if preview is not None:
        check_output_file(preview, "--preview")
    if preview is not None and preview.exists() and not overwrite:
        raise UsageProblem(f"--preview {preview} exists (use --overwrite)")
    if preview is not None and preview.resolve() == image.resolve():
        raise UsageProblem("--preview must not be the input image")
    if public and reference is not None:
        raise UsageProblem("give --public or --reference, not both")
    if render not in ("blocks", "smooth"):
        raise UsageProblem(f"--render must be blocks or smooth, got {render!r}")
    if render != "blocks" and method != "dp-pix":
        raise UsageProblem("--render is DP-Pix's renderer (DP-Blur has its own)")
    if objective not in ("mse", "ssim"):
        raise UsageProblem(f"--objective must be mse or ssim, got {objective!r}")
    if objective == "ssim" and ssim_runs == 0:
        raise UsageProblem("--objective ssim needs --ssim-runs >= 1")
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
    with ExitStack() as held:
        previous = None
        if preview is not None:
            # The preview belongs to this run from here to its manifest's write: a second
            # run into it refuses now (exit 2), before any work, as a batch does; an
            # unusable record beside it is refused now too, naming it.
            previous = held.enter_context(_holding(preview))
        with failing_input(image):
            pixels_array, notices = read_image(image)
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
        options = dict(
            m_reason=m_reason, method=method, eps=eps, eps_grid=grid, k=k,
            target_psnr=target_psnr, ssim_runs=ssim_runs, seed=seed, what=what,
            render=render, objective=objective, min_cells=min_cells,
        )
        if public or reference is not None:
            from ..tune import recommend_public

            references = None
            if reference is not None:
                with failing_input(reference):
                    ref_pixels, ref_notices = read_image(reference)
                for notice in ref_notices:
                    _say(err, f"note: {notice}", "yellow")
                references = {reference.name: _resized_like(ref_pixels, pixels_array.shape)}
        try:
            if public or reference is not None:
                rec = recommend_public(pixels_array.shape, m, references=references, **options)
            else:
                rec = recommend(pixels_array, m, **options)
        except ValueError as exc:  # e.g. --min-cells leaves no cell side to try
            raise UsageProblem(str(exc)) from None
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
                cell = spec.cell
                best = rec.best()
                why = "largest SSIM" if objective == "ssim" else "smallest predicted MSE"
                out.print(
                    f"[bold]{cell}[/bold]  {cell} = {rec.b}: {why} at ε = {rec.eps:g} "
                    f"(PSNR {best.psnr:.1f} dB" + (f", SSIM {best.ssim:.3f})" if best.ssim else ")")
                )
            out.print(_table(rec))
            source = (
                "simulated (the smooth renderer has no closed form), on the same releases as SSIM"
                if render == "smooth"
                else "closed form with clipping (dpimage.eval.predict)"
            )
            out.print(f"[dim]MSE/PSNR: {source}. {rec.ssim_note}.[/dim]")
            if rec.guarantee is not None:
                sentence = rec.guarantee.sentence
                out.print(f"\n[bold]What ε = {rec.eps:g} guarantees[/bold]: {sentence}")
            for note in rec.notes:
                out.print(f"[dim]{note}[/dim]")
            out.print(f"\n[bold]About these numbers[/bold]: {rec.privacy_note}")
        if preview is not None:
            cell_name = spec.cell
            if rec.eps is None:
                _say(err, "no preview: no ε meets the target", "yellow")
                raise typer.Exit(code=1)
            params = {cell_name: rec.b, "m": m, "eps": rec.eps, **look}
            if "k" in spec.param_names:
                params["k"] = k
            params = spec.validate(params)
            _write_preview(image, preview, pixels_array, spec, params, rec, overwrite, previous)


@contextmanager
def _holding(preview: Path) -> Iterator[dict | None]:
    """Hold the preview's output lock and yield its manifest (None: none yet).

    A busy output or an unusable manifest is refused (one line, exit 2).

    As for a batch or a video, the preview belongs to one run at a time: the
    lock is taken before the manifest beside it is read and released after
    that manifest was written with this release added, so a second run into
    the same preview refuses at once (one line, exit 2) and neither loses the
    other's release from the books.
    """
    manifest_path = manifest_for(preview, directory=False)
    try:
        with output_lock(manifest_path, preview):
            try:
                previous = read_manifest(manifest_path)
            except ValueError as exc:
                raise UsageProblem(str(exc)) from None
            yield previous
    except OutputBusyError as exc:
        raise UsageProblem(str(exc)) from None
    except OSError as exc:  # no lock (nothing written), or writing the manifest failed
        raise InputFailed(_describe(exc)) from None


def _write_preview(
    image: Path, preview: Path, pixels, spec, params: dict, rec, overwrite, previous
) -> None:
    """Release the preview and record it beside ``previous``, the manifest read when the
    caller took the output (:func:`_holding`), which it still holds."""
    err = _stderr()
    manifest_path = manifest_for(preview, directory=False)
    if preview.exists() and not overwrite:
        raise UsageProblem(f"--preview {preview} exists (use --overwrite)")
    removed = remove_stale_temporaries([preview.parent])
    if removed:
        _say(
            err,
            f"note: removed {removed} temporary file(s) that killed runs had left in "
            f"{preview.parent}",
            "yellow",
        )
    released = spec.apply(pixels, params)  # rng None: fresh secure noise
    with failing_input(image):
        write_image(released, preview, overwrite=overwrite, protect=[image])
    manifest = _preview_manifest(preview, manifest_path, spec, params, rec, previous)
    cell_name = spec.cell
    _say(
        err,
        f"wrote {preview} and {manifest_path.name}: a real DP release (secure noise) at "
        f"m = {params['m']}, ε = {rec.eps:g}, {cell_name} = {rec.b}; publishing it spends "
        f"ε = {rec.eps:g}"
        + ("" if rec.tuned_on != "image" else " (settings tuned on the image itself: "
           "the choice is outside the guarantee)"),
    )
    earlier = manifest.get("previous_runs", [])
    releases = manifest["releases"] + sum(
        run.get("releases", len(run["outputs"])) for run in earlier
    )
    if releases > 1:
        _say(
            err,
            f"{preview.name} has now been released {releases} times: total ε spent on it = "
            f"{_fmt_eps(manifest['total_epsilon_all_runs'])} (basic composition)",
        )


def _resized_like(pixels, shape):
    """A public reference image resized (and converted) to the private image's shape."""
    import cv2
    import numpy as np

    if len(shape) == 2 and pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    elif len(shape) == 3 and pixels.ndim == 2:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    resized = cv2.resize(pixels, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(resized.reshape(shape))


def _preview_manifest(
    preview: Path, path: Path, spec, params: dict, rec, previous: dict | None
) -> dict:
    """The preview is a real release: record its ε beside it like every other output.

    ``previous`` is the manifest found there (read under the output's lock);
    this release is added to it (:func:`dpimage.io.merge_manifests`), so a
    preview written again with ``--overwrite`` counts again.
    """
    parameters = {key: params[key] for key in (spec.cell, "k", "m", "eps") if key in params}
    if (params.get("render"), params.get("colour")) != ("blocks", "rgb"):
        parameters.update(render=params["render"], colour=params["colour"])
    split = spec.budget(params)
    if split is not None:
        parameters["colour_split"] = {**split, "applies_to": "RGB inputs (gray: all eps on Y)"}
    manifest = build_manifest(
        command="tune --preview",
        mechanism=spec.name,
        parameters=parameters,
        outputs=[(preview.name, params["eps"])],
    )
    manifest["parameter_choice"] = (
        "tuned on the input image itself: the choice is outside the DP guarantee"
        if rec.tuned_on == "image"
        else "tuned on public images only (data-independent)"
    )
    merged = merge_manifests(manifest, previous)
    with failing_input():
        write_manifest(merged, path)
    return merged
