"""A whole attack experiment: methods from options, resumable runs, the result files.

What ``dpimage eval attack`` does, as library calls: :func:`attack_methods`
turns the chosen kinds and ε into :class:`~dpimage.attack.Method` objects
(validated by the method registry), :func:`check_results_dir` and
:func:`open_results_dir` decide what a previous run in the output folder
means, :func:`run_experiment` runs the template or CNN attack and appends
each finished run to ``attack_runs.csv`` (so an interrupted run resumes), and
:func:`write_reports` writes the summary CSV, Markdown and bar chart.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import methods as registry
from . import report as rep
from .cnn import run_attack
from .data import LabelledData
from .obfuscation import RENDERED, Method, paper_methods
from .template import template_attack

__all__ = [
    "PAPERS",
    "RUNS_CSV",
    "ExperimentResult",
    "ResultsExistError",
    "attack_methods",
    "check_results_dir",
    "model_for",
    "open_results_dir",
    "papers_for",
    "run_experiment",
    "write_reports",
    "write_run_info",
]

#: The papers' numbers (Fan 2018 Table 3; Fan 2019 Table 1), accuracy as a fraction.
PAPERS = {
    "faces": {
        "NP-Pix b=16": 0.9625,
        "DP-Pix b=16 ε=0.1": 0.0375,
        "DP-Pix b=16 ε=0.3": 0.1875,
        "DP-Pix b=16 ε=0.5": 0.4375,
        "DP-Pix b=16 ε=1": 0.7750,
        "NP-Blur k=99": 0.8875,
        "DP-Blur b0=4 k=99 ε=0.1": 0.0125,
        "DP-Blur b0=4 k=99 ε=0.5": 0.0750,
        "DP-Blur b0=4 k=99 ε=1": 0.1750,
    },
    "digits": {
        "NP-Pix b=16": 0.5213,
        "DP-Pix b=16 ε=0.1": 0.1641,
        "DP-Pix b=16 ε=0.3": 0.2041,
        "DP-Pix b=16 ε=0.5": 0.2151,
        "DP-Pix b=16 ε=1": 0.2295,
        "NP-Blur k=99": 0.7635,
        "DP-Blur b0=4 k=99 ε=0.1": 0.1135,
        "DP-Blur b0=4 k=99 ε=0.5": 0.1175,
        "DP-Blur b0=4 k=99 ε=1": 0.1343,
    },
}

RUNS_CSV = "attack_runs.csv"
_PIX_EPS = (0.1, 0.3, 0.5, 1.0)
_BLUR_EPS = (0.1, 0.5, 1.0)


class ResultsExistError(FileExistsError):
    """The output folder holds runs of an earlier experiment and neither resume nor overwrite."""


def attack_methods(
    kinds: Sequence[str] | None = None,
    eps: Sequence[float] | None = None,
    *,
    b: int = 16,
    m: int = 16,
    b0: int = 4,
    k: int = 99,
) -> list[Method]:
    """The obfuscations to attack.

    Parameters
    ----------
    kinds : sequence of str, optional
        Kinds (``"none"`` or any method name or alias), each once; None: the
        papers' 10 (:func:`~dpimage.attack.paper_methods`).
    eps : sequence of float, optional
        ε of the DP methods; None: the papers' (0.1, 0.3, 0.5, 1 for DP-Pix;
        0.1, 0.5, 1 for DP-Blur).
    b, m, b0, k
        The methods' parameters.

    Raises
    ------
    ValueError
        For an unknown kind or a bad parameter (checked by the method registry).
    """
    if kinds is None:
        methods = paper_methods(b=b, m=m, b0=b0, k=k)
        if eps is not None:
            methods = [x for x in methods if not x.private]
            methods[2:2] = [Method("dp-pix", eps=e, b=b, m=m) for e in eps]
            methods += [Method("dp-blur", eps=e, m=m, b0=b0, k=k) for e in eps]
        return methods
    methods = []
    for kind in dict.fromkeys(_table_kind(kind) for kind in kinds):
        if kind in ("dp-pix", "dp-pix-smooth"):
            methods += [Method(kind, eps=e, b=b, m=m) for e in eps or _PIX_EPS]
        elif kind == "dp-blur":
            methods += [Method("dp-blur", eps=e, m=m, b0=b0, k=k) for e in eps or _BLUR_EPS]
        else:
            methods.append(Method(kind, b=b, k=k))
    return methods


def _table_kind(kind: str) -> str:
    """``"none"``, or the result-table spelling of a method name or alias."""
    if kind == "none" or kind in RENDERED:
        return kind
    return registry.get(kind).cli_name


def model_for(shape: Sequence[int], model: str = "auto") -> str:
    """The network for images of ``shape``: ``model``, or for ``"auto"`` digit if ≤ 32 px."""
    if model != "auto":
        return model
    return "digit" if max(shape[:2]) <= 32 else "face"


def papers_for(data: LabelledData) -> dict[str, float]:
    """The papers' accuracies for a built-in data set (AT&T faces, else MNIST)."""
    return PAPERS["faces" if data.name == "AT&T faces" else "digits"]


def check_results_dir(out: Path, *, resume: bool, overwrite: bool, report_only: bool) -> Path:
    """Check, before any work, that ``out`` may take the runs; return the runs CSV path.

    Raises
    ------
    ValueError
        ``resume`` and ``overwrite`` together.
    FileNotFoundError
        ``report_only`` without a runs CSV to report.
    ResultsExistError
        A runs CSV exists and neither ``resume`` nor ``overwrite`` (nor
        ``report_only``) says what to do with it.
    """
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other")
    runs_path = Path(out) / RUNS_CSV
    if report_only and not runs_path.exists():
        raise FileNotFoundError(f"{runs_path} does not exist")
    if runs_path.exists() and not (resume or overwrite or report_only):
        raise ResultsExistError(f"{runs_path} exists")
    return runs_path


def open_results_dir(out: Path, *, resume: bool, overwrite: bool) -> list[dict[str, Any]]:
    """Create ``out``; return the earlier runs to keep (resume) or discard them (overwrite)."""
    out = Path(out)
    runs_path = out / RUNS_CSV
    out.mkdir(parents=True, exist_ok=True)
    previous = rep.read_rows(runs_path) if runs_path.exists() and resume else []
    if overwrite and runs_path.exists():
        runs_path.unlink()
    return previous


@dataclass
class ExperimentResult:
    """All rows (earlier and new), how many are new, and the time this run took."""

    rows: list[dict[str, Any]]
    new_rows: int
    seconds: float


def run_experiment(
    data: LabelledData,
    methods: list[Method],
    seeds: Iterable[int],
    out: Path,
    *,
    previous: Sequence[dict[str, Any]] = (),
    template: bool = False,
    simulate: int = 0,
    model: str = "face",
    repeats: Iterable[int] = (1,),
    config: Any = None,
    embedding: bool = True,
    jobs: int = 1,
    log: Callable[[str], None] = lambda _: None,
) -> ExperimentResult:
    """Run the runs not yet in ``previous``, appending each to ``out/attack_runs.csv``.

    ``template=True`` runs :func:`~dpimage.attack.template_attack` (no
    training, no torch; with ``simulate = N`` its templates are the mean of
    ``N`` simulated releases of each reference); otherwise
    :func:`~dpimage.attack.run_attack` (the CNN, and with ``embedding`` the
    nearest-neighbour attacks). A run is keyed by
    (data set, seed, method label, repeats): one already in ``previous`` is
    skipped.
    """
    runs_path = Path(out) / RUNS_CSV
    seeds, repeats = list(seeds), list(repeats)
    done = rep.done_keys(previous)

    def is_done(key: dict[str, Any]) -> bool:
        return (data.name, key["seed"], key["method"], key["repeats"]) in done

    start = time.perf_counter()
    if template:
        runs = (
            row
            for row in template_attack(data, methods, seeds, repeats=repeats, simulate=simulate)
            if not is_done(row)
        )
    else:
        runs = run_attack(
            data,
            methods,
            seeds,
            model=model,
            repeats=repeats,
            config=config,
            embedding_attack=embedding,
            log=log,
            skip=is_done,
            jobs=jobs,
        )
    rows = list(previous)
    for row in runs:
        rep.append_row(runs_path, row)
        rows.append(row)
        if template:
            log(
                f"seed {row['seed']} {row['method']} r={row['repeats']}: "
                f"template {row['accuracy']:.4f}"
            )
    return ExperimentResult(rows, len(rows) - len(previous), time.perf_counter() - start)


def write_reports(
    rows: Sequence[dict[str, Any]],
    data: LabelledData,
    out: Path,
    *,
    papers: dict[str, float] | None = None,
) -> str:
    """Write ``attack_summary.csv``, ``attack.md`` and ``attack.png``; return the Markdown."""
    out = Path(out)
    summary = rep.summarise(rows)
    rep.write_summary_csv(summary, out / "attack_summary.csv")
    text = f"# Re-identification attack: {data.name}\n\n"
    text += "\n".join(f"- {n}" for n in data.notes) + ("\n\n" if data.notes else "")
    text += rep.markdown_table(summary, papers)
    rep.write_markdown(text, out / "attack.md")
    rep.write_bar_chart(summary, out / "attack.png", title=f"Re-identification attack: {data.name}")
    return text


def write_run_info(
    out: Path, *, seconds: float, seeds: Sequence[int], model: str, config: Any
) -> None:
    """``attack_run_info.json``: how this invocation ran (no image content)."""
    meta = {
        "elapsed_seconds_this_invocation": round(seconds, 1),
        "seeds": list(seeds),
        "model": model,
        "config": config.__dict__,
        "noise": "seeded NumPy generators (research)",
    }
    with (Path(out) / "attack_run_info.json").open("w", encoding="utf-8") as fh:
        json.dump(meta, fh, indent=2)
