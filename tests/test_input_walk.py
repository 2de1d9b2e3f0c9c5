"""Input folders and single-file outputs: what is skipped is said, and why; bad outputs refused.

* inside an input folder, a link to a directory is not followed, and it, a
  looping or broken link and a FIFO are each named on one line with the
  reason, and counted as skipped in the summary;
* a single-file output that is a directory is a usage error before any work
  (compare, tune --preview), and a per-input error for pixelate / blur;
* on a console that cannot redraw (TERM=dumb, a log) no progress bar and so no
  empty line are printed before the summary.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import run
from dpimage.cli import app
from dpimage.io import plan_outputs

pytestmark = pytest.mark.skipif(os.name != "posix", reason="symbolic links and FIFOs")


def _png(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    _png(root / "a" / "one.png")
    elsewhere = tmp_path / "elsewhere"
    for i in range(3):
        _png(elsewhere / f"{i}.png", seed=i + 1)
    (root / "linked").symlink_to(elsewhere, target_is_directory=True)
    (root / "loop.png").symlink_to("loop.png")
    (root / "gone.jpg").symlink_to(tmp_path / "missing.jpg")
    os.mkfifo(root / "pipe.png")
    (root / "notes.txt").write_text("not an image")  # silently not an image
    return root


def test_plan_names_every_skipped_entry(tmp_path):
    root = _tree(tmp_path)
    plan = plan_outputs([root], tmp_path / "out")
    assert [job.name for job in plan.jobs] == ["a/one.png"]
    reasons = {path.name: reason for path, reason in plan.skipped}
    assert set(reasons) == {"linked", "loop.png", "gone.jpg", "pipe.png"}
    assert "not followed" in reasons["linked"]
    assert "looping" in reasons["loop.png"] and "broken" in reasons["gone.jpg"]
    assert "FIFO" in reasons["pipe.png"]


def test_cli_says_what_was_skipped_and_counts_it(tmp_path):
    root = _tree(tmp_path)
    result = run("pixelate", root, "-o", tmp_path / "out", "--seed", "1")
    assert result.exit_code == 0, result.output
    skipped = [line for line in result.output.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 4, result.output
    assert "1 written, 4 skipped, 0 failed" in result.output
    assert not (tmp_path / "out" / "linked").exists()


def test_a_linked_directory_named_as_input_is_released(tmp_path):
    root = _tree(tmp_path)
    result = run("pixelate", root / "linked", "-o", tmp_path / "out", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert "3 written" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["compare", "{src}", "-o", "{dir}"],
        ["compare", "{src}", "-o", "{dir}", "--overwrite"],
        ["compare", "{src}", "-o", "{noext}"],
        ["tune", "{src}", "--pixels", "50", "--ssim-runs", "0", "--preview", "{dir}"],
        ["tune", "{src}", "--pixels", "50", "--ssim-runs", "0", "--overwrite", "--preview={dir}"],
    ],
)
def test_directory_output_is_a_usage_error(tmp_path, args):
    source = _png(tmp_path / "in.png")
    target = tmp_path / "target.png"
    target.mkdir()
    names = {"src": source, "dir": target, "noext": tmp_path / "picture"}
    result = run(*[a.format(**names) for a in args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert list(target.iterdir()) == []


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_pixelate_output_that_is_a_directory_fails_that_input(tmp_path, overwrite):
    source = _png(tmp_path / "in.png")
    (tmp_path / "out" / "in.png").mkdir(parents=True)
    result = run("pixelate", source, "-o", tmp_path / "out", *overwrite)
    assert result.exit_code == 1, result.output
    assert "is a directory" in result.output and "already exists" not in result.output


def test_no_empty_line_before_the_summary_on_a_dumb_terminal(tmp_path):
    source = _png(tmp_path / "in.png")
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["pixelate", str(source), str(tmp_path / "missing.png"), "-o", str(tmp_path / "out")],
        env={"TERM": "dumb", "FORCE_TERMINAL": "1"},
    )
    assert result.exit_code == 1
    lines = result.output.splitlines()
    # Rich ends a bar on a console that cannot redraw with its last state and, on a
    # real dumb terminal, an empty line: no bar is drawn there at all
    assert not any(line.startswith("pixelate ") for line in lines), lines
    assert "" not in lines, lines
    assert lines[-1].startswith("1 written, 0 skipped, 1 failed")


# ---------------------------------------------------------------------------
# One real file, released once per run, however often the inputs reach it
# ---------------------------------------------------------------------------


def test_a_link_to_an_image_of_the_same_folder_is_released_once(tmp_path):
    root = tmp_path / "photos"
    _png(root / "a.png")
    (root / "b.png").symlink_to("a.png")
    plan = plan_outputs([root], tmp_path / "out")
    assert [job.name for job in plan.jobs] == ["a.png"]  # the first in input order
    [(path, reason)] = plan.skipped
    assert path == root / "b.png"
    assert reason == f"the same file as {root / 'a.png'} (a link); released once"


@pytest.mark.parametrize(
    ("again", "how"),
    [
        (lambda tmp: Path(os.path.relpath(tmp / "a.png")), "named twice in the inputs"),
        (lambda tmp: os.link(tmp / "a.png", tmp / "hard.png") or tmp / "hard.png", "a hard link"),
        (lambda tmp: (tmp / "ln.png").symlink_to(tmp / "a.png") or tmp / "ln.png", "a link"),
    ],
    ids=["same path", "hard link", "link"],
)
def test_two_inputs_that_are_one_file_are_released_once(tmp_path, monkeypatch, again, how):
    monkeypatch.chdir(tmp_path)
    first = _png(tmp_path / "a.png")
    second = again(tmp_path)
    plan = plan_outputs([first, second], tmp_path / "out")
    assert [job.source for job in plan.jobs] == [first] and not plan.problems
    [(path, reason)] = plan.skipped
    assert path == second and f"the same file as {first} ({how})" in reason


def test_a_file_inside_a_linked_folder_given_twice_is_released_once(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    _png(elsewhere / "x.png")
    (tmp_path / "view").symlink_to(elsewhere, target_is_directory=True)
    plan = plan_outputs([elsewhere, tmp_path / "view" / "x.png"], tmp_path / "out")
    assert [job.name for job in plan.jobs] == ["x.png"]
    [(path, reason)] = plan.skipped
    assert path == tmp_path / "view" / "x.png" and "through a linked folder" in reason


def test_cli_releases_a_linked_image_once_and_counts_it_skipped(tmp_path):
    root = tmp_path / "photos"
    _png(root / "a.png")
    _png(root / "c.png", seed=3)
    (root / "b.png").symlink_to("a.png")
    out = tmp_path / "out"
    result = run("pixelate", root, root / "a.png", "-o", out, "-e", "0.5", "--seed", "1")
    assert result.exit_code == 0, result.output
    skipped = [line for line in result.output.splitlines() if line.startswith("skipped ")]
    assert skipped == [
        f"skipped {root / 'b.png'}: the same file as {root / 'a.png'} (a link); released once",
        f"skipped {root / 'a.png'}: the same file as {root / 'a.png'} (named twice in the "
        "inputs); released once",
    ], result.output
    assert "2 written, 2 skipped, 0 failed" in result.output
    assert "total ε = 1" in result.output  # a.png and c.png, each once
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "a.png", "c.png", "dpimage-manifest.json",
    ]  # fmt: skip
