"""Tests for the ``dpimage`` command line, on the real bundled photographs.

Runs that compare output content use ``--seed``. Small cells and small
kernels keep the module fast; one blur run uses the defaults.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

import dpimage
from conftest import PLANTED_DESCRIPTION, PLANTED_GPS, SAMPLES, copy_sample, run, tagged_jpeg
from dpimage.cli._common import option_group
from dpimage.privacy import SEEDED_WARNING

MANIFEST_KEYS = {
    "manifest_version",
    "dpimage_version",
    "created_utc",
    "command",
    "mechanism",
    "parameters",
    "privacy_model",
    "private_release",
    "sampler",
    "outputs",
    "releases",
    "epsilon_per_output",
    "total_epsilon",
    "total_epsilon_all_runs",
    "composition",
    "accountant",
}


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def summary(result) -> str:
    lines = result.stdout.strip().splitlines()
    assert lines, result.output
    return lines[-1]


def load(path: Path) -> Image.Image:
    with Image.open(path) as im:
        im.load()
        return im




def all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


# ---------------------------------------------------------------------------
# Basic runs
# ---------------------------------------------------------------------------


def test_version():
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"dpimage {dpimage.__version__}"


def test_single_file_to_file(tmp_path):
    source = copy_sample("chelsea.jpg", tmp_path / "chelsea.jpg")
    out = tmp_path / "out.jpg"
    result = run("pixelate", source, "-o", out, "-b", 8, "--seed", 1)
    assert result.exit_code == 0, result.output
    im = load(out)
    assert im.mode == "RGB" and im.size == (451, 300)
    assert summary(result).startswith("1 written, 0 skipped, 0 failed;")
    assert "total ε = 0.5 (m=16)" in summary(result)
    manifest = json.loads((tmp_path / "out.jpg.manifest.json").read_text(encoding="utf-8"))
    assert [(o["path"], o["epsilon"], o["releases"]) for o in manifest["outputs"]] == [
        ("out.jpg", 0.5, 1)
    ]
    assert SEEDED_WARNING in result.stderr


def test_directory_tree_is_mirrored(tmp_path):
    src = tmp_path / "in"
    copy_sample("chelsea.jpg", src / "chelsea.jpg")
    copy_sample("camera.png", src / "gray" / "camera.png")
    copy_sample("coffee.jpg", src / "gray" / "deeper" / "coffee.jpg")
    copy_sample("astronaut.jpg", src / ".hidden.jpg")
    (src / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    result = run("pixelate", src, "-o", out, "-b", 8, "-e", 1.5, "--seed", 3)
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(out).as_posix() for p in all_files(out))
    assert written == [
        "chelsea.jpg",
        "dpimage-manifest.json",
        "gray/camera.png",
        "gray/deeper/coffee.jpg",
    ]
    assert load(out / "gray" / "camera.png").mode == "L"
    assert load(out / "chelsea.jpg").mode == "RGB"
    assert load(out / "gray" / "deeper" / "coffee.jpg").size == (600, 400)
    assert summary(result).startswith("3 written, 0 skipped, 0 failed;")
    assert "ε spent per image = 1.5, total ε = 4.5 (m=16)" in summary(result)


def test_grid_output_size(tmp_path):
    source = copy_sample("chelsea.jpg", tmp_path / "chelsea.jpg")
    out = tmp_path / "grid.png"
    result = run("pixelate", source, "-o", out, "-b", 8, "--grid", "--seed", 1)
    assert result.exit_code == 0, result.output
    assert load(out).size == (math.ceil(451 / 8), math.ceil(300 / 8))
    manifest = json.loads((tmp_path / "grid.png.manifest.json").read_text(encoding="utf-8"))
    assert manifest["parameters"] == {
        "b": 8, "m": 16, "eps": 0.5, "output": "grid", "render": "blocks", "colour": "rgb",
    }  # fmt: skip


def test_seed_reproducible(tmp_path):
    source = copy_sample("camera.png", tmp_path / "camera.png")
    outs = [tmp_path / name for name in ("a", "b", "c")]
    for out, seed in zip(outs, (5, 5, 6), strict=True):
        args = ("-b", 8, "--seed", seed, "--render", "blocks")
        assert run("pixelate", source, "-o", out / "x.png", *args).exit_code == 0
    first, second, other = (np.asarray(load(o / "x.png")) for o in outs)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)
    assert first.shape == (512, 512)
    assert np.all(first[:8, :8] == first[0, 0])  # one value per 8x8 cell


def test_seeded_output_independent_of_batch(tmp_path):
    alone, together = tmp_path / "alone", tmp_path / "together"
    copy_sample("camera.png", alone / "camera.png")
    copy_sample("camera.png", together / "camera.png")
    copy_sample("astronaut.jpg", together / "astronaut.jpg")
    for src in (alone, together):
        result = run("pixelate", src, "-o", tmp_path / f"out-{src.name}", "-b", 8, "--seed", 1)
        assert result.exit_code == 0, result.output
    a = (tmp_path / "out-alone" / "camera.png").read_bytes()
    b = (tmp_path / "out-together" / "camera.png").read_bytes()
    assert a == b


def test_format_option(tmp_path):
    src = tmp_path / "in"
    copy_sample("chelsea.jpg", src / "chelsea.jpg")
    copy_sample("coffee.jpg", src / "sub" / "coffee.jpg")
    out = tmp_path / "out"
    result = run("pixelate", src, "-o", out, "-b", 8, "--seed", 1, "--format", "png")
    assert result.exit_code == 0, result.output
    assert (out / "chelsea.png").exists() and (out / "sub" / "coffee.png").exists()
    assert load(out / "chelsea.png").format == "PNG"


def test_blur_defaults(tmp_path):
    source = copy_sample("chelsea.jpg", tmp_path / "chelsea.jpg")
    out = tmp_path / "blurred.png"
    result = run("blur", source, "-o", out, "--seed", 2)
    assert result.exit_code == 0, result.output
    assert load(out).size == (451, 300) and load(out).mode == "RGB"
    manifest = json.loads((tmp_path / "blurred.png.manifest.json").read_text(encoding="utf-8"))
    assert manifest["mechanism"] == "dp_blur"
    assert manifest["parameters"] == {
        "b0": 4, "k": 99, "sigma": None, "m": 16, "eps": 0.5, "render": "blocks", "colour": "rgb",
    }  # fmt: skip


def test_blur_small_kernel_gray(tmp_path):
    source = copy_sample("camera.png", tmp_path / "camera.png")
    out = tmp_path / "b.png"
    result = run("blur", source, "-o", out, "--b0", 8, "-k", 9, "--sigma", 2, "-m", 4, "--seed", 1)
    assert result.exit_code == 0, result.output
    assert load(out).mode == "L" and load(out).size == (512, 512)
    assert "(m=4)" in summary(result)


def test_secure_run_manifest(tmp_path):
    source = copy_sample("camera.png", tmp_path / "camera.png")
    out = tmp_path / "secure.png"
    result = run("pixelate", source, "-o", out, "-b", 32)
    assert result.exit_code == 0, result.output
    assert "WARNING" not in result.stderr
    manifest = json.loads((tmp_path / "secure.png.manifest.json").read_text(encoding="utf-8"))
    assert manifest["sampler"]["kind"] == "secure"
    assert manifest["private_release"] is True
    assert "seed" not in manifest["sampler"]


# ---------------------------------------------------------------------------
# Manifest content and metadata
# ---------------------------------------------------------------------------


def test_manifest_content_and_no_input_data(tmp_path):
    src = tmp_path / "in"
    tagged = tagged_jpeg(src / "tagged.jpg")
    copy_sample("camera.png", src / "camera.png")
    out = tmp_path / "out"
    result = run("pixelate", src, "-o", out, "-b", 8, "-m", 4, "-e", 0.25, "--seed", 9)
    assert result.exit_code == 0, result.output

    manifest_path = out / "dpimage-manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert set(manifest) == MANIFEST_KEYS | {"warning"}
    assert manifest["dpimage_version"] == dpimage.__version__
    assert manifest["command"] == "pixelate" and manifest["mechanism"] == "dp_pix"
    split = manifest["parameters"].pop("colour_split")
    assert manifest["parameters"] == {
        "b": 8, "m": 4, "eps": 0.25, "output": "blocks", "render": "smooth",
        "colour": "luma-chroma",
    }  # fmt: skip
    # where eps goes, from the parameters alone (the CLI default is luma/chroma)
    assert split["transform"] == "ycocg" and split["b_luma"] == 8
    # the exact worst case of the three channels together spends all of eps, no more
    assert split["eps_bound"] == split["eps_luma"] == 0.25 and split["bound"].startswith("max")
    assert split["b_chroma"] % 8 == 0 and "RGB" in split["applies_to"]
    assert manifest["privacy_model"].startswith("m-neighbourhood")
    assert manifest["sampler"]["kind"] == "seeded" and manifest["sampler"]["seed"] == 9
    assert "NOT a private release" in manifest["warning"]
    assert manifest["private_release"] is False
    assert [(o["path"], o["epsilon"], o["releases"]) for o in manifest["outputs"]] == [
        ("camera.png", 0.25, 1),
        ("tagged.jpg", 0.25, 1),
    ]
    assert manifest["total_epsilon"] == pytest.approx(0.5)
    assert "same content" in manifest["composition"]

    # Nothing derived from the inputs: no metadata, no sizes, no hashes, no input paths.
    text = manifest_path.read_text(encoding="utf-8")
    for forbidden in (
        PLANTED_GPS,
        PLANTED_DESCRIPTION,
        str(src),
        str(tagged.stat().st_size),
        "width",
        "height",
        "exif",
        "gps",
    ):
        assert forbidden.lower() not in text.lower(), forbidden
    assert not any("hash" in key or "sha" in key for key in _all_keys(manifest))
    for path in all_files(out):
        data = path.read_bytes()
        assert PLANTED_GPS.encode() not in data
        assert PLANTED_DESCRIPTION.encode() not in data


def _all_keys(value) -> list[str]:
    if isinstance(value, dict):
        return [k for k in value] + [k for v in value.values() for k in _all_keys(v)]
    if isinstance(value, list):
        return [k for v in value for k in _all_keys(v)]
    return []


def test_exif_orientation_and_gps_stripped(tmp_path):
    source = tagged_jpeg(tmp_path / "tagged.jpg")
    with Image.open(source) as im:
        assert im.getexif()[0x0112] == 6  # the planted tags are really there
    out = tmp_path / "upright.jpg"
    result = run("pixelate", source, "-o", out, "-b", 4, "--seed", 1)
    assert result.exit_code == 0, result.output
    im = load(out)
    assert im.size == (300, 451)  # rotated upright: portrait
    assert len(im.getexif()) == 0 and "exif" not in im.info
    data = out.read_bytes()
    assert b"Exif\x00\x00" not in data
    assert PLANTED_GPS.encode() not in data and PLANTED_DESCRIPTION.encode() not in data


# ---------------------------------------------------------------------------
# Bad inputs among good ones
# ---------------------------------------------------------------------------


def test_broken_file_among_good_ones(tmp_path):
    src = tmp_path / "in"
    copy_sample("chelsea.jpg", src / "a.jpg")
    copy_sample("camera.png", src / "c.png")
    data = (SAMPLES / "coffee.jpg").read_bytes()
    (src / "b-broken.jpg").write_bytes(data[: len(data) // 3])
    out = tmp_path / "out"
    result = run("pixelate", src, "-o", out, "-b", 8, "--seed", 1)
    assert result.exit_code == 1
    assert (out / "a.jpg").exists() and (out / "c.png").exists()
    assert not (out / "b-broken.jpg").exists()
    errors = error_lines(result)
    assert len(errors) == 1 and "b-broken.jpg" in errors[0]
    assert summary(result).startswith("2 written, 0 skipped, 1 failed;")
    manifest = json.loads((out / "dpimage-manifest.json").read_text(encoding="utf-8"))
    assert [o["path"] for o in manifest["outputs"]] == ["a.jpg", "c.png"]


def test_unreadable_inputs_each_named(tmp_path):
    good = copy_sample("chelsea.jpg", tmp_path / "good.jpg")
    text = tmp_path / "text.jpg"
    text.write_text("hello, I am not a JPEG\n")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.png"
    out = tmp_path / "out"
    result = run("pixelate", good, text, empty, missing, "-o", out, "-b", 8, "--seed", 1)
    assert result.exit_code == 1
    assert (out / "good.jpg").exists()
    errors = error_lines(result)
    assert len(errors) == 3
    assert any("text.jpg" in e and "not an image" in e for e in errors)
    assert any("empty.png" in e and "empty" in e for e in errors)
    assert any("missing.png" in e and "no such file" in e for e in errors)
    assert summary(result).startswith("1 written, 0 skipped, 3 failed;")


def test_single_missing_input(tmp_path):
    result = run("pixelate", tmp_path / "nope.jpg", "-o", tmp_path / "out.jpg", "--seed", 1)
    assert result.exit_code == 1
    assert len(error_lines(result)) == 1 and "nope.jpg" in error_lines(result)[0]
    assert not (tmp_path / "out.jpg").exists()


def test_no_images_found(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "readme.txt").write_text("x")
    result = run("pixelate", tmp_path / "in", "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "no images found" in result.stderr


def test_rgba_png_alpha_dropped(tmp_path):
    rgb = np.asarray(load(SAMPLES / "chelsea.jpg"))
    alpha = np.full(rgb.shape[:2], 200, np.uint8)
    source = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([rgb, alpha])).save(source)
    out = tmp_path / "out.png"
    result = run("pixelate", source, "-o", out, "-b", 8, "--seed", 1)
    assert result.exit_code == 0, result.output
    assert load(out).mode == "RGB"
    assert "alpha" in result.stderr


def test_palette_gif(tmp_path):
    source = tmp_path / "cat.gif"
    Image.fromarray(np.asarray(load(SAMPLES / "chelsea.jpg"))).save(source)
    out = tmp_path / "out.gif"
    result = run("pixelate", source, "-o", out, "-b", 8, "--seed", 1)
    assert result.exit_code == 0, result.output
    assert load(out).size == (451, 300)
    assert "palette" in result.stderr


def test_16_bit_png(tmp_path):
    gray = np.asarray(load(SAMPLES / "camera.png"))
    source = tmp_path / "deep.png"
    Image.fromarray(gray.astype(np.uint16) * 256).save(source)
    out = tmp_path / "out.png"
    result = run("pixelate", source, "-o", out, "-b", 8, "--seed", 1)
    assert result.exit_code == 0, result.output
    assert load(out).mode == "L"
    assert "16-bit" in result.stderr


def test_cmyk_jpeg(tmp_path):
    source = tmp_path / "cmyk.jpg"
    load(SAMPLES / "coffee.jpg").convert("CMYK").save(source)
    out = tmp_path / "out.jpg"
    result = run("pixelate", source, "-o", out, "-b", 8, "--seed", 1)
    assert result.exit_code == 0, result.output
    assert load(out).mode == "RGB"
    assert "CMYK" in result.stderr


def test_animated_gif_rejected(tmp_path):
    gray = np.asarray(load(SAMPLES / "camera.png"))
    frames = [Image.fromarray(gray), Image.fromarray(255 - gray)]
    source = tmp_path / "anim.gif"
    frames[0].save(source, save_all=True, append_images=frames[1:], loop=0)
    result = run("pixelate", source, "-o", tmp_path / "out.gif", "--seed", 1)
    assert result.exit_code == 1
    assert "has 2 frames" in error_lines(result)[0]


def test_decompression_bomb_limit(tmp_path):
    src = tmp_path / "in"
    copy_sample("chelsea.jpg", src / "big.jpg")
    out = tmp_path / "out"
    result = run("pixelate", src, "-o", out, "--max-pixels", 1000, "--seed", 1)
    assert result.exit_code == 1
    errors = error_lines(result)
    assert len(errors) == 1
    assert "big.jpg" in errors[0] and "--max-pixels" in errors[0]
    # Raising the limit makes the same file go through.
    ok = run("pixelate", src, "-o", out, "--max-pixels", 451 * 300, "-b", 8, "--seed", 1)
    assert ok.exit_code == 0, ok.output


def test_pillow_default_limit_applies(tmp_path, monkeypatch):
    source = copy_sample("camera.png", tmp_path / "camera.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    result = run("pixelate", source, "-o", tmp_path / "out.png", "--seed", 1)
    assert result.exit_code == 1
    assert "--max-pixels" in error_lines(result)[0]
    assert Image.MAX_IMAGE_PIXELS == 1000


# ---------------------------------------------------------------------------
# Outputs: unwritable places, unicode, overwrite, never the input
# ---------------------------------------------------------------------------


def test_output_parent_is_a_file(tmp_path):
    source = copy_sample("camera.png", tmp_path / "camera.png")
    blocker = tmp_path / "blocker"
    blocker.write_text("I am a file")
    result = run("pixelate", source, "-o", blocker / "out.png", "-b", 8, "--seed", 1)
    assert result.exit_code == 1
    errors = error_lines(result)
    # refused before the input is read: the line names the output
    assert len(errors) == 1 and "out.png" in errors[0]
    assert "blocker is a file, not a directory" in errors[0]
    assert blocker.read_text() == "I am a file"


def _lock_directory(path: Path) -> Callable[[], None]:
    """Make ``path`` unwritable even for root; return the undo function.

    ``chmod 0o555`` is enough for ordinary users. Root ignores permissions, so
    there the directory is also made immutable (``chattr +i``), which root's
    writes cannot bypass either.
    """
    path.chmod(0o555)
    if os.access(path, os.W_OK):
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
        if done.returncode != 0:
            path.chmod(0o755)
            pytest.skip("cannot make a directory read-only for this user (no chattr +i)")

        def undo() -> None:
            subprocess.run(["chattr", "-i", str(path)], check=False)
            path.chmod(0o755)

        return undo
    return lambda: path.chmod(0o755)


def test_read_only_output_directory(tmp_path):
    source = copy_sample("camera.png", tmp_path / "camera.png")
    before = source.read_bytes()
    locked = tmp_path / "locked"
    locked.mkdir()
    unlock = _lock_directory(locked)
    try:
        result = run("pixelate", source, "-o", locked / "out.png", "-b", 8, "--seed", 1)
        assert result.exit_code == 1
        errors = error_lines(result)
        # refused before the input is read: the line names the output
        assert len(errors) == 1 and "out.png" in errors[0]
        assert "Traceback" not in result.output
        assert list(locked.iterdir()) == []
        assert source.read_bytes() == before
    finally:
        unlock()


def test_permission_error_named_and_batch_continues(tmp_path, monkeypatch):
    # Root ignores directory permissions, so simulate the refusal at the one
    # place the writer creates files.
    import dpimage.io.atomic as files

    real_open_temp = files._open_temp

    def refuse_for_camera(directory):
        if directory.name == "gray":
            raise PermissionError(13, "Permission denied", str(directory / ".dpimage-x.tmp"))
        return real_open_temp(directory)

    monkeypatch.setattr(files, "_open_temp", refuse_for_camera)
    src = tmp_path / "in"
    copy_sample("camera.png", src / "gray" / "camera.png")
    copy_sample("chelsea.jpg", src / "chelsea.jpg")
    out = tmp_path / "out"
    # --workers 1: the monkeypatch lives in this process only.
    result = run("pixelate", src, "-o", out, "-b", 8, "--seed", 1, "--workers", 1)
    assert result.exit_code == 1
    errors = error_lines(result)
    assert len(errors) == 1
    assert "camera.png" in errors[0] and "Permission denied" in errors[0]
    assert ".dpimage-" not in errors[0]
    assert (out / "chelsea.jpg").exists()
    assert summary(result).startswith("1 written, 0 skipped, 1 failed;")


def test_unicode_paths(tmp_path):
    folder = tmp_path / "фото ü 写真"
    source = copy_sample("chelsea.jpg", folder / "kätzchen.jpg")
    single = tmp_path / "résultat" / "kätzchen-ü.jpg"
    result = run("pixelate", source, "-o", single, "-b", 8, "--seed", 1)
    assert result.exit_code == 0, result.output
    assert load(single).size == (451, 300)
    out = tmp_path / "ausgabe 出力"
    result = run("blur", folder, "-o", out, "--b0", 8, "-k", 9, "--seed", 1)
    assert result.exit_code == 0, result.output
    assert (out / "kätzchen.jpg").exists()
    manifest = json.loads((out / "dpimage-manifest.json").read_text(encoding="utf-8"))
    assert manifest["outputs"][0]["path"] == "kätzchen.jpg"


def test_existing_outputs_skipped_unless_overwrite(tmp_path):
    src = tmp_path / "in"
    copy_sample("camera.png", src / "camera.png")
    copy_sample("chelsea.jpg", src / "chelsea.jpg")
    out = tmp_path / "out"
    assert run("pixelate", src, "-o", out, "-b", 8, "--seed", 1).exit_code == 0
    before = (out / "camera.png").read_bytes()

    again = run("pixelate", src, "-o", out, "-b", 8, "--seed", 2)
    assert again.exit_code == 0
    assert summary(again).startswith("0 written, 2 skipped, 0 failed;")
    assert "total ε = 1 " in summary(again)  # the first run's releases still count
    assert (out / "camera.png").read_bytes() == before
    assert "skipped" in again.stderr and "--overwrite" in again.stderr

    forced = run("pixelate", src, "-o", out, "-b", 8, "--seed", 2, "--overwrite")
    assert forced.exit_code == 0
    assert summary(forced).startswith("2 written, 0 skipped, 0 failed;")
    assert (out / "camera.png").read_bytes() != before


def test_never_writes_onto_the_input(tmp_path):
    source = copy_sample("chelsea.jpg", tmp_path / "chelsea.jpg")
    before = source.read_bytes()
    result = run("pixelate", source, "-o", source, "--overwrite", "-b", 8, "--seed", 1)
    assert result.exit_code == 1
    assert "input" in error_lines(result)[0]
    assert source.read_bytes() == before
    # The whole directory as its own output: every file refused, nothing changed.
    copy_sample("camera.png", tmp_path / "camera.png")
    snapshot = {p: p.read_bytes() for p in all_files(tmp_path)}
    result = run("pixelate", tmp_path, "-o", tmp_path, "--overwrite", "-b", 8, "--seed", 1)
    assert result.exit_code == 1
    assert len(error_lines(result)) == 2
    assert {p: p.read_bytes() for p in all_files(tmp_path)} == snapshot


def test_no_temporary_files_left(tmp_path):
    src = tmp_path / "in"
    copy_sample("camera.png", src / "camera.png")
    copy_sample("chelsea.jpg", src / "x" / "chelsea.jpg")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    run("pixelate", src, "-o", tmp_path / "out", "-b", 8, "--seed", 1)
    run("blur", src, "-o", tmp_path / "out2", "--b0", 8, "-k", 9, "--seed", 1)
    leftovers = [p for p in tmp_path.rglob("*") if p.name.startswith(".dpimage-")]
    assert leftovers == []


# ---------------------------------------------------------------------------
# Bad parameters: one line, nothing read or written
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (["pixelate", "-b", "0"], "b"),
        (["pixelate", "-m", "0"], "m"),
        (["pixelate", "-e", "-1"], "eps"),
        (["pixelate", "-e", "nan"], "eps"),
        (["pixelate", "-e", "inf"], "eps"),
        (["pixelate", "--quality", "0"], "quality"),
        (["pixelate", "--format", "xyz"], "format"),
        (["pixelate", "--seed", "-3"], "seed"),
        (["pixelate", "--max-pixels", "0"], "max-pixels"),
        (["blur", "-k", "10"], "k"),
        (["blur", "--b0", "0"], "b0"),
        (["blur", "--sigma", "-1", "-k", "9"], "sigma"),
        (["blur", "-e", "0"], "eps"),
    ],
)
def test_bad_parameters(tmp_path, args, word):
    source = copy_sample("camera.png", tmp_path / "camera.png")
    out = tmp_path / "out"
    result = run(*args, source, "-o", out)
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:") and word in lines[0]
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["camera.png"]


def test_format_contradicting_output_name(tmp_path):
    source = copy_sample("camera.png", tmp_path / "camera.png")
    result = run("pixelate", source, "-o", tmp_path / "o.jpg", "--format", "png")
    assert result.exit_code == 2
    assert len(error_lines(result)) == 1
    assert not (tmp_path / "o.jpg").exists()


# ---------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------


def test_compare_side_by_side(tmp_path):
    source = copy_sample("chelsea.jpg", tmp_path / "chelsea.jpg")
    out = tmp_path / "compare.png"
    result = run("compare", source, "-o", out, "-b", 16, "--b0", 8, "-k", 15, "--seed", 4)
    assert result.exit_code == 0, result.output
    im = load(out)
    assert im.mode == "RGB" and im.format == "PNG"
    assert im.width > 6 * 451 and 300 < im.height < 420  # six panels
    assert "not a private release" in result.stderr
    # Like every other command, an existing output is kept unless --overwrite;
    # the input is never a valid target, not even with --overwrite.
    first = out.read_bytes()
    kept = run("compare", source, "-o", out, "--seed", 5, "-k", 15)
    assert kept.exit_code == 0 and "skipped" in kept.stderr and out.read_bytes() == first
    replaced = run("compare", source, "-o", out, "--seed", 5, "-k", 15, "--overwrite")
    assert replaced.exit_code == 0 and out.read_bytes() != first
    before = source.read_bytes()
    refused = run("compare", source, "-o", source, "--seed", 4, "-k", 15, "--overwrite")
    assert refused.exit_code == 2 and source.read_bytes() == before
    assert len(error_lines(refused)) == 1


def test_compare_bad_parameter(tmp_path):
    source = copy_sample("camera.png", tmp_path / "camera.png")
    result = run("compare", source, "-o", tmp_path / "c.png", "-k", 4)
    assert result.exit_code == 2
    assert len(error_lines(result)) == 1


# ---------------------------------------------------------------------------
# Notices and refusals a user meets (16-bit, damaged EXIF, -o named like a file)
# ---------------------------------------------------------------------------


def test_16_bit_rgb_png_gets_a_notice(tmp_path):
    import cv2

    ramp = (np.arange(24 * 32 * 3).reshape(24, 32, 3) * 97 % 65536).astype(np.uint16)
    src = tmp_path / "deep.png"
    assert cv2.imwrite(str(src), ramp)
    result = run("pixelate", src, "-o", tmp_path / "out.png", "-b", 8, "--seed", 1)
    assert result.exit_code == 0, result.output
    assert "16-bit image reduced to 8 bits" in result.stderr


def test_corrupt_exif_is_a_one_line_notice(tmp_path):
    import io

    from PIL import Image

    broken_exif = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05\x01\x12\x00\x03\x00\x00\x00\x01"
    buf = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), 100, np.uint8)).save(buf, "JPEG", exif=broken_exif)
    src = tmp_path / "exif.jpg"
    src.write_bytes(buf.getvalue())
    result = run("pixelate", src, "-o", tmp_path / "out.jpg", "-b", 8, "--seed", 1)
    assert result.exit_code == 0, result.output
    assert "UserWarning" not in result.stderr and "warnings.warn" not in result.stderr
    notes = [ln for ln in result.stderr.splitlines() if "Corrupt EXIF" in ln]
    assert len(notes) == 1 and notes[0].startswith("note:")


def test_directory_input_with_image_named_output_is_refused(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    copy_sample("camera.png", src / "camera.png")
    result = run("pixelate", src, "-o", tmp_path / "foo.jpg", "--seed", 1)
    assert result.exit_code == 2
    assert len(error_lines(result)) == 1 and "foo.jpg" in error_lines(result)[0]
    assert not (tmp_path / "foo.jpg").exists()


def test_numbered_names_copy_nothing_of_the_input_names(tmp_path):
    src = tmp_path / "in"
    (src / "Anna Smith").mkdir(parents=True)
    copy_sample("camera.png", src / "Anna Smith" / "anna-at-home.png")
    copy_sample("chelsea.jpg", src / "bob.jpg")
    out = tmp_path / "out"
    result = run("pixelate", src, "-o", out, "-b", 8, "--seed", 1, "--numbered-names")
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    manifest_text = (out / "dpimage-manifest.json").read_text()
    assert [n for n in written if n != "dpimage-manifest.json"] == ["0001.png", "0002.jpg"]
    for word in ("Anna", "anna", "bob", "Smith"):
        assert word not in manifest_text
    # Deterministic: a rerun skips what is there.
    again = run("pixelate", src, "-o", out, "-b", 8, "--seed", 1, "--numbered-names")
    assert again.exit_code == 0 and "0 written, 2 skipped" in again.stdout


def test_numbered_target_is_pure():
    from dpimage.io.naming import numbered_target

    assert numbered_target(0, 3, Path("o/a/b.JPG"), Path("o")) == Path("o/0001.JPG")
    assert numbered_target(9999, 10000, Path("o/x.png"), Path("o")) == Path("o/10000.png")
    assert numbered_target(0, 10000, Path("o/x.png"), Path("o")) == Path("o/00001.png")
    with pytest.raises(ValueError):
        numbered_target(3, 3, Path("o/x.png"), Path("o"))


# ---------------------------------------------------------------------------
# One error convention in every command group
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["pixelate", "{img}", "-o", "{out}", "-b", "0"],
        ["pixelate", "{img}", "-o", "{out}", "-b", "abc"],  # Click's own parse error
        ["pixelate", "{img}"],  # missing option
        ["blur", "{img}", "-o", "{out}", "-k", "4"],
        ["blur", "{img}", "-o", "{out}", "--sigma", "-1"],
        ["compare", "{img}", "-o", "{out}", "-k", "4"],
        ["video", "{img}", "-o", "{out}", "-m", "0"],
        ["video", "{img}", "-o", "{out}", "--release-every", "0"],
        ["tune", "{img}", "--method", "nope", "--pixels", "9"],
        ["tune", "{img}"],
        ["eval", "attack", "-k", "4", "--template", "-o", "{out}"],
        ["eval", "sweep", "--seed", "-1", "-o", "{out}"],
        ["ambiguate", "encode", "{img}", "-o", "{out}", "--keys", "{out}", "--model", "{img}"],
        ["ambiguate", "decode", "{img}", "-o", "{out}"],  # no --model
    ],
)
def test_usage_errors_are_one_line_exit_2_everywhere(tmp_path, args):
    img = copy_sample("camera.png", tmp_path / "camera.png")
    out = tmp_path / "out"
    argv = [a.format(img=img, out=out) for a in args]
    result = run(*argv)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert not out.exists()


def test_failed_input_is_one_line_exit_1_everywhere(tmp_path):
    missing = tmp_path / "missing.png"
    for argv in (
        ["pixelate", missing, "-o", tmp_path / "o1.png"],
        ["compare", missing, "-o", tmp_path / "o2.png"],
        ["tune", missing, "--pixels", "9"],
        ["video", tmp_path / "missing.mp4", "-o", tmp_path / "o3.mp4"],
        ["eval", "plot", tmp_path / "missing.csv", "-o", tmp_path / "o4.png"],
    ):
        result = run(*argv)
        assert result.exit_code == 1, (argv, result.output)
        assert len(error_lines(result)) == 1, (argv, result.stderr)


def test_m_means_m_in_every_group():
    """``-m`` is the neighbourhood everywhere; ambiguate's model is --model."""
    help_text = run("ambiguate", "encode", "--help").stdout
    assert "--model" in help_text and "-m " not in help_text.replace("--model", "")


def test_sigma_zero_same_rule_in_cli_and_library(tmp_path):
    img = copy_sample("camera.png", tmp_path / "camera.png")
    pixels = np.asarray(Image.open(img))
    library = dpimage.dp_blur(pixels, b0=8, k=9, sigma=0, rng=3)  # 0: derived from k
    result = run(
        "blur", img, "-o", tmp_path / "o.png", "--b0", 8, "-k", 9, "--sigma", 0, "--seed", 3
    )
    assert result.exit_code == 0, result.output
    assert library.shape == pixels.shape
    with pytest.raises(ValueError, match="sigma"):
        dpimage.dp_blur(pixels, k=9, sigma=-1, rng=3)



@dataclass(frozen=True)
class _Shared:
    quality: Annotated[int, typer.Option("--quality")] = 95
    numbered: Annotated[bool, typer.Option("--numbered")] = False


def test_an_option_group_stands_in_place_of_its_parameter():
    """Options several commands share are one dataclass; Typer sees its fields in place."""
    seen = []

    def command(
        b: Annotated[int, typer.Option("-b")] = 16,
        shared: _Shared = _Shared(),
        last: Annotated[str, typer.Option("--last")] = "x",
    ) -> None:
        seen.append((b, shared, last))

    wrapped = option_group(command)
    assert list(inspect.signature(wrapped).parameters) == ["b", "quality", "numbered", "last"]
    app = typer.Typer()
    app.command()(wrapped)
    app.command("other")(lambda: None)  # two commands: the first is called by name
    result = CliRunner().invoke(app, ["command", "-b", "4", "--quality", "7", "--numbered"])
    assert result.exit_code == 0, result.output
    assert seen == [(4, _Shared(quality=7, numbered=True), "x")]

    def clash(quality: int = 1, shared: _Shared = _Shared()) -> None: ...

    with pytest.raises(TypeError, match="repeats"):
        option_group(clash)
