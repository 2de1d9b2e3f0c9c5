"""Where inputs come from and where outputs go: extensions, planning, atomic writes.

Nothing here looks inside an image. Inputs are recognised by file extension,
outputs are planned from paths alone, and every file this package writes goes
through :func:`~dpimage.io.atomic.atomic_writer` (a temporary file in the
destination directory, renamed over the destination only once it is complete).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._errors import OutputError

__all__ = [
    "IMAGE_FORMATS",
    "MANIFEST_NAME",
    "Job",
    "Plan",
    "holds_release",
    "image_format",
    "journal_for",
    "manifest_for",
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

#: Suffix of the manifest of a single output file (``OUT.jpg.manifest.json``).
FILE_MANIFEST_SUFFIX = ".manifest.json"

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
# Input collection and output planning
# ---------------------------------------------------------------------------


def manifest_for(target: str | os.PathLike[str], *, directory: bool) -> Path:
    """Where the manifest of an output goes: the one naming rule.

    ``-o`` naming a directory (whatever the inputs: one file, several, a
    tree) puts ``dpimage-manifest.json`` in it; ``-o`` naming a file puts
    ``FILE.manifest.json`` beside it (as the video command does).

    Parameters
    ----------
    target : path-like
        The output directory (``directory=True``) or the output file.
    directory : bool
        Whether ``target`` is the output directory.
    """
    path = Path(target)
    if directory:
        return path / MANIFEST_NAME
    return path.with_name(path.name + FILE_MANIFEST_SUFFIX)


def journal_for(manifest: str | os.PathLike[str]) -> Path:
    """The journal of the runs writing ``manifest``: a hidden file beside it."""
    path = Path(manifest)
    return path.with_name(f".{path.name}.journal")


def holds_release(directory: str | os.PathLike[str]) -> bool:
    """Whether ``directory`` is a dpimage output directory (it holds a manifest or a journal).

    A run killed before it wrote its manifest leaves only the (hidden)
    journal, so that counts too.
    """
    manifest = Path(directory) / MANIFEST_NAME
    return os.path.lexists(manifest) or os.path.lexists(journal_for(manifest))


def _is_released_file(path: Path) -> bool:
    """Whether ``path`` is a single output file of an earlier run (its manifest is beside it)."""
    manifest = manifest_for(path, directory=False)
    return os.path.lexists(manifest) or os.path.lexists(journal_for(manifest))


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
    redo : bool
        Replace ``target`` even without ``overwrite``: set for an output that
        an interrupted run started and its journal never confirmed complete.
    """

    source: Path
    target: Path
    name: str
    redo: bool = False


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
        True when the output is a single file (one input file was given and
        ``-o`` names a file).
    manifest_path : Path
        Where the manifest goes (see :func:`manifest_for`).
    excluded : list of (Path, int)
        Directories (or single files) found inside the inputs and left out
        because they are outputs of a dpimage run (this one's or an earlier
        one's: they hold a manifest or a journal), with the number of image
        files in each. Releasing them would be a release of a release,
        charged ε again.
    skipped : list of (Path, str)
        Entries found inside input directories that are not read, with the
        one-line reason: symbolic links to directories (not followed),
        broken or looping links, FIFOs, sockets and devices; also inputs that
        are the same file as an earlier input (a link to it, the same path
        given twice, a hard link): each file is released once per run, the
        first occurrence in input order. Hidden entries and regular files
        without an image extension are left out silently.
    """

    jobs: list[Job] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    single: bool = False
    manifest_path: Path = Path(MANIFEST_NAME)
    excluded: list[tuple[Path, int]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def excluded_files(self) -> int:
        """How many image files :attr:`excluded` holds in all."""
        return sum(count for _, count in self.excluded)


def _with_extension(path: Path, ext: str | None) -> Path:
    return path if ext is None else path.with_suffix("." + ext)


def _count_images(root: Path) -> int:
    count = 0
    for current, dirnames, filenames in os.walk(root):
        dirnames[:] = [name for name in dirnames if not is_hidden(name)]
        count += sum(
            1 for name in filenames if not is_hidden(name) and is_image_name(Path(current, name))
        )
    return count


#: Why a symbolic link to a directory inside an input is not followed.
LINKED_DIRECTORY = (
    "a symbolic link to a directory, not followed (it can lead out of the input, loop, "
    "or reach images already found, which would be released, and charged ε, twice); "
    "give its target as an input to release it"
)


def _special_file(path: Path) -> str | None:
    """Why ``path`` (listed as a file by ``os.walk``) cannot be read as an image, or None."""
    try:
        mode = path.stat().st_mode
    except OSError:
        # lstat succeeded (os.walk listed it) but stat fails: a link to nothing
        return "a broken or looping symbolic link"
    if stat.S_ISREG(mode):
        return None
    kind = (
        "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
        else "a socket" if stat.S_ISSOCK(mode)
        else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "not a regular file"
    )  # fmt: skip
    return f"{kind}, not a regular file"


def _walk_images(
    root: Path,
    skip: Path | None,
    excluded: list[tuple[Path, int]],
    skipped: list[tuple[Path, str]] | None = None,
) -> list[Path]:
    """Image files under ``root`` (relative paths).

    Hidden entries are left out; so are ``skip`` (this run's output
    directory) and every directory or file that holds an earlier release
    (:func:`holds_release`), which are listed in ``excluded``. Links to
    directories are not followed; they, links to nothing and special files
    (FIFOs, sockets, devices) are listed in ``skipped`` with the reason.
    """
    skipped = [] if skipped is None else skipped
    if holds_release(root):
        excluded.append((root, _count_images(root)))
        return []
    found: list[Path] = []
    for current, dirnames, filenames in os.walk(root):
        here = Path(current)
        keep = []
        for name in sorted(dirnames):
            if is_hidden(name):
                continue
            sub = here / name
            if sub.is_symlink():
                skipped.append((sub, LINKED_DIRECTORY))
                continue
            if (skip is not None and sub.resolve() == skip) or holds_release(sub):
                # Never read an output directory back in (ours or an earlier one).
                excluded.append((sub, _count_images(sub)))
                continue
            keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            path = here / name
            if is_hidden(name):
                continue
            reason = _special_file(path)
            if reason is not None:
                skipped.append((path, reason))
                continue
            if not is_image_name(path):
                continue
            if _is_released_file(path):
                excluded.append((path, 1))
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
        directories are skipped, and so are output directories of dpimage
        runs found inside them (see :attr:`Plan.excluded`). A file given
        explicitly is always attempted.
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
    if len(sources) == 1 and sources[0].is_file() and not (looks_like_dir or not out_path.suffix):
        source = sources[0]
        target = out_path
        if ext is not None and out_path.suffix.lstrip(".").lower() != ext:
            raise ValueError(
                f"--format {ext} contradicts the output file name {out_text}; drop one of them"
            )
        plan.single = True
        plan.manifest_path = manifest_for(target, directory=False)
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
        plan.manifest_path = manifest_for(out_path, directory=True)
        skip = out_path.resolve()
        candidates = []
        for source in sources:
            if not os.path.lexists(source):
                plan.problems.append((os.fspath(source), "no such file or directory"))
            elif source.is_dir():
                for rel in _walk_images(source, skip, plan.excluded, plan.skipped):
                    target = out_path / _with_extension(rel, ext)
                    candidates.append((source / rel, target, target.relative_to(out_path)))
            elif source.is_file():
                target = out_path / _with_extension(Path(source.name), ext)
                candidates.append((source, target, Path(target.name)))
            else:
                plan.problems.append((os.fspath(source), "not a regular file or directory"))

    _check_candidates(plan, candidates)
    return plan


def _how_same(first: Path, again: Path) -> str:
    """How ``again`` comes to be the file ``first`` already is (for the skipped line)."""
    if again.is_symlink() or first.is_symlink():
        return "a link"
    if os.path.abspath(again) == os.path.abspath(first):
        return "named twice in the inputs"
    if os.path.realpath(again) == os.path.realpath(first):
        return "another path to it, through a linked folder"
    return "a hard link"


def _drop_duplicates(
    plan: Plan, candidates: list[tuple[Path, Path, Path | str]]
) -> list[tuple[Path, Path, Path | str]]:
    """``candidates`` with each real file once: the first in input order is kept.

    Two inputs that are one file (a link to another input, ``a.png ./a.png``,
    a folder holding a link to one of its images, a hard link) would each be
    released and charged ε, although the summary says ε per image. The file
    is identified by ``(st_dev, st_ino)`` after following links; each later
    occurrence is listed in :attr:`Plan.skipped`, naming the one kept.
    """
    first: dict[tuple[int, int], Path] = {}
    kept = []
    for candidate in candidates:
        source = candidate[0]
        key = _file_key(source)
        if key is None:  # cannot be identified: the release reports the problem
            kept.append(candidate)
            continue
        if key in first:
            seen = first[key]
            plan.skipped.append(
                (
                    source,
                    f"the same file as {os.fspath(seen)} ({_how_same(seen, source)}); "
                    "released once",
                )
            )
            continue
        first[key] = source
        kept.append(candidate)
    return kept


def _check_candidates(plan: Plan, candidates: list[tuple[Path, Path, Path | str]]) -> None:
    """Turn candidates into jobs, refusing outputs on inputs and clashing outputs."""
    candidates = _drop_duplicates(plan, candidates)
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
        if target.is_dir():
            # not an existing output to skip or replace: nothing could be written there
            plan.problems.append(
                (os.fspath(source), f"output {os.fspath(target)} is a directory")
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
