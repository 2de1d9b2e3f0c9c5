"""Exceptions raised by :mod:`dpimage.io`.

Each carries a single-line message meant to be shown to a user as is.
"""

from __future__ import annotations

__all__ = ["InputError", "OutputError", "OutputExistsError"]


class InputError(ValueError):
    """An input file cannot be read as a supported still image.

    The message is one line and names the file; the command line prints it
    without a traceback.
    """


class OutputError(ValueError):
    """An output cannot be written where or how it was asked for."""


class OutputExistsError(OutputError):
    """The output file already exists and overwriting was not allowed."""
