"""The ``dpimage ambiguate`` sub-app and what its command modules share.

The sub-app, the CLI's names for data sets and fake methods, the shared
options (``--model`` with its hidden old ``-m`` spelling, the decoy
settings) and the helpers that import the library lazily (it needs the
``torch`` and ``ambiguation`` extras) and turn its errors into the CLI's one
error convention. The commands register on :data:`sub` from
:mod:`.ambiguate` (train, encode, decode) and :mod:`.ambiguate_eval`
(evaluate).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..io.files import is_hidden, is_image_name
from ._app import InputFailed, UsageProblem, app, make_app

__all__ = [
    "TRAINED_FAKES",
    "DataSet",
    "DecoyNoiseOpt",
    "DecoyRoundsOpt",
    "Method",
    "ModelArg",
    "ModelOldOpt",
    "sub",
]

sub = make_app(
    "ambiguate", "Share images as sparse codes with fake non-zeros; a small key decodes them."
)
app.add_typer(sub, name="ambiguate")


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


def _open_model(model: Path | None, old: Path | None) -> tuple[Path, object, object]:
    """The model file (``--model``, or the old ``-m``), the library and the loaded model."""
    path = _model_path(model, old)
    lib = _lib()
    return path, lib, _load(lib, path)


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

#: Every command that writes a file refuses to replace one unless told.
OverwriteFlag = Annotated[bool, typer.Option("--overwrite")]


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
