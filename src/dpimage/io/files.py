"""Where inputs come from and where outputs go: extensions, planning, atomic writes.

Nothing here looks inside an image. Inputs are recognised by file extension,
outputs are planned from paths alone, and every file this package writes goes
through :func:`atomic_writer` (a temporary file in the destination directory,
renamed over the destination only once it is complete).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ._errors import OutputError, OutputExistsError

__all__ = [
    "IMAGE_FORMATS",
    "MANIFEST_NAME",
    "Job",
    "Plan",
    "atomic_writer",
    "image_format",
    "normalise_extension",
    "plan_outputs",
]

#: File extensions (lower case, no dot) that are read and written, and the
#: Pillow format each one is written with.
IMAGE_FORMATS: dict[str, str] = {
    "jpg": "JPEG",
    "jpeg": "JPEG",
    "png": "PNG",
    "webp": "WEBP",
    "tif": "TIFF",
    "tiff": "TIFF",
    "bmp": "BMP",
    "gif": "GIF",
}

#: Name of the manifest written into an output directory.
MANIFEST_NAME = "dpimage-manifest.json"

_TEMP_PREFIX = ".dpimage-"
_TEMP_SUFFIX = ".tmp"


def _known_extensions() -> str:
    return ", ".join(sorted(IMAGE_FORMATS))


def normalise_extension(ext: str) -> str:
    """Return ``ext`` lower-cased without a leading dot, if it is a known image type.

    Parameters
    ----------
    ext : str
        An extension such as ``"PNG"``, ``".jpg"`` or ``"tiff"``.

    Returns
    -------
    str
        The extension in lower case without the dot.

    Raises
    ------
    ValueError
        If the extension is not one of :data:`IMAGE_FORMATS`.
    """
    clean = ext.strip().lstrip(".").lower()
    if clean not in IMAGE_FORMATS:
        raise ValueError(f"unknown image format {ext!r}; use one of: {_known_extensions()}")
    return clean


def image_format(path: str | os.PathLike[str]) -> str:
    """Return the Pillow format name for ``path``'s extension.

    Raises
    ------
    OutputError
        If the extension is missing or not one of :data:`IMAGE_FORMATS`.
    """
    suffix = Path(path).suffix.lstrip(".").lower()
    if suffix not in IMAGE_FORMATS:
        shown = f"'.{suffix}'" if suffix else "no extension"
        raise OutputError(
            f"cannot tell the image format of {os.fspath(path)} ({shown}); "
            f"use one of: {_known_extensions()}"
        )
    return IMAGE_FORMATS[suffix]


def is_image_name(path: Path) -> bool:
    """Whether ``path`` has a recognised image extension."""
    return path.suffix.lstrip(".").lower() in IMAGE_FORMATS


def is_hidden(name: str) -> bool:
    """Whether a file or directory name is hidden (starts with a dot)."""
    return name.startswith(".")


# ---------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------


def _open_temp(directory: Path) -> tuple[int, Path]:
    """Create a new empty temporary file in ``directory``; return (fd, path)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = directory / f"{_TEMP_PREFIX}{secrets.token_hex(8)}{_TEMP_SUFFIX}"
        try:
            # 0o666 so that the process umask decides the final permissions,
            # exactly as for a file created directly.
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # pragma: no cover - 64 random bits collided
            continue


def _commit(tmp: Path, dest: Path, *, overwrite: bool) -> None:
    """Move the finished temporary file ``tmp`` to ``dest`` in one step."""
    if overwrite:
        os.replace(tmp, dest)
        return
    try:
        # A hard link never replaces an existing file: no race with a file
        # that appears between an existence check and the rename.
        os.link(tmp, dest)
    except FileExistsError:
        raise OutputExistsError(f"{os.fspath(dest)} already exists") from None
    except OSError:
        # The file system has no hard links: fall back to check-then-rename.
        if os.path.lexists(dest):
            raise OutputExistsError(f"{os.fspath(dest)} already exists") from None
        os.replace(tmp, dest)
        return
    os.unlink(tmp)


@contextmanager
def atomic_writer(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[BinaryIO]:
    """Open a binary stream whose content replaces ``path`` only when complete.

    The data goes to a temporary file in the same directory (so the final
    rename stays on one file system), which is flushed, synced and then moved
    onto ``path``. If anything fails, the temporary file is removed and
    ``path`` is left as it was.

    Parameters
    ----------
    path : path-like
        Destination file. Its directory must exist.
    overwrite : bool, optional
        Replace ``path`` if it exists. Otherwise an existing ``path`` raises
        :class:`~dpimage.io.OutputExistsError` and is left untouched.

    Yields
    ------
    BinaryIO
        The stream to write to.
    """
    dest = Path(path)
    try:
        fd, tmp = _open_temp(dest.parent)
    except OSError as exc:
        # Name the destination, not the random temporary name.
        raise OSError(exc.errno, exc.strerror, os.fspath(dest)) from None
    try:
        with os.fdopen(fd, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        _commit(tmp, dest, overwrite=overwrite)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------
# Input collection and output planning
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One input file and the output it becomes.

    Attributes
    ----------
    source : Path
        The input file.
    target : Path
        The output file.
    name : str
        ``target`` relative to the manifest's directory, with ``/`` separators.
        Used in messages and in the manifest.
    """

    source: Path
    target: Path
    name: str


@dataclass
class Plan:
    """Outputs planned for a set of inputs.

    Attributes
    ----------
    jobs : list of Job
        Inputs to process, in a deterministic order.
    problems : list of (str, str)
        Inputs that cannot be processed, as (input as given, one-line reason):
        missing paths, outputs that would land on an input, clashing outputs.
    single : bool
        True when the output is a single file (one input file was given).
    manifest_path : Path
        Where the manifest goes.
    """

    jobs: list[Job] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    single: bool = False
    manifest_path: Path = Path(MANIFEST_NAME)


def _with_extension(path: Path, ext: str | None) -> Path:
    return path if ext is None else path.with_suffix("." + ext)


def _walk_images(root: Path, skip: Path | None) -> list[Path]:
    """Image files under ``root`` (relative paths), hidden entries and ``skip`` excluded."""
    found: list[Path] = []
    for current, dirnames, filenames in os.walk(root):
        here = Path(current)
        keep = []
        for name in sorted(dirnames):
            if is_hidden(name):
                continue
            if skip is not None and (here / name).resolve() == skip:
                continue  # never read our own output directory back in
            keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            path = here / name
            if is_hidden(name) or not is_image_name(path) or not path.is_file():
                continue
            found.append(path.relative_to(root))
    found.sort(key=lambda p: p.parts)
    return found


def _file_key(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def plan_outputs(
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    fmt: str | None = None,
) -> Plan:
    """Decide the output path of every input image.

    Parameters
    ----------
    inputs : sequence of path-like
        Files or directories. Directories are searched recursively for files
        with an image extension (:data:`IMAGE_FORMATS`); hidden files and
        directories are skipped. A file given explicitly is always attempted.
    out : path-like
        With exactly one input that is a file: the output file; but if ``out``
        has no extension, is an existing directory or ends with a separator,
        the directory to put it in (under the input's name). Otherwise: the
        output directory; each input directory's tree is mirrored below it and
        input files go to its top level.
    fmt : str, optional
        Output extension replacing each input's (e.g. ``"png"``). By default
        each output keeps its input's extension.

    Returns
    -------
    Plan
        Jobs in deterministic order, plus inputs that cannot be processed.
        Nothing is read or written.

    Raises
    ------
    ValueError
        If ``fmt`` is unknown, or a single output file's extension contradicts
        ``fmt``, or ``out`` is a file when a directory is needed.
    """
    ext = normalise_extension(fmt) if fmt is not None else None
    out_text = os.fspath(out)
    out_path = Path(out_text)
    sources = [Path(p) for p in inputs]
    if not sources:
        raise ValueError("no inputs given")
    plan = Plan()

    looks_like_dir = out_text.endswith(("/", os.sep)) or out_path.is_dir()
    if len(sources) == 1 and sources[0].is_file():
        source = sources[0]
        if looks_like_dir or not out_path.suffix:
            target = out_path / _with_extension(Path(source.name), ext)
        else:
            target = out_path
            if ext is not None and out_path.suffix.lstrip(".").lower() != ext:
                raise ValueError(
                    f"--format {ext} contradicts the output file name {out_text}; drop one of them"
                )
        plan.single = True
        plan.manifest_path = target.with_name(target.name + ".manifest.json")
        candidates = [(source, target, target.name)]
    else:
        if out_path.exists() and not out_path.is_dir():
            raise ValueError(
                f"output {out_text} is a file; with several inputs or a directory, "
                "-o must name a directory"
            )
        several = len(sources) > 1 or any(source.is_dir() for source in sources)
        if several and not looks_like_dir and is_image_name(out_path):
            # Refuse rather than create a directory named like a picture.
            raise ValueError(
                f"output {out_text} has an image extension; with several inputs or a "
                "directory, -o must name a directory"
            )
        plan.manifest_path = out_path / MANIFEST_NAME
        skip = out_path.resolve()
        candidates = []
        for source in sources:
            if not os.path.lexists(source):
                plan.problems.append((os.fspath(source), "no such file or directory"))
            elif source.is_dir():
                for rel in _walk_images(source, skip):
                    target = out_path / _with_extension(rel, ext)
                    candidates.append((source / rel, target, target.relative_to(out_path)))
            elif source.is_file():
                target = out_path / _with_extension(Path(source.name), ext)
                candidates.append((source, target, Path(target.name)))
            else:
                plan.problems.append((os.fspath(source), "not a regular file or directory"))

    _check_candidates(plan, candidates)
    return plan


def _check_candidates(plan: Plan, candidates: list[tuple[Path, Path, Path | str]]) -> None:
    """Turn candidates into jobs, refusing outputs on inputs and clashing outputs."""
    input_keys = {key for key in (_file_key(src) for src, _, _ in candidates) if key}
    input_paths = {src.resolve() for src, _, _ in candidates}
    claimed: dict[Path, Path] = {}
    for source, target, name in candidates:
        resolved = target.resolve()
        key = _file_key(target)
        if resolved in input_paths or (key is not None and key in input_keys):
            plan.problems.append(
                (os.fspath(source), f"refusing to write {os.fspath(target)}: it is an input file")
            )
            continue
        if resolved in claimed:
            plan.problems.append(
                (
                    os.fspath(source),
                    f"output {os.fspath(target)} would also be written from "
                    f"{os.fspath(claimed[resolved])}",
                )
            )
            continue
        claimed[resolved] = source
        plan.jobs.append(Job(source=source, target=target, name=Path(name).as_posix()))
