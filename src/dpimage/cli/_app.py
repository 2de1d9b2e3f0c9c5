"""The root Typer application; command modules register themselves on it."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__

__all__ = ["app"]

app = typer.Typer(
    name="dpimage",
    help="Release images with a differential-privacy guarantee (DP-Pix, DP-Blur).",
    add_completion=False,
    no_args_is_help=True,
    # Plain Click messages for usage errors (no boxes), and no Rich tracebacks:
    # those would print local variables, i.e. image arrays.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"dpimage {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Show the version."
        ),
    ] = False,
) -> None:
    """Release images with a differential-privacy guarantee (DP-Pix, DP-Blur)."""
