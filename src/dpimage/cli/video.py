"""``dpimage video``: release a video frame by frame, or only its faces/people/text/boxes.

Thin: checks arguments, runs :func:`dpimage.video.process_video` (which
releases, and records the release in the manifest under the output's lock)
under a Rich progress bar, prints the ε an object visible throughout the clip
is protected with.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from ..io import OutputError, read_manifest
from ..io.lock import OutputBusyError
from ..privacy import SEEDED_WARNING
from ..regions import DEFAULT_MASK_SCALE
from ._app import InputFailed, UsageProblem, app
from ._common import (
    B0Opt,
    ColourOpt,
    KOpt,
    MOpt,
    OverwriteOpt,
    RenderOpt,
    SeedOpt,
    _describe,
    _fmt_eps,
    colour_choice,
    failing_input,
    render_choice,
)
from ._console import _say, _stderr
from ._regions import (
    FaceDetectorOpt,
    FaceScaleOpt,
    KeepOpt,
    MaskScaleOpt,
    MaxRegionOpt,
    RegionDrawingOpt,
    TextOpt,
    TextThreshOpt,
    ThreshOpt,
    build_or_refuse,
    check_face_options,
    check_thresh_options,
    chosen_source,
    parse_keep,
    parse_scale,
    say_detector,
)


def _method(value: str) -> str:
    """``--method``: any spelling of DP-Pix or DP-Blur in the registry (pix, blur, dp-pix, ...).

    Returns the registry's name (``dp_pix``, ``dp_blur``).
    """
    from ..video.settings import video_method

    try:
        return video_method(value)
    except ValueError:
        raise UsageProblem(
            f"--method must be pix (DP-Pix) or blur (DP-Blur), got {value!r}"
        ) from None


class _FpsColumn(ProgressColumn):
    """Frames per second of a task."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:5.1f} fps" if speed else "  ... fps")


def _default_output(src: Path) -> Path:
    return src.with_name(f"{src.stem}-dp.mp4")


def _spans(values: list[str] | None) -> tuple:
    """``--span`` values as ``(start, end)`` seconds; a bad one is a usage error."""
    from ..video.spans import check_spans, parse_span

    try:
        return check_spans([parse_span(v) for v in values or []])
    except ValueError as exc:
        raise UsageProblem(f"--span: {exc}") from None


def _found(found: dict) -> str:
    """The regions a clip's release covered, in one line (derived from the frames)."""
    return (
        f"Regions released: {found['tracks']} track(s), in {found['frames_with_regions']} "
        f"frame(s); per frame released at most {found['boxes_per_frame_max']}, "
        f"{found['boxes_per_frame_mean']:g} on average ({found['boxes_total']} boxes in all)."
    )


def _summary(acc, m: int, regions: bool, seeded: bool, inside: int | None = None) -> str:
    """The run in a few lines; ``inside``: frames inside the ``--span`` spans (None: no spans)."""
    e = _fmt_eps
    spans = inside is not None
    released = acc.frames if inside is None else inside
    rest = "" if acc.releases == released else "; the other frames repeat or reuse a release"
    if spans:
        rest += "; frames outside the spans are published as they are, NOT protected"
    if regions:
        rest += "; pixels outside the boxes are unchanged"
    where = "inside the spans" if spans else "throughout the clip"
    lines = [
        f"{acc.frames} frames, {acc.releases} fresh DP release(s) at ε = "
        f"{e(acc.eps_per_release)} each (m={m}){rest}.",
        f"An object visible {where} is protected at ε = {e(acc.eps_object)} "
        f"(basic composition: {acc.releases} × {e(acc.eps_per_release)}"
        + (f", budget {e(acc.total_eps_budget)}" if acc.total_eps_budget is not None else "")
        + ").",
    ]
    if regions:
        if acc.eps_per_track is not None:
            lines.append(
                f"An object followed by one unbroken track: ε = {e(acc.eps_per_track)}. "
                "Not protected: pixels outside the boxes, and the boxes' positions."
            )
    if seeded:
        lines.append("Seeded: NOT a private release.")
    return "\n".join(lines)


@app.command()
def video(
    src: Annotated[
        Path, typer.Argument(metavar="INPUT", help="Video file (anything FFmpeg reads).")
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Output video (.mp4/.mkv/.mov/.webm); default INPUT-dp.mp4.",
            show_default=False,
        ),
    ] = None,
    method: Annotated[
        str, typer.Option("--method", help="pix (DP-Pix) or blur (DP-Blur); dp-pix etc. too.")
    ] = "pix",
    b: Annotated[int, typer.Option("-b", help="Cell side (pix).")] = 16,
    b0: B0Opt = 4,
    k: KOpt = 99,
    m: MOpt = 16,
    eps: Annotated[
        float | None,
        typer.Option("-e", "--eps", help="ε per fresh release (default 0.5).", show_default=False),
    ] = None,
    total_eps: Annotated[
        float | None,
        typer.Option("--total-eps", help="Budget for the whole clip, split over the releases.",
                     show_default=False),
    ] = None,
    release_every: Annotated[
        int, typer.Option("--release-every", help="Fresh release every N frames, repeated between.")
    ] = 1,
    faces: Annotated[bool, typer.Option("--faces", help="Only faces.")] = False,
    face_detector: FaceDetectorOpt = "auto",
    scale: FaceScaleOpt = None,
    thresh: ThreshOpt = None,
    text_thresh: TextThreshOpt = None,
    keep: KeepOpt = None,
    max_region: MaxRegionOpt = None,
    region_drawing: RegionDrawingOpt = "border",
    people: Annotated[bool, typer.Option("--people", help="Only people (HOG).")] = False,
    text: TextOpt = False,
    boxes: Annotated[
        Path | None,
        typer.Option("--boxes", help="Only these boxes (JSON, [x, y, w, h]).", show_default=False),
    ] = None,
    mask_scale: MaskScaleOpt = DEFAULT_MASK_SCALE,
    detect_every: Annotated[
        int | None,
        typer.Option("--detect-every", help="Detect on every N-th frame (default: people 5, "
                     "otherwise 1); tracks bridge the frames between.", show_default=False),
    ] = None,
    carry: Annotated[
        int | None,
        typer.Option("--carry", help="Frames a box is held/bridged when the detector misses "
                     "(default max(5, 2 x detect-every)).", show_default=False),
    ] = None,
    reuse: Annotated[
        bool, typer.Option("--reuse", help="Regions: release each track once and reuse it.")
    ] = False,
    keep_audio: Annotated[
        bool, typer.Option("--keep-audio", help="Keep the audio track (NOT protected).")
    ] = False,
    seed: SeedOpt = None,
    overwrite: OverwriteOpt = False,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="Release a truncated input's frames instead of failing (the manifest says so).",
        ),
    ] = False,
    render: RenderOpt = None,
    colour: ColourOpt = None,
    span: Annotated[
        list[str] | None,
        typer.Option(
            "--span", metavar="START-END",
            help="Release only this time span in seconds (10-25; 60-: to the end); repeatable. "
            "Frames outside every span are published as they are, NOT protected.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Release a video with DP-Pix or DP-Blur, whole frames or only detected regions.

    --render/--colour default as for pixelate (smooth, luma-chroma) with --method pix,
    and as for blur (blocks, rgb: the paper's DP-Blur) with --method blur.
    """
    from ..video import RegionSettings, VideoSettings, process_video
    from ..video.io import encoding_for

    kind = _method(method)
    pix = kind == "dp_pix"
    default_render, default_colour = ("smooth", "luma-chroma") if pix else ("blocks", "rgb")

    console = _stderr()
    dst = output if output is not None else _default_output(src)
    source = chosen_source(faces, people, boxes, text)
    check_face_options(source, face_detector, scale)
    check_thresh_options(source, thresh, text_thresh, face_detector)
    keep_areas = parse_keep(source, keep, max_region)
    face_scale = parse_scale(scale)
    spans = _spans(span)
    if eps is not None and total_eps is not None:
        raise UsageProblem("give --eps or --total-eps, not both")
    if source is None and (reuse or detect_every is not None or carry is not None):
        raise UsageProblem(
            "--reuse, --detect-every and --carry need --faces/--people/--text/--boxes"
        )
    if reuse and release_every != 1:
        raise UsageProblem("--reuse releases once per track; drop --release-every")
    if dst.exists() and src.exists() and os.path.samefile(dst, src):
        raise UsageProblem(f"{dst}: the output would overwrite the input")
    if dst.is_dir():
        raise UsageProblem(f"{dst}: is a directory; -o names the output video file")
    try:
        encoding_for(dst)  # an unknown extension is a usage error, found before any work
    except OutputError as exc:
        raise UsageProblem(str(exc)) from None
    # Everything else (b, m, eps, seed, --release-every, --detect-every, ...) is
    # judged by the library's settings objects: a ValueError is a usage error.
    regions = None
    if source is not None:
        every_d = detect_every if detect_every is not None else (5 if source == "people" else 1)
        held = carry if carry is not None else max(5, 2 * every_d)
        regions = RegionSettings(
            source=source, boxes_path=boxes, mask_scale=mask_scale,
            detect_every=every_d, carry=held, reuse=reuse, face_detector=face_detector,
            face_scale=face_scale, face_threshold=thresh, text_threshold=text_thresh,
            keep=keep_areas, max_area=max_region, context=region_drawing,
        )
    settings = VideoSettings(
        method=kind, b=b, b0=b0, k=k, m=m, render=render_choice(render, default_render),
        colour=colour_choice(colour, default_colour),
        eps=eps if eps is not None or total_eps is not None else 0.5,
        total_eps=total_eps, every=release_every, regions=regions, seed=seed,
        keep_audio=keep_audio, spans=spans,
    )
    manifest_path = dst.with_name(dst.name + ".manifest.json")
    try:
        if regions is not None and regions.source == "boxes":
            regions.make_detector()  # reads and checks the JSON before any decoding
        elif regions is not None:
            # A missing model refuses here, in one line, before any decoding or writing.
            detector = build_or_refuse(regions.spec.detector)
            say_detector(detector.name)
        # Checked before any work (exit 2 naming it); read again under the output's lock.
        read_manifest(manifest_path)
    except ImportError as exc:
        raise InputFailed(str(exc)) from None
    except OSError as exc:
        raise InputFailed(_describe(exc)) from None

    if not src.is_file():
        raise InputFailed(f"{src}: {'not a file' if src.exists() else 'no such file'}")
    if seed is not None:
        _say(console, SEEDED_WARNING, "bold red")
    from ..video.io import import_av

    av = import_av()
    columns = (
        TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), _FpsColumn(),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
    )
    tasks: dict[str, int] = {}
    busy: OutputBusyError | None = None
    try:
        with failing_input(src), Progress(*columns, console=console, transient=False) as progress:
            run = process_video(
                src, dst, settings, overwrite=overwrite, allow_partial=allow_partial
            )
            while True:
                try:
                    step = next(run)
                except StopIteration as stop:
                    result = stop.value
                    break
                except OutputBusyError as exc:
                    # Another run holds the output: nothing was read or written.
                    busy = exc
                    break
                if step.stage not in tasks:
                    tasks[step.stage] = progress.add_task(step.stage, total=step.total)
                progress.update(tasks[step.stage], completed=step.done, total=step.total)
    except (RuntimeError, av.FFmpegError) as exc:
        raise InputFailed(_describe(exc, src)) from None
    except KeyboardInterrupt:
        # As the image commands: one line, exit 130. The writer removed its temporary file.
        _say(console, f"interrupted: {dst} not written (a video is written only whole)", "yellow")
        raise typer.Exit(code=130) from None
    if busy is not None:
        raise UsageProblem(str(busy))

    for notice in result.notices:
        _say(console, f"note: {notice}", "yellow")
    acc = result.accounting
    manifest = result.manifest
    if result.manifest_error is not None:
        # The video is written; only its record failed (not a failed input).
        _say(console, f"error: {result.manifest_error}", "red")
        raise typer.Exit(code=1)
    typer.echo(f"wrote {dst} ({result.encoding}) and {manifest_path.name}")
    inside = manifest["video"]["spans"]["frames_inside"] if spans else None
    typer.echo(_summary(acc, m, regions is not None, seed is not None, inside))
    if result.regions_found is not None:
        typer.echo(_found(result.regions_found))
    if manifest["count"] > 1 or "previous_runs" in manifest:
        releases = manifest["count"] + len(manifest.get("previous_runs", []))
        typer.echo(
            f"{dst.name} has now been released {releases} times: total ε spent on this "
            f"clip = {_fmt_eps(manifest['total_epsilon_all_runs'])} (basic composition)."
        )
    if result.partial is not None:
        typer.echo("Partial: the input ended early; the manifest records it (--allow-partial).")
