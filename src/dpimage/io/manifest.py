"""The run manifest: what was released, with which parameters and at what ε.

The manifest is a JSON file written beside the outputs. It records the
package version, the command and mechanism, the parameters, how the noise was
drawn, the privacy model, and every release: each output with the ε it spent
and how many times it was released (re-releasing with ``--overwrite`` spends
ε again, and is counted). It records nothing derived from the inputs' content
(no hashes, sizes, dates or metadata of the input files, and no input paths)
except, in region mode, how many regions were released in each output
(``regions_found``, listed under ``derived_from_detections``: the detector ran
on the raw image; see :func:`region_counts`). Output paths are recorded; they
copy the input file names.

Format (version 2)
------------------
``outputs`` lists one entry per output path: ``epsilon`` (what one release of
it spends), ``releases`` (how many times it was written under these settings)
and ``runs`` (the random identifiers of the runs that wrote it, so that
folding the same run in twice never counts it twice). ``releases`` (top
level) and ``total_epsilon`` add up every release under these settings;
runs with other settings are kept whole under ``previous_runs``, and
``total_epsilon_all_runs`` adds them in. A version-1 manifest (no ``runs``)
is read as one release per output.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from .manifest_file import read_manifest, write_manifest

__all__ = [
    "COMPOSITION_NOTE",
    "MANIFEST_VERSION",
    "PRIVACY_MODEL",
    "all_runs_m",
    "build_manifest",
    "merge_manifests",
    "read_manifest",
    "recorded_releases",
    "region_counts",
    "total_epsilon_all_runs",
    "update_manifest",
    "write_manifest",
]

#: Format version of the manifest, bumped when keys change meaning.
MANIFEST_VERSION = 2

#: The neighbouring relation every output's ε refers to.
PRIVACY_MODEL = "m-neighbourhood: images differing in at most m pixels, every channel"

#: How the per-output ε values add up.
COMPOSITION_NOTE = (
    "basic composition: total_epsilon is the sum over every release (an output "
    "written again with --overwrite counts again). Each output protects its own "
    "input image at its own epsilon; the total matters only if several releases "
    "show the same content (the same person or object). total_epsilon_all_runs "
    "adds the runs with other settings listed under previous_runs; runs at different m "
    "are counted against the largest m (all_runs_m): a release at (m_i, eps_i) gives "
    "eps_i * M / m_i to images M pixels apart."
)

#: Keys :func:`build_manifest` writes (others, such as ``video``, are extras).
_STANDARD_KEYS = frozenset(
    {
        "manifest_version",
        "dpimage_version",
        "created_utc",
        "command",
        "mechanism",
        "parameters",
        "privacy_model",
        "private_release",
        "sampler",
        "outputs",
        "releases",
        "epsilon_per_output",
        "total_epsilon",
        "total_epsilon_all_runs",
        "all_runs_m",
        "composition",
        "accountant",
        "warning",
        "previous_runs",
    }
)


def _entry(path: str, epsilon: float, releases: int, runs: Sequence[str]) -> dict[str, Any]:
    return {"path": path, "epsilon": float(epsilon), "releases": int(releases), "runs": list(runs)}


def _entries(outputs: Sequence[tuple[str, float]], run: str) -> list[dict[str, Any]]:
    """One entry per path (a path listed twice in one run is one release)."""
    seen: dict[str, dict[str, Any]] = {}
    for name, eps in outputs:
        seen[name] = _entry(name, eps, 1, [run])
    return list(seen.values())


def _assemble(
    *,
    command: str,
    mechanism: str,
    parameters: Mapping[str, Any],
    entries: Sequence[Mapping[str, Any]],
    seed: int | None,
    seed_derivation: str | None,
    created: datetime | None,
) -> dict[str, Any]:
    from .. import __version__
    from ..privacy import SEEDED_WARNING, Accountant, sampler_info

    accountant = Accountant()
    for entry in entries:
        for _ in range(int(entry["releases"])):
            accountant.spend(float(entry["epsilon"]), entry["path"])

    sampler: dict[str, Any] = dict(sampler_info(seed))
    if seed is not None:
        sampler["seed"] = seed
        if seed_derivation:
            sampler["per_output_seed"] = seed_derivation

    eps_values = sorted({float(entry["epsilon"]) for entry in entries})
    when = (created or datetime.now(timezone.utc)).astimezone(timezone.utc)
    total = float(accountant.total_epsilon)
    manifest: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "dpimage_version": __version__,
        "created_utc": when.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "command": command,
        "mechanism": mechanism,
        "parameters": dict(parameters),
        "privacy_model": PRIVACY_MODEL,
        "private_release": seed is None,
        "sampler": sampler,
        "outputs": [dict(entry) for entry in entries],
        "releases": len(accountant.releases),
        "epsilon_per_output": eps_values[0] if len(eps_values) == 1 else eps_values,
        "total_epsilon": total,
        "total_epsilon_all_runs": total,
        "composition": COMPOSITION_NOTE,
        "accountant": accountant.state_dict(),
    }
    if seed is not None:
        manifest["warning"] = SEEDED_WARNING
    return manifest


def build_manifest(
    *,
    command: str,
    mechanism: str,
    parameters: Mapping[str, Any],
    outputs: Sequence[tuple[str, float]],
    seed: int | None = None,
    seed_derivation: str | None = None,
    created: datetime | None = None,
    run: str | None = None,
) -> dict[str, Any]:
    """Assemble the manifest of one run as a JSON-able dict.

    Parameters
    ----------
    command : str
        CLI command name, e.g. ``"pixelate"``.
    mechanism : str
        Library function used, e.g. ``"dp_pix"``.
    parameters : mapping
        Mechanism parameters (``b``, ``b0``, ``k``, ``m``, ``eps``, ``output``,
        ``sigma``, ...). Values must be JSON-able.
    outputs : sequence of (str, float)
        Each output written by this run: its path relative to the manifest's
        directory, and the ε it spent. Each is one release.
    seed : int, optional
        Seed of a reproducible run; ``None`` for a secure (private) run.
    seed_derivation : str, optional
        How the per-output generator is derived from ``seed``.
    created : datetime, optional
        Creation time (default: now, UTC).
    run : str, optional
        Identifier of the run (random, nothing derived from the inputs);
        default: a new one. :func:`merge_manifests` counts a (path, run)
        pair once, however often it is folded in.

    Returns
    -------
    dict
        The manifest. ``total_epsilon`` is the sum of the releases' ε computed
        by :class:`dpimage.privacy.Accountant` (basic composition).
    """
    return _assemble(
        command=command,
        mechanism=mechanism,
        parameters=parameters,
        entries=_entries(outputs, run if run is not None else secrets.token_hex(8)),
        seed=seed,
        seed_derivation=seed_derivation,
        created=created,
    )


#: What ``derived_from_detections`` says about the region counts of an image manifest.
REGION_COUNTS_NOTE = (
    "region mode: regions_found counts the regions released in each output (the latest "
    "release of each path) and their total. These counts derive from the image: the "
    "detector ran on its raw, unprotected pixels (with --boxes: the boxes that fall "
    "inside the image). They are not protected by the release "
    "(nor are the boxes' positions, which the released image shows). Nothing else here "
    "derives from the inputs' content"
)


def region_counts(per_output: Mapping[str, int]) -> dict[str, Any]:
    """The manifest's record of how many regions each output released, and their total.

    Returns the keys to add to a manifest: ``regions_found`` (``per_output``,
    ``total``, ``images``) and ``derived_from_detections`` with its note (these
    counts derive from the image).
    """
    counts = {str(name): int(n) for name, n in sorted(per_output.items())}
    return {
        "regions_found": {
            "per_output": counts,
            "total": sum(counts.values()),
            "images": len(counts),
        },
        "derived_from_detections": {
            "fields": ["regions_found.per_output", "regions_found.total"],
            "note": REGION_COUNTS_NOTE,
        },
    }


def _merged_counts(new: Mapping[str, Any], old: Mapping[str, Any]) -> dict[str, Any]:
    """``new``'s region counts over ``old``'s (same settings: one record of every output)."""
    if "regions_found" not in new and "regions_found" not in old:
        return {}
    per_output = dict((old.get("regions_found") or {}).get("per_output", {}))
    per_output.update((new.get("regions_found") or {}).get("per_output", {}))
    return region_counts(per_output)


def _run_m(run: Mapping[str, Any]) -> int | None:
    params = run.get("parameters")
    m = params.get("m") if isinstance(params, Mapping) else None
    return m if isinstance(m, int) and not isinstance(m, bool) and m > 0 else None


def all_runs_m(manifest: Mapping[str, Any]) -> int | None:
    """The neighbourhood ``total_epsilon_all_runs`` is counted against: the largest ``m``.

    ``None`` when every run used one ``m`` (or a run does not record it): then
    the total is the plain sum, against that ``m``.
    """
    ms = [_run_m(run) for run in (manifest, *manifest.get("previous_runs", []))]
    if None in ms or len(set(ms)) < 2:
        return None
    return max(ms)


def _set_all_runs_total(manifest: dict[str, Any]) -> None:
    manifest["total_epsilon_all_runs"] = total_epsilon_all_runs(manifest)
    largest = all_runs_m(manifest)
    if largest is None:
        manifest.pop("all_runs_m", None)
    else:
        manifest["all_runs_m"] = largest


def total_epsilon_all_runs(manifest: Mapping[str, Any]) -> float:
    """ε of every release a manifest records: its own total plus its ``previous_runs``.

    Runs at different ``m`` protect different neighbourhoods, so their ε do not
    simply add: a release at ``(m_i, eps_i)`` gives two images ``M`` pixels apart
    ``eps_i M / m_i`` (:func:`dpimage.privacy.epsilon_for_distance`). The total
    is then counted against the largest ``M`` (:func:`all_runs_m`): summing the
    ε as they are would under-count the runs at smaller ``m``.
    """
    runs = [manifest, *manifest.get("previous_runs", [])]
    largest = all_runs_m(manifest)
    if largest is None:
        return math.fsum(float(run.get("total_epsilon", 0.0)) for run in runs)
    return math.fsum(
        float(run.get("total_epsilon", 0.0)) * largest / _run_m(run) for run in runs
    )


def canonical_mechanism(mechanism: Any) -> Any:
    """A manifest's ``"mechanism"`` in one spelling (``"dp-pix"`` -> ``"dp_pix"``).

    Read through :func:`dpimage.methods.from_manifest` (aliases in one place;
    ``"_regions"`` kept); a value no method answers to is returned unchanged.
    """
    from ..methods import from_manifest  # the registry; imported late: io sits below it

    try:
        method, regions = from_manifest(mechanism)
    except ValueError:
        return mechanism
    return method.name + ("_regions" if regions else "")


def _settings(manifest: Mapping[str, Any]) -> tuple[Any, ...]:
    sampler = manifest.get("sampler") or {}
    return (
        manifest.get("command"),
        canonical_mechanism(manifest.get("mechanism")),
        json.dumps(manifest.get("parameters"), sort_keys=True),
        manifest.get("private_release"),
        sampler.get("seed"),
    )


def _normalised(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Entries in the version-2 form (a version-1 entry is one release by an unknown run)."""
    out = []
    for entry in entries:
        runs = [str(run) for run in entry.get("runs", [])]
        releases = int(entry.get("releases", max(1, len(runs))))
        out.append(_entry(str(entry["path"]), float(entry["epsilon"]), releases, runs))
    return out


def recorded_releases(manifest: Mapping[str, Any]) -> set[tuple[str, str]]:
    """Every (path, run) pair a manifest already counts, its previous runs included."""
    pairs = set()
    for run in (manifest, *manifest.get("previous_runs", [])):
        for entry in run.get("outputs", []):
            pairs.update((str(entry["path"]), str(r)) for r in entry.get("runs", []))
    return pairs


def _rebuilt(template: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``template``'s settings and extra keys with ``entries`` as its outputs."""
    sampler = template.get("sampler") or {}
    created = template.get("created_utc")
    rebuilt = _assemble(
        command=template["command"],
        mechanism=template["mechanism"],
        parameters=template["parameters"],
        entries=entries,
        seed=sampler.get("seed"),
        seed_derivation=sampler.get("per_output_seed"),
        created=datetime.fromisoformat(created.replace("Z", "+00:00")) if created else None,
    )
    rebuilt.update((k, v) for k, v in template.items() if k not in _STANDARD_KEYS)
    return rebuilt


def merge_manifests(new: Mapping[str, Any], old: Mapping[str, Any] | None) -> dict[str, Any]:
    """Add a run's manifest to the one already in its output directory.

    Parameters
    ----------
    new : mapping
        The manifest of the latest run (from :func:`build_manifest`).
    old : mapping or None
        The manifest found at the same place (from :func:`read_manifest`).

    Returns
    -------
    dict
        Every release of both, each counted once: a (path, run) pair that
        ``old`` already records (a journal folded in twice) is not added
        again. If both runs used the same command, mechanism, parameters and
        randomness (a resumed, extended or ``--overwrite`` run), one manifest
        listing the union of their outputs, sorted by path; an output
        written again adds to its ``releases`` and to ``total_epsilon``.
        Otherwise ``new``, with ``old`` (and the runs it already kept) listed
        under ``previous_runs``: an earlier release is never dropped.
        ``total_epsilon_all_runs`` is recomputed either way.
    """
    if old is None:
        merged = dict(new)
        _set_all_runs_total(merged)
        return merged
    recorded = recorded_releases(old)
    fresh = []
    for entry in _normalised(new.get("outputs", [])):
        runs = [run for run in entry["runs"] if (entry["path"], run) not in recorded]
        unknown = entry["releases"] - len(entry["runs"])  # version-1 releases: never deduplicated
        if runs or unknown > 0:
            fresh.append(_entry(entry["path"], entry["epsilon"], len(runs) + unknown, runs))
    if not fresh:
        merged = dict(old)  # nothing new: the same run folded in again
    elif _settings(new) != _settings(old):
        earlier = {key: value for key, value in old.items() if key != "previous_runs"}
        merged = _rebuilt(new, fresh)
        merged["previous_runs"] = [*old.get("previous_runs", []), earlier]
    else:
        combined = {entry["path"]: entry for entry in _normalised(old["outputs"])}
        for entry in fresh:
            have = combined.get(entry["path"])
            if have is None:
                combined[entry["path"]] = entry
            else:
                combined[entry["path"]] = _entry(
                    entry["path"],
                    entry["epsilon"],
                    have["releases"] + entry["releases"],
                    [*have["runs"], *entry["runs"]],
                )
        merged = _rebuilt(new, [combined[path] for path in sorted(combined)])
        merged.update(_merged_counts(new, old))
        if old.get("previous_runs"):
            merged["previous_runs"] = list(old["previous_runs"])
    _set_all_runs_total(merged)
    return merged


def update_manifest(path: str | os.PathLike[str], manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Record a run in the manifest at ``path``: read it, add ``manifest``, write it back.

    The one call for any command that releases into a place that may hold an
    earlier manifest (batch, video): nothing recorded there is lost, and a
    release written again is counted again (see :func:`merge_manifests`).

    Parameters
    ----------
    path : path-like
        The manifest file; its directory is created if needed.
    manifest : mapping
        The run's own manifest (from :func:`build_manifest`).

    Returns
    -------
    dict
        The manifest as written.

    Raises
    ------
    ValueError
        If ``path`` holds something that is not a dpimage manifest (it is
        never replaced).
    OSError
        If it cannot be written; the error names ``path``.
    """
    merged = merge_manifests(manifest, read_manifest(path))
    write_manifest(merged, path)
    return merged
