"""The CNN attack of McPherson et al. (2016) as run by Fan (2018, 2019), and the
nearest-neighbour attacks in the clean network's embedding; serial or in worker processes.

PyTorch is imported lazily (:mod:`dpimage.attack.train`), inside the runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .data import LabelledData, _Split, _SplitCache
from .obfuscation import Method, method_rng, obfuscate
from .scoring import _row_header, confusion_summary, nearest_neighbour_accuracy

__all__ = ["run_attack"]


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
