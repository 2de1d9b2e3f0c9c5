"""Sparse-code autoencoder with sparsifying linear layers on convolutional groups.

Architecture (Ferdowsi et al., ICASSP 2020, Fig. 1-2)::

    image (1 x S x S)
      -> [conv 4x4 stride 2 + LeakyReLU] x len(widths), one residual block
      -> 1x1 conv to C code maps of s x s (s = S / 2**len(widths))
      -> per map: its own linear layer s*s -> n  ("grouped linear encoder")
      -> top-k by magnitude in each map: exactly k non-zeros out of n
      -> per map: its own linear layer n -> s*s ("grouped linear decoder")
      -> 1x1 conv, residual block, [transposed conv 4x4 stride 2] x len(widths)
      -> logits; the image is ``sigmoid(logits)`` in [0, 1]

The loss is binary cross-entropy between the image in [0, 1] and the
decoder's sigmoid output, as in the seed. The top-k non-linearity passes
gradients only through the kept entries.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from ._torch import torch

nn = torch.nn
F = torch.nn.functional

__all__ = ["GroupedLinear", "ModelConfig", "SparseCodeAutoencoder", "net_dense_codes", "top_k"]


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of a :class:`SparseCodeAutoencoder`.

    Attributes
    ----------
    image_size : int
        Side S of the square gray input; must be divisible by ``2**len(widths)``.
    widths : tuple of int
        Channels of the strided convolutions (the decoder mirrors them).
    maps : int
        Number C of code maps (convolutional groups).
    code_length : int
        Length n of each sparse code map.
    train_k : tuple of int
        Sparsities used in training; each batch draws one, so one model serves
        every k in the tuple.
    """

    image_size: int = 64
    widths: tuple[int, ...] = (16, 32, 64)
    maps: int = 16
    code_length: int = 512
    train_k: tuple[int, ...] = (64, 128)

    def __post_init__(self) -> None:
        if self.image_size < 4 or self.image_size % (2 ** len(self.widths)):
            raise ValueError(
                f"image_size {self.image_size} must be divisible by 2**{len(self.widths)}"
            )
        if self.maps < 1 or self.code_length < 2:
            raise ValueError("maps must be >= 1 and code_length >= 2")
        if not self.train_k or any(not 1 <= k < self.code_length for k in self.train_k):
            raise ValueError(f"train_k must be in 1..{self.code_length - 1}, got {self.train_k}")

    @property
    def map_side(self) -> int:
        """Side s of each convolutional code map before the grouped linear layer."""
        return self.image_size // 2 ** len(self.widths)

    def to_json(self) -> str:
        """The configuration as JSON (stored in the model file's metadata)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        """Inverse of :meth:`to_json`; rejects unknown or missing fields."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("model configuration must be a JSON object")
        data["widths"] = tuple(int(w) for w in data["widths"])
        data["train_k"] = tuple(int(k) for k in data["train_k"])
        return cls(**data)


def top_k(z: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest-magnitude entries along the last axis; zero the rest.

    Exactly ``k`` entries survive in every row (ties broken by index order of
    :func:`torch.topk`); gradients flow only through them.
    """
    n = z.shape[-1]
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..{n}, got {k}")
    index = z.abs().topk(k, dim=-1).indices
    mask = torch.zeros_like(z, dtype=torch.bool).scatter_(-1, index, True)
    return z * mask


class GroupedLinear(nn.Module):
    """C independent linear layers, one per group: ``(B, C, d_in) -> (B, C, d_out)``."""

    def __init__(self, groups: int, d_in: int, d_out: int) -> None:
        super().__init__()
        bound = d_in**-0.5
        self.weight = nn.Parameter(torch.empty(groups, d_in, d_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(groups, d_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bci,cio->bco", x, self.weight) + self.bias


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.leaky_relu(self.conv1(x), 0.2))


class SparseCodeAutoencoder(nn.Module):
    """Convolutional autoencoder whose bottleneck is C sparse code maps.

    Parameters
    ----------
    config : ModelConfig
        Sizes; see :class:`ModelConfig`.

    Notes
    -----
    Inputs are float tensors ``(B, 1, S, S)`` in [0, 1]. :meth:`code` gives the
    dense pre-sparsification codes ``(B, C, n)``, :meth:`encode` their top-k,
    :meth:`decode` maps any ``(B, C, n)`` code (sparse or not) to an image.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        c_in = 1
        for width in config.widths:
            layers += [nn.Conv2d(c_in, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c_in = width
        layers += [_Residual(c_in), nn.Conv2d(c_in, config.maps, 1)]
        self.conv_encoder = nn.Sequential(*layers)
        d = config.map_side**2
        self.group_encoder = GroupedLinear(config.maps, d, config.code_length)
        self.group_decoder = GroupedLinear(config.maps, config.code_length, d)
        top = config.widths[-1]
        layers = [nn.Conv2d(config.maps, top, 1), nn.LeakyReLU(0.2), _Residual(top)]
        widths = list(config.widths[::-1])
        for i, width in enumerate(widths):
            out = widths[i + 1] if i + 1 < len(widths) else 1
            layers.append(nn.ConvTranspose2d(width, out, 4, stride=2, padding=1))
            if out != 1:
                layers.append(nn.LeakyReLU(0.2))
        self.conv_decoder = nn.Sequential(*layers)

    def code(self, x: torch.Tensor) -> torch.Tensor:
        """Dense codes ``(B, C, n)`` before the top-k non-linearity."""
        h = self.conv_encoder(x)
        return self.group_encoder(h.flatten(2))

    def encode(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """Sparse codes: exactly ``k`` non-zeros in each of the C maps."""
        return top_k(self.code(x), k)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder output before the sigmoid, ``(B, 1, S, S)``."""
        s = self.config.map_side
        h = self.group_decoder(z).reshape(z.shape[0], self.config.maps, s, s)
        return self.conv_decoder(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Image in [0, 1] from codes ``(B, C, n)``."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """Reconstruction logits of ``x`` through the k-sparse bottleneck."""
        return self.decode_logits(self.encode(x, k))


@torch.no_grad()
def net_dense_codes(
    net: SparseCodeAutoencoder, images: np.ndarray, batch: int | None = None
) -> np.ndarray:
    """Dense codes ``(N, C, n)`` (before top-k) of images ``(N, S, S)`` in [0, 1], as float32.

    ``batch``: images per forward pass (``None``: all at once).
    """
    images = np.ascontiguousarray(images, dtype=np.float32)
    step = len(images) if batch is None else batch
    out = []
    for start in range(0, len(images), max(step, 1)):
        x = torch.from_numpy(images[start : start + step]).unsqueeze(1)
        out.append(net.code(x).numpy())
    if not out:
        return np.zeros((0, net.config.maps, net.config.code_length), np.float32)
    return np.concatenate(out)
