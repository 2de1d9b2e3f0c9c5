"""File input and output: images in, images out, and the run's manifest.

Everything that touches the file system lives here; the mechanisms only see
arrays. Reading normalises images to upright uint8 gray or RGB; writing is
atomic and drops all metadata; the manifest records what was spent, never
anything derived from the inputs' content.
"""

from ._errors import InputError, OutputError, OutputExistsError
from .atomic import atomic_writer, remove_stale_temporaries
from .files import (
    IMAGE_FORMATS,
    MANIFEST_NAME,
    Job,
    Plan,
    holds_release,
    image_format,
    journal_for,
    manifest_for,
    normalise_extension,
    plan_outputs,
)
from .images import read_image, write_image
from .manifest import (
    PRIVACY_MODEL,
    build_manifest,
    merge_manifests,
    read_manifest,
    total_epsilon_all_runs,
    update_manifest,
    write_manifest,
)

__all__ = [
    "IMAGE_FORMATS",
    "MANIFEST_NAME",
    "PRIVACY_MODEL",
    "InputError",
    "Job",
    "OutputError",
    "OutputExistsError",
    "Plan",
    "atomic_writer",
    "build_manifest",
    "holds_release",
    "image_format",
    "journal_for",
    "manifest_for",
    "merge_manifests",
    "normalise_extension",
    "plan_outputs",
    "read_image",
    "read_manifest",
    "remove_stale_temporaries",
    "total_epsilon_all_runs",
    "update_manifest",
    "write_image",
    "write_manifest",
]
