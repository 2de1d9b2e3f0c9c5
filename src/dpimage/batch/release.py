"""Release one input: read it, run the mechanism, write the output, journal it.

Everything a batch does to *one* input lives in :func:`process_one`. It
returns a small :class:`Result` (a status and one-line messages), never
pixels, so it can run in any process: the serial loop, a local process pool or
a Dask cluster all call the same function (see :mod:`dpimage.batch.executors`).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import methods
from ..io import InputError, Job, OutputError, OutputExistsError, read_image, write_image
from ..io.images import make_parent
from ..regions import RegionSpec, find_regions
from ..regions.release import method_regions
from . import journal as _journal

__all__ = [
    "EXISTS",
    "FAILED",
    "PER_INPUT_ERRORS",
    "SEED_DERIVATION",
    "SKIPPED",
    "WRITTEN",
    "ReleaseParams",
    "Result",
    "describe_error",
    "process_many",
    "process_one",
    "seeded_rng",
]

#: How a seeded run gives each output its own reproducible generator: the same
#: seed and output path always give the same noise, whatever else is in the
#: batch and whichever worker draws it. (A file name that is not valid UTF-8
#: is hashed as its bytes on disk.)
SEED_DERIVATION = "numpy.random.default_rng([seed, *sha256(output path, UTF-8)[:16] as 4 uint32])"

#: Per-input failures: reported on one line, the batch carries on.
PER_INPUT_ERRORS = (InputError, OutputError, OSError, ValueError, MemoryError)

#: Result statuses.
WRITTEN, SKIPPED, FAILED, EXISTS = "written", "skipped", "failed", "exists"


def seeded_rng(seed: int, name: str) -> np.random.Generator:
    """The reproducible generator of output ``name`` in a run seeded with ``seed``.

    See :data:`SEED_DERIVATION`. Not a private release: anyone with the seed
    can regenerate the noise.
    """
    # surrogateescape: a name that is not UTF-8 is hashed as its bytes on disk;
    # a valid UTF-8 name gives exactly the bytes it always gave.
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).digest()[:16]
    words = np.frombuffer(digest, dtype="<u4")
    return np.random.default_rng([seed, *(int(w) for w in words)])


def describe_error(exc: BaseException, source: Path | None = None) -> str:
    """One line for a per-input failure, naming the file."""
    if isinstance(exc, InputError):
        return str(exc)  # already starts with the input path
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else source
        text = f"{where}: {exc.strerror}" if where is not None else exc.strerror
        if source is not None and where is not None and Path(where) != source:
            text = f"{source}: {text}"
        return text
    if isinstance(exc, MemoryError):
        first = "not enough memory for this image"
    else:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if source is None or first.startswith(f"{source}:"):
        return first  # a library message that already names the file
    return f"{source}: {first}"


@dataclass(frozen=True)
class ReleaseParams:
    """What a run does to every input; small and picklable, shipped to workers.

    Attributes
    ----------
    mechanism : str
        A private method of :mod:`dpimage.methods` (``"dp_pix"``, ``"dp_blur"``
        or any alias), applied to each image.
    options : mapping
        Its parameters (e.g. ``b``, ``m``, ``eps``, ``output``, ``render``,
        ``colour`` for DP-Pix), checked by the registry.
    eps : float
        ε each output spends (as recorded in the manifest).
    seed : int or None
        ``None`` for a private release (secure sampler); an integer for a
        reproducible, NOT private, research run (see :func:`seeded_rng`).
    quality : int
        JPEG/WebP quality of the outputs.
    overwrite : bool
        Replace existing outputs (never an input).
    max_pixels : int or None
        Decompression-bomb limit for reading.
    journal : str or None
        Journal file recording each output's write (see
        :mod:`dpimage.batch.journal`); ``None`` for none.
    run_id : str
        Identifies this run in the journal and the manifest (random).
    regions : RegionSpec or None
        Release only these regions of each image (faces, people or user
        boxes), the rest untouched; ``None`` releases the whole image. An
        image in which no region is found fails (it would go out as is).
    """

    mechanism: str
    options: Mapping[str, Any]
    eps: float
    seed: int | None = None
    quality: int = 95
    overwrite: bool = False
    max_pixels: int | None = None
    journal: str | None = None
    run_id: str = field(default_factory=lambda: secrets.token_hex(8))
    regions: RegionSpec | None = None

    def __post_init__(self) -> None:
        method = methods.get(self.mechanism)  # ValueError naming the known methods
        if not method.private:
            raise ValueError(
                f"unknown mechanism {self.mechanism!r} for a release: {method.name} is not "
                "private; use dp_pix or dp_blur"
            )
        method.validate(self.options)
        object.__setattr__(self, "mechanism", method.name)

    @property
    def method(self) -> methods.Method:
        return methods.get(self.mechanism)

    @property
    def mechanism_name(self) -> str:
        """The mechanism as the manifest names it (``dp_pix_regions`` in region mode)."""
        return self.mechanism if self.regions is None else f"{self.mechanism}_regions"

    def manifest_parameters(self) -> dict[str, Any]:
        """The mechanism parameters as the manifest records them."""
        recorded = dict(self.options)
        split = self.method.budget(self.options)
        if split is not None:
            # where eps goes for RGB inputs (gray ones spend it all on their one grid):
            # public parameters only, nothing from any image
            recorded["colour_split"] = {**split, "applies_to": "RGB inputs (gray: all eps on Y)"}
        if self.regions is not None:
            recorded["regions"] = self.regions.describe()
        return recorded

    def release(self, image: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """Apply the mechanism to one image array (or to its regions)."""
        return self.release_counted(image, rng)[0]

    def release_counted(
        self, image: np.ndarray, rng: np.random.Generator | None
    ) -> tuple[np.ndarray, int | None]:
        """:meth:`release`, and how many regions it released (``None`` for a whole image).

        The count derives from the image (the detector ran on its raw pixels);
        the manifest says so where it records it.
        """
        if self.regions is None:
            return self.method.apply(image, self.options, rng), None
        boxes = find_regions(image, self.regions)
        if not boxes:
            raise ValueError(
                f"no {self.regions.source} found; nothing written (the image would go out as is)"
            )
        options = {key: value for key, value in self.options.items() if key != "output"}
        released = method_regions(
            image, boxes, self.method, options, rng, context=self.regions.context
        )
        return released, len(boxes)


@dataclass(frozen=True)
class Result:
    """What became of one input: small, so it travels back from any worker.

    Attributes
    ----------
    index : int
        Position of the input in the run (results are yielded in this order).
    name : str
        The output's path relative to the manifest's directory.
    status : str
        ``"written"``, ``"skipped"`` (the output existed before the run),
        ``"failed"``, or, from :func:`process_one` only, ``"exists"`` (the
        output appeared after the run checked for it; see
        :func:`dpimage.batch.run_jobs`).
    eps : float
        ε spent on this output (0 unless written).
    messages : tuple of (str, str)
        ``(level, text)`` lines to show, level one of ``"info"``, ``"note"``,
        ``"skip"``, ``"error"``.
    regions : int or None
        Region mode: how many regions were released in this output (derived
        from the image: the detector ran on its raw pixels); ``None`` otherwise.
    """

    index: int
    name: str
    status: str
    eps: float = 0.0
    messages: tuple[tuple[str, str], ...] = ()
    regions: int | None = None


def skip_message(target: Path) -> tuple[str, str]:
    """The message of an output left alone because it exists."""
    return ("skip", f"skipped {target}: already exists (use --overwrite)")


def process_one(job: Job, params: ReleaseParams, index: int = 0) -> Result:
    """Read one input, release it with ``params`` and write the output atomically.

    Parameters
    ----------
    job : dpimage.io.Job
        The input file and its planned output.
    params : ReleaseParams
        Mechanism, privacy parameters and output options of the run.
    index : int, optional
        Position of the job in the run, copied into the result.

    Returns
    -------
    Result
        Status and messages. Per-input problems (unreadable, corrupt, refused
        output, a full disk, ...) are returned as ``"failed"`` with a one-line
        message naming the file, never raised; nothing is then left under the
        output's name. An output that already exists is left untouched and
        reported as ``"exists"`` unless ``params.overwrite`` or ``job.redo``.

    Notes
    -----
    Pixels never leave this function: only the small :class:`Result` does,
    so it suits process pools and remote workers. With ``params.journal``,
    the write is recorded as begun before the output can appear and as done
    once it is complete under its name (or as abandoned if it failed): see
    :mod:`dpimage.batch.journal`. An output whose write cannot be recorded
    is not written, so no release escapes the accounting.
    """
    target = job.target
    replace = params.overwrite or job.redo
    if not replace and os.path.lexists(target):
        return Result(index, job.name, EXISTS, messages=(skip_message(target),))
    messages: list[tuple[str, str]] = []
    if job.redo and os.path.lexists(target):
        messages.append(
            ("note", f"{target}: released again: an interrupted run wrote it but never "
             "confirmed it complete")
        )  # fmt: skip
    begun = False
    try:
        image, notices = read_image(job.source, max_pixels=params.max_pixels)
        messages.extend(("note", notice) for notice in notices)
        rng = seeded_rng(params.seed, job.name) if params.seed is not None else None
        released, found = params.release_counted(image, rng)
        del image
        if params.journal is not None:
            make_parent(target)  # a file in the way is named as such, not as a journal error
            try:
                _journal.record_begin(params.journal, params.run_id, job.name, params.eps)
            except OSError as exc:
                # Not written: a release must never exist without its record.
                why = f"{exc.strerror} (recording it in the journal {Path(params.journal).name})"
                raise OSError(exc.errno, why, os.fspath(target)) from None
            begun = True
        write_image(
            released,
            target,
            quality=params.quality,
            overwrite=replace,
            protect=[job.source],
        )
    except OutputExistsError:
        _abandon(params, job, begun)
        return Result(index, job.name, EXISTS, messages=(skip_message(target),))
    except PER_INPUT_ERRORS as exc:
        _abandon(params, job, begun)
        messages.append(("error", f"error: {describe_error(exc, job.source)}"))
        return Result(index, job.name, FAILED, messages=tuple(messages))
    if begun:
        try:
            _journal.record_done(params.journal, params.run_id, job.name)  # type: ignore[arg-type]
        except OSError as exc:
            # The output is complete; if the run then ends normally the
            # manifest records it from this result. A later run that only has
            # the journal will count it and release it again.
            messages.append(
                ("note", f"{target}: written, but the journal could not confirm it "
                 f"({describe_error(exc)})")
            )  # fmt: skip
    if found is not None:
        source = params.regions.source if params.regions is not None else "regions"
        messages.append(("info", f"{target}: {found} region{'s' if found != 1 else ''} "
                                 f"released ({source})"))
    return Result(index, job.name, WRITTEN, params.eps, tuple(messages), regions=found)


def _abandon(params: ReleaseParams, job: Job, begun: bool) -> None:
    """Record that a begun write did not happen (best effort: the journal may be on a full disk)."""
    if begun and params.journal is not None:
        try:
            _journal.record_abandoned(params.journal, params.run_id, job.name)
        except OSError:
            pass  # a begun write without its end is not trusted anyway


def process_many(group: list[tuple[int, Job]], params: ReleaseParams) -> list[Result]:
    """:func:`process_one` on each ``(index, job)`` pair: one Dask task for several jobs."""
    return [process_one(job, params, index) for index, job in group]
