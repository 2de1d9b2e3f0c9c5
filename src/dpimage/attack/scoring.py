"""Scores of an attack run: accuracy, collapse detection, nearest neighbours, row header."""

from __future__ import annotations

from typing import Any

import numpy as np

from .data import LabelledData
from .obfuscation import Method, averaging_cost

__all__ = ["confusion_summary", "nearest_neighbour_accuracy"]


def confusion_summary(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Accuracy and how concentrated the predictions are (detects a collapse to one class).

    ``top_class_share`` is the fraction of test images given the single most
    predicted label; a model that collapsed predicts one class for (nearly)
    everything, and its accuracy is then that class's frequency.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    counts = np.bincount(y_pred)
    top = int(np.argmax(counts))
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "top_class": top,
        "top_class_share": float(counts[top] / len(y_pred)),
        "n_predicted_classes": int(np.count_nonzero(counts)),
    }


def nearest_neighbour_accuracy(
    gallery: np.ndarray, gallery_labels: np.ndarray, queries: np.ndarray
) -> np.ndarray:
    """Label of each query's nearest gallery vector in cosine distance (1-NN)."""
    g = gallery / np.maximum(np.linalg.norm(gallery, axis=1, keepdims=True), 1e-12)
    q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    return np.asarray(gallery_labels)[np.argmax(q @ g.T, axis=1)]


def _row_header(
    data: LabelledData,
    seed: int,
    method: Method,
    r: int,
    n_train: int,
    n_val: int,
    n_test: int,
    baselines: dict[str, float],
) -> dict[str, Any]:
    """The columns every result row starts with: what was attacked, on how much data."""
    return {
        "dataset": data.name,
        "seed": int(seed),
        "method": method.label,
        "repeats": r,
        "kind": method.kind,
        "eps": method.eps if method.private else "",
        "eps_spent": averaging_cost(method.eps, r) if method.private else "",
        "m": method.m if method.private else "",
        "n_train": n_train,
        "n_val": n_val,
        "n_test": n_test,
        "n_classes": data.n_classes,
        **baselines,
    }
