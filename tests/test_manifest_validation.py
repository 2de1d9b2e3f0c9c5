"""An existing manifest with wrong fields is refused before anything is written, naming it.

A manifest that is valid JSON but whose fields have the wrong types
(``"total_epsilon": "a"``, ``"outputs": 5``) used to be found only at the end
of a run, after every output had been overwritten (or crashed with a
traceback). The run now checks it before it reads any input.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import copy_sample, make_images, run
from dpimage.io import read_manifest

MANIFEST = "dpimage-manifest.json"

#: (what is changed, how) -> the manifest a run finds
BREAKAGES = {
    "total_epsilon text": lambda m: m.update(total_epsilon="a"),
    "outputs a number": lambda m: m.update(outputs=5),
    "epsilon text": lambda m: m["outputs"][0].update(epsilon="x"),
    "epsilon infinite": lambda m: m["outputs"][0].update(epsilon=1e400),
    "releases negative": lambda m: m["outputs"][0].update(releases=-1),
    "path a number": lambda m: m["outputs"][0].update(path=3),
    "runs a string": lambda m: m["outputs"][0].update(runs="abc"),
    "sampler a list": lambda m: m.update(sampler=[1]),
    "previous_runs a number": lambda m: m.update(previous_runs=3),
    "previous run without outputs": lambda m: m.update(previous_runs=[{"total_epsilon": 1}]),
}


def corrupt(path: Path, breakage: str) -> bytes:
    manifest = json.loads(path.read_text())
    BREAKAGES[breakage](manifest)
    path.write_text(json.dumps(manifest))
    return path.read_bytes()


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_batch_refuses_a_broken_manifest_before_writing(tmp_path, breakage):
    make_images(tmp_path / "in", 3)
    out = tmp_path / "out"
    assert run("pixelate", tmp_path / "in", "-o", out, "-b", 8, "--seed", 1).exit_code == 0
    corrupt(out / MANIFEST, breakage)
    before = snapshot(out)
    result = run("pixelate", tmp_path / "in", "-o", out, "-b", 8, "--seed", 2, "--overwrite")
    assert result.exit_code == 2, result.output
    errors = error_lines(result)
    assert len(errors) == 1 and str(out / MANIFEST) in errors[0], errors
    assert snapshot(out) == before  # no output overwritten, the manifest as it was


@pytest.mark.parametrize("breakage", ["total_epsilon text", "outputs a number", "epsilon text"])
def test_video_refuses_a_broken_manifest_before_writing(tmp_path, breakage):
    pytest.importorskip("av")
    from test_output_lock import write_clip

    clip = tmp_path / "in" / "clip.mp4"
    clip.parent.mkdir()
    write_clip(clip)
    out = tmp_path / "out" / "clip-dp.mp4"
    assert run("video", clip, "-o", out, "-b", 8, "--seed", 1).exit_code == 0
    manifest = out.with_name(out.name + ".manifest.json")
    corrupt(manifest, breakage)
    before = snapshot(out.parent)
    result = run("video", clip, "-o", out, "-b", 8, "--seed", 2, "--overwrite")
    assert result.exit_code == 2, result.output
    errors = error_lines(result)
    assert len(errors) == 1 and str(manifest) in errors[0], errors
    assert snapshot(out.parent) == before


@pytest.mark.parametrize("breakage", ["total_epsilon text", "outputs a number", "runs a string"])
def test_tune_preview_refuses_a_broken_manifest_before_writing(tmp_path, breakage):
    [photo] = make_images(tmp_path / "in", 1)
    out = tmp_path / "out"
    out.mkdir()
    preview = out / "preview.png"
    args = ("tune", photo, "--pixels", 16, "--eps-grid", "0.5", "--ssim-runs", 0,
            "--preview", preview)  # fmt: skip
    assert run(*args).exit_code == 0
    manifest = out / "preview.png.manifest.json"
    corrupt(manifest, breakage)
    before = snapshot(out)
    result = run(*args, "--overwrite")
    assert result.exit_code == 2, result.output
    errors = error_lines(result)
    assert len(errors) == 1 and str(manifest) in errors[0], errors
    assert snapshot(out) == before  # the preview not replaced, the manifest as it was


def test_process_video_checks_the_manifest_before_reading_the_clip(tmp_path):
    """The library entry checks it too (the CLI's early check is not the only one)."""
    pytest.importorskip("av")
    from dpimage.video import VideoSettings, process_video, run_to_end

    out = tmp_path / "o.mp4"
    manifest = tmp_path / "o.mp4.manifest.json"
    manifest.write_text(json.dumps({"mechanism": "dp_pix", "outputs": 5}))
    with pytest.raises(ValueError, match=re.escape("o.mp4.manifest.json")):
        run_to_end(process_video(tmp_path / "missing.mp4", out, VideoSettings(b=8, seed=1)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4.manifest.json"]


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_read_manifest_names_the_file_and_the_field(tmp_path, breakage):
    make_images(tmp_path / "in", 1)
    out = tmp_path / "out"
    assert run("pixelate", tmp_path / "in", "-o", out, "-b", 8, "--seed", 1).exit_code == 0
    corrupt(out / MANIFEST, breakage)
    with pytest.raises(ValueError) as caught:
        read_manifest(out / MANIFEST)
    message = str(caught.value)
    assert str(out / MANIFEST) in message and "\n" not in message


def test_a_valid_manifest_still_reads(tmp_path):
    make_images(tmp_path / "in", 2)
    out = tmp_path / "out"
    assert run("pixelate", tmp_path / "in", "-o", out, "-b", 8, "--seed", 1).exit_code == 0
    assert run("pixelate", tmp_path / "in", "-o", out, "-b", 16, "--seed", 1, "--overwrite")
    manifest = read_manifest(out / MANIFEST)
    assert manifest is not None and len(manifest["previous_runs"]) == 1


def test_runs_at_different_m_are_totalled_against_the_largest_m(tmp_path):
    # eps at m=4 protects 4-pixel changes; against 16-pixel neighbours that release
    # gives 4x its eps. The plain sum (1.0 here) under-counted it.
    src = copy_sample("camera.png", tmp_path / "in" / "camera.png")
    out = tmp_path / "out"
    assert run("pixelate", src, "-o", out, "-m", "4", "-e", "0.5", "--seed", "1").exit_code == 0
    args = ("pixelate", src, "-o", out, "-m", "16", "-e", "0.5", "--seed", "2", "--overwrite")
    assert run(*args).exit_code == 0
    manifest = json.loads((out / "dpimage-manifest.json").read_text())
    assert manifest["all_runs_m"] == 16
    assert manifest["total_epsilon_all_runs"] == pytest.approx(0.5 * 16 / 4 + 0.5)
    # the same settings again add their eps: the m=4 run (2.0 at m=16) and 2 x 0.5
    again = ("pixelate", src, "-o", out, "-m", "16", "-e", "0.5", "--seed", "3", "--overwrite")
    assert run(*again).exit_code == 0
    manifest = json.loads((out / "dpimage-manifest.json").read_text())
    assert manifest["total_epsilon_all_runs"] == pytest.approx(2.0 + 1.0)
