"""``dpimage eval attack``: re-identification attacks on obfuscated images.

Thin: parses options, loads the data and calls :mod:`dpimage.attack.experiment`,
which runs the attack (appending each finished run to ``attack_runs.csv``, so an
interrupted run can be resumed with ``--resume``) and writes the summary CSV,
Markdown and a PNG bar chart.
"""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from ..attack import experiment as exp
from ..attack.obfuscation import KINDS
from ..attack.reversal import DEFAULT_EPS as REVERSAL_EPS
from ..attack.reversal import KINDS as REVERSAL_KINDS
from ..extras import require
from ..privacy import SEEDED_WARNING
from ._app import InputFailed, UsageProblem
from ._console import _say, _stderr
from ._eval_app import eval_app


class Dataset(str, Enum):
    faces = "faces"
    digits = "digits"


# Choices of --method: "none" and every method of the registry, as result tables spell them.
Kind = Enum("Kind", {kind.replace("-", "_"): kind for kind in KINDS}, type=str)


class ModelKind(str, Enum):
    auto = "auto"
    face = "face"
    digit = "digit"


def _ints(text: str, name: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise UsageProblem(f"{name} takes comma-separated integers, got {text!r}") from None
    if not values or min(values) < 0:
        raise UsageProblem(f"{name} takes non-negative integers, got {text!r}")
    return values


def _load(
    dataset: Dataset,
    data: Path | None,
    size: str | None,
    quick: bool,
    train_size: int | None,
    test_size: int | None,
):
    from .. import datasets
    from ..attack import LabelledData, stratified_split

    if data is not None:
        resize = None
        if size is not None:
            try:
                resize = tuple(int(v) for v in size.lower().split("x"))
                h, w = resize
            except ValueError:
                raise UsageProblem(
                    f"--size is HEIGHTxWIDTH, e.g. 112x92, got {size!r}"
                ) from None
            if h < 1 or w < 1:
                raise UsageProblem(f"--size must be positive, got {size!r}")
        images, labels, classes = datasets.labelled_folder(data, gray=True, size=resize)
        shapes = {im.shape for im in images}
        if len(shapes) > 1:
            raise UsageProblem(
                f"images in {data} have {len(shapes)} different sizes; pass --size HEIGHTxWIDTH"
            )
        if np.min(np.bincount(labels)) < 2:
            raise UsageProblem(f"every class folder in {data} needs at least 2 images")
        return LabelledData(data.name, np.stack(images), labels, classes)
    if dataset is Dataset.faces:
        images, labels = datasets.orl_faces()
        return LabelledData("AT&T faces", images, labels, [f"s{p + 1}" for p in range(40)])
    x, y = datasets.mnist("train")
    xt, yt = datasets.mnist("test")
    notes = []
    train_size = train_size or (5000 if quick else None)
    test_size = test_size or (1000 if quick else None)
    rng = np.random.default_rng(0x3157)
    if train_size is not None and train_size < len(y):
        keep, _ = stratified_split(y, 1 - train_size / len(y), rng)
        x, y = x[keep], y[keep]
        notes.append(f"training subset: {len(y)} of 50000 (stratified, fixed)")
    if test_size is not None and test_size < len(yt):
        keep, _ = stratified_split(yt, 1 - test_size / len(yt), rng)
        xt, yt = xt[keep], yt[keep]
        notes.append(f"test subset: {len(yt)} of 10000 (stratified, fixed)")
    return LabelledData("MNIST", x, y, [str(d) for d in range(10)], xt, yt, notes=notes)


DatasetOpt = Annotated[Dataset, typer.Option("--dataset", help="Built-in data set.")]
IdentityFolderOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Your own data: DIR/<identity>/<images>. Overrides --dataset.",
        exists=True,
        file_okay=False,
        show_default=False,
    ),
]


@eval_app.command("attack")
def attack(
    dataset: DatasetOpt = Dataset.faces,
    data: IdentityFolderOpt = None,
    size: Annotated[
        str | None,
        typer.Option("--size", help="Resize --data images to HEIGHTxWIDTH.", show_default=False),
    ] = None,
    method: Annotated[
        list[Kind] | None,
        typer.Option(
            "--method",
            help="Obfuscation(s) to attack; default: the papers' 10.",
            show_default=False,
        ),
    ] = None,
    eps: Annotated[
        list[float] | None,
        typer.Option(
            "--eps",
            help="ε for the DP methods (repeatable); default: the papers'.",
            show_default=False,
        ),
    ] = None,
    seeds: Annotated[
        str, typer.Option("--seeds", help="Comma-separated seeds (split, noise, init).")
    ] = "0,1,2",
    repeats: Annotated[
        str, typer.Option("--repeats", help="Releases averaged per image, e.g. 1,5,25 (cost r·ε).")
    ] = "1",
    quick: Annotated[
        bool, typer.Option("--quick", help="One seed; MNIST on 5000 train / 1000 test digits.")
    ] = False,
    train_size: Annotated[
        int | None,
        typer.Option("--train-size", min=10, help="MNIST training subset.", show_default=False),
    ] = None,
    test_size: Annotated[
        int | None,
        typer.Option("--test-size", min=10, help="MNIST test subset.", show_default=False),
    ] = None,
    model: Annotated[
        ModelKind, typer.Option("--model", help="Network; auto: digit if ≤ 32 px, else face.")
    ] = ModelKind.auto,
    b: Annotated[int, typer.Option("-b", min=1, help="Cell side of NP-/DP-Pix.")] = 16,
    m: Annotated[int, typer.Option("-m", min=1, help="Neighbourhood size of the DP methods.")] = 16,
    b0: Annotated[int, typer.Option("--b0", min=1, help="DP-Blur's DP-Pix cell side.")] = 4,
    k: Annotated[int, typer.Option("-k", min=1, help="Blur kernel size (odd).")] = 99,
    max_epochs: Annotated[int, typer.Option("--max-epochs", min=1)] = 40,
    patience: Annotated[
        int,
        typer.Option(
            "--patience", min=1, help="Epochs without a better validation accuracy before stopping."
        ),
    ] = 5,
    min_epochs: Annotated[
        int, typer.Option("--min-epochs", min=1, help="No early stop before this epoch.")
    ] = 10,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 32,
    threads: Annotated[
        int, typer.Option("--threads", min=1, help="Torch CPU threads per network being trained.")
    ] = 2,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            min=1,
            help="Networks trained at once, in worker processes (same results, in the "
            "order they finish). On 2 cores: --jobs 2 --threads 1.",
        ),
    ] = 1,
    embedding: Annotated[
        bool,
        typer.Option(
            "--embedding/--no-embedding",
            help="Also run the nearest-neighbour attack in the clean model's embedding.",
        ),
    ] = True,
    out: Annotated[Path, typer.Option("-o", "--output", help="Output directory.")] = Path(
        "attack-results"
    ),
    resume: Annotated[
        bool, typer.Option("--resume", help="Keep finished runs in OUT and add the missing ones.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Discard previous results in OUT.")
    ] = False,
    template: Annotated[
        bool,
        typer.Option(
            "--template",
            help="Instead of the CNN: nearest noise-free template of clean reference photos "
            "(no training; needs no torch).",
        ),
    ] = False,
    simulate: Annotated[
        int,
        typer.Option(
            "--simulate",
            min=0,
            help="With --template: templates are the mean of N simulated releases of each "
            "reference photo (the expected release, clipping and rendering included); "
            "0: the noise-free template.",
        ),
    ] = 0,
    report_only: Annotated[
        bool, typer.Option("--report-only", help="Only rewrite the report from OUT's runs CSV.")
    ] = False,
    reversal: Annotated[
        bool,
        typer.Option(
            "--reversal",
            help="Instead of the CNN: undo each method by optimisation (a differentiable model "
            "of it with its 8-bit rounding, TV prior) and score the reconstructions: PSNR/SSIM "
            "to the originals, re-identification by template and, with --embedding, by the "
            "clean-trained CNN. Default methods: NP-Blur, NP-Pix, DP-Pix, DP-Blur, DP-Pix "
            "smooth at ε 0.5 and 1.",
        ),
    ] = False,
    reversal_images: Annotated[
        int,
        typer.Option("--reversal-images", min=1, help="With --reversal: test images reversed."),
    ] = 40,
    reversal_steps: Annotated[
        int, typer.Option("--reversal-steps", min=1, help="With --reversal: optimiser steps.")
    ] = 300,
    street_frame: Annotated[
        int | None,
        typer.Option(
            "--street-frame",
            min=0,
            help="With --reversal: also reverse frame N of the PETS-2009 street scene "
            "(PSNR/SSIM only).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Re-identify obfuscated test images with a CNN trained on obfuscated images.

    The attack of McPherson et al. (2016) as run by Fan (2018, 2019): the
    adversary has the obfuscated training images with labels. Noise is seeded
    (research): the images produced here are not private releases.
    """
    console = _stderr()
    from ..attack.train import TrainConfig

    if not (template or report_only):
        # the CNN (torch), SSIM, the figures and the data sets: one extra, checked first
        require("attack", "dpimage eval attack")
    if resume and overwrite:
        raise UsageProblem("--resume and --overwrite exclude each other")
    if reversal and (template or report_only or resume):
        raise UsageProblem(
            "--reversal runs on its own: not with --template, --report-only, --resume"
        )
    if street_frame is not None and not reversal:
        raise UsageProblem("--street-frame is an option of --reversal")
    if simulate and not template:
        raise UsageProblem("--simulate is an option of --template")
    seed_list = _ints(seeds, "--seeds")
    repeat_list = _ints(repeats, "--repeats")
    if min(repeat_list) < 1:
        raise UsageProblem("--repeats must be >= 1")
    if quick and seeds == "0,1,2":
        seed_list = [0]
    try:
        config = TrainConfig(
            batch_size=batch_size,
            max_epochs=max_epochs,
            patience=patience,
            min_epochs=min(min_epochs, max_epochs),
            threads=threads,
        )
        kinds = [kind.value for kind in method] if method else None
        if reversal and kinds is None:
            kinds, eps = list(REVERSAL_KINDS), eps or list(REVERSAL_EPS)
        methods = exp.attack_methods(kinds, eps, b=b, m=m, b0=b0, k=k)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    if reversal:
        _reversal(
            dataset, data, size, methods, seed_list, out, overwrite=overwrite,
            images=reversal_images, steps=reversal_steps, street_frame=street_frame,
            embedding=embedding, model=model.value, config=config, console=console,
        )  # fmt: skip
        return

    if report_only:
        resume, overwrite = True, False
    try:
        exp.check_results_dir(out, resume=resume, overwrite=overwrite, report_only=report_only)
    except FileNotFoundError as exc:
        raise InputFailed(f"--report-only: {exc}") from None
    except exp.ResultsExistError as exc:
        raise InputFailed(f"{exc}: use --resume to add to it or --overwrite") from None
    try:
        loaded = _load(dataset, data, size, quick, train_size, test_size)
    except (ValueError, OSError, RuntimeError) as exc:
        if isinstance(exc, UsageProblem):
            raise
        raise InputFailed(f"{str(exc).splitlines()[0]}") from None
    h, w = loaded.images.shape[1:]
    kind = exp.model_for((h, w), model.value)
    previous = exp.open_results_dir(out, resume=resume, overwrite=overwrite)

    _say(console, SEEDED_WARNING, "bold red")
    for note in loaded.notes:
        _say(console, f"note: {note}", "yellow")
    _say(
        console,
        f"{loaded.name}: {len(loaded.labels)} images {h}x{w}, {loaded.n_classes} classes; "
        f"{kind} network; {len(methods)} methods x {len(seed_list)} seeds",
        "",
    )

    def log(message: str) -> None:
        _say(console, time.strftime("%H:%M:%S ") + message)

    if report_only:
        result = exp.ExperimentResult(list(previous), 0, 0.0)
    else:
        result = exp.run_experiment(
            loaded, methods, seed_list, out, previous=previous, template=template,
            simulate=simulate, model=kind, repeats=repeat_list, config=config,
            embedding=embedding, jobs=jobs, log=log,
        )  # fmt: skip
    if not result.rows:
        raise InputFailed("nothing was run")
    papers = exp.papers_for(loaded) if data is None else None
    text = exp.write_reports(result.rows, loaded, out, papers=papers)
    if not report_only:
        exp.write_run_info(out, seconds=result.seconds, seeds=seed_list, model=kind, config=config)
    typer.echo(text)
    typer.echo(
        f"wrote {out}/attack_runs.csv, attack_summary.csv, attack.md, attack.png "
        f"({result.seconds / 60:.1f} min this run)"
    )


def _reversal(
    dataset: Dataset,
    data: Path | None,
    size: str | None,
    methods: list,
    seeds: list[int],
    out: Path,
    *,
    overwrite: bool,
    images: int,
    steps: int,
    street_frame: int | None,
    embedding: bool,
    model: str,
    config,
    console,
) -> None:
    """``--reversal``: reverse the releases, score them, write the files into ``out``."""
    import shlex
    import sys

    from .. import datasets
    from ..attack import reversal as rev

    runs = out / rev.RUNS_CSV
    if runs.exists() and not overwrite:
        raise InputFailed(f"{runs} exists: use --overwrite")
    if any(method.kind == "none" for method in methods):
        raise UsageProblem("--reversal attacks obfuscations: --method none has nothing to undo")
    try:
        loaded = _load(dataset, data, size, False, None, None)
        extra = {}
        if street_frame is not None:
            frames = datasets.street_frames(limit=street_frame + 1)
            if len(frames) <= street_frame:
                raise UsageProblem(f"--street-frame {street_frame}: the video has {len(frames)}")
            extra[f"PETS-2009 frame {street_frame}"] = frames[street_frame]
    except (ValueError, OSError, RuntimeError) as exc:
        if isinstance(exc, UsageProblem):
            raise
        raise InputFailed(f"{str(exc).splitlines()[0]}") from None

    def log(message: str) -> None:
        _say(console, time.strftime("%H:%M:%S ") + message)

    _say(console, SEEDED_WARNING, "bold red")
    kind = exp.model_for(loaded.images.shape[1:], model)
    results = []
    for seed in seeds:  # each seed: its own split, noise and clean network
        clean = None
        if embedding:
            clean = rev.train_clean_model(loaded, seed, kind, config)
            log(f"seed {seed}: trained the clean {kind} network ({clean.epochs_run} epochs)")
        result = rev.reversal_attack(
            loaded, methods, seed=seed, n_images=images, extra=extra, steps=steps,
            threads=config.threads, clean_model=clean, log=lambda m, s=seed: log(f"seed {s}: {m}"),
        )  # fmt: skip
        results.append(result)
    result = rev.merge_results(results)
    command = "dpimage " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    text, written = rev.write_reversal_files(result, out, command=command)
    typer.echo(text)
    typer.echo(f"wrote {', '.join(str(out / n) for n in written)} ({result.seconds / 60:.1f} min)")


@eval_app.command("identity-bound")
def identity_bound_cmd(
    dataset: DatasetOpt = Dataset.faces,
    data: IdentityFolderOpt = None,
    eps: Annotated[
        list[float] | None, typer.Option("--eps", help="ε of one release.", show_default=False)
    ] = None,
    m: Annotated[int, typer.Option("-m", min=1, help="Neighbourhood the release protects.")] = 16,
    limit: Annotated[
        int, typer.Option("--limit", min=2, help="Use at most this many images (fixed sample).")
    ] = 1000,
) -> None:
    """What ε·d/m says about identity: pixel distance d between different people's images."""
    from ..attack import identity_bound, pixel_distances

    try:
        loaded = _load(dataset, data, None, False, None, None)
    except (ValueError, OSError, RuntimeError) as exc:
        if isinstance(exc, UsageProblem):
            raise
        raise InputFailed(f"{str(exc).splitlines()[0]}") from None
    images, labels = loaded.images, loaded.labels
    if len(labels) > limit:
        keep = np.sort(np.random.default_rng(0).choice(len(labels), limit, replace=False))
        images, labels = images[keep], labels[keep]
    if len(np.unique(labels)) < 2:
        raise UsageProblem("need images of at least two classes")
    result = identity_bound(
        pixel_distances(images, labels), eps or [0.1, 0.3, 0.5, 1.0], m=m, shape=images.shape[1:]
    )
    dist = result["distance"]
    typer.echo(
        f"{loaded.name}: {len(labels)} images {images.shape[1]}x{images.shape[2]} "
        f"({dist['pixels']} pixels), {dist['pairs']} pairs of different classes; "
        f"pixels that differ: min {dist['min']}, 5th percentile {dist['p05']:.0f}, "
        f"median {dist['median']:.0f}"
    )
    typer.echo(
        "| ε | noise scale per 16×16 cell mean | identity bound ε·d/m (min d) | (median d) "
        "| ε·⌈d/m⌉ (median d) | m for a bound of 1 | its noise per 16×16 cell | "
        "its noise, one cell = whole image |"
    )
    typer.echo("|---|---|---|---|---|---|---|---|")
    for r in result["rows"]:
        typer.echo(
            f"| {r['eps']:g} | {r['noise_scale_b16']:.1f} | {r['bound_min']:.1f} "
            f"| {r['bound_median']:.1f} | {r['group_bound_median']:.1f} | {r['m_for_bound_1']} "
            f"| {r['noise_scale_b16_for_bound_1']:.0f} "
            f"| {r['noise_scale_one_cell_for_bound_1']:.0f} |"
        )
