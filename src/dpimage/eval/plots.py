"""Matplotlib figures of sweep results, shaped like Fan's Figs. 5-10 (2018) and 3-4 (2019).

One figure per (data set, varied parameter): three panels, MSE, SSIM
(scikit-image defaults) and SSIM (Wang et al.), against the varied parameter;
one line per method; the closed-form expected MSE of the DP methods dashed
(with clipping) and dotted (without) on the MSE panel.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

from .. import methods as registry

__all__ = ["plot_sweep"]

# Line style per method (keyed as result tables spell methods); labels come from the registry.
_STYLE = {
    name: {"color": color, "marker": marker, "label": registry.get(name).label}
    for name, color, marker in (
        ("np-pix", "tab:blue", "s"),
        ("dp-pix", "tab:red", "o"),
        ("np-blur", "tab:green", "^"),
        ("dp-blur", "tab:purple", "D"),
    )
}
#: Colours of the curves of another renderer (same method, same noise).
_RENDER_COLOURS = {("dp-pix", "smooth"): "tab:orange", ("dp-blur", "smooth"): "tab:pink"}
_AXIS = {"b": "b (cell side; DP-Blur: b0)", "m": "m (pixels)", "eps": "ε"}


def _matplotlib():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install 'dpimage[eval]'") from exc
    return plt


def plot_sweep(rows: Sequence[dict], path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Draw the sweep ``rows`` (from :func:`~dpimage.eval.sweep.run_sweep` or its CSV) to a PNG.

    Written atomically; an existing file is replaced.
    """
    from ..io import atomic_writer

    if not rows:
        raise ValueError("no rows to plot")
    plt = _matplotlib()
    vary = rows[0]["vary"]
    def render_of(row: dict) -> str:
        value = row.get("render", "blocks")
        return value if isinstance(value, str) and value else "blocks"

    seen_curves = {(r["method"], render_of(r)) for r in rows}
    curves = [
        (m, rd) for m in _STYLE for rd in ("blocks", "smooth") if (m, rd) in seen_curves
    ]
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.0), layout="constrained")
    panels = (
        ("mse", "MSE"),
        ("ssim_skimage", "SSIM (scikit-image 7x7)"),
        ("ssim_wang", "SSIM (Wang σ=1.5)"),
    )
    for ax, (column, label) in zip(axes, panels, strict=True):
        for method, render in curves:
            own = sorted(
                (r for r in rows if r["method"] == method and render_of(r) == render),
                key=lambda r: float(r["value"]),
            )
            xs = [float(r["value"]) for r in own]
            style = dict(_STYLE[method])
            if render != "blocks":
                style["color"] = _RENDER_COLOURS.get((method, render), style["color"])
                style["label"] = registry.get(method).label_for({"render": render})
            ax.plot(
                xs,
                [float(r[column]) for r in own],
                color=style["color"],
                marker=style["marker"],
                markersize=4,
                label=style["label"],
            )
            if column == "mse" and registry.get(method).private:
                for key, dash, what in (
                    ("mse_pred_clip", "--", "clip"),
                    ("mse_pred", ":", "no clip"),
                ):
                    ys = [float(r[key]) for r in own]
                    if all(math.isfinite(y) for y in ys):
                        ax.plot(
                            xs,
                            ys,
                            color=style["color"],
                            linestyle=dash,
                            linewidth=1,
                            label=f"{style['label']} predicted ({what})",
                        )
        ax.set_xlabel(_AXIS.get(vary, vary))
        ax.set_ylabel(label)
        if vary in ("m", "eps"):
            ax.set_xscale("log")
        if column == "mse":
            ax.set_yscale("log")
            # Keep the measured curves readable: the no-clip prediction may run far above.
            seen = [
                float(r[c])
                for r in rows
                for c in ("mse", "mse_pred_clip")
                if math.isfinite(float(r[c])) and float(r[c]) > 0
            ]
            if seen:
                ax.set_ylim(min(seen) / 1.5, max(seen) * 3.0)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    path = Path(path)
    with atomic_writer(path, overwrite=True) as stream:
        stream.write(buffer.getvalue())
    return path
