"""Helpers shared by the command modules: messages, argument checks, options."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.text import Text

from ..io import InputError, OutputError, normalise_extension

# How a seeded run gives each output its own reproducible generator: the same
# seed and output path always give the same noise, whatever else is in the batch.
SEED_DERIVATION = "numpy.random.default_rng([seed, *sha256(output path, UTF-8)[:16] as 4 uint32])"

_PER_INPUT_ERRORS = (InputError, OutputError, OSError, ValueError, MemoryError)


class _UsageError(Exception):
    """A bad argument: reported on one line, exit code 2, nothing read or written."""


def _stderr() -> Console:
    # Created per call so that it follows whatever sys.stderr is at the time.
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _say(console: Console, message: str, style: str = "") -> None:
    console.print(Text(message, style=style), soft_wrap=True)


def _describe(exc: BaseException, source: Path | None = None) -> str:
    """One line for a per-input failure, naming the file."""
    if isinstance(exc, InputError):
        return str(exc)  # already starts with the input path
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else source
        text = f"{where}: {exc.strerror}"
        if source is not None and where is not None and Path(where) != source:
            text = f"{source}: {text}"
        return text
    if isinstance(exc, MemoryError):
        first = "not enough memory for this image"
    else:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{source}: {first}" if source is not None else first


def _fmt_eps(value: float) -> str:
    return f"{value:g}"


def _check_library_parameters(call: Callable[[np.ndarray], Any]) -> None:
    """Let the library judge the mechanism parameters on a 1x1 image.

    The mechanisms are the single source of truth for what b, b0, k, m, eps
    and sigma may be; running one on a single pixel (seeded, so the secure
    source is not touched) raises their ``ValueError`` in microseconds.
    """
    try:
        call(np.zeros((1, 1), dtype=np.uint8))
    except ValueError as exc:
        raise _UsageError(str(exc)) from None


def _check_common(
    seed: int | None, quality: int, fmt: str | None, max_pixels: int | None
) -> str | None:
    if seed is not None and seed < 0:
        raise _UsageError(f"--seed must be a non-negative integer, got {seed}")
    if not 1 <= quality <= 100:
        raise _UsageError(f"--quality must be from 1 to 100, got {quality}")
    if max_pixels is not None and max_pixels < 1:
        raise _UsageError(f"--max-pixels must be a positive integer, got {max_pixels}")
    if fmt is None:
        return None
    try:
        return normalise_extension(fmt)
    except ValueError as exc:
        raise _UsageError(f"--format: {exc}") from None


def _seeded_rng(seed: int, name: str) -> np.random.Generator:
    digest = hashlib.sha256(name.encode("utf-8")).digest()[:16]
    words = np.frombuffer(digest, dtype="<u4")
    return np.random.default_rng([seed, *(int(w) for w in words)])


def _usage_exit(exc: _UsageError) -> typer.Exit:
    _say(_stderr(), f"error: {exc}", "red")
    return typer.Exit(code=2)


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
