"""``dpimage eval sweep`` and ``dpimage eval plot``: utility curves as CSV + PNG."""

from __future__ import annotations

import json
import os
import platform
import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ._app import InputFailed, UsageProblem
from ._console import _say, _stderr
from ._eval_app import OutputDirOpt, eval_app


class DatasetChoice(str, Enum):
    faces = "faces"
    digits = "digits"
    street = "street"


class VaryChoice(str, Enum):
    b = "b"
    m = "m"
    eps = "eps"




def _parse_values(text: str | None, vary: str) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--values must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise ValueError("--values is empty")
    for v in values:
        if not v > 0 or v != v:
            raise ValueError(f"--values must all be > 0, got {v:g}")
        if vary in ("b", "m") and v != int(v):
            raise ValueError(f"--values for {vary} must be integers, got {v:g}")
    return [int(v) for v in values] if vary in ("b", "m") else values


def _load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - not on every platform
        return "n/a"


@eval_app.command()
def sweep(
    output: OutputDirOpt,
    vary: Annotated[VaryChoice, typer.Option("--vary", help="Parameter to vary.")],
    dataset: Annotated[
        DatasetChoice | None,
        typer.Option("--dataset", help="The papers' data set.", show_default=False),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Your own folder of images instead.", show_default=False),
    ] = None,
    method: Annotated[
        list[str] | None,
        typer.Option(
            "--method",
            help="Method(s) to run (repeatable): np-pix, dp-pix, np-blur, dp-blur (or any "
            "alias: pix, blur, dp_pix, ...); default all four.",
        ),
    ] = None,
    sample: Annotated[
        int | None,
        typer.Option(
            "--sample",
            help="Images to use: a seeded random sample (street: evenly spaced frames). "
            "Default: all faces, 1000 digits, 40 street frames, all files.",
            show_default=False,
        ),
    ] = None,
    values: Annotated[
        str | None,
        typer.Option(
            "--values",
            help="Comma-separated values (default: the papers' range).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the sample and the noise.")] = 0,
    repeats: Annotated[int, typer.Option("--repeats", help="Noise draws per image.")] = 1,
    gray: Annotated[
        bool, typer.Option("--gray", help="With --data: convert colour images to gray.")
    ] = False,
    render: Annotated[
        list[str] | None,
        typer.Option(
            "--render",
            help="Add curves for this renderer of DP-Pix/DP-Blur (repeatable): smooth gives "
            "'DP-Pix (smooth)' beside the papers' blocks.",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Output file stem (default DATASET_VARY).", show_default=False),
    ] = None,
) -> None:
    """Vary b, m or ε around b=16, m=16, ε=0.5 and measure MSE, PSNR, SSIM: CSV + PNG."""
    from ..datasets import MissingDataError
    from ..eval.data import load_dataset
    from ..eval.plots import plot_sweep
    from ..eval.sweep import run_sweep, sweep_size, write_csv

    console = _stderr()

    if (dataset is None) == (data is None):
        raise UsageProblem("give exactly one of --dataset faces|digits|street or --data DIR")
    if seed < 0:
        raise UsageProblem(f"--seed must be >= 0, got {seed}")
    if repeats < 1:
        raise UsageProblem(f"--repeats must be >= 1, got {repeats}")
    if sample is not None and sample < 1:
        raise UsageProblem(f"--sample must be >= 1, got {sample}")
    if data is not None and not data.is_dir():
        raise UsageProblem(f"--data {data}: not a directory")
    if output.exists() and not output.is_dir():
        raise UsageProblem(f"-o {output}: exists and is not a directory")
    try:
        swept = _parse_values(values, vary.value)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    label = dataset.value if dataset is not None else (data.resolve().name or "data")
    from ..eval.sweep import METHODS, RENDERS, _table_name

    try:
        methods = [_table_name(m) for m in method] if method else list(METHODS)
    except ValueError as exc:
        raise UsageProblem(f"--method: {exc}") from None
    renders = ("blocks", *(render or ()))
    bad = [r for r in renders if r not in RENDERS]
    if bad:
        raise UsageProblem(f"--render must be one of {', '.join(RENDERS)}, got {bad[0]!r}")
    stem = name or f"{label}_{vary.value}"

    try:
        ds = load_dataset(label, sample=sample, seed=seed, data_dir=data, gray=gray)
    except (MissingDataError, ValueError, OSError) as exc:
        raise InputFailed(str(exc)) from None
    _say(
        console,
        f"{ds.description}; vary {vary.value}; methods {', '.join(methods)}; "
        f"seed {seed} (seeded noise: research only, not a private release)",
    )
    start = time.perf_counter()
    try:
        total = sweep_size(
            ds, vary.value, swept or _default_values(vary.value), methods, repeats, renders
        )
        with Progress(
            TextColumn(f"sweep {label} {vary.value}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("sweep", total=total)
            rows = run_sweep(
                ds,
                vary.value,
                values=swept,
                methods=methods,
                seed=seed,
                repeats=repeats,
                on_image=lambda: progress.advance(task),
                renders=renders,
            )
    except ValueError as exc:
        raise InputFailed(str(exc)) from None
    elapsed = time.perf_counter() - start
    try:
        output.mkdir(parents=True, exist_ok=True)
        csv_path = write_csv(rows, output / f"{stem}.csv")
        png_path = plot_sweep(
            rows, output / f"{stem}.png", title=f"{ds.description} — vary {vary.value}"
        )
        info = {
            "dataset": label,
            "description": ds.description,
            "vary": vary.value,
            "methods": methods,
            "seed": seed,
            "repeats": repeats,
            "n_images": len(ds.images),
            "elapsed_seconds": round(elapsed, 1),
            "load_average_at_end": _load_average(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        }
        (output / f"{stem}.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputFailed(f"writing outputs: {exc}") from None
    typer.echo(f"wrote {csv_path} and {png_path} ({len(rows)} rows, {elapsed:.0f} s)")


def _default_values(vary: str):
    from ..eval.sweep import SWEEP_VALUES

    return SWEEP_VALUES[vary]


@eval_app.command()
def plot(
    csv_file: Annotated[
        Path,
        typer.Argument(metavar="CSV", help="A CSV written by `eval sweep`.", show_default=False),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output PNG.", show_default=False)],
    title: Annotated[str, typer.Option("--title", help="Figure title.")] = "",
) -> None:
    """Redraw a sweep figure from its CSV (no recomputation)."""
    from ..eval.plots import plot_sweep
    from ..eval.sweep import read_csv

    try:
        rows = read_csv(csv_file)
        plot_sweep(rows, output, title=title)
    except (OSError, ValueError, KeyError) as exc:
        raise InputFailed(f"{csv_file}: {exc}") from None
    typer.echo(f"wrote {output}")


@eval_app.command()
def accuracy(
    csv_files: Annotated[
        list[Path],
        typer.Argument(metavar="CSV...", help="CSVs written by `eval sweep`.", show_default=False),
    ],
    p_clip_max: Annotated[
        float, typer.Option("--p-clip-max", help="'Clipping is rare' below this fraction.")
    ] = 0.01,
) -> None:
    """Closed-form vs measured MSE of the DP rows of sweep CSVs, as a Markdown table."""
    from ..eval.report import prediction_accuracy_markdown
    from ..eval.sweep import read_csv

    rows = []
    for path in csv_files:
        try:
            rows += read_csv(path)
        except (OSError, ValueError) as exc:
            raise InputFailed(f"{path}: {exc}") from None
    try:
        typer.echo(prediction_accuracy_markdown(rows, p_clip_max=p_clip_max))
    except KeyError as exc:
        raise InputFailed(f"not a sweep CSV (missing column {exc})") from None


@eval_app.command()
def count(
    output: OutputDirOpt,
    step: Annotated[
        int, typer.Option("--step", min=1, help="Use every STEP-th frame of vtest.avi.")
    ] = 4,
    split: Annotated[
        str,
        typer.Option(
            "--split",
            help="blocks: alternate runs of --block frames calibrate / are counted; "
            "halves: the first half calibrates.",
        ),
    ] = "blocks",
    block: Annotated[int, typer.Option("--block", min=1, help="Frames per run (blocks).")] = 10,
    eps: Annotated[
        str, typer.Option("--eps", help="Comma-separated ε values.")
    ] = "0.1,0.5,1,2,5",
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated noise seeds.")] = "0,1,2",
    method: Annotated[
        list[str] | None,
        typer.Option(
            "--method",
            help="none, dp-pix, dp-pix-smooth, dp-blur (repeatable); default all.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Count people in released PETS-2009 frames: per-frame error against the originals.

    Alternate runs of frames calibrate the area counter and are counted (or
    the two halves, --split halves); each part's background is the median of
    its own releases. Reference: HOG boxes on the originals that cover moving
    pixels.
    """
    from ..datasets import MissingDataError, street_frames
    from ..eval import counting, counting_experiment

    console = _stderr()
    try:
        eps_list = [float(v) for v in eps.split(",") if v.strip()]
        seed_list = [int(v) for v in seeds.split(",") if v.strip()]
    except ValueError:
        raise UsageProblem("--eps takes numbers and --seeds integers, comma-separated") from None
    if not eps_list or min(eps_list) <= 0 or not seed_list or min(seed_list) < 0:
        raise UsageProblem("--eps must be > 0 and --seeds >= 0 (at least one of each)")
    methods = method or ["none", *counting.COUNT_METHODS]
    unknown = [m for m in methods if m != "none" and m not in counting.COUNT_METHODS]
    if unknown:
        raise UsageProblem(f"--method: unknown {', '.join(unknown)}")
    if output.exists() and not output.is_dir():
        raise UsageProblem(f"-o {output}: exists and is not a directory")
    if split not in ("blocks", "halves"):
        raise UsageProblem(f"--split must be blocks or halves, got {split!r}")
    try:
        frames = street_frames(step=step)
    except MissingDataError as exc:
        raise InputFailed(str(exc)) from None
    start = time.perf_counter()
    _say(console, f"{len(frames)} frames (every {step}th); reference counts on the originals")
    truth = counting.hog_counts(frames)
    calibration = counting.calibration_frames(len(frames), split, block)
    rows = counting_experiment.count_experiment(
        frames, truth, calibration, methods=methods, eps=eps_list, seeds=seed_list,
        on_step=lambda text: _say(console, time.strftime("%H:%M:%S ") + text),
    )  # fmt: skip
    summary = counting_experiment.summarise_counts(rows)
    try:
        output.mkdir(parents=True, exist_ok=True)
        counting_experiment.write_rows(rows, output / "count_frames.csv")
        counting_experiment.write_rows(summary, output / "count_summary.csv")
        text = counting_experiment.summary_markdown(
            summary, frames=len(frames), step=step, split=split
        )
        (output / "count.md").write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputFailed(f"writing outputs: {exc}") from None
    typer.echo(text)
    typer.echo(f"wrote {output}/count_frames.csv, count_summary.csv, count.md "
               f"({time.perf_counter() - start:.0f} s)")  # fmt: skip
