"""Video release end to end: PyAV I/O, the frame loop, the CLI and its manifest.

Test clips are made at test time from real frames: a slow pan across the
bundled astronaut photograph (it has a face), with a real AAC audio track and
planted container metadata, and the first frames of PETS-2009 vtest.avi when
``make data`` has fetched it.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

av = pytest.importorskip("av")

from conftest import PLANTED_VIDEO as PLANTED  # noqa: E402
from conftest import SAMPLES, pan_frames, run, write_clip  # noqa: E402
from dpimage.datasets import find_vtest  # noqa: E402
from dpimage.regions import enlarge_box, face_detector, release_regions  # noqa: E402
from dpimage.video import (  # noqa: E402
    RegionSettings,
    VideoSettings,
    process_video,
    run_to_end,
)
from dpimage.video.io import VideoWriter, read_frames  # noqa: E402
from dpimage.video.process import full_frame_stream  # noqa: E402
from dpimage.video.regions import region_stream  # noqa: E402

N_FRAMES = 12
SIZE = (240, 320)  # height, width


def all_metadata(path: Path) -> str:
    with av.open(str(path)) as c:
        parts = [json.dumps(dict(c.metadata))]
        parts += [json.dumps(dict(s.metadata)) for s in c.streams]
    return " ".join(parts)


def decode_all(path: Path) -> list[np.ndarray]:
    return list(read_frames(path))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "pan.mp4"
    write_clip(path, pan_frames(), audio=True)
    return path


def manifest_of(out: Path) -> dict:
    return json.loads(out.with_name(out.name + ".manifest.json").read_text())


# ---------------------------------------------------------------------------
# The test clip itself is what we think it is
# ---------------------------------------------------------------------------


def test_clip_has_audio_and_planted_metadata(clip):
    with av.open(str(clip)) as c:
        assert c.streams.audio
    assert PLANTED in all_metadata(clip)
    assert "48.8584" in all_metadata(clip)


# ---------------------------------------------------------------------------
# CLI: full frames
# ---------------------------------------------------------------------------


def test_video_full_frame_decodes_same_frames_no_audio_no_metadata(clip, tmp_path):
    out = tmp_path / "out.mp4"
    result = run("video", clip, "-o", out, "-b", "8")
    assert result.exit_code == 0, result.output
    frames = decode_all(out)
    assert len(frames) == N_FRAMES
    assert all(f.shape == (*SIZE, 3) for f in frames)
    with av.open(str(out)) as c:
        assert not c.streams.audio
        assert c.streams.video[0].codec_context.name == "h264"
        assert c.streams.video[0].average_rate == 10
    meta = all_metadata(out)
    assert PLANTED not in meta and "48.8584" not in meta and "2020-01-01" not in meta
    # the released frames are far from the input (noise + mosaic), frame by frame
    originals = pan_frames()
    diffs = [np.abs(f.astype(int) - o).mean() for f, o in zip(frames, originals, strict=True)]
    assert min(diffs) > 10

    manifest = manifest_of(out)
    acc = manifest["video"]["accounting"]
    assert acc == {
        "mode": "per-frame",
        "frames": N_FRAMES,
        "releases": N_FRAMES,
        "eps_per_release": 0.5,
        "eps_object": N_FRAMES * 0.5,
        "total_eps_budget": None,
        "eps_per_track": None,
    }
    assert manifest["total_epsilon"] == 6.0
    assert manifest["video"]["audio"] == "dropped"
    assert manifest["private_release"] is True
    text = json.dumps(manifest)
    assert PLANTED not in text and "pan.mp4" not in text
    assert "ε = 6" in result.output  # the summary states the object's ε


def test_keep_audio_copies_audio_but_no_metadata(clip, tmp_path):
    out = tmp_path / "out.mkv"
    result = run("video", clip, "-o", out, "--keep-audio")
    assert result.exit_code == 0, result.output
    assert "NOT protected" in result.output
    with av.open(str(out)) as c:
        assert c.streams.audio and c.streams.audio[0].codec_context.name == "aac"
        packets = sum(1 for p in c.demux(c.streams.audio[0]) if p.size)
        assert packets > 0
    assert len(decode_all(out)) == N_FRAMES
    assert PLANTED not in all_metadata(out)
    assert manifest_of(out)["video"]["audio"] == "kept, NOT protected"


@pytest.mark.parametrize(
    ("args", "releases", "eps_object"),
    [
        (["--release-every", "5"], 3, 1.5),  # frames 0, 5, 10: ceil(12/5) = 3
        (["--total-eps", "1"], 12, None),  # 1/12 each, never more than 1 in all
        (["--total-eps", "1", "--release-every", "4"], 3, None),
        (["-e", "0.25", "--release-every", "12"], 1, 0.25),
    ],
)
def test_accounting_modes_in_manifest(clip, tmp_path, args, releases, eps_object):
    out = tmp_path / "o.mp4"
    result = run("video", clip, "-o", out, *args)
    assert result.exit_code == 0, result.output
    acc = manifest_of(out)["video"]["accounting"]
    assert acc["releases"] == releases
    if eps_object is not None:
        assert acc["eps_object"] == eps_object
    else:
        assert acc["total_eps_budget"] == 1.0
        assert Fraction(acc["eps_per_release"]) * releases <= 1
        assert acc["eps_object"] == float(Fraction(acc["eps_per_release"]) * releases)
        assert acc["eps_object"] > 1 - 1e-12
    assert len(decode_all(out)) == N_FRAMES


def test_release_every_repeats_the_release():
    frames = pan_frames(7)
    fresh: list[int] = []
    out = list(full_frame_stream(frames, lambda f: 255 - f, 3, fresh))
    assert fresh == [0, 3, 6]
    for i, o in enumerate(out):
        np.testing.assert_array_equal(o, 255 - frames[3 * (i // 3)])


# ---------------------------------------------------------------------------
# CLI: regions
# ---------------------------------------------------------------------------


def test_boxes_fixed_region_reuse_outside_untouched(tmp_path):
    frames = pan_frames()
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([[100, 40, 64, 48]]))
    # Exact pixel comparisons go through the library stream (the encoder is lossy).
    fresh: list[int] = []
    per_track: dict[int, int] = {}
    box = (100, 40, 164, 88)
    covered = [[(0, box)] for _ in frames]
    seen = []
    out = list(
        region_stream(
            frames, covered, per_crop(lambda crop: (seen.append(crop.copy()), 255 - crop)[1]),
            every=None, fresh=fresh, track_releases=per_track,
        )
    )
    assert fresh == [0] and per_track == {0: 1} and len(seen) == 1
    for f, o in zip(frames, out, strict=True):
        mask = np.ones(SIZE, bool)
        mask[40:88, 100:164] = False
        np.testing.assert_array_equal(o[mask], f[mask])
        np.testing.assert_array_equal(o[40:88, 100:164], 255 - frames[0][40:88, 100:164])

    # and through the CLI: one release for the clip
    clip = tmp_path / "pan.mp4"
    write_clip(clip, frames, audio=False)
    outv = tmp_path / "boxes.mp4"
    result = run("video", clip, "-o", outv, "--boxes", boxes, "--reuse", "-b", "8")
    assert result.exit_code == 0, result.output
    acc = manifest_of(outv)["video"]["accounting"]
    assert (acc["mode"], acc["releases"], acc["eps_object"]) == ("region-reuse", 1, 0.5)
    regions = manifest_of(outv)["video"]["regions"]
    assert regions["source"] == "boxes" and "outside the boxes" in regions["not_protected"]
    assert "100" not in json.dumps(regions)  # no box coordinates in the manifest


def per_crop(release):
    """A frame releaser that applies ``release`` to each box's crop, in order."""
    return lambda image, boxes, known: release_regions(image, boxes, release)


def test_region_per_frame_versus_every(tmp_path):
    frames = pan_frames(10)
    box = (10, 10, 50, 50)
    covered = [[(0, box)] for _ in frames[:3]] + [[] for _ in frames[3:6]] + [
        [(1, box)] for _ in frames[6:]
    ]
    for every, expected in [(1, [0, 1, 2, 6, 7, 8, 9]), (4, [0, 6, 8])]:
        fresh: list[int] = []
        list(region_stream(frames, covered, per_crop(lambda c: c), every=every, fresh=fresh,
                           track_releases={}))
        assert fresh == expected
    # frames with no box pass through unchanged, the same object
    out = list(region_stream(frames, covered, per_crop(lambda c: 0 * c), every=1, fresh=[],
                             track_releases={}))
    assert out[4] is frames[4]


def test_faces_on_video_library(clip, tmp_path):
    settings = VideoSettings(b=8, regions=RegionSettings("faces", mask_scale=1.2), seed=3)
    result = run_to_end(process_video(clip, tmp_path / "f.mp4", settings))
    acc = result.accounting
    assert acc.mode == "region-per-frame"
    assert acc.releases == N_FRAMES  # the face is found (or carried) in every frame
    assert acc.eps_object == N_FRAMES * 0.5
    assert any("audio dropped" in n for n in result.notices)


def test_no_regions_found_writes_nothing(clip, tmp_path):
    boxes = tmp_path / "b.json"
    boxes.write_text(json.dumps({"frames": {"500": [[0, 0, 10, 10]]}}))
    out = tmp_path / "none.mp4"
    result = run("video", clip, "-o", out, "--boxes", boxes)
    assert result.exit_code == 1
    assert "nothing written" in result.output
    assert not out.exists()


# ---------------------------------------------------------------------------
# Bad input, existing output, interruption
# ---------------------------------------------------------------------------


def test_bad_input_one_line_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video at all" * 10)
    out = tmp_path / "o.mp4"
    result = run("video", bad, "-o", out)
    assert result.exit_code == 1
    errors = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "bad.mp4" in errors[0]
    assert not out.exists()


def test_existing_output_kept_without_overwrite(clip, tmp_path):
    out = tmp_path / "o.mp4"
    out.write_bytes(b"precious")
    result = run("video", clip, "-o", out)
    assert result.exit_code == 1 and "--overwrite" in result.output
    assert out.read_bytes() == b"precious"
    assert run("video", clip, "-o", out, "--overwrite").exit_code == 0
    assert len(decode_all(out)) == N_FRAMES


@pytest.mark.parametrize(
    "args",
    [
        ["--faces", "--boxes", "b.json"],
        ["--eps", "1", "--total-eps", "2"],
        ["--release-every", "0"],
        ["--reuse"],
        ["-m", "0"],
        ["--method", "blur", "-k", "4"],
        ["--people", "--detect-every", "5", "--carry", "2"],
    ],
)
def test_usage_errors(clip, tmp_path, args):
    out = tmp_path / "o.mp4"
    result = run("video", clip, "-o", out, *args)
    assert result.exit_code == 2, result.output
    assert not out.exists()


def test_interrupted_run_leaves_nothing(clip, tmp_path):
    out = tmp_path / "cut.mp4"
    gen = process_video(clip, out, VideoSettings(b=8))
    for _ in range(5):
        next(gen)
    gen.close()  # as on Ctrl-C: the generator exits inside the writer
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_unknown_output_extension(clip, tmp_path):
    result = run("video", clip, "-o", tmp_path / "o.gif")
    assert result.exit_code == 2 and "unknown video extension" in result.output
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# The real street scene
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vtest_clip(tmp_path_factory) -> Path:
    source = find_vtest()  # present: conftest skips needs_vtest tests without it
    path = tmp_path_factory.mktemp("vtest") / "vtest20.mp4"
    frames = []
    for i, f in enumerate(read_frames(source)):
        if i == 20:
            break
        frames.append(f)
    with VideoWriter(path, width=768, height=576, rate=Fraction(10)) as w:
        for f in frames:
            w.write(f)
    return path


@pytest.mark.needs_vtest
def test_vtest_people_real_time_settings(vtest_clip, tmp_path):
    out = tmp_path / "people.mp4"
    result = run("video", vtest_clip, "-o", out, "--people", "--seed", "1")
    assert result.exit_code == 0, result.output
    frames = decode_all(out)
    assert len(frames) == 20 and frames[0].shape == (576, 768, 3)
    acc = manifest_of(out)["video"]["accounting"]
    assert acc["mode"] == "region-per-frame"
    assert 1 <= acc["releases"] <= 20
    assert acc["eps_object"] == acc["releases"] * 0.5
    assert "NOT a private release" in result.output


def test_face_detector_finds_astronaut():
    photo = np.asarray(Image.open(SAMPLES / "astronaut.jpg").convert("RGB"))
    faces = face_detector()(photo)
    assert len(faces) == 1
    box = enlarge_box(faces[0], 1.0, 512, 512)
    # the face is in the upper middle of the photo
    assert 120 < (box[0] + box[2]) / 2 < 300 and 60 < (box[1] + box[3]) / 2 < 180


def test_region_total_budget_split_over_region_releases(clip, tmp_path):
    boxes = tmp_path / "b.json"
    # a box in frames 0-5 only: 6 fresh releases share the budget, frames 6-11 pass through
    boxes.write_text(json.dumps({"frames": {str(f): [[60, 40, 80, 80]] for f in range(6)}}))
    out = tmp_path / "budget.mp4"
    result = run("video", clip, "-o", out, "--boxes", boxes, "--total-eps", "1", "--carry", "0")
    assert result.exit_code == 0, result.output
    acc = manifest_of(out)["video"]["accounting"]
    assert acc["mode"] == "region-per-frame" and acc["releases"] == 6
    assert acc["eps_per_release"] == 1 / 6  # the double nearest 1/6 lies below it
    assert Fraction(acc["eps_per_release"]) * 6 <= 1
    assert acc["eps_object"] <= 1.0
    assert acc["eps_per_track"] == acc["eps_object"]  # one track, released 6 times


def test_odd_frame_size_is_padded_to_420(tmp_path):
    """H.264 4:2:0 (what every player plays) needs an even size: one edge column/row more."""
    frames = [f[:121, :161] for f in pan_frames(4)]
    out = tmp_path / "odd.mp4"
    with VideoWriter(out, width=161, height=121, rate=Fraction(25)) as writer:
        for f in frames:
            writer.write(f)
    assert writer.pad == (1, 1) and "padded from 161x121 to 162x122" in writer.description
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
    back = decode_all(out)
    assert len(back) == 4 and back[0].shape == (122, 162, 3)
    assert np.abs(back[0][:121, :161].astype(int) - frames[0]).mean() < 3  # CRF 18: close
    # the added column and row repeat the last ones (up to the codec's loss)
    assert np.abs(back[0][:, 161].astype(int) - back[0][:, 160]).mean() < 3
    assert np.abs(back[0][121].astype(int) - back[0][120]).mean() < 3
    # VP9 holds 4:2:0 at any size: no padding
    webm = tmp_path / "odd.webm"
    with VideoWriter(webm, width=161, height=121, rate=Fraction(25)) as writer:
        writer.write(frames[0])
    assert writer.pad == (0, 0)
    with av.open(str(webm)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
    assert decode_all(webm)[0].shape == (121, 161, 3)
    with pytest.raises(ValueError, match="frame must be"):
        with VideoWriter(tmp_path / "x.mp4", width=160, height=120, rate=Fraction(25)) as w:
            w.write(frames[0])
    assert not (tmp_path / "x.mp4").exists()


# ---------------------------------------------------------------------------
# Truncated input, re-releases, output directory
# ---------------------------------------------------------------------------


def write_small_clip(path: Path, n: int, *, fmt: str) -> None:
    """``n`` frames of 64x48 real content; MP4 with its index first (faststart)."""
    photo = np.asarray(Image.open(SAMPLES / "astronaut.jpg").convert("RGB"))
    options = {"movflags": "faststart"} if fmt == "mp4" else {}
    with av.open(str(path), "w", format=fmt, options=options) as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        vs.options = {"preset": "ultrafast"}
        for i in range(n):
            frame = np.ascontiguousarray(photo[100 : 100 + 48, 2 * i : 2 * i + 64])
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts = i
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)


@pytest.fixture(scope="module", params=["mp4", "matroska"])
def truncated_clip(request, tmp_path_factory) -> tuple[Path, int]:
    """A 100-frame clip whose bytes end about halfway; the container still says 100."""
    ext = "mp4" if request.param == "mp4" else "mkv"
    folder = tmp_path_factory.mktemp("trunc")
    whole = folder / f"whole.{ext}"
    write_small_clip(whole, 100, fmt=request.param)
    cut = folder / f"cut.{ext}"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 47 // 100])
    decoded = len(decode_all(cut))
    assert 0 < decoded < 100  # what the container announces is not what is there
    return cut, decoded


def test_truncated_video_fails_and_writes_nothing(truncated_clip, tmp_path):
    cut, decoded = truncated_clip
    out = tmp_path / "o.mp4"
    result = run("video", cut, "-o", out, "--seed", 1)
    assert result.exit_code == 1, result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "ended early" in errors[0] and f"frame {decoded}" in errors[0]
    assert "--allow-partial" in errors[0]
    assert list(tmp_path.iterdir()) == []  # no video, no temporary, no manifest


def test_truncated_video_library_raises(truncated_clip, tmp_path):
    from dpimage.video import TruncatedVideoError

    cut, _ = truncated_clip
    with pytest.raises(TruncatedVideoError, match="ended early"):
        run_to_end(process_video(cut, tmp_path / "o.mp4", VideoSettings(b=8, seed=1)))
    assert list(tmp_path.iterdir()) == []


def test_truncated_video_allow_partial(truncated_clip, tmp_path):
    cut, decoded = truncated_clip
    out = tmp_path / "o.mp4"
    result = run("video", cut, "-o", out, "--seed", 1, "--allow-partial")
    assert result.exit_code == 0, result.output
    assert "ended early" in result.stderr and "Partial" in result.stdout
    assert len(decode_all(out)) == decoded
    partial = manifest_of(out)["video"]["partial"]
    assert partial["input_ended_early"] is True
    assert partial["frames_released"] == decoded
    if cut.suffix == ".mp4":
        assert partial["announced_by"] == "frame count" and partial["frames_announced"] == 100
    else:  # Matroska states a duration (100 frames at 25 fps), checked by time
        assert partial["announced_by"] == "duration" and partial["seconds_announced"] == 4.0
        assert partial["ends_at_seconds"] < 4.0 * 0.6


def test_complete_clip_is_not_partial(tmp_path):
    for fmt, ext in (("mp4", "mp4"), ("matroska", "mkv")):
        src = tmp_path / f"whole.{ext}"
        write_small_clip(src, 30, fmt=fmt)
        out = tmp_path / f"out-{ext}.mp4"
        result = run("video", src, "-o", out, "--seed", 1)
        assert result.exit_code == 0, result.output
        assert manifest_of(out)["video"]["partial"] is None


def test_rereleases_are_counted(clip, tmp_path):
    """Every written release spends ε: --overwrite adds to the manifest, never replaces it."""
    out = tmp_path / "o.mp4"
    assert run("video", clip, "-o", out, "-b", 8, "-e", 0.25).exit_code == 0
    first = manifest_of(out)
    assert first["count"] == 1 and first["total_epsilon"] == pytest.approx(N_FRAMES * 0.25)
    again = run("video", clip, "-o", out, "-b", 8, "-e", 0.25, "--overwrite")
    assert again.exit_code == 0, again.output
    second = manifest_of(out)
    assert second["count"] == 2
    assert second["total_epsilon"] == pytest.approx(2 * N_FRAMES * 0.25)
    assert "released 2 times" in again.stdout
    # Other settings: the earlier runs move under previous_runs and still count.
    other = run("video", clip, "-o", out, "-b", 16, "-e", 0.5, "--overwrite")
    assert other.exit_code == 0, other.output
    third = manifest_of(out)
    assert third["count"] == 1 and len(third["previous_runs"]) == 1
    assert third["previous_runs"][0]["count"] == 2
    total = 2 * N_FRAMES * 0.25 + N_FRAMES * 0.5
    assert third["total_epsilon_all_runs"] == pytest.approx(total)
    assert f"{total:g}" in other.stdout


def test_output_directory_is_created(clip, tmp_path):
    out = tmp_path / "new" / "dir" / "x.mp4"
    result = run("video", clip, "-o", out, "-b", 8, "--seed", 2)
    assert result.exit_code == 0, result.output
    assert len(decode_all(out)) == N_FRAMES


class _FakeContainer:
    """Stands in for a PyAV container whose decoder raises after some frames."""

    def __init__(self, good: int):
        self.good = good
        self.streams = type("S", (), {"video": [type("V", (), {"thread_type": None})()]})()

    def decode(self, stream):
        for i in range(self.good):
            yield SimpleNamespace(index=i, time=i / 25, duration=1, time_base=Fraction(1, 25))
        raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")


def test_decoder_errors_end_the_stream_and_are_reported_in_every_thread_mode():
    """With non-frame threads FFmpeg raises where the data ends: an early end, not a crash."""
    from dpimage.io import InputError
    from dpimage.video.io import DecodeLog, _decode

    log = DecodeLog()
    assert [f.index for f in _decode(_FakeContainer(3), Path("x.mp4"), log)] == [0, 1, 2]
    assert len(log.damaged) == 1 and "after frame 3" in log.damaged[0]
    assert log.frames == 3 and log.end_time == pytest.approx(3 / 25)  # where frame 2 ends
    with pytest.raises(InputError, match="decoding failed"):
        list(_decode(_FakeContainer(0), Path("x.mp4"), DecodeLog()))  # nothing decoded
