"""The ambiguation models' data: AT&T faces split by identity, MNIST padded (NumPy).

Loading and resizing are :mod:`dpimage.datasets`'; this module holds the
models' protocol (CelebA, the original paper's set, is not available offline):

- ``faces``: AT&T/ORL, 40 people x 10 gray 112x92 images. Split **by
  identity**: people 1-32 train (320 images), people 33-40 test (80 images),
  so test faces are of unseen people. Each image is centre-cropped to 92x92
  and resized to ``image_size`` (64 by default): :func:`prepare_image`.
- ``digits``: MNIST, 50,000 train / 10,000 test, zero-padded from 28x28 to 32x32.
"""

from __future__ import annotations

import numpy as np

from .. import datasets

__all__ = [
    "FACE_TEST_PEOPLE",
    "FACE_TRAIN_PEOPLE",
    "digit_images",
    "face_images",
    "face_test_people",
    "prepare_image",
]

FACE_TRAIN_PEOPLE = tuple(range(32))
FACE_TEST_PEOPLE = tuple(range(32, 40))

#: What a model takes: gray, centre-cropped, resized, float32 in [0, 1].
prepare_image = datasets.square_gray


def face_images(size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """AT&T faces split by identity: ``(train (320, S, S), test (80, S, S))`` float32."""
    images, labels = datasets.orl_faces()
    prepared = np.stack([prepare_image(im, size) for im in images])
    train = prepared[np.isin(labels, FACE_TRAIN_PEOPLE)]
    test = prepared[np.isin(labels, FACE_TEST_PEOPLE)]
    return train, test


def face_test_people() -> np.ndarray:
    """Person label of each image :func:`face_images` returns as test, in the same order."""
    _, labels = datasets.orl_faces()
    return np.asarray(labels)[np.isin(labels, FACE_TEST_PEOPLE)]


def digit_images(split: str = "train", limit: int | None = None) -> np.ndarray:
    """MNIST digits padded to 32x32, float32 in [0, 1]."""
    images, _ = datasets.mnist(split)
    if limit is not None:
        images = images[:limit]
    return np.pad(images, ((0, 0), (2, 2), (2, 2))).astype(np.float32) / 255.0
