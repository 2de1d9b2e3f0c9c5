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

from typing import Any

from ._torch import import_torch

__all__ = ["build_model", "digit_cnn", "face_cnn"]


def _flat_size(features: Any, height: int, width: int) -> int:
    torch = import_torch()
    with torch.no_grad():
        return int(features(torch.zeros(1, 1, height, width)).numel())


def face_cnn(height: int, width: int, n_classes: int) -> Any:
    """The AT&T face network: 3 conv blocks, FC 1024, dropout 0.5, FC ``n_classes``.

    ``conv3x3(32) -> LeakyReLU -> maxpool 2 -> conv3x3(64) -> LeakyReLU ->
    maxpool 2 -> conv3x3(128) -> LeakyReLU -> maxpool 3 -> FC 1024 -> LeakyReLU
    -> dropout 0.5 -> FC n_classes``; convolutions are zero-padded ("same").
    For 112 x 92 inputs the flattened features are 128 x 9 x 7 = 8064 and the
    network has 8.4 M parameters. Returns an ``nn.Sequential``; ``model[:2]``
    is the embedding (the 1024-d layer).
    """
    nn = import_torch().nn
    if min(height, width) < 12:
        raise ValueError(f"the face network needs images of at least 12x12, got {height}x{width}")
    features = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.LeakyReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.LeakyReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1),
        nn.LeakyReLU(),
        nn.MaxPool2d(3),
        nn.Flatten(),
    )
    hidden = nn.Sequential(nn.Linear(_flat_size(features, height, width), 1024), nn.LeakyReLU())
    return nn.Sequential(features, hidden, nn.Dropout(0.5), nn.Linear(1024, n_classes))


def digit_cnn(height: int, width: int, n_classes: int) -> Any:
    """The MNIST network: conv5x5(32) tanh, maxpool 3, conv5x5(64) tanh, maxpool 2, FC 200, FC.

    Convolutions are zero-padded ("same"); for 28 x 28 inputs the flattened
    features are 64 x 4 x 4. ``model[:2]`` is the embedding (FC 200).
    """
    nn = import_torch().nn
    if min(height, width) < 6:
        raise ValueError(f"the digit network needs images of at least 6x6, got {height}x{width}")
    features = nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2),
        nn.Tanh(),
        nn.MaxPool2d(3),
        nn.Conv2d(32, 64, 5, padding=2),
        nn.Tanh(),
        nn.MaxPool2d(2),
        nn.Flatten(),
    )
    hidden = nn.Sequential(nn.Linear(_flat_size(features, height, width), 200), nn.Tanh())
    return nn.Sequential(features, hidden, nn.Linear(200, n_classes))


def build_model(kind: str, height: int, width: int, n_classes: int) -> Any:
    """``kind`` is ``"face"`` or ``"digit"``; see :func:`face_cnn`, :func:`digit_cnn`."""
    if kind == "face":
        return face_cnn(height, width, n_classes)
    if kind == "digit":
        return digit_cnn(height, width, n_classes)
    raise ValueError(f"model must be 'face' or 'digit', got {kind!r}")
