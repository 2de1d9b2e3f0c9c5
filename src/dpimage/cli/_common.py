"""Helpers shared by the command modules: messages, argument checks, options."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from .. import batch as _batch
from ..io import OutputError, OutputExistsError, image_format, normalise_extension
from ._app import InputFailed, UsageProblem

# Per-input logic lives in the library (dpimage.batch); these names stay for the commands.
SEED_DERIVATION = _batch.SEED_DERIVATION
_PER_INPUT_ERRORS = _batch.PER_INPUT_ERRORS
_describe = _batch.describe_error
_seeded_rng = _batch.seeded_rng


# A bad argument: one line, exit code 2 (the group in _app reports it).


def _fmt_eps(value: float) -> str:
    return f"{value:g}"


def _check_method(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """Let the method registry judge the mechanism parameters; one usage line if bad.

    :mod:`dpimage.methods` is the single source of truth for what b, b0, k, m,
    eps and sigma may be (the same rules as the Python API); nothing is run.
    """
    from .. import methods

    try:
        return methods.get(method).validate(params)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None


def _check_common(
    seed: int | None, quality: int, fmt: str | None, max_pixels: int | None
) -> str | None:
    if seed is not None and seed < 0:
        raise UsageProblem(f"--seed must be a non-negative integer, got {seed}")
    if not 1 <= quality <= 100:
        raise UsageProblem(f"--quality must be from 1 to 100, got {quality}")
    if max_pixels is not None and max_pixels < 1:
        raise UsageProblem(f"--max-pixels must be a positive integer, got {max_pixels}")
    if fmt is None:
        return None
    try:
        return normalise_extension(fmt)
    except ValueError as exc:
        raise UsageProblem(f"--format: {exc}") from None


def check_output_file(path: Path, option: str = "-o") -> None:
    """Refuse, before any work, a single-file output that cannot be written as an image.

    A directory (which would otherwise be "skipped: already exists", or with
    ``--overwrite`` fail after all the work) or a name without an image
    extension is a usage error: one line, exit 2.
    """
    if path.is_dir():
        raise UsageProblem(f"{option} {path} is a directory; name the output image file")
    try:
        image_format(path)
    except OutputError as exc:
        raise UsageProblem(f"{option}: {exc}") from None
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise UsageProblem(f"{option} {path}: {parent} is not a directory")


@contextmanager
def failing_input(source: Path | None = None) -> Iterator[None]:
    """Turn a failure reading ``source`` or writing its output into one line and exit 1.

    The one place for the read/write error handling of the single-output
    commands (compare, tune --preview, video): an existing output names
    ``--overwrite``, anything else is described by the batch's one-line
    :func:`~dpimage.batch.describe_error`.
    """
    try:
        yield
    except OutputExistsError as exc:
        raise InputFailed(f"{exc} (use --overwrite)") from None
    except _PER_INPUT_ERRORS as exc:
        raise InputFailed(_describe(exc, source)) from None


InputsArg = Annotated[
    list[Path],
    typer.Argument(
        metavar="INPUT",
        help="Image files or directories (searched recursively).",
        show_default=False,
    ),
]
OutputOpt = Annotated[
    Path,
    typer.Option(
        "-o",
        "--output",
        help="Output file (one input file) or directory (mirrors the input trees).",
        show_default=False,
    ),
]
MOpt = Annotated[int, typer.Option("-m", help="Neighbourhood: protect changes to up to m pixels.")]
EpsOpt = Annotated[float, typer.Option("-e", "--eps", help="Privacy budget ε per image.")]
SeedOpt = Annotated[
    int | None,
    typer.Option(
        "--seed", help="Reproducible noise for research. NOT a private release.", show_default=False
    ),
]
QualityOpt = Annotated[int, typer.Option("--quality", help="JPEG/WebP quality, 1-100.")]
FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="Output extension (png, jpg, webp, ...); default: the input's.",
        show_default=False,
    ),
]
OverwriteOpt = Annotated[
    bool, typer.Option("--overwrite", help="Replace existing outputs (never an input).")
]
MaxPixelsOpt = Annotated[
    int | None,
    typer.Option(
        "--max-pixels",
        help="Largest image (width x height) to read; default Pillow's bomb guard (~89 Mpx).",
        show_default=False,
    ),
]
KOpt = Annotated[int, typer.Option("-k", help="Gaussian kernel size (odd).")]
B0Opt = Annotated[int, typer.Option("--b0", help="DP-Pix cell side before blurring.")]
NumberedOpt = Annotated[
    bool,
    typer.Option(
        "--numbered-names",
        help="Name outputs 0001.jpg, 0002.jpg, ... instead of copying input names "
        "(which can identify people; the manifest lists every output name).",
    ),
]

RenderOpt = Annotated[
    str | None,
    typer.Option(
        "--render",
        help="Renderer of the release: blocks (the papers' DP-Pix) or smooth (denoised, "
        "interpolated; post-processing, the same ε).",
        show_default=False,
    ),
]
ColourOpt = Annotated[
    str | None,
    typer.Option(
        "--colour",
        "--color",
        help="Colour path for RGB images (gray ignores it): rgb (one ε over R, G, B, the "
        "papers) or luma-chroma (alias ycocg: ε on luma at b, ε/3 on each chroma channel "
        "at coarser cells; together exactly ε, the worst case over a pixel's change).",
        show_default=False,
    ),
]


def render_choice(value: str | None, default: str) -> str:
    """The ``--render`` value, checked (``blocks``/``smooth``), or ``default``."""
    if value is None:
        return default
    if value not in ("blocks", "smooth"):
        raise UsageProblem(f"--render must be blocks or smooth, got {value!r}")
    return value


def colour_choice(value: str | None, default: str) -> str:
    """The ``--colour`` value in its canonical spelling, or ``default``."""
    from ..release import check_colour

    try:
        return check_colour(default if value is None else value)
    except ValueError as exc:
        raise UsageProblem(f"--colour: {exc}") from None


_Command = TypeVar("_Command", bound=Callable[..., Any])


def option_group(command: _Command) -> _Command:
    """Let ``command`` take a set of options declared once, as the fields of a dataclass.

    A parameter of ``command`` annotated with a dataclass stands for that
    dataclass's fields: Typer sees them in its place, each with its own
    ``Annotated`` option and default, in the order of the fields, and the
    command receives one instance built from them. So options that several
    commands share are written once, and their order in ``--help`` is where
    each command puts the group.
    """
    hints = typing.get_type_hints(command, include_extras=True)
    groups: dict[str, type] = {}
    parameters = []
    for param in inspect.signature(command).parameters.values():
        hint = hints.get(param.name, param.annotation)
        if not dataclasses.is_dataclass(hint):
            parameters.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hint))
            continue
        groups[param.name] = hint
        fields = typing.get_type_hints(hint, include_extras=True)
        parameters += [
            inspect.Parameter(
                f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=fields[f.name]
            )
            for f in dataclasses.fields(hint)
        ]
    names = [param.name for param in parameters]
    if len(set(names)) != len(names):
        raise TypeError(f"{command.__name__}: an option group repeats a parameter's name")

    @functools.wraps(command)
    def run(**kwargs: Any) -> Any:
        for name, group in groups.items():
            kwargs[name] = group(**{f.name: kwargs.pop(f.name) for f in dataclasses.fields(group)})
        return command(**kwargs)

    returns = hints.get("return", inspect.Signature.empty)
    run.__signature__ = inspect.Signature(parameters, return_annotation=returns)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": returns}
    return typing.cast(_Command, run)

