"""``video --span``: only chosen time spans are released, the rest is published as it is;
and region mode says how many regions it released (tracks, boxes per frame)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from conftest import pan_frames, run, write_clip  # noqa: E402
from dpimage.video import VideoSettings  # noqa: E402
from dpimage.video.accounting import full_frame_release_frames, split_budget  # noqa: E402
from dpimage.video.io import read_frames  # noqa: E402
from dpimage.video.process import full_frame_stream  # noqa: E402
from dpimage.video.regions import count_regions  # noqa: E402
from dpimage.video.spans import in_spans, parse_span, split_by_spans  # noqa: E402

RATE = 10  # frames per second of the test clip: frame i is at i / 10 s
N = 20


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    path = tmp_path_factory.mktemp("spans") / "pan.mp4"
    frames = pan_frames(N)
    write_clip(path, frames, audio=False, rate=RATE)
    return path, list(read_frames(path))  # the input as decoded


def manifest_of(out: Path) -> dict:
    return json.loads(out.with_name(out.name + ".manifest.json").read_text())


def _changed(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(int) - b.astype(int)).mean())


def test_parse_and_place_spans():
    assert parse_span("10-25") == (10.0, 25.0) and parse_span(" 60 - ") == (60.0, None)
    assert parse_span("0.5-1") == (0.5, 1.0)
    for bad in ("10", "25-10", "5-5", "-3", "a-b", "1-2-3"):
        with pytest.raises(ValueError):
            parse_span(bad)
    spans = ((0.5, 1.0), (1.5, None))
    rate = Fraction(RATE)
    # boundaries in exact arithmetic: 0.5 s is frame 5 (in), 1.0 s is frame 10 (out)
    inside = [i for i in range(N) if in_spans(i, rate, spans) is not None]
    assert inside == [5, 6, 7, 8, 9, *range(15, 20)]
    with pytest.raises(ValueError, match="overlap"):
        VideoSettings(spans=((0.0, 2.0), (1.0, 3.0)))
    with pytest.raises(ValueError, match="overlap"):
        VideoSettings(spans=((0.0, None), (5.0, 6.0)))


def test_release_every_restarts_at_each_span():
    spans = ((0.5, 1.0), (1.5, None))
    inside = lambda i: in_spans(i, Fraction(RATE), spans)  # noqa: E731
    planned = full_frame_release_frames(N, 3, inside)
    assert list(planned) == [5, 6, 9, 15, 18]  # span starts, and 0, 3, 6, ... inside
    frames = [np.full((4, 4), i, np.uint8) for i in range(N)]
    fresh: list[int] = []
    out = list(full_frame_stream(frames, lambda f: 255 - f, 3, fresh, inside))
    assert fresh == list(planned)
    assert out[0] is frames[0] and out[12] is frames[12]  # outside: as it is
    assert int(out[7][0, 0]) == 255 - 6 and int(out[16][0, 0]) == 255 - 15  # repeated inside


def test_cli_span_releases_only_the_spans(clip, tmp_path):
    src, decoded = clip
    out = tmp_path / "spans.mp4"
    result = run("video", src, "-o", out, "--span", "0.5-1", "--span", "1.5-", "-b", "8",
                 "--seed", "1")
    assert result.exit_code == 0, result.output
    assert "outside the spans are published as they are, NOT protected" in result.output
    assert "repeat or reuse" not in result.output  # every frame inside is released
    released = list(read_frames(out))
    assert len(released) == N
    for i, (a, b) in enumerate(zip(decoded, released, strict=True)):
        inside = 5 <= i < 10 or i >= 15
        # outside: the same pixels up to the encoder's loss; inside: a DP release
        assert (_changed(a, b) > 8) == inside, (i, _changed(a, b))
    manifest = manifest_of(out)
    acc = manifest["video"]["accounting"]
    assert acc["frames"] == N and acc["releases"] == 10 and acc["eps_object"] == 5.0
    spans = manifest["video"]["spans"]
    assert spans["released_seconds"] == [[0.5, 1.0], [1.5, None]]
    assert (spans["frames_inside"], spans["frames_outside"]) == (10, 10)
    assert "NOT protected" in spans["outside"]
    assert manifest["parameters"]["spans_seconds"] == [[0.5, 1.0], [1.5, None]]


def test_total_budget_is_split_over_the_frames_in_the_spans(clip, tmp_path):
    src, _ = clip
    out = tmp_path / "budget.mp4"
    result = run("video", src, "-o", out, "--span", "1-1.5", "--total-eps", "1", "--seed", "2")
    assert result.exit_code == 0, result.output
    acc = manifest_of(out)["video"]["accounting"]
    assert acc["releases"] == 5 and acc["eps_per_release"] == split_budget(1.0, 5)
    assert acc["eps_object"] <= 1


def test_regions_in_spans_are_counted_and_tracks_cut(clip, tmp_path):
    src, decoded = clip
    boxes = tmp_path / "b.json"
    boxes.write_text(json.dumps([[100, 40, 64, 48], [10, 10, 40, 40]]))
    out = tmp_path / "boxes.mp4"
    result = run("video", src, "-o", out, "--boxes", boxes, "--mask-scale", "1", "--reuse",
                 "--span", "0-0.5", "--span", "1-", "-b", "8", "--seed", "0")
    assert result.exit_code == 0, result.output
    released = list(read_frames(out))
    for i in (6, 8):  # outside the spans: nothing released, even inside the boxes
        assert _changed(decoded[i][40:88, 100:164], released[i][40:88, 100:164]) < 8
    assert _changed(decoded[12][40:88, 100:164], released[12][40:88, 100:164]) > 8
    video = manifest_of(out)["video"]
    # two boxes, each cut into one track per span: released once per span (reuse)
    assert video["regions_found"] == {
        "tracks": 4, "frames_with_regions": 15, "boxes_total": 30,
        "boxes_per_frame_max": 2, "boxes_per_frame_mean": 2.0,
    }
    assert "video.regions_found" in video["derived_from_detections"]
    assert video["accounting"]["releases"] == 2
    assert "Regions released: 4 track(s), in 15 frame(s); per frame released at most 2" in (
        result.output
    )
    assert "repeat or reuse" in result.output  # --reuse: 2 releases for 15 frames


def test_count_regions_and_split():
    box = (0, 0, 2, 2)
    covered = [[(0, box)], [(0, box), (1, box)], [], [(0, box)]]
    assert count_regions(covered) == {
        "tracks": 2, "frames_with_regions": 3, "boxes_total": 4,
        "boxes_per_frame_max": 2, "boxes_per_frame_mean": 1.0,
    }
    spans = ((0.0, 2.0), (3.0, None))
    split = split_by_spans(covered, Fraction(1), spans)
    assert split == [[(0, box)], [(0, box), (1, box)], [], [(2, box)]]
    # the mean is over the frames inside the spans: frame 2 is outside
    inside = lambda i: in_spans(i, Fraction(1), spans)  # noqa: E731
    assert count_regions(split, inside)["boxes_per_frame_mean"] == round(4 / 3, 3)


@pytest.mark.parametrize("value", ["5", "3-2", "x-", "1-2,3"])
def test_span_usage_errors(clip, tmp_path, value):
    src, _ = clip
    out = tmp_path / "o.mp4"
    result = run("video", src, "-o", out, "--span", value)
    assert result.exit_code == 2, result.output
    assert "--span" in result.output and not out.exists()
    result = run("video", src, "-o", out, "--span", "0-2", "--span", "1-3")
    assert result.exit_code == 2 and "overlap" in result.output


def test_no_frame_in_the_spans_writes_nothing(clip, tmp_path):
    src, _ = clip
    out = tmp_path / "late.mp4"
    result = run("video", src, "-o", out, "--span", "100-")
    assert result.exit_code == 1, result.output
    assert "no frame lies in the spans; nothing written" in result.output
    assert not out.exists() and not out.with_name("late.mp4.manifest.json").exists()


def test_the_detector_runs_only_inside_the_spans(clip, tmp_path, monkeypatch):
    from dpimage.video import RegionSettings, process_video, run_to_end

    src, _ = clip
    seen: list[int] = []

    def make_detector(self, width=0, height=0):
        return lambda frame, index: (seen.append(index), [(10, 10, 50, 50)])[1]

    monkeypatch.setattr(RegionSettings, "make_detector", make_detector)
    settings = VideoSettings(regions=RegionSettings("faces", face_detector="haar"),
                             spans=((0.5, 1.0),), seed=0)
    result = run_to_end(process_video(src, tmp_path / "o.mp4", settings))
    assert seen == [5, 6, 7, 8, 9]
    assert result.accounting.releases == 5 and result.regions_found["tracks"] == 1
