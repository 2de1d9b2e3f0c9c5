"""What decides a video release and what a finished one did: the types the frame loop
(:mod:`.process`) and its books (:mod:`.record`) share."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .. import methods
from .._validation import check_positive_int
from ..regions.release import RegionReleaser, region_releaser
from .accounting import VideoAccounting
from .regions import RegionSettings, Release
from .spans import Span, check_spans

__all__ = ["VIDEO_METHODS", "VideoResult", "VideoSettings", "video_method"]

#: The methods a video can be released with (names of :mod:`dpimage.methods`).
VIDEO_METHODS = ("dp_pix", "dp_blur")


def video_method(method: str) -> str:
    """The registry's name of a video method given in any of its spellings (pix, dp-pix, ...).

    Raises
    ------
    ValueError
        If ``method`` is not DP-Pix or DP-Blur.
    """
    return methods.get(method, among=VIDEO_METHODS).name


@dataclass(frozen=True)
class VideoSettings:
    """Everything that decides a video release.

    Exactly one of ``eps`` (per fresh release) and ``total_eps`` (budget for
    the clip) is set. ``every`` is the release period (1: every frame).
    ``spans``: release only the frames in these time spans ``(start, end)``
    in seconds (``end`` ``None``: to the end); every other frame is published
    as it is, NOT protected (see :mod:`dpimage.video.spans`). Empty: the
    whole clip.
    """

    method: Literal["dp_pix", "dp_blur"] = "dp_pix"  # or any alias of dpimage.methods
    b: int = 16
    b0: int = 4
    k: int = 99
    m: int = 16
    eps: float | None = 0.5
    total_eps: float | None = None
    every: int = 1
    regions: RegionSettings | None = None
    seed: int | None = None
    keep_audio: bool = False
    render: str = "blocks"  # renderer of each release (before the blur for DP-Blur)
    colour: str = "rgb"  # colour path of RGB frames (dpimage.release.colour)
    spans: tuple[Span, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "spans", check_spans(self.spans))
        # the registry's spelling, as everywhere ("pix", "blur", "dp-pix", ... all resolve)
        object.__setattr__(self, "method", video_method(self.method))
        if (self.eps is None) == (self.total_eps is None):
            raise ValueError("give exactly one of eps and total_eps")
        check_positive_int(self.every, "every")
        if self.regions is not None and self.regions.reuse and self.every != 1:
            raise ValueError("region reuse releases once per track; it takes no release period")
        if self.seed is not None and (isinstance(self.seed, bool) or self.seed < 0):
            raise ValueError(f"seed must be a non-negative integer, got {self.seed}")
        # The method registry is the judge of b, b0, k, m, eps, render and colour.
        checked = self.spec.validate(
            self._params(self.eps if self.eps is not None else self.total_eps)
        )
        object.__setattr__(self, "colour", checked["colour"])  # "ycocg" -> "luma-chroma"

    @property
    def spec(self) -> methods.Method:
        return methods.get(self.method)

    def _cell(self) -> dict[str, Any]:
        """The method's own parameters besides m and eps (b; or b0 and k), as it names them."""
        return {name: getattr(self, name) for name in self.spec.shown}

    def _params(self, eps: float) -> dict[str, Any]:
        return {**self._cell(), "m": self.m, "eps": eps, "render": self.render,
                "colour": self.colour}

    def parameters(self) -> dict[str, Any]:
        """Mechanism parameters for the manifest."""
        params = self._cell()
        params.update(m=self.m, eps=self.eps, total_eps=self.total_eps, release_every=self.every)
        if (self.render, self.colour) != ("blocks", "rgb"):
            params.update(render=self.render, colour=self.colour)
        if self.spans:
            params["spans_seconds"] = [[start, end] for start, end in self.spans]
        split = self.spec.budget(self._params(self.eps)) if self.eps is not None else None
        if split is not None:  # per fresh release, for RGB frames: public parameters only
            params["colour_split"] = split
        return params

    def release_fn(self, eps: float) -> Release:
        """The mechanism at ``eps``, drawing from one stream for the whole clip."""
        rng = np.random.default_rng(self.seed) if self.seed is not None else None
        spec = self.spec
        params = spec.validate(self._params(eps))
        return lambda img: spec.apply(img, params, rng)

    def region_release_fn(self, eps: float) -> RegionReleaser:
        """The mechanism at ``eps`` on a frame's boxes, drawn as ``regions.context`` says."""
        rng = np.random.default_rng(self.seed) if self.seed is not None else None
        spec = self.spec
        context = self.regions.context if self.regions is not None else "border"
        params = spec.validate(self._params(eps))
        return region_releaser(spec, params, rng, context=context, steady=True)


@dataclass
class VideoResult:
    """What a finished run did.

    ``partial`` is None for a complete input; for a truncated input released
    with ``allow_partial=True`` it says how far the input went (see
    :class:`TruncatedVideoError`).
    """

    accounting: VideoAccounting
    encoding: str
    notices: list[str] = field(default_factory=list)
    partial: dict[str, Any] | None = None
    #: The output's manifest with this release added (``None`` until recorded).
    manifest: dict[str, Any] | None = None
    manifest_path: Path | None = None
    #: One line if the manifest could not be written (the video is written).
    manifest_error: str | None = None
    #: Temporary files of killed runs removed from the output's folder.
    stale_removed: int = 0
    #: Region mode: how many regions were released (derived from the frames; see
    #: :func:`dpimage.video.regions.count_regions`); ``None`` for whole frames.
    regions_found: dict[str, Any] | None = None
    #: The input's frame rate (frame ``i`` is at ``i / rate`` s in the output).
    rate: Fraction | None = None
