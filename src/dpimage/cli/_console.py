"""Where the CLI's messages go: a stderr console, one styled line at a time."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text


def _stderr() -> Console:
    # Created per call so that it follows whatever sys.stderr is at the time.
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _say(console: Console, message: str, style: str = "") -> None:
    console.print(Text(message, style=style), soft_wrap=True)
