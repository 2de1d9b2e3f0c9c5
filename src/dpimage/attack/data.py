"""The adversary's data: labelled images and the seeded split of each run.

A seed fixes the split (per class: test part, then a validation part of the
rest for early stopping), so every attack sees the same images for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["LabelledData", "split_for_seed", "stratified_split"]


@dataclass
class LabelledData:
    """Images ``(n, H, W)`` uint8 with integer labels, and an optional fixed test set."""

    name: str
    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    test_images: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    test_fraction: float = 0.2
    notes: list[str] = field(default_factory=list)

    @property
    def n_classes(self) -> int:
        return len(self.classes)


def _baselines(y_train: np.ndarray, y_test: np.ndarray, n_classes: int) -> dict[str, float]:
    majority = int(np.argmax(np.bincount(y_train, minlength=n_classes)))
    return {"random_guess": 1.0 / n_classes, "majority_class": float(np.mean(y_test == majority))}


def stratified_split(
    labels: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices per class; ``round(fraction * n_c)`` (at least 1) go to the second part.

    A class with a single image stays in the first part. Returns sorted index
    arrays ``(first, second)``. On AT&T (10 per person) ``fraction=0.2`` gives
    the papers' 8 train / 2 test per person.
    """
    labels = np.asarray(labels)
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    first, second = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n = 0 if len(idx) < 2 else min(len(idx) - 1, max(1, round(fraction * len(idx))))
        second.append(idx[:n])
        first.append(idx[n:])
    return np.sort(np.concatenate(first)), np.sort(np.concatenate(second))


def split_for_seed(
    data: LabelledData, seed: int, val_fraction: float = 0.125
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The seed's split: ``(x_pool, y_pool, x_test, y_test, train_idx, val_idx)``.

    ``pool`` is everything the adversary has labels for (training +
    validation); ``train_idx`` and ``val_idx`` index into it. Without a fixed
    test set, ``data.test_fraction`` of each class is held out for testing.
    """
    split_rng = np.random.default_rng([int(seed), 0x5117])
    if data.test_images is None:
        pool, test = stratified_split(data.labels, data.test_fraction, split_rng)
        x_pool, y_pool = data.images[pool], data.labels[pool]
        x_test, y_test = data.images[test], data.labels[test]
    else:
        x_pool, y_pool = data.images, data.labels
        x_test, y_test = data.test_images, data.test_labels
    tr, va = stratified_split(y_pool, val_fraction, split_rng)
    return x_pool, y_pool, x_test, y_test, tr, va


@dataclass
class _Split:
    """One seed's split of the data (see :func:`split_for_seed`) and its baselines."""

    x_pool: np.ndarray
    y_pool: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    tr: np.ndarray
    va: np.ndarray
    baselines: dict[str, float]

    @classmethod
    def make(cls, data: LabelledData, seed: int, val_fraction: float) -> _Split:
        x_pool, y_pool, x_test, y_test, tr, va = split_for_seed(data, seed, val_fraction)
        base = _baselines(y_pool[tr], y_test, data.n_classes)
        return cls(x_pool, y_pool, x_test, y_test, tr, va, base)


class _SplitCache:
    """The split of the last seed asked for: one seed's arrays in memory at a time."""

    def __init__(self, data: LabelledData, val_fraction: float) -> None:
        self.data, self.val_fraction = data, val_fraction
        self.seed: int | None = None
        self.split: _Split | None = None

    def get(self, seed: int) -> _Split:
        if self.split is None or seed != self.seed:
            self.seed, self.split = seed, _Split.make(self.data, seed, self.val_fraction)
        return self.split
