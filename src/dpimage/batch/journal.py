"""The run journal: a record of every output's write that survives ``kill -9``.

A batch writes its manifest when it ends. So that a run killed before then
loses no record of what it released, each write is also recorded in a journal
beside the manifest (``.dpimage-manifest.json.journal``, or
``.OUT.jpg.manifest.json.journal`` for one output file): one JSON line per
event, each appended whole by a single ``write`` on an ``O_APPEND``
descriptor, so lines from several worker processes do not interleave. It is
opened without following links (``O_NOFOLLOW``): a symbolic link planted at
its place is refused, never written through.

Lines
-----
- ``{"header": {...}}``: a run's settings (run id, command, mechanism,
  parameters, seed), written before its first output.
- ``{"run": R, "path": P, "epsilon": E, "step": "begin"}``: the write of output
  ``P`` has begun; written *before* the output can appear under its name, so
  that a release can never exist without a record.
- ``{"run": R, "path": P, "step": "done"}``: the output is complete under its
  name (written after the verified atomic rename).
- ``{"run": R, "path": P, "step": "abandoned"}``: the write failed; nothing
  was released.

Reading it back (:func:`read_journal`), a ``done`` output is a confirmed
release. A ``begin`` without an end means the run was killed during the write:
if a file is there under that name it *may* be this release (the rename can
have happened just before the kill) and may also be an older file, so it is
counted as spent, but not trusted: the next run writes it again. Names are
kept exactly, also when they are not valid UTF-8 (see
:func:`dpimage.io.manifest_file.json_bytes`).
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..io.files import journal_for
from ..io.manifest_file import json_bytes

__all__ = [
    "journal_path",
    "read_journal",
    "record_abandoned",
    "record_begin",
    "record_done",
    "start_journal",
]

BEGIN, DONE, ABANDONED = "begin", "done", "abandoned"

#: A link planted at the journal's place is never followed (appending to the
#: file it points to would write into someone else's file).
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def journal_path(manifest_path: str | os.PathLike[str]) -> Path:
    """Where the journal of the runs writing ``manifest_path`` lives (a hidden file beside it)."""
    return journal_for(manifest_path)


def _append(path: str | os.PathLike[str], record: Mapping[str, Any]) -> None:
    """Append one JSON line with a single ``write`` on an ``O_APPEND`` descriptor.

    Each line is written whole by one system call, so lines from several
    worker processes appending at once do not interleave on a local file
    system. A short write (a full disk) raises: the torn line it leaves is
    ignored when the journal is read.
    """
    line = json_bytes(record)
    try:
        fd = os.open(path, _APPEND_FLAGS, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(exc.errno, "the run journal is a symbolic link (not followed)",
                          os.fspath(path)) from None
        raise
    try:
        if os.write(fd, line) != len(line):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path))
    finally:
        os.close(fd)


def start_journal(path: str | os.PathLike[str], header: Mapping[str, Any]) -> None:
    """Append a run's header (its settings) to the journal, creating it if needed."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    _append(path, {"header": dict(header)})


def record_begin(path: str | os.PathLike[str], run: str, name: str, eps: float) -> None:
    """Record that run ``run`` is about to write output ``name`` (spending ``eps``)."""
    _append(path, {"run": run, "path": name, "epsilon": float(eps), "step": BEGIN})


def record_done(path: str | os.PathLike[str], run: str, name: str) -> None:
    """Record that output ``name`` of run ``run`` is complete under its name."""
    _append(path, {"run": run, "path": name, "step": DONE})


def record_abandoned(path: str | os.PathLike[str], run: str, name: str) -> None:
    """Record that the write of output ``name`` failed (nothing released)."""
    _append(path, {"run": run, "path": name, "step": ABANDONED})


def read_journal(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The runs recorded in a journal: each header with its outputs.

    Returns
    -------
    list of dict
        One dict per run found, in order: the header's keys (``run``,
        ``command``, ``mechanism``, ``parameters``, ``seed``) plus
        ``outputs``, the confirmed releases as ``(path, epsilon)``, and
        ``unconfirmed``, the writes begun and never ended (``(path,
        epsilon)``; see the module notes). A torn line (a run killed
        mid-write, a full disk) is ignored; a missing file gives ``[]``.
        Lines of journals from before the begin/done steps count as begun.
    """
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except (FileNotFoundError, NotADirectoryError):
        return []
    with os.fdopen(fd, "rb") as stream:
        data = stream.read()
    runs: dict[str, dict[str, Any]] = {}
    state: dict[str, dict[str, tuple[str, float]]] = {}
    for raw in data.splitlines():
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if not isinstance(record, dict):
            continue
        if isinstance(record.get("header"), dict):
            header = dict(record["header"])
            run_id = str(header.get("run"))
            runs.setdefault(run_id, {**header, "outputs": [], "unconfirmed": []})
            state.setdefault(run_id, {})
            continue
        run_id, name = str(record.get("run")), record.get("path")
        if run_id not in runs or not isinstance(name, str):
            continue
        step = record.get("step", BEGIN)
        pending = state[run_id]
        if step == BEGIN:
            try:
                pending[name] = ("begun", float(record["epsilon"]))
            except (KeyError, TypeError, ValueError):
                continue
        elif step in (DONE, ABANDONED) and name in pending and pending[name][0] == "begun":
            if step == DONE:
                pending[name] = ("done", pending[name][1])
            else:
                del pending[name]
    for run_id, pending in state.items():
        for name, (status, eps) in pending.items():
            key = "outputs" if status == "done" else "unconfirmed"
            runs[run_id][key].append((name, eps))
    return list(runs.values())
