"""``dpimage ambiguate train|encode|decode|evaluate``: sparse-code ambiguation with keys.

Thin layer over :mod:`dpimage.ambiguation` (imported lazily: it needs the
``torch`` and ``ambiguation`` extras). Every problem is one line on stderr
and a non-zero exit; inputs are never modified and outputs are written
atomically.
"""

from __future__ import annotations

import json
import os
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..io import InputError, OutputExistsError, read_image, write_image
from ..io.files import is_hidden, is_image_name
from ._app import InputFailed, UsageProblem, app, make_app
from ._console import _say, _stderr

sub = make_app(
    "ambiguate", "Share images as sparse codes with fake non-zeros; a small key decodes them."
)
app.add_typer(sub, name="ambiguate")


#: The library's decoy defaults (``decoy.DECOY_ITERATIONS``, ``decoy.DECOY_NOISE``),
#: kept under their earlier names; the CLI now takes the model's recorded values.
DECOY_ROUNDS = 8
DECOY_NOISE = 0.10

#: Fake generators ``train`` records per data set, each chosen on a validation
#: split of training data (docs/results/ambiguation.md): a Gaussian decoy suits faces but
#: not digits, whose decoys the model itself makes better (16 rounds, no noise).
TRAINED_FAKES = {
    "faces": {"method": "mixture"},
    "digits": {"method": "decoy", "decoy_rounds": 16, "decoy_noise": 0.0},
}


class DataSet(str, Enum):
    faces = "faces"
    digits = "digits"


class Method(str, Enum):
    mixture = "mixture"
    decoy = "decoy"
    donor = "donor"
    resample = "resample"


def _fail(message: str, code: int = 1) -> Exception:
    """The CLI's one error convention: exit 2 for usage, 1 for a failed input."""
    return UsageProblem(message) if code == 2 else InputFailed(message)


def _lib():
    try:
        from .. import ambiguation
        from ..ambiguation import codec  # noqa: F401 (PyTorch: fail here, in one line)
    except ImportError as exc:
        raise _fail(str(exc)) from None
    return ambiguation


def _load(lib, path: Path):
    try:
        return lib.load_model(path)
    except ValueError as exc:
        raise _fail(str(exc)) from None


ModelArg = Annotated[
    Path | None, typer.Option("--model", help="Model file (.safetensors).", show_default=False)
]
# ``-m`` is the neighbourhood size in every other command group; the old short
# spelling of --model keeps working here but is no longer shown.
ModelOldOpt = Annotated[Path | None, typer.Option("-m", hidden=True)]


def _model_path(model: Path | None, old: Path | None) -> Path:
    if model is not None and old is not None:
        raise UsageProblem("give --model once")
    if model is None and old is None:
        raise UsageProblem("Missing option '--model'")
    return model if model is not None else old
DecoyRoundsOpt = Annotated[
    int | None,
    typer.Option(
        "--decoy-rounds",
        min=1,
        help="Decoy fakes: decode/encode rounds (default: the model's).",
        show_default=False,
    ),
]
DecoyNoiseOpt = Annotated[
    float | None,
    typer.Option(
        "--decoy-noise",
        min=0.0,
        help="Decoy fakes: pixel noise per round (default: the model's).",
        show_default=False,
    ),
]


@sub.command()
def train(
    output: Annotated[Path, typer.Option("-o", "--output", help="Model file to write.")],
    data: Annotated[DataSet, typer.Option("--data", help="Training set.")] = DataSet.faces,
    epochs: Annotated[int, typer.Option("--epochs", min=1)] = 200,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Training seed.")] = 0,
    maps: Annotated[int, typer.Option("--maps", min=1, help="Code maps C.")] = 16,
    code_length: Annotated[int, typer.Option("--code-length", min=2, help="n per map.")] = 512,
    k: Annotated[list[int] | None, typer.Option("-k", help="Sparsity to support (repeat).")] = None,
    balance: Annotated[
        float, typer.Option("--balance", min=0.0, help="Weight of the unit-usage penalty.")
    ] = 0.1,
    fakes: Annotated[
        Method | None,
        typer.Option(
            "--fakes",
            help="Fake method to record as the model's default "
            "(default: faces mixture, digits decoy).",
            show_default=False,
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite")] = False,
) -> None:
    """Train a model on AT&T faces (people 1-32) or MNIST (50k), with BCE loss."""
    lib = _lib()
    if output.exists() and not overwrite:
        raise _fail(f"{output} already exists (use --overwrite)")
    if not output.parent.is_dir():
        raise _fail(f"{output.parent}: no such directory")
    console = _stderr()
    ks = tuple(k) if k else ((64, 128) if data is DataSet.faces else (16, 32))
    try:
        if data is DataSet.faces:
            images, _ = lib.face_images(64)
            config = lib.ModelConfig(image_size=64, maps=maps, code_length=code_length, train_k=ks)
        else:
            images = lib.digit_images("train")
            config = lib.ModelConfig(
                image_size=32, widths=(16, 32), maps=maps, code_length=code_length, train_k=ks
            )
        model = lib.train_model(
            images,
            config,
            lib.TrainSettings(epochs=epochs, seed=seed, balance=balance),
            log=lambda line: _say(console, line),
        )
        model.fakes = dict(TRAINED_FAKES[data.value])
        if fakes is not None and fakes.value != model.fakes["method"]:
            model.fakes = {"method": fakes.value}
        fingerprint = lib.save_model(model, output)
    except (ValueError, RuntimeError, OSError) as exc:
        raise _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    _say(console, f"wrote {output} (fingerprint {fingerprint}, k in {list(ks)})")


def _collect(inputs: list[Path]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            files += sorted(
                p
                for p in item.rglob("*")
                if p.is_file() and is_image_name(p) and not any(is_hidden(x) for x in p.parts)
            )
        elif item.exists():
            files.append(item)
        else:
            raise _fail(f"{item}: no such file or directory", code=2)
    stems = [p.stem for p in files]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        raise _fail(f"several inputs share the name {dupes[0]!r}; encode them separately", 2)
    if not files:
        raise _fail("no images found", code=2)
    return files


@sub.command()
def encode(
    inputs: Annotated[list[Path], typer.Argument(metavar="INPUT", help="Images or folders.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for .dpamb files.")],
    keys: Annotated[Path, typer.Option("--keys", help="Folder for .dpkey files (private).")],
    k: Annotated[int, typer.Option("-k", help="True non-zeros per code map.")] = 128,
    k_prime: Annotated[
        int | None, typer.Option("--k-prime", help="Published non-zeros per map; default 2k.")
    ] = None,
    method: Annotated[
        Method | None,
        typer.Option(
            "--method",
            help=(
                "Source of fakes (default: the one the model file records): mixture "
                "(symmetric draft with random mixture faces; k' a multiple of k); decoy "
                "(synthetic face); donor (matchable: insecure; version-1 model files "
                "only); resample."
            ),
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", min=0, help="Reproducible fakes: anyone with it can find the key."),
    ] = None,
    decoy_rounds: DecoyRoundsOpt = None,
    decoy_noise: DecoyNoiseOpt = None,
    overwrite: Annotated[bool, typer.Option("--overwrite")] = False,
    model_path: ModelArg = None,
    model_old: ModelOldOpt = None,
) -> None:
    """Encode images into shareable ambiguated files plus separate key files."""
    model_path = _model_path(model_path, model_old)
    lib = _lib()
    console = _stderr()
    k_prime = 2 * k if k_prime is None else k_prime
    if output.resolve() == keys.resolve():
        raise _fail("--keys must differ from --output: keys are not released", code=2)
    model = _load(lib, model_path)
    try:
        recorded, _, _ = lib.codec.fake_defaults(model)
    except ValueError as exc:
        raise _fail(f"{model_path}: {exc}", code=2) from None
    method = Method(recorded) if method is None else method
    if k not in model.stats:
        raise _fail(f"this model supports k in {sorted(model.stats)}, got -k {k}", code=2)
    if not k < k_prime <= model.config.code_length:
        raise _fail(f"--k-prime must be in {k + 1}..{model.config.code_length}", code=2)
    if method is Method.mixture and k_prime % k:
        raise _fail(
            f"mixture fakes need --k-prime a multiple of -k ({k}), got {k_prime} "
            "(or use --method decoy)",
            code=2,
        )
    if method is Method.mixture and model.basis is None:
        raise _fail(
            f"{model_path} has no face basis (format version 1): retrain it, or use --method decoy",
            code=2,
        )
    files = _collect(inputs)
    if seed is not None:
        _say(
            console,
            "WARNING: --seed makes the fakes reproducible; the seed reveals the keys.",
            "yellow",
        )
    if method is Method.donor:
        _say(
            console,
            "WARNING: donor fakes can be matched against the model file's stored codes "
            "(measured: ~99% of keys recovered); use --method mixture.",
            "yellow",
        )
    import numpy as np

    rng = None if seed is None else np.random.default_rng(seed)
    output.mkdir(parents=True, exist_ok=True)
    keys.mkdir(parents=True, exist_ok=True)
    failed = 0
    for path in files:
        amb_path = output / f"{path.stem}{lib.keys.AMBIGUATED_SUFFIX}"
        key_path = keys / f"{path.stem}{lib.keys.KEY_SUFFIX}"
        try:
            for dest in (amb_path, key_path):
                if dest.exists() and not overwrite:
                    raise OutputExistsError(f"{dest} already exists (use --overwrite)")
            image, _ = read_image(path)
            amb, key = lib.encode_image(
                model,
                image,
                k=k,
                k_prime=k_prime,
                method=method.value,
                rng=rng,
                decoy_rounds=decoy_rounds,
                decoy_noise=decoy_noise,
            )
            lib.write_key(key, key_path, overwrite=overwrite)
            size = lib.write_ambiguated(amb, amb_path, overwrite=overwrite)
        except (InputError, OutputExistsError, ValueError, OSError) as exc:
            failed += 1
            _say(console, f"{path}: {str(exc).splitlines()[0]}", "red")
            continue
        _say(
            console,
            f"{path} -> {amb_path} ({size} B), key {key_path} "
            f"({key.payload_bits // 8} B of key bits)",
        )
    _say(
        console,
        f"encoded {len(files) - failed} of {len(files)} (k={k}, k'={k_prime}, "
        f"fakes: {method.value})",
    )
    if failed:
        raise typer.Exit(code=1)


@sub.command()
def decode(
    ambiguated: Annotated[Path, typer.Argument(help="A .dpamb file.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Image file to write.")],
    key: Annotated[Path | None, typer.Option("--key", help="The .dpkey file.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite")] = False,
    model_path: ModelArg = None,
    model_old: ModelOldOpt = None,
) -> None:
    """Decode with the key (the image) or without (what anyone else sees)."""
    model_path = _model_path(model_path, model_old)
    lib = _lib()
    console = _stderr()
    model = _load(lib, model_path)
    try:
        code = lib.read_ambiguated(ambiguated)
        the_key = lib.read_key(key) if key is not None else None
        image = lib.decode_code(model, code, the_key)
        write_image(image, output, overwrite=overwrite, protect=[ambiguated])
    except (ValueError, OSError) as exc:
        raise _fail(str(exc).splitlines()[0]) from None
    if the_key is None:
        _say(
            console,
            f"no key: decoded all k'={code.k_prime} non-zeros per map (the ambiguated view)",
            "yellow",
        )
    _say(console, f"wrote {output}")


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
