"""Reading and writing manifest files (JSON, atomically, safe for any file name)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .atomic import atomic_writer

__all__ = ["json_bytes", "manifest_problem", "read_manifest", "write_manifest"]


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
    problem = manifest_problem(manifest)
    if problem is not None:
        raise ValueError(
            f"{os.fspath(path)}: not a valid dpimage manifest ({problem}); nothing was "
            "written: move it away or repair it"
        )
    return manifest


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _run_problem(run: Any, where: str) -> str | None:
    """What is wrong with one run's record (the top level or one of ``previous_runs``)."""
    if not isinstance(run, dict):
        return f"{where} is not an object"
    for key in ("command", "mechanism"):
        if key in run and not isinstance(run[key], str):
            return f"{where}{key} is not a string"
    for key in ("parameters", "sampler", "video", "accountant"):
        if run.get(key) is not None and not isinstance(run[key], dict):
            return f"{where}{key} is not an object"
    for key in ("total_epsilon", "total_epsilon_all_runs"):
        if key in run and not (_is_number(run[key]) and run[key] >= 0):
            return f"{where}{key} is {json.dumps(run[key])}, not a number >= 0"
    for key in ("releases", "count"):
        value = run.get(key)
        if key in run and not _is_count(value):
            return f"{where}{key} is {json.dumps(value)}, not a count"
    outputs = run.get("outputs")
    if not isinstance(outputs, list):
        return f"{where}outputs is {json.dumps(outputs)}, not a list"
    for i, entry in enumerate(outputs):
        at = f"{where}outputs[{i}]"
        if not isinstance(entry, dict):
            return f"{at} is not an object"
        if not isinstance(entry.get("path"), str):
            return f"{at}.path is not a string"
        if not (_is_number(entry.get("epsilon")) and entry["epsilon"] >= 0):
            return f"{at}.epsilon is {json.dumps(entry.get('epsilon'))}, not a number >= 0"
        releases = entry.get("releases", 1)
        if not _is_count(releases):
            return f"{at}.releases is {json.dumps(releases)}, not a count"
        runs = entry.get("runs", [])
        if not (isinstance(runs, list) and all(isinstance(r, str) for r in runs)):
            return f"{at}.runs is not a list of strings"
    return None


def manifest_problem(manifest: Mapping[str, Any]) -> str | None:
    """What makes ``manifest`` unusable as the record to add a run to, or ``None``.

    Checked when a run starts, before anything is written: the fields a run
    reads back (each output's path, ε, releases and runs, the totals, the
    settings, the earlier runs) must have their types, or the run would end
    after releasing everything with a record it cannot update.
    """
    problem = _run_problem(manifest, "")
    if problem is not None:
        return problem
    previous = manifest.get("previous_runs", [])
    if not isinstance(previous, list):
        return "previous_runs is not a list"
    for i, run in enumerate(previous):
        problem = _run_problem(run, f"previous_runs[{i}].")
        if problem is not None:
            return problem
    return None
