"""The ``dpimage eval`` sub-app; command modules (sweep, attack, ...) register on it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import app, make_app

__all__ = ["OutputDirOpt", "eval_app"]

#: The folder a research command writes its tables and figures into.
OutputDirOpt = Annotated[
    Path, typer.Option("-o", "--output", help="Output directory.", show_default=False)
]

eval_app = make_app(
    "eval", "Research evaluation on the papers' data sets (seeded: not private releases)."
)
app.add_typer(eval_app, name="eval")
