"""Reading and writing manifest files (JSON, atomically, safe for any file name)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .atomic import atomic_writer

__all__ = ["json_bytes", "read_manifest", "write_manifest"]


def _json_default(value: Any) -> Any:
    # NumPy scalars and paths are the only non-JSON values expected here.
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"manifest value of type {type(value).__name__} is not JSON-able")


def json_bytes(value: Any, indent: int | None = None) -> bytes:
    """``value`` as UTF-8 JSON text (one line with ``indent=None``), newline-terminated.

    File names that are not valid UTF-8 reach Python as strings with lone
    surrogates (``surrogateescape``); they are written as JSON ``\\udcXX``
    escapes, so the file stays valid UTF-8 and reading it back gives the
    exact name again.
    """
    text = json.dumps(
        value,
        indent=indent,
        ensure_ascii=False,
        allow_nan=False,
        default=_json_default,
        separators=None if indent is not None else (",", ":"),
    )
    # Only lone surrogates cannot be encoded; backslashreplace writes each as
    # the JSON escape \udcXX (json.dumps has already escaped real backslashes).
    return (text + "\n").encode("utf-8", "backslashreplace")


def write_manifest(manifest: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``manifest`` as JSON to ``path`` atomically, replacing any old one.

    Parameters
    ----------
    manifest : mapping
        As returned by :func:`build_manifest`.
    path : path-like
        Destination; its directory is created if needed.

    Returns
    -------
    Path
        The path written.
    """
    dest = Path(path)
    data = json_bytes(manifest, indent=2)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(dest, overwrite=True) as stream:
        stream.write(data)
    return dest


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Read a manifest written by :func:`write_manifest`; ``None`` if there is none.

    Raises
    ------
    ValueError
        If the file exists but is not a dpimage manifest (so that it is never
        silently replaced).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{os.fspath(path)}: not valid JSON ({exc.msg}); move it away") from None
    if not isinstance(manifest, dict) or "outputs" not in manifest or "mechanism" not in manifest:
        raise ValueError(f"{os.fspath(path)}: not a dpimage manifest; move it away")
    return manifest
