"""Tests for dpimage.io: reading, writing, output planning and the manifest.

All images are made from the real photographs bundled in ``data/samples``.
"""

from __future__ import annotations

import errno
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import (
    PLANTED_COMMENT,
    PLANTED_DESCRIPTION,
    PLANTED_GPS,
    SAMPLES,
    copy_sample,
    full_disk_after,
    sample,
    tagged_jpeg,
)
from dpimage.io import (
    MANIFEST_NAME,
    PRIVACY_MODEL,
    InputError,
    OutputError,
    OutputExistsError,
    atomic_writer,
    build_manifest,
    plan_outputs,
    read_image,
    write_image,
    write_manifest,
)

# Distinctive byte strings planted in metadata; they must never reach an output.


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------




def leftover_temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".dpimage-")]


# Structural TIFF tags (size, samples, strips): the file format itself, not metadata.
TIFF_STRUCTURE = {256, 257, 258, 259, 262, 273, 277, 278, 279, 284}


def assert_no_metadata(path: Path) -> None:
    with Image.open(path) as im:
        tags = set(im.getexif())
        assert tags <= TIFF_STRUCTURE if im.format == "TIFF" else not tags
        for key in ("exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment"):
            assert key not in im.info, key
        if im.format == "PNG":
            assert not getattr(im, "text", {})
    data = path.read_bytes()
    for planted in (PLANTED_GPS.encode(), PLANTED_DESCRIPTION.encode(), PLANTED_COMMENT):
        assert planted not in data
    assert b"Exif\x00\x00" not in data


# ---------------------------------------------------------------------------
# read_image: mode policy
# ---------------------------------------------------------------------------


def test_gray_stays_gray(tmp_path):
    image, notices = read_image(copy_sample("camera.png", tmp_path / "camera.png"))
    assert image.dtype == np.uint8
    assert image.shape == (512, 512)
    np.testing.assert_array_equal(image, sample("camera.png"))
    assert notices == []


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("chelsea.jpg", (300, 451, 3)),
        ("astronaut.jpg", (512, 512, 3)),
        ("coffee.jpg", (400, 600, 3)),
    ],
)
def test_rgb_stays_rgb(tmp_path, name, shape):
    image, notices = read_image(copy_sample(name, tmp_path / name))
    assert image.dtype == np.uint8
    assert image.shape == shape
    np.testing.assert_array_equal(image, sample(name))
    assert notices == []


def test_bilevel_becomes_gray(tmp_path):
    path = tmp_path / "bilevel.png"
    Image.fromarray(sample("camera.png")).convert("1").save(path)
    image, _ = read_image(path)
    assert image.shape == (512, 512)
    assert set(np.unique(image)) <= {0, 255}


def test_rgba_drops_alpha_with_notice(tmp_path):
    rgb = sample("chelsea.jpg")
    alpha = np.full(rgb.shape[:2], 128, dtype=np.uint8)
    path = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([rgb, alpha])).save(path)
    image, notices = read_image(path)
    np.testing.assert_array_equal(image, rgb)
    assert len(notices) == 1 and "alpha" in notices[0] and "rgba.png" in notices[0]


def test_gray_alpha_drops_alpha(tmp_path):
    gray = sample("camera.png")
    path = tmp_path / "la.png"
    Image.fromarray(np.dstack([gray, gray])).save(path)  # LA
    image, notices = read_image(path)
    np.testing.assert_array_equal(image, gray)
    assert any("alpha" in n for n in notices)


def test_palette_gif_becomes_rgb(tmp_path):
    path = tmp_path / "chelsea.gif"
    Image.fromarray(sample("chelsea.jpg")).save(path)
    with Image.open(path) as im:
        assert im.mode == "P"
    image, notices = read_image(path)
    assert image.shape == (300, 451, 3)
    assert any("palette" in n for n in notices)


def test_gray_palette_becomes_gray(tmp_path):
    gray = sample("camera.png")
    im = Image.frombytes("P", (gray.shape[1], gray.shape[0]), gray.tobytes())
    im.putpalette([v for i in range(256) for v in (i, i, i)])
    path = tmp_path / "graypalette.png"
    im.save(path)
    image, notices = read_image(path)
    np.testing.assert_array_equal(image, gray)
    assert any("gray" in n for n in notices)


def test_palette_transparency_dropped(tmp_path):
    path = tmp_path / "transparent.png"
    Image.fromarray(sample("chelsea.jpg")).quantize(64).save(path, transparency=0)
    image, notices = read_image(path)
    assert image.shape == (300, 451, 3)
    assert any("transparency" in n for n in notices)


def test_16_bit_keeps_high_byte(tmp_path):
    gray = sample("camera.png")
    path = tmp_path / "deep.png"
    Image.fromarray(gray.astype(np.uint16) * 256 + 200).save(path)
    with Image.open(path) as im:
        assert im.mode.startswith("I;16")
    image, notices = read_image(path)
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image, gray)
    assert any("16-bit" in n for n in notices)


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(sample("coffee.jpg")).convert("CMYK").save(path)
    image, notices = read_image(path)
    assert image.shape == (400, 600, 3)
    assert any("CMYK" in n for n in notices)
    # Colours survive the round trip roughly (JPEG is lossy).
    assert np.abs(image.astype(int) - sample("coffee.jpg")).mean() < 12


@pytest.mark.parametrize(("dtype", "word"), [(np.int32, "32-bit integer"), (np.float32, "float")])
def test_32_bit_rejected(tmp_path, dtype, word):
    path = tmp_path / "wide.tif"
    Image.fromarray(sample("camera.png").astype(dtype)).save(path)
    with pytest.raises(InputError, match=word):
        read_image(path)


def test_animated_gif_rejected(tmp_path):
    frames = [
        Image.fromarray(sample("chelsea.jpg")),
        Image.fromarray(sample("coffee.jpg")[:300, :451]),
    ]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with pytest.raises(InputError, match="has 2 frames; only still images are supported"):
        read_image(path)


def test_multipage_tiff_rejected(tmp_path):
    page = Image.fromarray(sample("camera.png"))
    path = tmp_path / "pages.tif"
    page.save(path, save_all=True, append_images=[page, page])
    with pytest.raises(InputError, match="has 3 frames"):
        read_image(path)


def test_mpo_reads_primary_image(tmp_path):
    # Phones write JPEGs with extra (preview, depth) images as MPO.
    primary = Image.fromarray(sample("chelsea.jpg"))
    extra = Image.fromarray(sample("coffee.jpg")[:300, :451])
    path = tmp_path / "phone.jpg"
    primary.save(path, format="MPO", save_all=True, append_images=[extra])
    with Image.open(path) as im:
        assert im.format == "MPO" and im.n_frames == 2
    image, notices = read_image(path)
    assert image.shape == (300, 451, 3)
    assert np.abs(image.astype(int) - sample("chelsea.jpg")).mean() < 6
    assert any("MPO" in n for n in notices)


def test_exif_orientation_applied(tmp_path):
    path = tagged_jpeg(tmp_path / "tagged.jpg", orientation=6)
    image, _ = read_image(path)
    assert image.shape == (451, 300, 3)  # upright: rotated 90° clockwise
    original = sample("chelsea.jpg").astype(int)
    clockwise = np.abs(image - np.rot90(original, k=-1)).mean()
    counter = np.abs(image - np.rot90(original, k=1)).mean()
    assert clockwise < 6 < counter


# ---------------------------------------------------------------------------
# read_image: bad inputs
# ---------------------------------------------------------------------------


def test_truncated_file(tmp_path):
    data = (SAMPLES / "chelsea.jpg").read_bytes()
    path = tmp_path / "broken.jpg"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError) as info:
        read_image(path)
    message = str(info.value)
    assert "broken.jpg" in message and "\n" not in message


def test_corrupt_png(tmp_path):
    data = bytearray((SAMPLES / "camera.png").read_bytes())
    data[200:400] = bytes(200)
    path = tmp_path / "corrupt.png"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"corrupt\.png"):
        read_image(path)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("these are not pixels\n")
    with pytest.raises(InputError, match="not an image"):
        read_image(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        read_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_image(tmp_path / "nowhere.jpg")


def test_directory_is_not_an_image(tmp_path):
    with pytest.raises(InputError, match="directory"):
        read_image(tmp_path)


def test_input_error_is_caught_as_a_value_error_naming_the_file(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ValueError) as caught:  # callers may catch ValueError
        read_image(broken)
    assert isinstance(caught.value, InputError)
    message = str(caught.value)
    assert str(broken) in message and "\n" not in message  # one line, naming the file


# ---------------------------------------------------------------------------
# read_image: decompression-bomb limit
# ---------------------------------------------------------------------------


def test_max_pixels_rejects_with_option_name(tmp_path):
    path = copy_sample("chelsea.jpg", tmp_path / "chelsea.jpg")
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(InputError) as info:
        read_image(path, max_pixels=1000)
    message = str(info.value)
    assert "--max-pixels" in message and "135,300" in message and "\n" not in message
    assert Image.MAX_IMAGE_PIXELS == before


def test_max_pixels_exactly_at_limit(tmp_path):
    path = copy_sample("chelsea.jpg", tmp_path / "chelsea.jpg")
    image, _ = read_image(path, max_pixels=451 * 300)
    assert image.shape == (300, 451, 3)


def test_pillow_global_limit_is_default(tmp_path, monkeypatch):
    path = copy_sample("camera.png", tmp_path / "camera.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(InputError, match="--max-pixels"):
        read_image(path)
    assert Image.MAX_IMAGE_PIXELS == 1000


def test_max_pixels_overrides_global_for_one_read(tmp_path, monkeypatch):
    path = copy_sample("camera.png", tmp_path / "camera.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    image, _ = read_image(path, max_pixels=10**6)
    assert image.shape == (512, 512)
    assert Image.MAX_IMAGE_PIXELS == 1000


@pytest.mark.parametrize("bad", [0, -5, 1.5, True])
def test_max_pixels_validated(tmp_path, bad):
    with pytest.raises(ValueError, match="max_pixels"):
        read_image(copy_sample("camera.png", tmp_path / "camera.png"), max_pixels=bad)


# ---------------------------------------------------------------------------
# write_image
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["png", "jpg", "jpeg", "webp", "tif", "tiff", "bmp", "gif"])
@pytest.mark.parametrize("name", ["camera.png", "chelsea.jpg"])
def test_write_formats_keep_mode_and_size(tmp_path, ext, name):
    array = sample(name)
    path = write_image(array, tmp_path / f"out.{ext}")
    with Image.open(path) as im:
        assert im.size == (array.shape[1], array.shape[0])
        expected = {"L"} if array.ndim == 2 else {"RGB"}
        if ext == "gif":
            expected.add("P")  # GIF stores a palette
        if ext == "webp":
            expected = {"RGB"}  # WebP has no gray mode: gray is stored as equal channels
        assert im.mode in expected
    if ext in ("png", "bmp", "tif", "tiff"):
        np.testing.assert_array_equal(read_image(path)[0], array)
    assert_no_metadata(path)


def test_write_drops_all_metadata(tmp_path):
    source = tagged_jpeg(tmp_path / "tagged.jpg")
    image, _ = read_image(source)
    for ext in ("jpg", "png", "webp", "tif"):
        assert_no_metadata(write_image(image, tmp_path / f"clean.{ext}"))


def test_jpeg_quality(tmp_path):
    array = sample("astronaut.jpg")
    low = write_image(array, tmp_path / "low.jpg", quality=10)
    high = write_image(array, tmp_path / "high.jpg", quality=95)
    assert low.stat().st_size < high.stat().st_size / 2


@pytest.mark.parametrize("quality", [0, 101, 9.5])
def test_bad_quality(tmp_path, quality):
    with pytest.raises(ValueError, match="quality"):
        write_image(sample("camera.png"), tmp_path / "q.jpg", quality=quality)


def test_unknown_extension(tmp_path):
    with pytest.raises(OutputError, match="xyz"):
        write_image(sample("camera.png"), tmp_path / "out.xyz")
    with pytest.raises(OutputError, match="no extension"):
        write_image(sample("camera.png"), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "array",
    [np.zeros((4, 4), np.float32), np.zeros((4, 4, 4), np.uint8), np.zeros((0, 4), np.uint8)],
)
def test_bad_arrays(tmp_path, array):
    with pytest.raises(ValueError):
        write_image(array, tmp_path / "bad.png")


def test_existing_output_refused_unless_overwrite(tmp_path):
    path = tmp_path / "out.png"
    write_image(sample("camera.png"), path)
    before = path.read_bytes()
    with pytest.raises(OutputExistsError):
        write_image(np.zeros((5, 5), np.uint8), path)
    assert path.read_bytes() == before
    write_image(np.zeros((5, 5), np.uint8), path, overwrite=True)
    assert read_image(path)[0].shape == (5, 5)
    assert leftover_temp_files(tmp_path) == []


def test_protected_input_never_replaced(tmp_path):
    source = copy_sample("camera.png", tmp_path / "camera.png")
    before = source.read_bytes()
    with pytest.raises(OutputError, match="input"):
        write_image(np.zeros((5, 5), np.uint8), source, overwrite=True, protect=[source])
    # The same file reached through another path (a hard link) is refused too.
    link = tmp_path / "alias.png"
    os.link(source, link)
    with pytest.raises(OutputError, match="input"):
        write_image(np.zeros((5, 5), np.uint8), link, overwrite=True, protect=[source])
    assert source.read_bytes() == before


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "out.png"
    write_image(sample("camera.png"), path)
    before = path.read_bytes()

    def exploding_save(self, fp, *args, **kwargs):
        fp.write(b"partial data")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", exploding_save)
    with pytest.raises(OSError, match="disk full"):
        write_image(np.zeros((5, 5), np.uint8), path, overwrite=True)
    with pytest.raises(OSError, match="disk full"):
        write_image(np.zeros((5, 5), np.uint8), tmp_path / "new.png")
    assert path.read_bytes() == before
    assert not (tmp_path / "new.png").exists()
    assert leftover_temp_files(tmp_path) == []




@pytest.mark.parametrize("ext", ["jpg", "png", "webp", "tif"])
def test_full_disk_mid_file_leaves_nothing_under_the_name(tmp_path, monkeypatch, ext):
    """The disk fills in the middle of an output: the write fails, naming the output."""
    import dpimage.io.atomic as atomic

    image = sample("astronaut.jpg")
    old = write_image(sample("camera.png"), tmp_path / f"old.{ext}")
    before = old.read_bytes()
    monkeypatch.setattr(atomic, "_write_chunk", full_disk_after(3000))
    with pytest.raises(OSError) as info:
        write_image(image, tmp_path / f"new.{ext}")
    assert info.value.errno == errno.ENOSPC
    assert info.value.filename == str(tmp_path / f"new.{ext}")
    monkeypatch.setattr(atomic, "_write_chunk", full_disk_after(3000))
    with pytest.raises(OSError):
        write_image(image, old, overwrite=True)
    assert not (tmp_path / f"new.{ext}").exists()
    assert old.read_bytes() == before
    assert leftover_temp_files(tmp_path) == []


def test_short_writes_are_completed(tmp_path, monkeypatch):
    import dpimage.io.atomic as atomic

    image = sample("chelsea.jpg")
    reference = write_image(image, tmp_path / "reference.jpg").read_bytes()
    calls = []

    def at_most_1000(fd, data):
        calls.append(len(data))
        return os.write(fd, data[:1000])

    monkeypatch.setattr(atomic, "_write_chunk", at_most_1000)
    assert write_image(image, tmp_path / "short.jpg").read_bytes() == reference
    assert len(calls) > len(reference) // 1000  # every byte went through the checked writes


def test_bytes_lost_by_the_file_system_are_detected(tmp_path, monkeypatch):
    """A write that reports more than reached the file is caught by the size check."""
    import dpimage.io.atomic as atomic

    def lying(fd, data):
        os.write(fd, data[: len(data) // 2])
        return len(data)

    monkeypatch.setattr(atomic, "_write_chunk", lying)
    with pytest.raises(OSError, match="incomplete write"):
        write_image(sample("camera.png"), tmp_path / "lost.png")
    assert list(tmp_path.iterdir()) == []


def test_atomic_stream_hides_its_descriptor(tmp_path):
    """Encoders that write to a raw descriptor can drop a short write's tail unseen
    (Pillow's JPEG encoder did, leaving 4096- and 8192-byte JPEGs on a full disk), so
    the stream offers no descriptor: they fall back to its checked ``write``."""
    with atomic_writer(tmp_path / "x.bin") as stream:
        with pytest.raises(io.UnsupportedOperation):
            stream.fileno()
        stream.write(b"abc")
        stream.seek(0)
        stream.write(b"A")
        assert stream.tell() == 1
    assert (tmp_path / "x.bin").read_bytes() == b"Abc"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_atomic_writer_mode_applies_from_creation(tmp_path):
    with atomic_writer(tmp_path / "key.bin", mode=0o600) as stream:
        tmp = [p for p in tmp_path.iterdir() if p.name.startswith(".dpimage-")]
        assert [p.stat().st_mode & 0o777 for p in tmp] == [0o600]  # never readable by others
        stream.write(b"secret")
    assert (tmp_path / "key.bin").stat().st_mode & 0o777 == 0o600


def test_manifest_on_a_full_disk_names_the_manifest(tmp_path, monkeypatch):
    import dpimage.io.atomic as atomic

    manifest = build_manifest(
        command="pixelate", mechanism="dp_pix", parameters={"eps": 0.5}, outputs=[("a.jpg", 0.5)]
    )
    monkeypatch.setattr(atomic, "_write_chunk", full_disk_after(100))
    with pytest.raises(OSError) as info:
        write_manifest(manifest, tmp_path / MANIFEST_NAME)
    assert info.value.filename == str(tmp_path / MANIFEST_NAME)
    assert "None" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_parent_is_a_file(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    with pytest.raises(OutputError, match="not a directory"):
        write_image(sample("camera.png"), blocker / "deeper" / "out.png")
    assert blocker.read_text() == "a file, not a directory"


def test_unicode_paths(tmp_path):
    folder = tmp_path / "фото ü 写真"
    source = copy_sample("chelsea.jpg", folder / "kätzchen.jpg")
    image, _ = read_image(source)
    out = write_image(image, folder / "ausgabe" / "kätzchen-ü.png")
    np.testing.assert_array_equal(read_image(out)[0], image)


# ---------------------------------------------------------------------------
# plan_outputs
# ---------------------------------------------------------------------------


def make_tree(root: Path) -> None:
    copy_sample("chelsea.jpg", root / "chelsea.jpg")
    copy_sample("camera.png", root / "b" / "camera.png")
    copy_sample("coffee.jpg", root / "a" / "deep" / "coffee.JPG")
    copy_sample("astronaut.jpg", root / ".hidden.jpg")
    copy_sample("astronaut.jpg", root / ".cache" / "astronaut.jpg")
    (root / "notes.txt").write_text("not an image")


def test_plan_single_file(tmp_path):
    source = copy_sample("chelsea.jpg", tmp_path / "chelsea.jpg")
    plan = plan_outputs([source], tmp_path / "out.png")
    assert plan.single and plan.problems == []
    assert [(j.source, j.target, j.name) for j in plan.jobs] == [
        (source, tmp_path / "out.png", "out.png")
    ]
    assert plan.manifest_path == tmp_path / "out.png.manifest.json"


def test_plan_single_file_into_directory(tmp_path):
    source = copy_sample("chelsea.jpg", tmp_path / "chelsea.jpg")
    (tmp_path / "out").mkdir()
    plan = plan_outputs([source], tmp_path / "out", fmt="png")
    assert [j.target for j in plan.jobs] == [tmp_path / "out" / "chelsea.png"]


def test_plan_single_file_into_new_directory(tmp_path):
    source = copy_sample("chelsea.jpg", tmp_path / "chelsea.jpg")
    plan = plan_outputs([source], tmp_path / "result")
    assert [j.target for j in plan.jobs] == [tmp_path / "result" / "chelsea.jpg"]
    # -o names a directory: its manifest is dpimage-manifest.json, as for a directory input.
    assert plan.manifest_path == tmp_path / "result" / MANIFEST_NAME
    assert plan.manifest_path == plan_outputs([tmp_path], tmp_path / "result").manifest_path


def test_plan_format_contradiction(tmp_path):
    source = copy_sample("chelsea.jpg", tmp_path / "chelsea.jpg")
    with pytest.raises(ValueError, match="--format"):
        plan_outputs([source], tmp_path / "out.jpg", fmt="png")
    with pytest.raises(ValueError, match="unknown image format"):
        plan_outputs([source], tmp_path / "out.jpg", fmt="heic")


def test_plan_directory_tree(tmp_path):
    make_tree(tmp_path / "in")
    plan = plan_outputs([tmp_path / "in"], tmp_path / "out")
    assert not plan.single and plan.problems == []
    assert [j.name for j in plan.jobs] == ["a/deep/coffee.JPG", "b/camera.png", "chelsea.jpg"]
    assert plan.jobs[0].target == tmp_path / "out" / "a" / "deep" / "coffee.JPG"
    assert plan.manifest_path == tmp_path / "out" / MANIFEST_NAME
    # Deterministic: the same plan again.
    again = plan_outputs([tmp_path / "in"], tmp_path / "out")
    assert again.jobs == plan.jobs


def test_plan_format_replaces_extension(tmp_path):
    make_tree(tmp_path / "in")
    plan = plan_outputs([tmp_path / "in"], tmp_path / "out", fmt=".PNG")
    assert [j.name for j in plan.jobs] == ["a/deep/coffee.png", "b/camera.png", "chelsea.png"]


def test_plan_problems(tmp_path):
    make_tree(tmp_path / "in")
    missing = tmp_path / "missing.jpg"
    other = copy_sample("camera.png", tmp_path / "other" / "chelsea.jpg")  # another file
    chelsea = tmp_path / "in" / "chelsea.jpg"
    plan = plan_outputs([tmp_path / "in", missing, chelsea, other], tmp_path / "o")
    reasons = dict(plan.problems)
    assert "no such file" in reasons[str(missing)]
    # in/chelsea.jpg appears twice (in the tree and on its own): the same file, released once
    assert plan.skipped == [
        (chelsea, f"the same file as {chelsea} (named twice in the inputs); released once")
    ]
    # another file of the same name would land on the same output: a clash
    assert "also be written" in reasons[str(other)]
    assert len(plan.jobs) == 3


def test_plan_refuses_output_onto_input(tmp_path):
    make_tree(tmp_path / "in")
    single = plan_outputs([tmp_path / "in" / "chelsea.jpg"], tmp_path / "in" / "chelsea.jpg")
    assert single.jobs == [] and "input" in single.problems[0][1]
    same_dir = plan_outputs([tmp_path / "in"], tmp_path / "in")
    assert same_dir.jobs == [] and len(same_dir.problems) == 3


def test_plan_skips_output_inside_input(tmp_path):
    make_tree(tmp_path / "in")
    copy_sample("camera.png", tmp_path / "in" / "out" / "old-result.png")
    plan = plan_outputs([tmp_path / "in"], tmp_path / "in" / "out")
    # the three images of the tree, and not the old result inside the output folder
    assert sorted(j.name for j in plan.jobs) == ["a/deep/coffee.JPG", "b/camera.png", "chelsea.jpg"]


def test_plan_needs_directory_for_several_inputs(tmp_path):
    make_tree(tmp_path / "in")
    (tmp_path / "file.jpg").write_text("x")
    with pytest.raises(ValueError, match="directory"):
        plan_outputs([tmp_path / "in"], tmp_path / "file.jpg")


# ---------------------------------------------------------------------------
# Manifest
# ---------------------------------------------------------------------------


def test_manifest_secure(tmp_path):
    manifest = build_manifest(
        command="pixelate",
        mechanism="dp_pix",
        parameters={"b": 16, "m": 16, "eps": 0.5, "output": "blocks"},
        outputs=[("a/x.jpg", 0.5), ("y.png", 0.5), ("z.png", 0.5)],
        run="r1",
    )
    assert manifest["privacy_model"] == PRIVACY_MODEL
    assert manifest["sampler"]["kind"] == "secure"
    assert manifest["private_release"] is True
    assert "seed" not in manifest["sampler"] and "warning" not in manifest
    assert manifest["outputs"] == [
        {"path": "a/x.jpg", "epsilon": 0.5, "releases": 1, "runs": ["r1"]},
        {"path": "y.png", "epsilon": 0.5, "releases": 1, "runs": ["r1"]},
        {"path": "z.png", "epsilon": 0.5, "releases": 1, "runs": ["r1"]},
    ]
    assert manifest["releases"] == 3 and manifest["total_epsilon_all_runs"] == pytest.approx(1.5)
    assert manifest["epsilon_per_output"] == 0.5
    assert manifest["total_epsilon"] == pytest.approx(1.5)
    assert manifest["created_utc"].endswith("Z")
    path = write_manifest(manifest, tmp_path / "m" / MANIFEST_NAME)
    assert json.loads(path.read_text(encoding="utf-8")) == manifest
    assert leftover_temp_files(tmp_path) == []


def test_manifest_seeded_is_loud():
    manifest = build_manifest(
        command="blur",
        mechanism="dp_blur",
        parameters={"b0": 4, "k": 99, "m": 16, "eps": 1.0, "sigma": None},
        outputs=[("x.png", 1.0)],
        seed=7,
    )
    assert manifest["private_release"] is False
    assert manifest["sampler"]["kind"] == "seeded" and manifest["sampler"]["seed"] == 7
    assert "NOT a private release" in manifest["warning"]
    assert manifest["total_epsilon"] == 1.0


def test_manifest_empty_run():
    manifest = build_manifest(
        command="pixelate", mechanism="dp_pix", parameters={"eps": 0.5}, outputs=[]
    )
    assert manifest["total_epsilon"] == 0.0 and manifest["outputs"] == []
