"""The ``dpimage eval`` sub-app; command modules (sweep, attack, ...) register on it."""

from __future__ import annotations

import typer

from ._app import app

__all__ = ["eval_app"]

eval_app = typer.Typer(
    name="eval",
    help="Research evaluation on the papers' data sets (seeded: not private releases).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
app.add_typer(eval_app, name="eval")
