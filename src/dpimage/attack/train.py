"""Training with early stopping on a validation split, prediction and embeddings.

Images go in as ``uint8`` or ``float`` arrays ``(n, H, W)`` on the 0..255 scale
(averaged releases are float); they are standardised with the mean and
standard deviation of the *training* images, which the adversary has.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._torch import import_torch
from .models import build_model

__all__ = ["TrainConfig", "TrainedModel", "embed", "predict", "train_classifier"]


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and stopping rule (McPherson et al.: SGD, lr 0.01, momentum 0.9).

    Training stops when validation accuracy has not improved for ``patience``
    epochs (a tie in accuracy with a lower validation loss counts as an
    improvement) or after ``max_epochs``, but never before ``min_epochs``: on
    noisy images the network can sit at chance for several epochs before it
    starts to learn, and stopping there would make the attack look weaker than
    it is. The weights of the best epoch are kept.
    """

    lr: float = 0.01
    momentum: float = 0.9
    batch_size: int = 32
    max_epochs: int = 40
    patience: int = 5
    min_epochs: int = 10
    threads: int = 2

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_epochs", "patience", "min_epochs", "threads"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0 or not 0 <= self.momentum < 1:
            raise ValueError(f"need lr > 0 and 0 <= momentum < 1, got {self.lr}, {self.momentum}")


@dataclass
class TrainedModel:
    """A trained network with the input standardisation it was trained with."""

    model: Any
    mean: float
    std: float
    epochs_run: int
    best_epoch: int
    best_val_accuracy: float
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


def _as_input(images: np.ndarray, mean: float, std: float) -> Any:
    torch = import_torch()
    x = (np.asarray(images, dtype=np.float32) - mean) / std
    if x.ndim != 3:
        raise ValueError(f"images must be (n, H, W) gray, got shape {x.shape}")
    t = torch.from_numpy(np.ascontiguousarray(x)).unsqueeze(1)
    return t.contiguous(memory_format=torch.channels_last)


def _forward_batches(module: Any, x: Any, batch: int = 256) -> Any:
    torch = import_torch()
    module.eval()
    with torch.no_grad():
        return torch.cat([module(x[i : i + batch]) for i in range(0, len(x), batch)])


def train_classifier(
    kind: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    n_classes: int,
    *,
    config: TrainConfig | None = None,
    seed: int = 0,
) -> TrainedModel:
    """Train the ``kind`` network (``"face"`` or ``"digit"``) with early stopping.

    Parameters
    ----------
    kind : {"face", "digit"}
    x_train, x_val : ndarray, shape (n, H, W)
        Training and validation images on the 0..255 scale.
    y_train, y_val : ndarray of int, shape (n,)
        Labels in ``0 .. n_classes - 1``.
    n_classes : int
    config : TrainConfig, optional
    seed : int
        Seeds weight initialisation, dropout and batch order.

    Returns
    -------
    TrainedModel
        The weights of the epoch with the best validation accuracy.
    """
    torch = import_torch()
    config = config or TrainConfig()
    if len(x_train) == 0 or len(x_val) == 0:
        raise ValueError("need at least one training and one validation image")
    torch.set_num_threads(config.threads)
    torch.manual_seed(seed)
    order_rng = torch.Generator().manual_seed(seed)

    mean = float(np.mean(x_train))
    std = float(np.std(x_train)) or 1.0
    xt, xv = _as_input(x_train, mean, std), _as_input(x_val, mean, std)
    yt = torch.as_tensor(np.asarray(y_train), dtype=torch.long)
    yv = torch.as_tensor(np.asarray(y_val), dtype=torch.long)
    h, w = xt.shape[-2:]
    model = build_model(kind, int(h), int(w), n_classes).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    loss_fn = torch.nn.functional.cross_entropy

    start = time.perf_counter()
    best = (-1.0, float("inf"))
    best_state, best_epoch, wait, history = None, 0, 0, []
    for epoch in range(1, config.max_epochs + 1):
        model.train()
        perm = torch.randperm(len(xt), generator=order_rng)
        total = 0.0
        for i in range(0, len(xt), config.batch_size):
            idx = perm[i : i + config.batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        logits = _forward_batches(model, xv)
        val_loss = float(loss_fn(logits, yv))
        val_acc = float((logits.argmax(1) == yv).float().mean())
        history.append(
            {
                "epoch": epoch,
                "train_loss": total / len(xt),
                "val_loss": val_loss,
                "val_acc": val_acc,
            }
        )
        if val_acc > best[0] or (val_acc == best[0] and val_loss < best[1]):
            best, best_epoch, wait = (val_acc, val_loss), epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            wait += 1
            if wait >= config.patience and epoch >= config.min_epochs:
                break
    model.load_state_dict(best_state)
    model.eval()
    return TrainedModel(
        model=model,
        mean=mean,
        std=std,
        epochs_run=len(history),
        best_epoch=best_epoch,
        best_val_accuracy=best[0],
        seconds=time.perf_counter() - start,
        history=history,
    )


def predict(trained: TrainedModel, images: np.ndarray) -> np.ndarray:
    """Class scores (logits), shape ``(n, n_classes)``, as a NumPy array."""
    x = _as_input(images, trained.mean, trained.std)
    return _forward_batches(trained.model, x).numpy()


def embed(trained: TrainedModel, images: np.ndarray) -> np.ndarray:
    """The network's penultimate layer (1024-d faces, 200-d digits), shape ``(n, d)``."""
    x = _as_input(images, trained.mean, trained.std)
    return _forward_batches(trained.model[:2], x).numpy()
