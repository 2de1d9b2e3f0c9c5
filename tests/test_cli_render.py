"""``--render`` and ``--colour`` on the release commands: defaults, choices, what is written."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import dpimage
from conftest import run
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
