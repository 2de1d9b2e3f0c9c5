"""Privacy accounting for video: how per-frame releases compose over a clip.

Pure functions on integers and floats; no frames, no files. The command
line, the manifest and the tests all use these.

The unit of privacy is the m-neighbourhood of *one frame* (two frames that
differ in at most ``m`` pixels, every channel). A video release is a sequence
of frame releases, each ``eps``-DP for its frame; a frame that repeats or
reuses an earlier release is post-processing and costs nothing. An object
that appears in every frame is in every fresh release, so by basic
composition it is protected at

    eps_object = R * eps_release,

where ``R`` is the number of fresh releases. The four modes differ only in
``R`` and ``eps_release``:

* **per-frame**: every one of the ``T`` frames is released: ``R = T``.
* **release every N**: a fresh release at frames ``0, N, 2N, ...``, repeated
  in between: ``R = ceil(T / N)``.
* **total budget E** (combinable with the above): ``eps_release`` is the
  largest double with ``R * eps_release <= E`` *exactly* (checked in rational
  arithmetic, so the rounded split never overspends).
* **regions, reuse**: each tracked region is released once, when its track
  starts, and that release is pasted (resized) while the track lasts. The
  fresh releases happen in the frames where a track starts; all regions
  released in one frame together cost ``eps_release`` (see
  :func:`dpimage.regions.release_regions`). ``R`` is the number of such frames,
  which bounds every object; an object followed by a single track is in one
  release only (the per-track figure is reported separately).

References
----------
.. [1] L. Fan, "Practical Image Obfuscation with Provable Privacy", ICME 2019,
   Sec. 6 (video: composition across frames; reuse the first release).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

from .._validation import check_positive_float, check_positive_int

__all__ = [
    "VideoAccounting",
    "account",
    "accumulate_manifest",
    "compose",
    "full_frame_release_frames",
    "region_release_frames",
    "split_budget",
]

MODES = ("per-frame", "release-every", "region-per-frame", "region-every", "region-reuse")


def _check_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def compose(eps: float, releases: int) -> float:
    """Basic composition of ``releases`` releases of ``eps`` each: ``releases * eps``.

    Computed exactly in rationals and rounded once, so ``compose(0.1, 3)`` is
    the double nearest 0.3 (not ``0.1 + 0.1 + 0.1``). The package's one
    composition rule, :func:`dpimage.privacy.compose`, for one eps repeated.
    """
    from ..privacy.accountant import compose as _compose

    eps = check_positive_float(eps, "eps")
    releases = _check_count(releases, "releases")
    return _compose([eps], releases) if releases else 0.0  # compose takes repeats >= 1


def split_budget(total_eps: float, releases: int) -> float:
    """Largest double ``e`` with ``releases * e <= total_eps`` in exact arithmetic.

    Parameters
    ----------
    total_eps : float
        The budget for the whole clip.
    releases : int
        Number of fresh releases that share it (>= 1).

    Returns
    -------
    float
        ``total_eps / releases`` rounded *down* when the nearest double would
        overspend. Never more than the budget, never less than one ulp below
        the exact quotient.
    """
    total_eps = check_positive_float(total_eps, "total_eps")
    releases = check_positive_int(releases, "releases")
    share = total_eps / releases
    while Fraction(share) * releases > Fraction(total_eps):
        share = math.nextafter(share, 0.0)
    if not share > 0:
        raise ValueError(f"total_eps {total_eps!r} is too small to split over {releases} releases")
    return share


def full_frame_release_frames(
    n_frames: int, every: int = 1, inside: Callable[[int], int | None] | None = None
) -> Sequence[int]:
    """Indices of the frames that get a fresh full-frame release: ``0, N, 2N, ...``.

    With ``inside`` (frame index -> the time span holding it, or ``None``:
    see :mod:`dpimage.video.spans`), only frames inside a span: ``0, N, 2N,
    ...`` among them, and the first frame of each span (it must not repeat a
    release from before the gap). The frame loop
    (:func:`dpimage.video.process.full_frame_stream`) follows the same rule.
    """
    n_frames = _check_count(n_frames, "n_frames")
    every = check_positive_int(every, "every")
    if inside is None:
        return range(0, n_frames, every)
    fresh, span = [], None
    for i in range(n_frames):
        k = inside(i)
        if k is not None and (k != span or i % every == 0):
            fresh.append(i)
        span = k
    return fresh


def region_release_frames(
    track_spans: Iterable[tuple[int, int]], every: int | None = 1
) -> list[int]:
    """Frames with at least one fresh region release, sorted.

    Parameters
    ----------
    track_spans : iterable of (first, last)
        Each track's first and last frame (inclusive) in which its box is
        covered.
    every : int or None
        ``1``: every covered frame is released afresh (per-frame). ``N``: a
        fresh release at frames ``0, N, 2N, ...`` for every track covered then,
        plus one when a track starts in between (its first frame must not go
        out raw). ``None``: reuse, one release per track at its first frame.

    Returns
    -------
    list of int
    """
    frames: set[int] = set()
    if every is not None:
        every = check_positive_int(every, "every")
    for first, last in track_spans:
        first, last = _check_count(first, "first"), _check_count(last, "last")
        if last < first:
            raise ValueError(f"a track span must have first <= last, got ({first}, {last})")
        frames.add(first)
        if every is not None:
            start = -(-first // every) * every
            frames.update(range(start, last + 1, every))
    return sorted(frames)


@dataclass(frozen=True)
class VideoAccounting:
    """What a video release spent, for the manifest and the summary.

    Attributes
    ----------
    mode : str
        One of ``per-frame``, ``release-every``, ``region-per-frame``,
        ``region-every``, ``region-reuse``.
    frames : int
        Frames in the output.
    releases : int
        Fresh DP releases (frames in which the mechanism saw raw pixels).
    eps_per_release : float
        ε of each fresh release (for the whole frame or all its regions).
    eps_object : float
        ε protecting an object visible in every frame (basic composition,
        ``releases * eps_per_release``).
    total_eps_budget : float or None
        The ``--total-eps`` budget, if one was given.
    eps_per_track : float or None
        Regions only: ε of an object followed by one track from start to end
        (``eps_per_release`` times the releases of that track's longest span).
    """

    mode: str
    frames: int
    releases: int
    eps_per_release: float
    eps_object: float
    total_eps_budget: float | None = None
    eps_per_track: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form for the manifest."""
        return asdict(self)


def account(
    *,
    frames: int,
    release_frames: Iterable[int],
    mode: str,
    eps: float | None = None,
    total_eps: float | None = None,
    max_track_releases: int | None = None,
) -> VideoAccounting:
    """Accounting of one clip from the frames that got a fresh release.

    Exactly one of ``eps`` (per release) and ``total_eps`` (split evenly over
    the releases with :func:`split_budget`) must be given.

    Parameters
    ----------
    frames : int
        Frames in the clip.
    release_frames : iterable of int
        Frame indices with a fresh release (each counted once).
    mode : str
        See :data:`MODES`.
    eps, total_eps : float, optional
        Per-release ε, or the clip's budget.
    max_track_releases : int, optional
        Regions: most fresh releases any single track took part in.

    Returns
    -------
    VideoAccounting
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    frames = _check_count(frames, "frames")
    released = sorted(set(release_frames))
    if released and (released[0] < 0 or released[-1] >= frames):
        raise ValueError("release frames must lie in [0, frames)")
    if (eps is None) == (total_eps is None):
        raise ValueError("give exactly one of eps and total_eps")
    r = len(released)
    if total_eps is not None:
        total_eps = check_positive_float(total_eps, "total_eps")
        per = split_budget(total_eps, r) if r else total_eps
    else:
        per = check_positive_float(eps, "eps")
    per_track = None
    if max_track_releases is not None:
        per_track = compose(per, _check_count(max_track_releases, "max_track_releases"))
    return VideoAccounting(
        mode=mode,
        frames=frames,
        releases=r,
        eps_per_release=per,
        eps_object=compose(per, r),
        total_eps_budget=total_eps,
        eps_per_track=per_track,
    )


def _settings(manifest: Mapping[str, Any]) -> str:
    import json

    from ..io.manifest import canonical_mechanism

    sampler = manifest.get("sampler") or {}
    video = manifest.get("video") or {}
    return json.dumps(
        [
            manifest.get("command"),
            canonical_mechanism(manifest.get("mechanism")),
            manifest.get("parameters"),
            manifest.get("private_release"),
            sampler.get("seed"),
            video.get("regions"),
        ],
        sort_keys=True,
    )


def accumulate_manifest(new: Mapping[str, Any], old: Mapping[str, Any] | None) -> dict[str, Any]:
    """The manifest of a video output after one more release written to it.

    Every release that was written spent its ε, even one that replaced an
    earlier file (``--overwrite``): the same clip released twice with fresh
    noise costs twice the ε (basic composition). So nothing is replaced:

    * same settings as the existing manifest: this release adds to its output
      entry's ``releases`` (:func:`dpimage.io.merge_manifests`, the rule the
      image commands follow) and ``count`` and ``total_epsilon`` cover them all;
    * other settings: the existing manifest (without its own
      ``previous_runs``) moves under ``previous_runs``;
    * ``total_epsilon_all_runs`` is ``total_epsilon`` plus the totals of all
      ``previous_runs``: what the content of this output has cost so far.

    Parameters
    ----------
    new : mapping
        Manifest of the release just written (one output).
    old : mapping or None
        The manifest found at the same place, if any.

    Returns
    -------
    dict
    """
    from ..io import merge_manifests

    merged = merge_manifests(new, old)
    # count the releases, not the entries: an entry may stand for several
    # releases of the same path (manifest version 2)
    for run in (merged, *merged.get("previous_runs", [])):
        run["count"] = sum(int(e.get("releases", 1)) for e in run.get("outputs", []))
    return merged
