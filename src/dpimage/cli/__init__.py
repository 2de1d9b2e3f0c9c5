"""The ``dpimage`` command line (Typer).

One module per command group; each registers its commands on the root
:data:`app` (or adds a sub-app with ``app.add_typer``) when imported here.
"""

from __future__ import annotations

from . import (
    eval_attack,  # noqa: F401  (registers `eval attack`, `eval identity-bound`)
    release,  # noqa: F401  (registers pixelate, blur, compare)
)
from ._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``dpimage`` console script."""
    app()
