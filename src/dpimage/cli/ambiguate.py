"""``dpimage ambiguate train|encode|decode``: sparse-code ambiguation with keys.

Thin layer over :mod:`dpimage.ambiguation` (imported lazily: it needs the
``torch`` and ``ambiguation`` extras). Every problem is one line on stderr
and a non-zero exit; inputs are never modified and outputs are written
atomically. The sub-app and the shared options are in
:mod:`._ambiguate_app`; ``evaluate`` is in :mod:`.ambiguate_eval`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..io import InputError, OutputExistsError, read_image, write_image
from ._ambiguate_app import (
    TRAINED_FAKES,
    DataSet,
    DecoyNoiseOpt,
    DecoyRoundsOpt,
    Method,
    ModelArg,
    ModelOldOpt,
    OverwriteFlag,
    _collect,
    _fail,
    _lib,
    _open_model,
    sub,
)
from ._console import _say, _stderr


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
    overwrite: OverwriteFlag = False,
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
                "(synthetic face)."
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
    overwrite: OverwriteFlag = False,
    model_path: ModelArg = None,
    model_old: ModelOldOpt = None,
) -> None:
    """Encode images into shareable ambiguated files plus separate key files."""
    k_prime = 2 * k if k_prime is None else k_prime
    if output.resolve() == keys.resolve():
        raise _fail("--keys must differ from --output: keys are not released", code=2)
    model_path, lib, model = _open_model(model_path, model_old)
    console = _stderr()
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
    overwrite: OverwriteFlag = False,
    model_path: ModelArg = None,
    model_old: ModelOldOpt = None,
) -> None:
    """Decode with the key (the image) or without (what anyone else sees)."""
    _, lib, model = _open_model(model_path, model_old)
    console = _stderr()
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
