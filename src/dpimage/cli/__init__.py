"""The ``dpimage`` command line (Typer).

One module per command group; each registers its commands on the root
:data:`app` (or adds a sub-app with ``app.add_typer``) when imported here.
"""

from __future__ import annotations

from . import (
    compare,  # noqa: F401  (registers compare)
    eval_attack,  # noqa: F401  (registers `eval attack`, `eval identity-bound`)
    release,  # noqa: F401  (registers pixelate, blur)
    serve,  # noqa: F401  (registers serve)
    video,  # noqa: F401  (registers video)
)
from . import eval as _eval  # noqa: F401  (registers `eval sweep`, `eval plot`)
from . import tune as _tune  # noqa: F401  (registers tune)
from ._app import app
from .ambiguate import sub as _ambiguate  # noqa: F401  (registers `dpimage ambiguate`)
from .ambiguate_eval import evaluate as _amb_eval  # noqa: F401  (then `ambiguate evaluate`)

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``dpimage`` console script."""
    app()
