"""Unusual but complete video inputs: variable frame rate, rotation flags, odd sizes,
audio that starts with a fragment; and the command's one-line refusals.

Every clip is made here with PyAV, in ``tmp_path``.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from conftest import run  # noqa: E402
from dpimage.video import VideoSettings, process_video, run_to_end  # noqa: E402
from dpimage.video.io import display_orientation, probe, read_frames  # noqa: E402

W, H = 64, 48


def manifest_of(out: Path) -> dict:
    return json.loads(out.with_name(out.name + ".manifest.json").read_text())


def marked_frame(i: int = 0) -> np.ndarray:
    """A frame whose orientation shows: a white left strip, a gray top strip."""
    frame = np.full((H, W, 3), 40 + i, np.uint8)
    frame[:, :16] = 255
    frame[:8] = 128
    return frame


def write_vfr(path: Path, fmt: str, codec: str, n: int = 100) -> None:
    """``n`` frames: the first half at 30 fps, the rest at 10 fps.

    Duration x average rate (30) announces about twice the frames there are.
    """
    t = 0
    with av.open(str(path), "w", format=fmt) as out:
        vs = out.add_stream(codec, rate=30)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        vs.codec_context.time_base = Fraction(1, 1000)
        for i in range(n):
            vf = av.VideoFrame.from_ndarray(marked_frame(i), format="rgb24")
            vf.pts, vf.time_base = t, Fraction(1, 1000)
            t += 33 if i < n // 2 else 100
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)


def write_rotated(path: Path, degrees: int, hflip: bool = False, n: int = 3) -> np.ndarray:
    """A clip stored sideways with a display matrix, as phones record portrait video."""
    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        vs.options = {"crf": "0"}
        vs.set_display_rotation(degrees, hflip=hflip)
        for i in range(n):
            vf = av.VideoFrame.from_ndarray(marked_frame(), format="rgb24")
            vf.pts = i
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    return marked_frame()


# ---------------------------------------------------------------------------
# Variable frame rate: complete, not truncated
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "ext", "codec"), [("matroska", "mkv", "libx264"),
                                                   ("webm", "webm", "libvpx-vp9")])
def test_complete_variable_rate_clip_is_not_truncated(tmp_path, fmt, ext, codec):
    src = tmp_path / f"vfr.{ext}"
    write_vfr(src, fmt, codec)
    info = probe(src)
    assert info.frames is None and round(info.duration * info.rate) > 150  # the old estimate
    out = tmp_path / "out.mp4"
    result = run("video", src, "-o", out, "--seed", 1, "-b", 8)
    assert result.exit_code == 0, result.output
    assert "ended early" not in result.output
    assert manifest_of(out)["video"]["partial"] is None
    assert len(list(read_frames(out))) == 100


def test_truncated_variable_rate_clip_is_still_refused(tmp_path):
    whole = tmp_path / "vfr.mkv"
    write_vfr(whole, "matroska", "libx264")
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 45 // 100])
    out = tmp_path / "o.mp4"
    result = run("video", cut, "-o", out, "--seed", 1)
    assert result.exit_code == 1, result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "ended early" in errors[0] and "duration announces" in errors[0]
    assert not out.exists()


def test_complete_mkv_whose_audio_outlasts_the_video_is_not_truncated(tmp_path):
    """The container's duration spans the audio (4 s); the video track's own is 2 s."""
    src = tmp_path / "long-audio.mkv"
    with av.open(str(src), "w", format="matroska") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        aus = out.add_stream("aac", rate=8000)
        for i in range(50):
            vf = av.VideoFrame.from_ndarray(marked_frame(i), format="rgb24")
            vf.pts = i
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        tone = (0.2 * np.sin(2 * math.pi * 440 * np.arange(4 * 8000) / 8000)).astype(np.float32)
        size = aus.codec_context.frame_size or 1024
        for start in range(0, tone.size, size):
            af = av.AudioFrame.from_ndarray(tone[None, start : start + size], "fltp", "mono")
            af.sample_rate, af.pts = 8000, start
            for p in aus.encode(af):
                out.mux(p)
        for p in aus.encode():
            out.mux(p)
    info = probe(src)
    assert info.duration == pytest.approx(2.0)
    out = tmp_path / "o.mp4"
    result = run("video", src, "-o", out, "--seed", 1)
    assert result.exit_code == 0, result.output
    assert manifest_of(out)["video"]["partial"] is None


def test_error_line_names_the_file_once(tmp_path):
    whole = tmp_path / "vfr.mkv"
    write_vfr(whole, "matroska", "libx264")
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    result = run("video", cut, "-o", tmp_path / "o.mp4")
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0].count("cut.mkv") == 1, errors


# ---------------------------------------------------------------------------
# Display rotation: applied to the pixels, as EXIF orientation is for images
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("degrees", "hflip"),
    [(90, False), (-90, False), (180, False), (90, True), (180, True), (0, True)],
)
def test_display_rotation_is_applied(tmp_path, degrees, hflip):
    src = tmp_path / "phone.mp4"
    stored = write_rotated(src, degrees, hflip)
    # PyAV's documented meaning: turn counter-clockwise by `degrees`, then mirror
    expected = np.rot90(stored, round(degrees / 90) % 4)
    if hflip:
        expected = expected[:, ::-1]
    info = probe(src)
    assert (info.height, info.width) == expected.shape[:2]
    frames = list(read_frames(src))
    assert frames[0].shape == expected.shape
    assert np.abs(frames[0].astype(int) - expected).max() <= 2  # lossless but for YUV rounding


def test_rotated_clip_comes_out_upright_without_a_flag(tmp_path):
    src = tmp_path / "phone.mp4"
    write_rotated(src, 90)
    out = tmp_path / "out.mp4"
    result = run("video", src, "-o", out, "--seed", 1, "-b", 4)
    assert result.exit_code == 0, result.output
    assert "display rotation applied" in result.output
    with av.open(str(out)) as c:
        frame = next(c.decode(c.streams.video[0]))
        assert (frame.width, frame.height) == (H, W)  # portrait, as the phone showed it
        assert frame.rotation == 0  # no flag left to turn it a second time


def test_display_orientation_of_parsed_matrices():
    one = 1 << 16
    assert display_orientation(None, 0) == (0, False)
    assert display_orientation(np.array([0, -one, 0, one, 0, 0, 0, 0, 1 << 30]), 90) == (1, False)
    assert display_orientation(np.array([0, -one, 0, -one, 0, 0, 0, 0, 1 << 30]), 90) == (1, True)
    assert display_orientation(np.array([one, 0, 0, 0, -one, 0, 0, 0, 1 << 30]), 0) == (0, True)
    assert display_orientation(np.zeros(9, np.int32), float("nan")) == (0, False)
    with pytest.raises(ValueError, match="quarter turn"):
        display_orientation(np.array([one, 0, 0, 0, one, 0, 0, 0, 1 << 30]), 45)


# ---------------------------------------------------------------------------
# Odd sizes: 4:2:0, padded by the released frame's edge
# ---------------------------------------------------------------------------


def test_odd_sized_input_is_written_420(tmp_path):
    src = tmp_path / "odd.mkv"
    with av.open(str(src), "w", format="matroska") as out:
        vs = out.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt = 65, 49, "yuv444p"
        for i in range(3):
            vf = av.VideoFrame.from_ndarray(np.full((49, 65, 3), 60 * i, np.uint8), "rgb24")
            vf.pts = i
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    dst = tmp_path / "o.mp4"
    result = run("video", src, "-o", dst, "--seed", 1)
    assert result.exit_code == 0, result.output
    assert "padded from 65x49 to 66x50" in result.output
    with av.open(str(dst)) as c:
        vs = c.streams.video[0]
        assert vs.codec_context.pix_fmt == "yuv420p"
        assert (vs.codec_context.width, vs.codec_context.height) == (66, 50)
    assert "padded" in manifest_of(dst)["video"]["encoding"]


# ---------------------------------------------------------------------------
# Kept audio that starts with a fragment (an AC-3 track cut mid-frame)
# ---------------------------------------------------------------------------


def write_avi_ac3(path: Path) -> None:
    """An AVI with an AC-3 track whose first packet is the tail of a frame."""
    with av.open(str(path), "w", format="avi") as out:
        vs = out.add_stream("mpeg4", rate=10)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        aus = out.add_stream("ac3", rate=48000)
        aus.layout = "mono"
        tone = (0.2 * np.sin(2 * math.pi * 440 * np.arange(48000) / 48000)).astype(np.float32)
        size = aus.codec_context.frame_size or 1536
        packets = []
        for start in range(0, tone.size - size + 1, size):
            af = av.AudioFrame.from_ndarray(tone[None, start : start + size], "fltp", "mono")
            af.sample_rate, af.pts = 48000, start
            packets += aus.encode(af)
        packets += aus.encode()
        for i in range(10):
            vf = av.VideoFrame.from_ndarray(marked_frame(i), format="rgb24")
            vf.pts = i
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        first = packets[0]
        cut = av.Packet(bytes(first)[first.size // 3 :])  # the clip was cut mid-frame
        cut.pts, cut.dts, cut.time_base, cut.stream = first.pts, first.dts, first.time_base, aus
        out.mux(cut)
        for p in packets[1:]:
            out.mux(p)


def decodable_audio(path: Path) -> list[bytes]:
    """The audio frames FFmpeg can decode, as raw samples."""
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        frames = []
        for packet in c.demux(stream):
            try:
                frames += [f.to_ndarray().tobytes() for f in packet.decode()]
            except av.error.InvalidDataError:
                continue
        return frames


def test_keep_audio_from_avi_ac3_keeps_every_decodable_frame_and_says_what_was_dropped(tmp_path):
    src = tmp_path / "cut.avi"
    write_avi_ac3(src)
    with av.open(str(src)) as c:
        packets_in = sum(1 for p in c.demux(c.streams.audio[0]) if p.size)
    out = tmp_path / "o.mp4"
    result = run("video", src, "-o", out, "--keep-audio", "--seed", 1)
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as c:
        packets_out = sum(1 for p in c.demux(c.streams.audio[0]) if p.size)
    assert packets_out == packets_in - 1  # MP4's muxer drops the leading fragment ...
    assert f"mp4 muxer kept {packets_out} of {packets_in} packets" in result.output  # ... said
    assert decodable_audio(out) == decodable_audio(src)  # nothing that plays is lost


# ---------------------------------------------------------------------------
# The command: refusals up front, Ctrl-C, one spelling of the method
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_output_that_is_a_directory_is_a_usage_error(tmp_path, monkeypatch, overwrite):
    src = tmp_path / "vfr.mkv"
    write_vfr(src, "matroska", "libx264", n=10)
    folder = tmp_path / "DIR.mp4"
    folder.mkdir()

    def no_work(*args, **kwargs):
        raise AssertionError("nothing may be decoded for an output that cannot be written")

    monkeypatch.setattr("dpimage.video.process_video", no_work)
    result = run("video", src, "-o", folder, *overwrite)
    assert result.exit_code == 2, result.output
    errors = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "is a directory" in errors[0]
    assert list(folder.iterdir()) == []


def test_library_refuses_a_directory_before_decoding(tmp_path):
    folder = tmp_path / "DIR.mp4"
    folder.mkdir()
    with pytest.raises(IsADirectoryError):
        run_to_end(process_video(tmp_path / "missing.mkv", folder, VideoSettings()))


def test_ctrl_c_says_one_line_and_exits_130(tmp_path, monkeypatch):
    src = tmp_path / "vfr.mkv"
    write_vfr(src, "matroska", "libx264", n=10)
    from dpimage import video as video_pkg

    real = video_pkg.process_video

    def interrupted(*args, **kwargs):
        run = real(*args, **kwargs)
        yield next(run)
        run.close()  # as Ctrl-C does: the writer's temporary file goes
        raise KeyboardInterrupt

    monkeypatch.setattr("dpimage.video.process_video", interrupted)
    out = tmp_path / "o.mp4"
    result = run("video", src, "-o", out)
    assert result.exit_code == 130
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("interrupted")]
    assert len(lines) == 1 and "not written" in lines[0]
    assert not out.exists()


@pytest.mark.parametrize(("given", "name"), [("pix", "dp_pix"), ("dp-pix", "dp_pix"),
                                             ("blur", "dp_blur"), ("DP-Blur", "dp_blur")])
def test_video_settings_use_the_registry_spelling(given, name):
    settings = VideoSettings(method=given, seed=1)
    assert settings.method == name
    assert VideoSettings().method == "dp_pix"



@pytest.mark.parametrize("given", ["np-pix", "np_blur", "mosaic"])
def test_video_methods_are_dp_pix_and_dp_blur_only(tmp_path, given):
    """The settings and the command judge --method with the same one check."""
    with pytest.raises(ValueError, match="dp_pix or dp_blur"):
        VideoSettings(method=given)
    result = run("video", tmp_path / "never-read.mp4", "--method", given)
    assert result.exit_code == 2
    assert "--method must be pix (DP-Pix) or blur (DP-Blur)" in result.stderr


def test_region_manifest_says_what_derives_from_the_detections(tmp_path):
    src = tmp_path / "vfr.mkv"
    write_vfr(src, "matroska", "libx264", n=10)
    boxes = tmp_path / "b.json"
    boxes.write_text(json.dumps({"frames": {str(f): [[4, 4, 20, 20]] for f in range(4)}}))
    out = tmp_path / "o.mp4"
    result = run("video", src, "-o", out, "--boxes", boxes, "--total-eps", "1", "--seed", 1)
    assert result.exit_code == 0, result.output
    manifest = manifest_of(out)
    video = manifest["video"]
    derived = set(video["derived_from_detections"])
    assert {"video.accounting.releases", "video.accounting.eps_per_track",
            "video.accounting.eps_per_release", "total_epsilon"} <= derived
    assert "detector" in video["note"] and "not protected" in video["note"]
    full = tmp_path / "full.mp4"
    assert run("video", src, "-o", full, "--seed", 1).exit_code == 0
    assert manifest_of(full)["video"]["derived_from_detections"] == []
