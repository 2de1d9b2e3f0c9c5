"""The ``dpimage eval`` sub-app; command modules (sweep, attack, ...) register on it."""

from __future__ import annotations

from ._app import app, make_app

__all__ = ["eval_app"]

eval_app = make_app(
    "eval", "Research evaluation on the papers' data sets (seeded: not private releases)."
)
app.add_typer(eval_app, name="eval")
