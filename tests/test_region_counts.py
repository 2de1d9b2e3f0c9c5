"""How many regions were released, per image and in total: the summary and the manifest say,
and the manifest says these counts derive from the image."""

from __future__ import annotations

import json
import shutil

from conftest import SAMPLES, run


def _manifest(folder):
    return json.loads((folder / "dpimage-manifest.json").read_text())


def test_pixelate_counts_regions_per_image_and_in_total(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("astronaut.jpg", "camera.png"):
        shutil.copy(SAMPLES / name, inputs / name)
    boxes = tmp_path / "b.json"
    # three boxes; the third lies wholly outside the 512x512 photos, so it is no region
    boxes.write_text("[[10, 20, 30, 40], [100, 100, 50, 50], [900, 900, 10, 10]]")
    out = tmp_path / "out"
    result = run("pixelate", inputs, "-o", out, "--boxes", boxes, "--mask-scale", "1",
                 "--seed", "0")
    assert result.exit_code == 0, result.output
    assert "4 regions released in 2 images (2-2 per image)" in result.output
    assert f"{out / 'astronaut.jpg'}: 2 regions released (boxes)" in result.output
    manifest = _manifest(out)
    assert manifest["regions_found"] == {
        "per_output": {"astronaut.jpg": 2, "camera.png": 2}, "total": 4, "images": 2,
    }
    derived = manifest["derived_from_detections"]
    assert derived["fields"] == ["regions_found.per_output", "regions_found.total"]
    assert "derive from the image" in derived["note"]

    # one output released again under the same settings: still one count per output
    result = run("pixelate", inputs / "camera.png", "-o", out / "camera.png", "--boxes", boxes,
                 "--mask-scale", "1", "--seed", "0", "--overwrite")
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "camera.png.manifest.json").read_text())
    assert manifest["regions_found"]["per_output"] == {"camera.png": 2}


def test_counts_merge_over_runs_with_the_same_settings(tmp_path):
    boxes = tmp_path / "b.json"
    boxes.write_text("[[10, 20, 30, 40]]")
    out = tmp_path / "out"
    for name in ("astronaut.jpg", "camera.png"):
        result = run("blur", SAMPLES / name, "-o", out, "--boxes", boxes, "-k", "31")
        assert result.exit_code == 0, result.output
        assert "1 region released in 1 image;" in result.output
    manifest = _manifest(out)
    assert manifest["regions_found"]["per_output"] == {"astronaut.jpg": 1, "camera.png": 1}
    assert manifest["regions_found"]["total"] == 2 and manifest["releases"] == 2


def test_whole_image_releases_record_no_counts(tmp_path):
    out = tmp_path / "out.png"
    result = run("pixelate", SAMPLES / "camera.png", "-o", out)
    assert result.exit_code == 0, result.output
    manifest = json.loads(out.with_name("out.png.manifest.json").read_text())
    assert "regions_found" not in manifest and "derived_from_detections" not in manifest
    assert "region" not in result.output
