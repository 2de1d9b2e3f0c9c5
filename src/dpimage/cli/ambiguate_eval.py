"""``dpimage ambiguate evaluate``: key holders vs non-holders, attacks, key size.

Registers on the ``ambiguate`` sub-app of :mod:`._ambiguate_app`; the
evaluation itself is :mod:`dpimage.ambiguation.research.evaluate`'s
(imported lazily: it needs the ``torch`` and ``ambiguation`` extras).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from ..io import write_image
from ._ambiguate_app import DataSet, DecoyNoiseOpt, DecoyRoundsOpt, _fail, _lib, _load, sub
from ._console import _say, _stderr


@sub.command()
def evaluate(
    model_path: Annotated[Path, typer.Argument(help="Model trained with the same --data.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for results.")],
    data: Annotated[DataSet, typer.Option("--data", help="Evaluation set.")] = DataSet.faces,
    test_size: Annotated[
        int,
        typer.Option("--test-size", min=8, help="Digits only: test digits (evenly spaced)."),
    ] = 200,
    seed: Annotated[int, typer.Option("--seed", min=0)] = 0,
    decoy_rounds: DecoyRoundsOpt = None,
    decoy_noise: DecoyNoiseOpt = None,
    threads: Annotated[int, typer.Option("--threads", min=1, help="Torch and OpenMP threads.")] = 1,
) -> None:
    """Key holders vs non-holders on held-out data, attacks, key size; JSON + grid.

    Faces: the 80 images of people 33-40 (unseen in training). Digits:
    ``--test-size`` MNIST test digits evenly spaced over the 10,000 (their
    writers are disjoint from the training set's); the attacker's own images
    are the first 80 training faces or digits.
    """
    lib = _lib()
    import time

    import torch
    from threadpoolctl import threadpool_limits

    from ..ambiguation.research.evaluate import evaluate as run
    from ..ambiguation.research.evaluate import evaluation_data, grid_rows, picture_grid

    torch.set_num_threads(threads)
    start = time.monotonic()

    console = _stderr()
    model = _load(lib, model_path)
    try:
        recorded, model_rounds, model_noise = lib.codec.fake_defaults(model)
    except ValueError as exc:
        raise _fail(f"{model_path}: {exc}", code=2) from None
    decoy_rounds = model_rounds if decoy_rounds is None else decoy_rounds
    decoy_noise = model_noise if decoy_noise is None else decoy_noise
    ks = tuple(k for k in (64, 128) if k in model.stats) or tuple(sorted(model.stats))
    try:
        train_images, test_images, test_groups, subset = evaluation_data(
            model, data.value, test_size
        )
    except ValueError as exc:
        raise _fail(str(exc), code=2) from None
    with threadpool_limits(threads):
        results, pictures = run(
            model,
            train_images,
            test_images,
            ks=ks,
            seed=seed,
            decoy_rounds=decoy_rounds,
            decoy_noise=decoy_noise,
            test_groups=test_groups,
            picture_scheme=recorded if recorded in ("mixture", "decoy") else "mixture",
            log=lambda s: _say(console, s),
        )
    results["data"] = data.value
    results["test_subset"] = subset
    results["wall_seconds"] = round(time.monotonic() - start, 1)
    results["threads"] = threads
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    output.mkdir(parents=True, exist_ok=True)
    (output / "ambiguation_results.json").write_text(json.dumps(results, indent=1) + "\n")
    grid = picture_grid(pictures, grid_rows(ks))
    write_image(grid, output / "ambiguation_grid.png", overwrite=True)
    _say(console, f"wrote {output / 'ambiguation_results.json'} and ambiguation_grid.png")
