"""Attack results on disk: per-run CSV (appended as runs finish), summary CSV, Markdown, PNG."""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..io import atomic_writer
from .obfuscation import KINDS

__all__ = [
    "FIELDS",
    "append_row",
    "done_keys",
    "read_rows",
    "summarise",
    "write_bar_chart",
    "write_markdown",
    "write_summary_csv",
]

FIELDS = [
    "dataset",
    "seed",
    "method",
    "kind",
    "eps",
    "repeats",
    "eps_spent",
    "m",
    "attack",
    "accuracy",
    "top_class",
    "top_class_share",
    "n_predicted_classes",
    "random_guess",
    "majority_class",
    "n_train",
    "n_val",
    "n_test",
    "n_classes",
    "epochs_run",
    "best_epoch",
    "val_accuracy",
    "train_seconds",
    "obfuscate_seconds",
]


def append_row(path: str | os.PathLike[str], row: Mapping[str, Any]) -> None:
    """Append one result row to ``path`` (writing the header first if the file is new)."""
    path = Path(path)
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS, extrasaction="raise")
        if new:
            writer.writeheader()
        writer.writerow({k: row.get(k, "") for k in FIELDS})
        fh.flush()
        os.fsync(fh.fileno())


def read_rows(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Rows of a per-run CSV written by :func:`append_row` (its header must match)."""
    with Path(path).open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != FIELDS:
            raise ValueError(f"{path} is not an attack results file (unexpected columns)")
        return list(reader)


def done_keys(rows: Iterable[Mapping[str, Any]]) -> set[tuple[str, int, str, int]]:
    """``(dataset, seed, method, repeats)`` of every CNN run already in ``rows``."""
    return {
        (r["dataset"], int(r["seed"]), r["method"], int(r["repeats"]))
        for r in rows
        if r["attack"] == "cnn"
    }


def _float(value: Any) -> float:
    return float(value) if value not in ("", None) else math.nan


def _col(row: Mapping[str, Any], name: str) -> float:
    return _float(row.get(name))


def summarise(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Mean ± std (sample std, ddof=1) over seeds per (dataset, method, repeats, attack).

    Sorted as the papers' tables: clean, NP-Pix, DP-Pix, NP-Blur, DP-Blur, by
    eps, then releases ``r``.
    ``collapsed_runs`` counts runs whose most predicted label took at least
    half of the test set.
    """
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in rows:
        key = (r["dataset"], r["method"], int(r["repeats"]), r["attack"])
        groups.setdefault(key, []).append(r)
    out = []
    for (dataset, method, repeats, attack), rs in groups.items():
        acc = np.array([_col(r, "accuracy") for r in rs])
        share = np.array([_col(r, "top_class_share") for r in rs])
        epochs = np.array([_col(r, "epochs_run") for r in rs])
        seconds = np.array([_col(r, "train_seconds") for r in rs])
        first = rs[0]
        out.append(
            {
                "dataset": dataset,
                "method": method,
                "kind": first["kind"],
                "eps": first["eps"],
                "repeats": repeats,
                "eps_spent": first["eps_spent"],
                "attack": attack,
                "seeds": len(rs),
                "accuracy_mean": float(acc.mean()),
                "accuracy_std": float(acc.std(ddof=1)) if len(rs) > 1 else math.nan,
                "accuracy_min": float(acc.min()),
                "accuracy_max": float(acc.max()),
                "top_class_share_max": float(share.max()),
                "collapsed_runs": int(np.sum(share >= 0.5)),
                "epochs_mean": float(epochs.mean()),
                "train_seconds_mean": float(np.nanmean(seconds))
                if np.isfinite(seconds).any()
                else "",
                "random_guess": _float(first["random_guess"]),
                "majority_class_mean": float(np.mean([_float(r["majority_class"]) for r in rs])),
                "n_test": int(first["n_test"]),
                "n_train": int(first["n_train"]),
            }
        )
    kinds = list(KINDS)
    attacks = ["cnn", "nn-embed", "nn-embed-clean", "template"]

    def order(row: dict[str, Any]) -> tuple:
        kind = kinds.index(row["kind"]) if row["kind"] in kinds else len(kinds)
        attack = attacks.index(row["attack"]) if row["attack"] in attacks else len(attacks)
        eps = _float(row["eps"])
        return (row["dataset"], kind, 0 if math.isnan(eps) else eps, row["repeats"], attack)

    return sorted(out, key=order)


def _write_text(path: Path, text: str) -> None:
    with atomic_writer(path, overwrite=True) as fh:
        fh.write(text.encode("utf-8"))


def write_summary_csv(summary: list[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    """The summary rows as CSV (atomic)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(summary[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(summary)
    _write_text(Path(path), buf.getvalue())


def _pct(mean: float, std: float) -> str:
    if math.isnan(std):
        return f"{100 * mean:.2f}"
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def markdown_table(summary: list[dict[str, Any]], papers: Mapping[str, float] | None = None) -> str:
    """A Markdown table: one row per method/repeats, one column per attack.

    ``papers`` maps a method label to the papers' accuracy (as a fraction)
    for a column beside ours.
    """
    attacks = list(dict.fromkeys(s["attack"] for s in summary))
    names = {
        "cnn": "CNN (papers' attack)",
        "nn-embed": "NN in clean embedding, obf. gallery",
        "nn-embed-clean": "NN in clean embedding, clean gallery",
        "template": "nearest noise-free template (clean photos)",
    }
    rows: dict[tuple, dict[str, Any]] = {}
    for s in summary:
        rows.setdefault((s["dataset"], s["method"], s["repeats"]), {})[s["attack"]] = s
    head = ["method", "releases r", "ε spent"]
    if papers is not None:
        head.append("papers")
    head += [names.get(a, a) for a in attacks]
    head += ["epochs (CNN)", "max top-class share", "seeds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (_, method, repeats), by_attack in rows.items():
        any_s = next(iter(by_attack.values()))
        cells = [
            method,
            str(repeats),
            f"{_float(any_s['eps_spent']):g}" if any_s["eps_spent"] != "" else "–",
        ]
        if papers is not None:
            p = papers.get(method) if repeats == 1 else None
            cells.append(f"{100 * p:.2f}" if p is not None else "–")
        for a in attacks:
            s = by_attack.get(a)
            cells.append(_pct(s["accuracy_mean"], s["accuracy_std"]) if s else "–")
        cnn = by_attack.get("cnn", any_s)
        share = f"{100 * cnn['top_class_share_max']:.0f}%"
        if cnn["collapsed_runs"]:
            share += f" (collapsed in {cnn['collapsed_runs']})"
        epochs = "–" if math.isnan(cnn["epochs_mean"]) else f"{cnn['epochs_mean']:.1f}"
        cells += [epochs, share, str(cnn["seeds"])]
        lines.append("| " + " | ".join(cells) + " |")
    first = summary[0]
    lines.append("")
    lines.append(
        f"Accuracy in % (mean ± std over seeds) on {first['n_test']} test images; "
        f"random guess {100 * first['random_guess']:.2f}%, majority class "
        f"{100 * first['majority_class_mean']:.2f}%."
    )
    return "\n".join(lines) + "\n"


def write_markdown(text: str, path: str | os.PathLike[str]) -> None:
    """Write Markdown text atomically."""
    _write_text(Path(path), text)


def write_bar_chart(
    summary: list[dict[str, Any]], path: str | os.PathLike[str], *, title: str = ""
) -> None:
    """Bar chart of attack accuracy per method (mean ± std), with the baselines as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    attacks = list(dict.fromkeys(s["attack"] for s in summary))
    labels = list(
        dict.fromkeys(
            s["method"] + (f" (r={s['repeats']})" if s["repeats"] > 1 else "") for s in summary
        )
    )
    fig, ax = plt.subplots(figsize=(max(8, 0.75 * len(labels) + 2), 5))
    width = 0.8 / len(attacks)
    for j, attack in enumerate(attacks):
        means, stds = [], []
        for lab in labels:
            match = [
                s
                for s in summary
                if s["attack"] == attack
                and s["method"] + (f" (r={s['repeats']})" if s["repeats"] > 1 else "") == lab
            ]
            means.append(100 * match[0]["accuracy_mean"] if match else np.nan)
            std = match[0]["accuracy_std"] if match else np.nan
            stds.append(0 if math.isnan(std) else 100 * std)
        x = np.arange(len(labels)) + (j - (len(attacks) - 1) / 2) * width
        ax.bar(x, means, width, yerr=stds, capsize=2, label=attack)
    ax.axhline(100 * summary[0]["random_guess"], color="k", ls="--", lw=1, label="random guess")
    ax.axhline(
        100 * summary[0]["majority_class_mean"], color="r", ls=":", lw=1, label="majority class"
    )
    ax.set_xticks(np.arange(len(labels)), labels, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("re-identification accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    with atomic_writer(Path(path), overwrite=True) as fh:
        fh.write(buf.getvalue())
