"""The obfuscations the adversary attacks, their noise streams and their cost.

An attack :class:`Method` is ``"none"`` (the clean images) or one method of
the registry (:mod:`dpimage.methods`) with the papers' parameters; it is
applied, labelled and priced through the registry. Seeded noise is for
measuring attacks only: it is **not** a private release.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import methods as registry
from .. import np_blur, np_pix
from ..privacy import compose
from ..release import exact_cells

__all__ = [
    "KINDS",
    "RENDERED",
    "Method",
    "averaging_cost",
    "method_rng",
    "noise_free",
    "obfuscate",
    "paper_methods",
]

#: Attack kinds that are a registry method drawn by another renderer of the *same*
#: release: kind -> (registry method, renderer). Post-processing only, so the
#: release, its ε and its noise stream (:func:`method_rng`) are the method's own;
#: only the rendering the adversary sees differs.
RENDERED = {"dp-pix-smooth": ("dp-pix", "smooth")}

#: ``"none"``, the registry methods and the :data:`RENDERED` kinds, spelled as in result tables.
KINDS = ("none", *(registry.get(name).cli_name for name in registry.names()), *RENDERED)


@dataclass(frozen=True)
class Method:
    """One obfuscation: ``kind`` in :data:`KINDS` (or an alias) with the papers' parameters.

    ``kind`` is stored as its result-table spelling (``"dp_pix"`` becomes
    ``"dp-pix"``), so the noise stream (:func:`method_rng`) and the label do
    not depend on how the method was named. ``"dp-pix-smooth"`` is DP-Pix
    with ``render="smooth"`` (:data:`RENDERED`): the same release as
    ``"dp-pix"`` under the same seed, drawn by the smooth renderer.
    """

    kind: str
    eps: float | None = None
    b: int = 16
    m: int = 16
    b0: int = 4
    k: int = 99

    def __post_init__(self) -> None:
        if self.kind != "none" and self.kind not in RENDERED:
            try:
                spec = registry.get(self.kind)
            except ValueError:
                raise ValueError(
                    f"method must be one of {', '.join(KINDS)}, got {self.kind!r}"
                ) from None
            object.__setattr__(self, "kind", spec.cli_name)
        if self.private and (self.eps is None or not self.eps > 0):
            raise ValueError(f"{self.kind} needs eps > 0, got {self.eps}")
        if not self.private and self.eps is not None:
            raise ValueError(f"{self.kind} is not private and takes no eps")
        if self.spec is not None:
            self.spec.validate(self.params())

    @property
    def spec(self) -> registry.Method | None:
        """The registry entry (None for the clean images)."""
        return None if self.kind == "none" else registry.get(self.base_kind)

    @property
    def base_kind(self) -> str:
        """The registry method's kind: ``"dp-pix"`` for ``"dp-pix-smooth"``."""
        return RENDERED[self.kind][0] if self.kind in RENDERED else self.kind

    @property
    def render(self) -> str | None:
        """The renderer a :data:`RENDERED` kind sets; None: the method's default."""
        return RENDERED[self.kind][1] if self.kind in RENDERED else None

    @property
    def private(self) -> bool:
        return self.spec is not None and self.spec.private

    def params(self) -> dict[str, Any]:
        """The registry parameters this obfuscation sets (the rest keep their defaults)."""
        fields = {"eps": self.eps, "b": self.b, "m": self.m, "b0": self.b0, "k": self.k}
        if self.render is not None:
            fields["render"] = self.render
        return {name: fields[name] for name in self.spec.param_names if name in fields}

    @property
    def label(self) -> str:
        """Short name as in the papers' tables, e.g. ``DP-Pix b=16 ε=0.5``."""
        return "clean" if self.spec is None else self.spec.describe(self.params())

    @property
    def epsilon(self) -> float | None:
        """ε of one release (the registry's privacy map); None if not private."""
        return None if self.spec is None else self.spec.epsilon(self.params())

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Obfuscate one uint8 image (``rng`` is used only by the DP methods)."""
        if self.spec is None:
            return image
        return self.spec.apply(image, self.params(), rng)


def paper_methods(
    *,
    pix_eps: Iterable[float] = (0.1, 0.3, 0.5, 1.0),
    blur_eps: Iterable[float] = (0.1, 0.5, 1.0),
    b: int = 16,
    m: int = 16,
    b0: int = 4,
    k: int = 99,
) -> list[Method]:
    """Fan 2018 Table 3 + Fan 2019 Table 1: clean, NP-Pix, DP-Pix, NP-Blur, DP-Blur (10)."""
    methods = [Method("none"), Method("np-pix", b=b)]
    methods += [Method("dp-pix", eps=e, b=b, m=m) for e in pix_eps]
    methods.append(Method("np-blur", k=k))
    methods += [Method("dp-blur", eps=e, m=m, b0=b0, k=k) for e in blur_eps]
    return methods


def averaging_cost(eps: float, repeats: int) -> float:
    """ε spent on one image released ``repeats`` times with fresh noise: ``repeats * eps``.

    Basic composition (:func:`dpimage.privacy.compose`): each release is
    eps-DP for the image's m-neighbourhood, so the ``r`` releases together
    (and their average, post-processing) are ``r * eps``-DP. Averaging ``r``
    releases divides the noise variance by ``r``.
    """
    if int(repeats) != repeats or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    return compose([eps], int(repeats))


def method_rng(
    seed: int, method: Method, repeats: int = 1, *, stream: int = 0
) -> np.random.Generator:
    """The noise generator of one (seed, method, repeats): stable across runs and orderings.

    Keyed by the release, not the rendering: ``"dp-pix-smooth"`` gets the
    stream of ``"dp-pix"`` (the same noisy means, rendered two ways).
    ``stream`` > 0 names another, independent stream of the same key (the
    template adversary's own simulations); 0 is the releases' stream.
    """
    key = zlib.crc32(
        repr((method.base_kind, method.eps, method.b, method.m, method.b0, method.k)).encode()
    )
    entropy = [int(seed), 0x0B5C, key, int(repeats)]
    return np.random.default_rng([*entropy, int(stream)] if stream else entropy)


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


def noise_free(image: np.ndarray, method: Method) -> np.ndarray:
    """What ``method`` outputs without its noise: the adversary's template of a clean image.

    DP-Pix -> NP-Pix with the same ``b``; DP-Blur -> NP-Pix at ``b0``
    rendered as blocks, then the same ``k x k`` Gaussian blur (what DP-Blur
    blurs, minus the noise); DP-Pix smooth -> the smooth renderer on the
    exact cell means, with the release's public noise scale (so its
    smoothing strength is the one a release gets). Non-private methods are
    returned as they are.
    """
    if method.kind == "dp-pix":
        return np_pix(image, b=method.b)
    if method.kind in RENDERED:
        # The release's public facts (noise scale, eps, m) with the true means in place of
        # the noisy ones; the noise draw itself is discarded.
        shaped = method.spec.release(image, method.params(), np.random.default_rng(0))
        exact = dataclasses.replace(shaped, means=exact_cells(image, method.b).means.copy())
        return method.spec.render(exact, method.params())
    if method.kind == "dp-blur":
        return np_blur(np_pix(image, b=method.b0), k=method.k)
    return method.apply(image, np.random.default_rng(0))
