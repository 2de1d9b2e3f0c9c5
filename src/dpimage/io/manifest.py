"""The run manifest: what was released, with which parameters and at what ε.

The manifest is a JSON file written beside the outputs. It records the
package version, the command and mechanism, the parameters, how the noise was
drawn, the privacy model, and the ε spent per output and in total. It records
nothing derived from the inputs' content: no hashes, sizes, dates or
metadata of the input files, and no input paths.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .files import atomic_writer

__all__ = [
    "COMPOSITION_NOTE",
    "MANIFEST_VERSION",
    "PRIVACY_MODEL",
    "build_manifest",
    "merge_manifests",
    "read_manifest",
    "write_manifest",
]

#: Format version of the manifest, bumped when keys change meaning.
MANIFEST_VERSION = 1

#: The neighbouring relation every output's ε refers to.
PRIVACY_MODEL = "m-neighbourhood: images differing in at most m pixels, every channel"

#: How the per-output ε values add up.
COMPOSITION_NOTE = (
    "basic composition: total_epsilon is the sum over outputs. Each output protects "
    "its own input image at its own epsilon; the total matters only if several "
    "outputs show the same content (the same person or object)."
)


def build_manifest(
    *,
    command: str,
    mechanism: str,
    parameters: Mapping[str, Any],
    outputs: Sequence[tuple[str, float]],
    seed: int | None = None,
    seed_derivation: str | None = None,
    created: datetime | None = None,
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
        Each written output's path relative to the manifest's directory, and
        the ε it spent.
    seed : int, optional
        Seed of a reproducible run; ``None`` for a secure (private) run.
    seed_derivation : str, optional
        How the per-output generator is derived from ``seed``.
    created : datetime, optional
        Creation time (default: now, UTC).

    Returns
    -------
    dict
        The manifest. ``total_epsilon`` is the sum of the outputs' ε computed
        by :class:`dpimage.privacy.Accountant` (basic composition).
    """
    from .. import __version__
    from ..privacy import SEEDED_WARNING, Accountant, sampler_info

    accountant = Accountant()
    for name, eps in outputs:
        accountant.spend(eps, name)

    sampler: dict[str, Any] = dict(sampler_info(seed))
    if seed is not None:
        sampler["seed"] = seed
        if seed_derivation:
            sampler["per_output_seed"] = seed_derivation

    eps_values = sorted({float(eps) for _, eps in outputs})
    when = (created or datetime.now(timezone.utc)).astimezone(timezone.utc)
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
        "outputs": [{"path": name, "epsilon": float(eps)} for name, eps in outputs],
        "epsilon_per_output": eps_values[0] if len(eps_values) == 1 else eps_values,
        "total_epsilon": float(accountant.total_epsilon),
        "composition": COMPOSITION_NOTE,
        "accountant": accountant.state_dict(),
    }
    if seed is not None:
        manifest["warning"] = SEEDED_WARNING
    return manifest


def _json_default(value: Any) -> Any:
    # NumPy scalars and paths are the only non-JSON values expected here.
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"manifest value of type {type(value).__name__} is not JSON-able")


def write_manifest(manifest: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``manifest`` as JSON to ``path`` atomically, replacing any old one.

    Parameters
    ----------
    manifest : mapping
        As returned by :func:`build_manifest`.
    path : path-like
        Destination; its directory is created if needed.

    Returns
    -------
    Path
        The path written.
    """
    dest = Path(path)
    text = json.dumps(
        manifest, indent=2, ensure_ascii=False, allow_nan=False, default=_json_default
    )
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(dest, overwrite=True) as stream:
        stream.write((text + "\n").encode("utf-8"))
    return dest


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Read a manifest written by :func:`write_manifest`; ``None`` if there is none.

    Raises
    ------
    ValueError
        If the file exists but is not a dpimage manifest (so that it is never
        silently replaced).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{os.fspath(path)}: not valid JSON ({exc.msg}); move it away") from None
    if not isinstance(manifest, dict) or "outputs" not in manifest or "mechanism" not in manifest:
        raise ValueError(f"{os.fspath(path)}: not a dpimage manifest; move it away")
    return manifest


def _settings(manifest: Mapping[str, Any]) -> tuple[Any, ...]:
    sampler = manifest.get("sampler") or {}
    return (
        manifest.get("command"),
        manifest.get("mechanism"),
        json.dumps(manifest.get("parameters"), sort_keys=True),
        manifest.get("private_release"),
        sampler.get("seed"),
    )


def merge_manifests(new: Mapping[str, Any], old: Mapping[str, Any] | None) -> dict[str, Any]:
    """Combine a run's manifest with the one already in its output directory.

    Parameters
    ----------
    new : mapping
        The manifest of the latest run (from :func:`build_manifest`).
    old : mapping or None
        The manifest found at the same place (from :func:`read_manifest`).

    Returns
    -------
    dict
        If both runs used the same command, mechanism, parameters and
        randomness (a resumed or extended run), one manifest listing the
        union of their outputs (sorted by path; an output written again, with
        ``--overwrite``, keeps its latest entry) with ε totals recomputed.
        Otherwise ``new``, with ``old`` (and the runs it already kept) listed
        under ``previous_runs``: an earlier release is never dropped.
    """
    if old is None:
        return dict(new)
    previous = [*old.get("previous_runs", []), *new.get("previous_runs", [])]
    if _settings(new) != _settings(old):
        earlier = {key: value for key, value in old.items() if key != "previous_runs"}
        merged = dict(new)
        merged["previous_runs"] = [*previous, earlier]
        return merged
    outputs = {entry["path"]: float(entry["epsilon"]) for entry in old["outputs"]}
    outputs.update((entry["path"], float(entry["epsilon"])) for entry in new["outputs"])
    sampler = new.get("sampler") or {}
    merged = build_manifest(
        command=new["command"],
        mechanism=new["mechanism"],
        parameters=new["parameters"],
        outputs=sorted(outputs.items()),
        seed=sampler.get("seed"),
        seed_derivation=sampler.get("per_output_seed"),
    )
    if previous:
        merged["previous_runs"] = previous
    return merged
