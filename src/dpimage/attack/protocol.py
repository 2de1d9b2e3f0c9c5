"""The re-identification protocol of Fan (2018, 2019) after McPherson et al. (2016).

The adversary gets the *obfuscated* training images with their labels
(identity or digit), trains a classifier, and predicts the labels of the
obfuscated test images produced by the same method. Everything here is
seeded and reproducible: a seed fixes the split, the noise of every method
and the network's initialisation. Seeded noise is fine for measuring an
attack and is **not** a private release (whoever has the seed can subtract
the noise).

Stronger adversaries than the papers':

* **averaging** — the same image released ``r`` times with fresh noise and
  averaged before training/classification; ``r`` releases of one image cost
  ``r * eps`` by basic composition (:func:`averaging_cost`);
* **nearest neighbour in a learned embedding** — the penultimate layer of the
  network trained on the *clean* training images embeds the obfuscated
  images; each test image takes the label of its nearest (cosine) obfuscated
  training image (``nn-embed``) or clean training image (``nn-embed-clean``:
  the adversary holds reference photos of every candidate).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import dp_blur, dp_pix, np_blur, np_pix
from ..privacy import epsilon_for_distance

__all__ = [
    "KINDS",
    "LabelledData",
    "Method",
    "averaging_cost",
    "confusion_summary",
    "identity_bound",
    "method_rng",
    "nearest_neighbour_accuracy",
    "noise_free",
    "obfuscate",
    "paper_methods",
    "pixel_distances",
    "run_attack",
    "split_for_seed",
    "stratified_split",
    "template_attack",
]

KINDS = ("none", "np-pix", "dp-pix", "np-blur", "dp-blur")


@dataclass(frozen=True)
class Method:
    """One obfuscation: ``kind`` in :data:`KINDS` with the papers' parameters."""

    kind: str
    eps: float | None = None
    b: int = 16
    m: int = 16
    b0: int = 4
    k: int = 99

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"method must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.private and (self.eps is None or not self.eps > 0):
            raise ValueError(f"{self.kind} needs eps > 0, got {self.eps}")
        if not self.private and self.eps is not None:
            raise ValueError(f"{self.kind} is not private and takes no eps")

    @property
    def private(self) -> bool:
        return self.kind.startswith("dp-")

    @property
    def label(self) -> str:
        """Short name as in the papers' tables, e.g. ``DP-Pix b=16 ε=0.5``."""
        if self.kind == "none":
            return "clean"
        name = {"np-pix": "NP-Pix", "dp-pix": "DP-Pix", "np-blur": "NP-Blur", "dp-blur": "DP-Blur"}
        params = {
            "np-pix": f"b={self.b}",
            "dp-pix": f"b={self.b}",
            "np-blur": f"k={self.k}",
            "dp-blur": f"b0={self.b0} k={self.k}",
        }[self.kind]
        eps = f" ε={self.eps:g}" if self.private else ""
        return f"{name[self.kind]} {params}{eps}"

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Obfuscate one uint8 image (``rng`` is used only by the DP methods)."""
        if self.kind == "none":
            return image
        if self.kind == "np-pix":
            return np_pix(image, b=self.b)
        if self.kind == "np-blur":
            return np_blur(image, k=self.k)
        if self.kind == "dp-pix":
            return dp_pix(image, b=self.b, m=self.m, eps=self.eps, rng=rng)
        return dp_blur(image, b0=self.b0, k=self.k, m=self.m, eps=self.eps, rng=rng)


def paper_methods(
    *,
    pix_eps: Iterable[float] = (0.1, 0.3, 0.5, 1.0),
    blur_eps: Iterable[float] = (0.1, 0.5, 1.0),
    b: int = 16,
    m: int = 16,
    b0: int = 4,
    k: int = 99,
) -> list[Method]:
    """Seed 003 Table 3 + seed 002 Table 1: clean, NP-Pix, DP-Pix, NP-Blur, DP-Blur (11)."""
    methods = [Method("none"), Method("np-pix", b=b)]
    methods += [Method("dp-pix", eps=e, b=b, m=m) for e in pix_eps]
    methods.append(Method("np-blur", k=k))
    methods += [Method("dp-blur", eps=e, m=m, b0=b0, k=k) for e in blur_eps]
    return methods


def averaging_cost(eps: float, repeats: int) -> float:
    """ε spent on one image released ``repeats`` times with fresh noise: ``repeats * eps``.

    Basic composition: each release is eps-DP for the image's m-neighbourhood,
    so the ``r`` releases together (and their average, post-processing) are
    ``r * eps``-DP. Averaging ``r`` releases divides the noise variance by ``r``.
    """
    if int(repeats) != repeats or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    return float(eps) * int(repeats)


def method_rng(seed: int, method: Method, repeats: int = 1) -> np.random.Generator:
    """The noise generator of one (seed, method, repeats): stable across runs and orderings."""
    key = zlib.crc32(
        repr((method.kind, method.eps, method.b, method.m, method.b0, method.k)).encode()
    )
    return np.random.default_rng([int(seed), 0x0B5C, key, int(repeats)])


def obfuscate(
    images: np.ndarray, method: Method, rng: np.random.Generator, *, repeats: int = 1
) -> np.ndarray:
    """Obfuscate every image of ``(n, H, W)``; with ``repeats > 1`` average that many releases.

    Returns uint8 for one release, float32 (the mean of ``repeats`` uint8
    releases, each with fresh noise) otherwise. Non-private methods are
    deterministic, so averaging them is refused.
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (n, H, W), got {images.dtype} {images.shape}")
    if int(repeats) != repeats or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats}")
    if repeats > 1 and not method.private:
        raise ValueError(f"{method.label} is deterministic: averaging releases changes nothing")
    if repeats == 1:
        return np.stack([method.apply(im, rng) for im in images])
    total = np.zeros(images.shape, dtype=np.float64)
    for im_index, im in enumerate(images):
        for _ in range(repeats):
            total[im_index] += method.apply(im, rng)
    return (total / repeats).astype(np.float32)


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


def noise_free(image: np.ndarray, method: Method) -> np.ndarray:
    """What ``method`` outputs without its noise: the adversary's template of a clean image.

    DP-Pix -> NP-Pix with the same ``b``; DP-Blur -> NP-Pix at ``b0``
    rendered as blocks, then the same ``k x k`` Gaussian blur (what DP-Blur
    blurs, minus the noise). Non-private methods are returned as they are.
    """
    if method.kind == "dp-pix":
        return np_pix(image, b=method.b)
    if method.kind == "dp-blur":
        return np_blur(np_pix(image, b=method.b0), k=method.k)
    return method.apply(image, np.random.default_rng(0))


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


def template_attack(
    data: LabelledData,
    methods: list[Method],
    seeds: Iterable[int],
    *,
    repeats: Iterable[int] = (1,),
    val_fraction: float = 0.125,
) -> Iterator[dict[str, Any]]:
    """A mechanism-aware attack without training: nearest clean template in L1.

    The adversary holds clean reference photos of every candidate (the
    seed's labelled pool: training + validation images, *unobfuscated*) and
    knows the mechanism. It computes each reference's noise-free output
    (:func:`noise_free`) and gives every released test image — the mean of
    ``r`` releases with fresh noise, costing ``r * eps`` — the label of the
    nearest template in L1 distance. For DP-Pix the release is the template
    plus i.i.d. Laplace noise on each cell (up to clipping and rounding), so
    the L1-nearest template is the maximum-likelihood candidate among the
    references. Costs a few seconds per (method, seed, r): it lets averaging be
    measured for every eps and many seeds where retraining the CNN cannot.
    """
    repeats = sorted({int(r) for r in repeats})
    for seed in seeds:
        x_pool, y_pool, x_test_clean, y_test, tr, _ = split_for_seed(data, seed, val_fraction)
        base = _baselines(y_pool[tr], y_test, data.n_classes)
        for method in methods:
            templates = np.stack([noise_free(im, method) for im in x_pool]).astype(np.float32)
            templates = templates.reshape(len(templates), -1)
            for r in repeats:
                if r > 1 and not method.private:
                    continue
                rng = method_rng(seed, method, r)
                x_test = obfuscate(x_test_clean, method, rng, repeats=r).astype(np.float32)
                x_test = x_test.reshape(len(x_test), -1)
                dist = np.stack([np.abs(templates - q).sum(axis=1) for q in x_test])
                pred = y_pool[np.argmin(dist, axis=1)]
                yield {
                    **_row_header(data, seed, method, r, len(y_pool), 0, len(y_test), base),
                    "attack": "template",
                    **confusion_summary(y_test, pred),
                }


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


def _obfuscated(split: _Split, method: Method, seed: int, r: int) -> tuple[Any, Any, float]:
    """The pool and test images through ``method``: the same noise in any process."""
    start = time.perf_counter()
    rng = method_rng(seed, method, r)
    x_obf = obfuscate(split.x_pool, method, rng, repeats=r)
    x_test = obfuscate(split.x_test, method, rng, repeats=r)
    return x_obf, x_test, time.perf_counter() - start


def _train(data: LabelledData, split: _Split, x: Any, model: str, config: Any, seed: int) -> Any:
    from .train import train_classifier

    return train_classifier(
        model,
        x[split.tr],
        split.y_pool[split.tr],
        x[split.va],
        split.y_pool[split.va],
        data.n_classes,
        config=config,
        seed=int(seed),
    )


def _common_row(
    data: LabelledData, split: _Split, seed: int, method: Method, r: int
) -> dict[str, Any]:
    sizes = len(split.tr), len(split.va), len(split.y_test)
    return _row_header(data, seed, method, r, *sizes, split.baselines)


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


def _cnn_run(
    data: LabelledData,
    split: _Split,
    seed: int,
    method: Method,
    r: int,
    model: str,
    config: Any,
) -> tuple[dict[str, Any], Any]:
    """Obfuscate, train the adversary's CNN, classify the test set: its row and model."""
    from .train import predict

    x_obf, x_test, obf_seconds = _obfuscated(split, method, seed, r)
    trained = _train(data, split, x_obf, model, config, seed)
    pred = predict(trained, x_test).argmax(1)
    row = {
        **_common_row(data, split, seed, method, r),
        "attack": "cnn",
        **confusion_summary(split.y_test, pred),
        "epochs_run": trained.epochs_run,
        "best_epoch": trained.best_epoch,
        "val_accuracy": trained.best_val_accuracy,
        "train_seconds": round(trained.seconds, 1),
        "obfuscate_seconds": round(obf_seconds, 1),
    }
    return row, trained


def _nn_rows(
    data: LabelledData, split: _Split, seed: int, method: Method, r: int, clean_model: Any
) -> list[dict[str, Any]]:
    """Rows of the nearest-neighbour attacks in ``clean_model``'s embedding."""
    from .train import embed

    x_obf, x_test, _ = _obfuscated(split, method, seed, r)
    q = embed(clean_model, x_test)
    galleries = {
        "nn-embed": embed(clean_model, x_obf[split.tr]),
        "nn-embed-clean": embed(clean_model, split.x_pool[split.tr]),
    }
    common = _common_row(data, split, seed, method, r)
    rows = []
    for attack, gallery in galleries.items():
        pred = nearest_neighbour_accuracy(gallery, split.y_pool[split.tr], q)
        rows.append(
            {
                **common,
                "attack": attack,
                **confusion_summary(split.y_test, pred),
                "epochs_run": clean_model.epochs_run,
                "best_epoch": clean_model.best_epoch,
                "val_accuracy": clean_model.best_val_accuracy,
                "train_seconds": "",
                "obfuscate_seconds": "",
            }
        )
    return rows


def _run_summary(row: dict[str, Any]) -> str:
    return (
        f"seed {row['seed']} {row['method']} r={row['repeats']}: cnn {row['accuracy']:.4f} "
        f"({row['epochs_run']} epochs, best {row['best_epoch']}, {row['train_seconds']:.0f} s)"
    )


def run_attack(
    data: LabelledData,
    methods: list[Method],
    seeds: Iterable[int],
    *,
    model: str = "face",
    repeats: Iterable[int] = (1,),
    config: Any = None,
    val_fraction: float = 0.125,
    embedding_attack: bool = True,
    skip: Callable[[dict[str, Any]], bool] | None = None,
    log: Callable[[str], None] = lambda _: None,
    jobs: int = 1,
) -> Iterator[dict[str, Any]]:
    """Run the attack; yield the result rows of each (seed, method, repeats).

    For each seed: split (per class, ``data.test_fraction`` to test unless the
    data has a fixed test set; then ``val_fraction`` of the training part to
    validation, for early stopping), train the network on the clean training
    images (the embedding of the NN attack), then for each method and each
    ``r`` in ``repeats`` (``r > 1`` only for DP methods) obfuscate the data
    once, train the CNN adversary on it and classify the test set.

    ``skip(key)`` may return True for a ``{"seed", "method", "repeats"}`` key
    already done (resuming). The rows of one key (the CNN's and, with
    ``embedding_attack``, the two nearest-neighbour rows) are yielded
    together, so a run interrupted between keys resumes cleanly.

    ``jobs > 1`` trains that many networks at once in worker processes (each
    with ``config.threads`` torch threads; ``jobs × threads`` should not
    exceed the cores). Every run is seeded by its own key, so the rows are
    the same as with ``jobs=1``; they come in the order the runs finish.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs}")
    repeats = sorted({int(r) for r in repeats})

    def wanted(seed: int, method: Method, r: int) -> bool:
        if r > 1 and not method.private:
            return False
        return skip is None or not skip({"seed": seed, "method": method.label, "repeats": r})

    keys = [
        (int(seed), method, r)
        for seed in seeds
        for method in methods
        for r in repeats
        if wanted(int(seed), method, r)
    ]
    if jobs > 1 and len(keys) > 1:
        yield from _run_parallel(
            data, keys, model, config, val_fraction, embedding_attack, log, jobs
        )
        return

    splits = _SplitCache(data, val_fraction)
    clean_models: dict[int, Any] = {}
    for seed, method, r in keys:
        split = splits.get(seed)
        row, trained = _cnn_run(data, split, seed, method, r, model, config)
        log(_run_summary(row))
        if method.kind == "none":
            clean_models[seed] = trained
        rows = [row]
        if embedding_attack:
            if seed not in clean_models:
                clean_models[seed] = _train(data, split, split.x_pool, model, config, seed)
                n_ep = clean_models[seed].epochs_run
                log(f"seed {seed}: trained the clean embedding ({n_ep} epochs)")
            rows += _nn_rows(data, split, seed, method, r, clean_models[seed])
        yield from rows


# Worker-process state for _run_parallel: the data set is sent once per worker.
_WORKER: dict[str, Any] = {}


def _worker_init(data: LabelledData, val_fraction: float) -> None:
    _WORKER.update(data=data, splits=_SplitCache(data, val_fraction))


def _worker_cnn(
    seed: int, method: Method | None, r: int, model: str, config: Any
) -> tuple[dict[str, Any] | None, Any]:
    """One CNN run in a worker; ``method=None`` trains only the clean embedding model."""
    data, split = _WORKER["data"], _WORKER["splits"].get(seed)
    if method is None:
        return None, _train(data, split, split.x_pool, model, config, seed)
    return _cnn_run(data, split, seed, method, r, model, config)


def _run_parallel(
    data: LabelledData,
    keys: list[tuple[int, Method, int]],
    model: str,
    config: Any,
    val_fraction: float,
    embedding_attack: bool,
    log: Callable[[str], None],
    jobs: int,
) -> Iterator[dict[str, Any]]:
    """:func:`run_attack` with the networks trained in ``jobs`` worker processes.

    The nearest-neighbour rows need the seed's clean model: it comes from the
    seed's ``none`` run, or from a training of its own when that run is not
    among ``keys``; the embedding itself is computed here, in this process.
    """
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    seeds_needing_clean = {seed for seed, _, _ in keys}
    seeds_with_clean_run = {seed for seed, method, _ in keys if method.kind == "none"}
    clean_only = sorted(seeds_needing_clean - seeds_with_clean_run) if embedding_attack else []
    tasks: list[tuple[int, Method | None, int]] = [(seed, None, 1) for seed in clean_only]
    # Clean runs first: the embedding rows of their seed wait for them.
    tasks += sorted(keys, key=lambda key: key[1].kind != "none")

    clean_models: dict[int, Any] = {}
    waiting: list[tuple[int, Method, int, dict[str, Any]]] = []
    splits = _SplitCache(data, val_fraction)

    def finished_rows(seed: int, method: Method, r: int, row: dict[str, Any]) -> list[dict]:
        if not embedding_attack:
            return [row]
        return [row, *_nn_rows(data, splits.get(seed), seed, method, r, clean_models[seed])]

    ctx = mp.get_context("spawn")  # torch and forked OpenMP thread pools do not mix
    with ProcessPoolExecutor(
        jobs, mp_context=ctx, initializer=_worker_init, initargs=(data, val_fraction)
    ) as pool:
        futures = {pool.submit(_worker_cnn, seed, method, r, model, config): (seed, method, r)
                   for seed, method, r in tasks}  # fmt: skip
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                seed, method, r = futures[future]
                row, trained = future.result()
                if method is None or method.kind == "none":
                    clean_models[seed] = trained
                if method is None:
                    log(f"seed {seed}: trained the clean embedding ({trained.epochs_run} epochs)")
                else:
                    log(_run_summary(row))
                    waiting.append((seed, method, r, row))
            ready = [w for w in waiting if not embedding_attack or w[0] in clean_models]
            waiting = [w for w in waiting if w not in ready]
            for seed, method, r, row in ready:
                yield from finished_rows(seed, method, r, row)


def pixel_distances(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Number of differing pixel positions for every pair of images of *different* classes.

    Parameters
    ----------
    images : ndarray of uint8, shape (n, H, W)
    labels : ndarray of int, shape (n,)

    Returns
    -------
    ndarray of int64, one entry per unordered cross-class pair.
    """
    flat = np.asarray(images).reshape(len(images), -1)
    labels = np.asarray(labels)
    out = []
    for i in range(len(flat) - 1):
        other = np.flatnonzero(labels[i + 1 :] != labels[i]) + i + 1
        if other.size:
            out.append(np.count_nonzero(flat[other] != flat[i], axis=1))
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, dtype=np.int64)


def identity_bound(
    distances: np.ndarray, eps_values: Iterable[float], *, m: int = 16, shape: tuple[int, int]
) -> dict[str, Any]:
    """What the m-neighbourhood guarantee says about *identity* on real images.

    Parameters
    ----------
    distances : ndarray of int
        Pixel distances ``d`` between images of different people
        (:func:`pixel_distances`).
    eps_values : iterable of float
        The eps of one release.
    m : int
        The neighbourhood the release was calibrated for.
    shape : (H, W)
        Image shape (gray).

    Returns
    -------
    dict
        ``distance``: min / 5th percentile / median of ``d``; ``rows``: for
        each eps, the identity bound ``eps d / m`` at the minimum and median
        ``d`` (and the generic group-privacy ``eps * ceil(d / m)``), the ``m``
        and the noise that would bring the bound down to 1.

    Notes
    -----
    Two images ``d`` pixels apart differ by at most ``255 d C`` in L1 over the
    cell sums, so one release with noise scale ``255 m C / eps`` makes them
    ``eps d / m``-indistinguishable (:func:`dpimage.privacy.epsilon_for_distance`,
    exact for the Laplace mechanism; the generic group-privacy bound
    ``eps * ceil(d / m)`` is never smaller). A likelihood-ratio bound
    ``e^{eps d / m}`` says nothing once ``eps d / m`` is more than a few units.

    For an identity bound of 1 the noise scale on the sums must be
    ``255 d C``, whatever ``m`` and ``eps`` are chosen to get it (only the
    ratio ``m / eps = d`` matters). We report it as ``m = ceil(eps d)`` at the
    given eps, and the resulting Laplace scale of a full ``16 x 16`` cell mean
    (``255 d / 256`` grey levels) and of a single cell covering the whole
    image (``255 d / (H W)``).
    """
    from .. import cell_noise_scale

    d = np.asarray(distances)
    h, w = int(shape[0]), int(shape[1])
    stats = {
        "pairs": int(d.size),
        "pixels": h * w,
        "min": int(d.min()),
        "p05": float(np.percentile(d, 5)),
        "median": float(np.median(d)),
    }
    dmed = round(stats["median"])
    rows = []
    for eps in eps_values:
        m_needed = int(np.ceil(float(eps) * dmed))
        rows.append(
            {
                "eps": float(eps),
                "noise_scale_b16": float(cell_noise_scale((h, w), b=16, m=m, eps=eps)[0, 0]),
                "bound_min": epsilon_for_distance(stats["min"], m=m, eps=eps),
                "bound_median": epsilon_for_distance(dmed, m=m, eps=eps),
                "group_bound_median": float(eps) * -(-dmed // m),
                "m_for_bound_1": m_needed,
                "noise_scale_b16_for_bound_1": float(
                    cell_noise_scale((h, w), b=16, m=m_needed, eps=eps)[0, 0]
                ),
                "noise_scale_one_cell_for_bound_1": float(
                    cell_noise_scale((h, w), b=max(h, w), m=m_needed, eps=eps)[0, 0]
                ),
            }
        )
    return {"m": m, "distance": stats, "rows": rows}
