"""The Typer applications (root and sub-apps) and the one error convention of the CLI.

Every command group is made by :func:`make_app`, so that all of them share
the same settings and the same error handling (:class:`_OneLineGroup`):

* a bad argument, whether Click finds it while parsing (``-b abc``, a missing
  option) or the library finds it (any :class:`ValueError` raised before an
  input was processed), is one line ``error: ...`` and exit code 2;
* an input that could not be processed is one line ``error: ...`` and exit
  code 1 (the commands raise :class:`InputFailed` after saying what failed);
* a missing optional package is one line naming the pip extra that installs
  it (:mod:`dpimage.extras`), exit code 1, never a traceback.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

try:  # Typer >= 0.20 ships its own copy of Click; its usage errors are those
    from typer._click.exceptions import UsageError as _ClickUsageError
except ImportError:  # pragma: no cover - older Typer uses Click itself
    from click.exceptions import UsageError as _ClickUsageError

from .. import __version__
from ._console import _say, _stderr

__all__ = ["EXIT_FAILED", "EXIT_USAGE", "InputFailed", "UsageProblem", "app", "make_app"]

#: Exit code when some input failed.
EXIT_FAILED = 1
#: Exit code for a usage error (nothing was read or written).
EXIT_USAGE = 2


class UsageProblem(ValueError):
    """A bad argument: reported on one line, exit code 2, nothing read or written."""


class InputFailed(Exception):
    """An input (or output) failed; the message is one line; exit code 1."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _fail(message: str, code: int) -> typer.Exit:
    _say(_stderr(), f"error: {message}", "red")
    return typer.Exit(code=code)


class _OneLineGroup(TyperGroup):
    """A Typer group whose commands report every error on one line (see module docstring)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _ClickUsageError as exc:
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            raise _fail(_first_line(exc) + where, EXIT_USAGE) from None
        except InputFailed as exc:
            raise _fail(_first_line(exc), EXIT_FAILED) from None
        except ValueError as exc:  # the library's validation (UsageProblem is one)
            raise _fail(_first_line(exc), EXIT_USAGE) from None
        except ImportError as exc:  # an optional package: one line naming its extra
            from ..extras import missing_extra_message

            feature = " ".join(filter(None, (ctx.command_path, ctx.invoked_subcommand)))
            raise _fail(missing_extra_message(exc, feature), EXIT_FAILED) from None


def make_app(name: str, help: str) -> typer.Typer:
    """A Typer app (root or sub-app) with the CLI's shared settings and error convention."""
    return typer.Typer(
        name=name,
        help=help,
        cls=_OneLineGroup,
        add_completion=False,
        no_args_is_help=True,
        # Plain Click messages (no boxes), and no Rich tracebacks: those would
        # print local variables, i.e. image arrays.
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
    )


app = make_app("dpimage", "Release images with a differential-privacy guarantee (DP-Pix, DP-Blur).")


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
