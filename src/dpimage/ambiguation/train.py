"""Training of the sparse-code autoencoder.

The data (AT&T faces split by identity, padded MNIST) is :mod:`.data`'s.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._torch import torch
from .bundle import AmbiguationModel, fit_value_stats
from .mixture import fit_face_basis
from .model import ModelConfig, SparseCodeAutoencoder, top_k

F = torch.nn.functional

__all__ = [
    "TrainSettings",
    "train_model",
    "usage_penalty",
]


@dataclass
class TrainSettings:
    """Optimisation settings (see :func:`train_model`)."""

    epochs: int = 300
    batch_size: int = 32
    lr: float = 2e-3
    augment: bool = True
    seed: int = 0
    threads: int = 1
    balance: float = 0.1

    def __post_init__(self) -> None:
        counts = (self.epochs, self.batch_size, self.threads)
        if min(counts) < 1 or not self.lr > 0 or not self.balance >= 0:
            raise ValueError("epochs, batch_size, threads must be >= 1, lr > 0, balance >= 0")


def usage_penalty(z: torch.Tensor) -> torch.Tensor:
    """Spread of the units' mean magnitudes within each map, ``mean((a_j / mean(a) - 1)**2)``.

    ``a_j`` is unit j's mean ``|z|`` over the batch. Top-k picks large
    magnitudes, so units with a larger typical magnitude are in the support
    more often; a position that is (almost) always true cannot hide a fake.
    Penalising the spread pushes every unit towards the same selection rate
    k/n, which is what lets fakes sit anywhere (see :mod:`.ambiguate`).
    """
    a = z.abs().mean(dim=0)
    return ((a / (a.mean(dim=-1, keepdim=True) + 1e-8) - 1.0) ** 2).mean()


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and shifts of up to 3 pixels (replicate padding)."""
    b, _, s, _ = x.shape
    flip = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    pad = 3
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    return torch.stack([padded[i, :, dy[i] : dy[i] + s, dx[i] : dx[i] + s] for i in range(b)])


def train_model(
    train: np.ndarray,
    config: ModelConfig,
    settings: TrainSettings | None = None,
    *,
    log: Callable[[str], None] | None = None,
) -> AmbiguationModel:
    """Train the autoencoder with BCE loss, then measure the fake-value statistics.

    Parameters
    ----------
    train : ndarray, shape (N, S, S)
        Training images, float32 in [0, 1], ``S == config.image_size``.
    config : ModelConfig
        Network sizes; each batch uses one k drawn from ``config.train_k``.
    settings : TrainSettings, optional
        Epochs, batch size, learning rate (Adam, cosine decay), augmentation,
        seed, torch threads and the weight ``balance`` of
        :func:`usage_penalty` added to the BCE loss (0 disables it).
    log : callable, optional
        Receives one progress line per epoch block.

    Returns
    -------
    AmbiguationModel
        The trained network (eval mode) with :class:`~.bundle.ValueStats`
        for every k in ``config.train_k``, measured on ``train`` without
        augmentation.
    """
    settings = settings or TrainSettings()
    if train.ndim != 3 or train.shape[1:] != (config.image_size, config.image_size):
        raise ValueError(
            f"training images must be (N, {config.image_size}, {config.image_size}), "
            f"got {train.shape}"
        )
    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    gen = torch.Generator().manual_seed(settings.seed)
    net = SparseCodeAutoencoder(config)
    data = torch.from_numpy(np.ascontiguousarray(train, dtype=np.float32)).unsqueeze(1)
    steps_per_epoch = math.ceil(len(data) / settings.batch_size)
    total = settings.epochs * steps_per_epoch
    opt = torch.optim.Adam(net.parameters(), lr=settings.lr)
    warmup = max(1, min(100, total // 10))

    def _factor(step: int) -> float:  # linear warm-up, then cosine decay to 2% of lr
        if step < warmup:
            return (step + 1) / warmup
        return 0.02 + 0.98 * 0.5 * (
            1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup))
        )

    sched = torch.optim.lr_scheduler.LambdaLR(opt, _factor)
    ks = list(config.train_k)
    start = time.monotonic()
    net.train()
    for epoch in range(settings.epochs):
        perm = torch.randperm(len(data), generator=gen)
        running = 0.0
        for step in range(steps_per_epoch):
            x = data[perm[step * settings.batch_size : (step + 1) * settings.batch_size]]
            if settings.augment:
                x = _augment(x, gen)
            k = ks[int(torch.randint(len(ks), (1,), generator=gen))]
            z = net.code(x)
            loss = F.binary_cross_entropy_with_logits(net.decode_logits(top_k(z, k)), x)
            if settings.balance > 0:
                loss = loss + settings.balance * usage_penalty(z)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += float(loss.detach())
        if log is not None and (epoch % 10 == 0 or epoch == settings.epochs - 1):
            log(
                f"epoch {epoch + 1}/{settings.epochs} loss {running / steps_per_epoch:.4f} "
                f"({time.monotonic() - start:.0f} s)"
            )
    net.eval()
    stats = {k: fit_value_stats(net, train, k) for k in ks}
    return AmbiguationModel(net=net, stats=stats, basis=fit_face_basis(train))
