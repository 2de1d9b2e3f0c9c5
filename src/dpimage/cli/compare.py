"""``dpimage compare``: one side-by-side picture of the four mechanisms and DP-Pix smooth."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from .. import dp_blur, dp_pix, methods, np_blur, np_pix
from ..io import read_image, write_image
from ..privacy import SEEDED_WARNING, compose
from ._app import UsageProblem, app
from ._common import (
    B0Opt,
    EpsOpt,
    KOpt,
    MaxPixelsOpt,
    MOpt,
    OverwriteOpt,
    SeedOpt,
    _check_common,
    _check_method,
    _fmt_eps,
    check_output_file,
    failing_input,
)
from ._console import _say, _stderr


def _side_by_side(panels: list[tuple[np.ndarray, str, str]]) -> np.ndarray:
    """Lay out equally sized panels in a row, each with a two-line label above."""
    from PIL import Image, ImageDraw, ImageFont

    height, width = panels[0][0].shape[:2]
    size = max(10, min(20, width // 24))
    font = ImageFont.load_default(size=size)
    gap, pad = 8, 4
    label_h = 2 * (size + pad) + pad
    canvas = Image.new(
        "RGB", (len(panels) * width + (len(panels) + 1) * gap, height + label_h + 2 * gap), "white"
    )
    draw = ImageDraw.Draw(canvas)
    for i, (pixels, title, detail) in enumerate(panels):
        x = gap + i * (width + gap)
        draw.text((x, gap), title, fill="black", font=font)
        draw.text((x, gap + size + pad), detail, fill=(80, 80, 80), font=font)
        canvas.paste(Image.fromarray(pixels).convert("RGB"), (x, gap + label_h))
    return np.asarray(canvas)


@app.command()
def compare(
    image: Annotated[
        Path, typer.Argument(metavar="IMAGE", help="One image file.", show_default=False)
    ],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Output picture (PNG).", show_default=False)
    ],
    b: Annotated[int, typer.Option("-b", help="Cell side for NP-Pix and DP-Pix.")] = 16,
    b0: B0Opt = 4,
    k: KOpt = 99,
    m: MOpt = 16,
    eps: EpsOpt = 0.5,
    seed: SeedOpt = None,
    overwrite: OverwriteOpt = False,
    max_pixels: MaxPixelsOpt = None,
) -> None:
    """Original, NP-Pix, DP-Pix, NP-Blur, DP-Blur and DP-Pix smooth side by side.

    The last panel is the CLI's default release: DP-Pix rendered smooth (luma/chroma for
    colour), a release of its own at the same ε.
    """
    console = _stderr()
    _check_common(seed, 95, None, max_pixels)
    smooth = {"b": b, "m": m, "eps": eps, "render": "smooth", "colour": "luma-chroma"}
    _check_method("dp_pix", smooth)
    _check_method("dp_blur", {"b0": b0, "k": k, "m": m, "eps": eps})
    check_output_file(output)
    if output.exists() and image.exists() and os.path.samefile(output, image):
        raise UsageProblem(f"{output}: the output would overwrite the input")
    if os.path.lexists(output) and not overwrite:
        # Like every other command: an existing output is kept (checked before any work).
        _say(console, f"skipped {output}: already exists (use --overwrite)", "yellow")
        return
    if seed is not None:
        _say(console, SEEDED_WARNING, "bold red")
    with failing_input(image):
        pixels, notices = read_image(image, max_pixels=max_pixels)
        for notice in notices:
            _say(console, f"note: {notice}", "yellow")
        rng = np.random.default_rng(seed) if seed is not None else None
        e = _fmt_eps(eps)
        panels = [
            (pixels, "original", "(not private)"),
            (np_pix(pixels, b=b), "NP-Pix", f"b={b} (not private)"),
            (dp_pix(pixels, b=b, m=m, eps=eps, rng=rng), "DP-Pix", f"b={b} m={m} eps={e}"),
            (np_blur(pixels, k=k), "NP-Blur", f"k={k} (not private)"),
            (
                dp_blur(pixels, b0=b0, k=k, m=m, eps=eps, rng=rng),
                "DP-Blur",
                f"b0={b0} k={k} m={m} eps={e}",
            ),
            # drawn last, so the other panels' noise is what it was before this panel existed
            (
                methods.get("dp_pix").apply(pixels, smooth, rng),
                "DP-Pix smooth" + (" (luma/chroma)" if pixels.ndim == 3 else ""),
                f"b={b} m={m} eps={e}",
            ),
        ]
        write_image(_side_by_side(panels), output, overwrite=overwrite, protect=[image])
    _say(
        console,
        "note: the picture shows the original image: it is a visual aid, not a private release",
        "yellow",
    )
    typer.echo(
        f"wrote {output}; DP-Pix, DP-Blur and DP-Pix smooth each spend ε = {e} (m={m}), "
        f"{_fmt_eps(compose([eps], 3))} together on this image"
    )
