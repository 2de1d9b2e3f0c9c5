"""The two attack CNNs of McPherson, Shokri & Shmatikov (2016), in PyTorch.

Both are built for any input size and class count, so a data owner can attack
their own labelled images; on AT&T (112 x 92, 40 people) and MNIST (28 x 28,
10 digits) they are the papers' networks.

References
----------
.. [1] R. McPherson, R. Shokri, V. Shmatikov, "Defeating Image Obfuscation
   with Deep Learning", arXiv:1609.00408, 2016 (Sect. 4, the AT&T and MNIST
   networks).
"""

from __future__ import annotations

import math
from typing import Any

from ._torch import import_torch

__all__ = ["build_model", "digit_cnn", "face_cnn"]


def _flat_size(features: Any, height: int, width: int) -> int:
    torch = import_torch()
    with torch.no_grad():
        return int(features(torch.zeros(1, 1, height, width)).numel())


def _conv_net(
    name: str,
    shape: tuple[int, int],
    n_classes: int,
    blocks: tuple[tuple[int, int], ...],
    kernel: int,
    activation: str,
    hidden: int,
    dropout: float | None = None,
) -> Any:
    """``blocks`` of (channels, pool): conv ``kernel`` -> activation -> maxpool; then
    FC ``hidden`` -> activation (-> dropout) -> FC ``n_classes``.

    Convolutions are zero-padded ("same"); ``model[:2]`` is the embedding (the
    ``hidden`` layer). The layers are made in the order they run, so one torch
    seed gives the same weights as the papers' layer-by-layer definitions.
    """
    nn = import_torch().nn
    act = getattr(nn, activation)
    height, width = shape
    smallest = math.prod(pool for _, pool in blocks)
    if min(height, width) < smallest:
        raise ValueError(
            f"the {name} network needs images of at least {smallest}x{smallest}, "
            f"got {height}x{width}"
        )
    layers: list[Any] = []
    channels = 1
    for out, pool in blocks:
        layers += [nn.Conv2d(channels, out, kernel, padding=kernel // 2), act(), nn.MaxPool2d(pool)]
        channels = out
    features = nn.Sequential(*layers, nn.Flatten())
    embedding = nn.Sequential(nn.Linear(_flat_size(features, height, width), hidden), act())
    drop = [nn.Dropout(dropout)] if dropout is not None else []
    return nn.Sequential(features, embedding, *drop, nn.Linear(hidden, n_classes))


def face_cnn(height: int, width: int, n_classes: int) -> Any:
    """The AT&T face network: 3 conv blocks, FC 1024, dropout 0.5, FC ``n_classes``.

    ``conv3x3(32) -> LeakyReLU -> maxpool 2 -> conv3x3(64) -> LeakyReLU ->
    maxpool 2 -> conv3x3(128) -> LeakyReLU -> maxpool 3 -> FC 1024 -> LeakyReLU
    -> dropout 0.5 -> FC n_classes``; convolutions are zero-padded ("same").
    For 112 x 92 inputs the flattened features are 128 x 9 x 7 = 8064 and the
    network has 8.4 M parameters. Returns an ``nn.Sequential``; ``model[:2]``
    is the embedding (the 1024-d layer).
    """
    return _conv_net(
        "face", (height, width), n_classes, ((32, 2), (64, 2), (128, 3)), kernel=3,
        activation="LeakyReLU", hidden=1024, dropout=0.5,
    )  # fmt: skip


def digit_cnn(height: int, width: int, n_classes: int) -> Any:
    """The MNIST network: conv5x5(32) tanh, maxpool 3, conv5x5(64) tanh, maxpool 2, FC 200, FC.

    Convolutions are zero-padded ("same"); for 28 x 28 inputs the flattened
    features are 64 x 4 x 4. ``model[:2]`` is the embedding (FC 200).
    """
    return _conv_net(
        "digit", (height, width), n_classes, ((32, 3), (64, 2)), kernel=5, activation="Tanh",
        hidden=200,
    )  # fmt: skip


def build_model(kind: str, height: int, width: int, n_classes: int) -> Any:
    """``kind`` is ``"face"`` or ``"digit"``; see :func:`face_cnn`, :func:`digit_cnn`."""
    if kind == "face":
        return face_cnn(height, width, n_classes)
    if kind == "digit":
        return digit_cnn(height, width, n_classes)
    raise ValueError(f"model must be 'face' or 'digit', got {kind!r}")
