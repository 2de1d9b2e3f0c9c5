"""Summaries of sweep CSVs for the report: how close the closed form is to measurement."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .. import methods as registry

__all__ = ["prediction_accuracy", "prediction_accuracy_markdown"]


def _private(method: object) -> bool:
    """True for a private method's row; False for non-private or unknown methods."""
    try:
        return registry.get(str(method)).private
    except ValueError:
        return False


def prediction_accuracy(rows: Sequence[dict], *, p_clip_max: float = 0.01) -> dict:
    """Relative error of the predicted vs measured mean MSE of every DP row.

    Returns a dict with the per-row errors (``rows``) and, for each model
    (``"no_clip"``, ``"clip"``), the largest absolute relative error over all
    rows and over the rows whose expected clipped fraction is at most
    ``p_clip_max`` ("where clipping is rare"). Only the blocks rendering has a
    closed form: rows of other renderers (``--render smooth`` curves) are left out.
    """
    out_rows = []
    for r in rows:
        if not _private(r["method"]) or r.get("render", "blocks") != "blocks":
            continue
        measured = float(r["mse"])
        entry = {
            "dataset": r["dataset"],
            "method": r["method"],
            "vary": r["vary"],
            "value": float(r["value"]),
            "p_clip": float(r.get("p_clip", math.nan)),
            "mse": measured,
            "no_clip": float(r["mse_pred"]) / measured - 1.0,
            "clip": float(r["mse_pred_clip"]) / measured - 1.0,
        }
        out_rows.append(entry)

    def worst(model: str, rare: bool) -> float:
        errs = [
            abs(e[model])
            for e in out_rows
            if not rare or (math.isfinite(e["p_clip"]) and e["p_clip"] <= p_clip_max)
        ]
        return max(errs) if errs else math.nan

    return {
        "rows": out_rows,
        "p_clip_max": p_clip_max,
        "n_rare": sum(1 for e in out_rows if e["p_clip"] <= p_clip_max),
        "worst": {m: {"all": worst(m, False), "rare": worst(m, True)} for m in ("no_clip", "clip")},
    }


def prediction_accuracy_markdown(rows: Sequence[dict], *, p_clip_max: float = 0.01) -> str:
    """A Markdown table of :func:`prediction_accuracy` (one line per DP row) and its summary."""
    acc = prediction_accuracy(rows, p_clip_max=p_clip_max)
    lines = [
        "| data | method | vary | value | p_clip | measured MSE | no-clip error | clip error |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for e in acc["rows"]:
        lines.append(
            f"| {e['dataset']} | {e['method']} | {e['vary']} | {e['value']:g} | "
            f"{100 * e['p_clip']:.1f}% | {e['mse']:,.0f} | {100 * e['no_clip']:+.1f}% | "
            f"{100 * e['clip']:+.1f}% |"
        )
    lines.append("")
    private = [registry.get(name).cli_name for name in registry.names() if _private(name)]
    for method in (*private, None):
        own = [r for r in rows if method is None or r["method"] == method]
        sub = prediction_accuracy(own, p_clip_max=p_clip_max)
        if not sub["rows"]:
            continue
        w = sub["worst"]
        lines.append(
            f"- {method or 'both'}: largest |error| of the no-clip formula "
            f"{100 * w['no_clip']['rare']:.1f}% over the {sub['n_rare']} rows with p_clip <= "
            f"{100 * p_clip_max:g}% ({100 * w['no_clip']['all']:.0f}% over all "
            f"{len(sub['rows'])}); of the clip formula {100 * w['clip']['all']:.1f}% over all rows."
        )
    return "\n".join(lines)
