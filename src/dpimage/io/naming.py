"""Output names that do not copy input names: ``0001.jpg``, ``0002.jpg``, ...

Input file and folder names often identify people (``anna-at-the-beach.jpg``,
``smith family/``). By default outputs mirror them, and so does the manifest,
which lists every output by name. :func:`numbered_target` names an output by
its position in the (sorted, deterministic) list of inputs instead, flat in
the output directory, keeping only the extension: nothing of the input's name
or folder survives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from .files import Job, Plan

__all__ = ["number_plan", "numbered_target"]


def numbered_target(index: int, total: int, target: Path, out_dir: Path) -> Path:
    """The output path of the ``index``-th (from 0) of ``total`` outputs, by number only.

    Parameters
    ----------
    index : int
        Position of the input in the plan (0-based); the name is ``index + 1``.
    total : int
        Number of outputs; names are zero-padded to at least 4 digits, more
        if ``total`` needs them, so that they sort in order.
    target : Path
        The output path the input would get otherwise (only its extension is kept).
    out_dir : Path
        The output directory; numbered outputs sit directly in it.

    Returns
    -------
    Path
        ``out_dir / "0001.jpg"`` and so on.

    Examples
    --------
    >>> numbered_target(0, 3, Path("out/anna/beach.JPG"), Path("out")).as_posix()
    'out/0001.JPG'
    """
    if index < 0 or index >= total:
        raise ValueError(f"index must be in [0, {total}), got {index}")
    width = max(4, len(str(total)))
    return out_dir / f"{index + 1:0{width}d}{target.suffix}"


def number_plan(plan: Plan, out_dir: Path, *, keep_single: bool) -> Plan:
    """``plan`` with every output named by number (see :func:`numbered_target`).

    ``keep_single=True`` leaves a single output whose file name the user gave
    (``-o result.png``) as it is: that name is the user's, not the input's.
    """
    if plan.single and keep_single:
        return plan
    root = out_dir if not plan.single else plan.jobs[0].target.parent if plan.jobs else out_dir
    jobs: Sequence[Job] = plan.jobs
    numbered = []
    for i, job in enumerate(jobs):
        target = numbered_target(i, len(jobs), job.target, root)
        numbered.append(replace(job, target=target, name=target.name))
    manifest_path = plan.manifest_path
    if plan.single and numbered:
        manifest_path = numbered[0].target.with_name(numbered[0].target.name + ".manifest.json")
    return replace(plan, jobs=numbered, manifest_path=manifest_path)
