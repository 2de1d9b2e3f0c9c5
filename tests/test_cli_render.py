"""``--render`` and ``--colour`` on the release commands: defaults, choices, what is written."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import dpimage
from conftest import pan_frames, run, write_clip
from dpimage.batch.release import seeded_rng


def _photo(path, shape=(40, 56, 3)):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    img = np.stack([xx * 4, yy * 6, (xx + yy) * 3], axis=-1) % 256
    Image.fromarray(img.astype(np.uint8)).save(path)
    return img.astype(np.uint8)


def _out(path):
    return np.asarray(Image.open(path))


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((), {"render": "smooth", "colour": "luma-chroma"}),  # the CLI default
        (("--render", "blocks", "--colour", "rgb"), {}),  # the paper's DP-Pix
        (("--render", "smooth", "--colour", "rgb"), {"render": "smooth"}),
        (("--render", "blocks", "--colour", "ycocg"), {"colour": "luma-chroma"}),
    ],
)
def test_pixelate_render_colour_match_the_library(tmp_path, args, kwargs):
    img = _photo(tmp_path / "in.png")
    target = tmp_path / "out" / "x.png"
    result = run("pixelate", tmp_path / "in.png", "-o", target, "-b", 8, "--seed", 3, *args)
    assert result.exit_code == 0, result.output
    want = dpimage.dp_pix(img, b=8, rng=seeded_rng(3, "x.png"), **kwargs)
    np.testing.assert_array_equal(_out(target), want)


def test_blur_render_smooth_and_default(tmp_path):
    img = _photo(tmp_path / "in.png")
    for args, kwargs in (((), {}), (("--render", "smooth", "--colour", "luma-chroma"),
                                    {"render": "smooth", "colour": "luma-chroma"})):  # fmt: skip
        target = tmp_path / f"out{len(args)}" / "x.png"
        result = run("blur", tmp_path / "in.png", "-o", target, "-k", 9, "--seed", 4, *args)
        assert result.exit_code == 0, result.output
        want = dpimage.dp_blur(img, k=9, rng=seeded_rng(4, "x.png"), **kwargs)
        np.testing.assert_array_equal(_out(target), want)


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        ("pixelate", ("--render", "blur"), "--render must be blocks or smooth"),
        ("pixelate", ("--colour", "hsv"), "colour must be one of"),
        ("pixelate", ("--grid", "--render", "smooth"), "grid"),
        ("blur", ("--render", "pretty"), "--render must be blocks or smooth"),
    ],
)
def test_bad_render_or_colour_is_one_usage_line(tmp_path, command, args, message):
    _photo(tmp_path / "in.png")
    result = run(command, tmp_path / "in.png", "-o", tmp_path / "o.png", *args)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.png").exists()


def test_grid_defaults_to_rgb_blocks(tmp_path):
    _photo(tmp_path / "in.png")
    result = run("pixelate", tmp_path / "in.png", "-o", tmp_path / "g.png", "-b", 8, "--grid")
    assert result.exit_code == 0, result.output
    assert _out(tmp_path / "g.png").shape == (5, 7, 3)


# --- video: full-frame and region mode ---


@pytest.fixture
def small_clip(tmp_path):
    pytest.importorskip("av")
    path = tmp_path / "clip.mp4"
    write_clip(path, pan_frames(4), audio=False)
    return path


def _video_manifest(out):
    import json

    return json.loads(out.with_name(out.name + ".manifest.json").read_text())


@pytest.mark.parametrize(
    ("args", "render", "colour"),
    [
        ((), "smooth", "luma-chroma"),  # the default for --method pix, as for pixelate
        (("--render", "blocks", "--colour", "rgb"), None, None),  # the paper: not recorded
        (("--method", "dp-blur", "-k", 9), None, None),
        (("--method", "blur", "-k", 9, "--render", "smooth"), "smooth", "rgb"),
    ],
)
def test_video_render_and_colour(small_clip, tmp_path, args, render, colour):
    out = tmp_path / "o.mp4"
    result = run("video", small_clip, "-o", out, "-b", 8, "--seed", 1, *args)
    assert result.exit_code == 0, result.output
    params = _video_manifest(out)["parameters"]
    assert params.get("render") == render and params.get("colour") == colour
    assert ("colour_split" in params) == (colour == "luma-chroma")


def test_video_region_mode_takes_render(small_clip, tmp_path):
    import json

    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([[4, 4, 24, 24]]))
    out = tmp_path / "r.mp4"
    result = run(
        "video", small_clip, "-o", out, "--boxes", boxes, "-b", 4, "--render", "smooth",
        "--colour", "ycocg", "--seed", 2,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = _video_manifest(out)
    assert manifest["mechanism"] == "dp_pix_regions"
    assert manifest["parameters"]["render"] == "smooth"
    assert manifest["parameters"]["colour"] == "luma-chroma"


def test_video_bad_method_or_render(small_clip, tmp_path):
    for args, message in ((("--method", "np-pix"), "--method"), (("--render", "x"), "--render")):
        result = run("video", small_clip, "-o", tmp_path / "x.mp4", *args)
        assert result.exit_code == 2 and message in result.stderr, result.output


def test_pixelate_region_mode_takes_render_and_colour(tmp_path):
    import json

    from dpimage.regions.release import dp_pix_regions

    img = _photo(tmp_path / "in.png")
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([[8, 4, 32, 24]]))
    target = tmp_path / "out" / "x.png"
    args = ("--boxes", boxes, "--mask-scale", 1, "-b", 4, "--seed", 5)
    result = run("pixelate", tmp_path / "in.png", "-o", target, *args)
    assert result.exit_code == 0, result.output
    out = _out(target)
    # pixels outside the box are untouched; inside, the library's smooth luma/chroma release
    np.testing.assert_array_equal(out[:4], img[:4])
    want = dp_pix_regions(img, [(8, 4, 40, 28)], b=4, rng=seeded_rng(5, "x.png"),
                          render="smooth", colour="luma-chroma")  # fmt: skip
    np.testing.assert_array_equal(out, want)
