"""The books of a video output: its manifest, written under the output's lock.

:func:`~dpimage.video.process_video` holds the output's lock
(:func:`dpimage.io.lock.output_lock`) from before it reads the manifest
beside the output (``OUT.mp4.manifest.json``) until after it wrote it back
with this release added (:func:`record_release`), so two runs into one output
can never overwrite each other's record: the second refuses before it writes
anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..io import build_manifest, write_manifest
from .accounting import accumulate_manifest
from .settings import VideoResult, VideoSettings
from .spans import describe_spans

__all__ = ["SEED_DERIVATION", "record_release", "video_manifest"]

#: How a seeded video run draws its noise (recorded in the manifest).
SEED_DERIVATION = "numpy.random.default_rng(seed), one stream for the clip"


def _derived_note(regions: bool, total_eps: bool) -> dict[str, object]:
    """What in the video manifest derives from the input, said exactly."""
    if not regions:
        return {
            "derived_from_detections": [],
            "note": (
                "frames and releases are counts the output itself shows (its frame count and "
                "the release period); partial, when set, records what the input's container "
                "announced; nothing else here derives from the input"
            ),
        }
    # Paths from the manifest's top: every figure computed from the region releases' count.
    derived = [
        "video.accounting.releases", "video.accounting.eps_object",
        "video.accounting.eps_per_track", "video.epsilon_object_visible_throughout",
        "outputs[].epsilon", "epsilon_per_output", "total_epsilon", "total_epsilon_all_runs",
        "accountant", "video.regions_found",
    ]
    if total_eps:
        derived.append("video.accounting.eps_per_release")
    return {
        "derived_from_detections": derived,
        "note": (
            "region mode: the fields in derived_from_detections are computed from where the "
            "regions are (the detector run on the raw, unprotected frames, or the --boxes "
            "file): how many frames hold a region and how long the longest track lasts, and "
            "regions_found (tracks, boxes per frame: max and mean). They "
            "are not protected by the release. frames is the output's frame count; partial, "
            "when set, records what the input's container announced; nothing else here "
            "derives from the input"
        ),
    }


def video_manifest(dst: Path, settings: VideoSettings, result: VideoResult) -> dict[str, Any]:
    """The manifest of one release of a clip into ``dst`` (this release only)."""
    acc = result.accounting
    regions = settings.regions
    manifest = build_manifest(
        command="video",
        mechanism=settings.method + ("_regions" if regions is not None else ""),
        parameters=settings.parameters(),
        outputs=[(dst.name, acc.eps_object)],
        seed=settings.seed,
        seed_derivation=SEED_DERIVATION if settings.seed is not None else None,
    )
    manifest["video"] = {
        "accounting": acc.as_dict(),
        "epsilon_object_visible_throughout": acc.eps_object,
        "encoding": result.encoding,
        "audio": "kept, NOT protected" if settings.keep_audio else "dropped",
        "container_metadata": "none copied",
        "regions": regions.describe() if regions is not None else None,
        "partial": {k: v for k, v in result.partial.items() if k != "message"}
        if result.partial is not None
        else None,
        **_derived_note(regions is not None, settings.total_eps is not None),
    }
    if result.regions_found is not None:
        manifest["video"]["regions_found"] = result.regions_found
    if settings.spans and result.rate is not None:
        manifest["video"]["spans"] = describe_spans(settings.spans, result.rate, acc.frames)
    return manifest


def record_release(
    dst: Path,
    manifest_path: Path,
    previous: dict[str, Any] | None,
    settings: VideoSettings,
    result: VideoResult,
) -> None:
    """Add the release just written to ``dst`` to its manifest; fill in ``result``'s record.

    ``previous`` is the manifest read (and checked) when the run started,
    under the same lock. A manifest that cannot be written leaves the video
    in place and says why in :attr:`VideoResult.manifest_error`.
    """
    manifest = accumulate_manifest(video_manifest(dst, settings, result), previous)
    result.manifest, result.manifest_path = manifest, manifest_path
    try:
        write_manifest(manifest, manifest_path)
    except OSError as exc:
        result.manifest_error = (
            f"cannot write the manifest {manifest_path}: {exc.strerror or exc}; the video "
            "is written, and this release is not recorded"
        )
