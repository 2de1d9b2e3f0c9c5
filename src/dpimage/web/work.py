"""The work behind the web page's routes: decode, release, encode, compare.

Plain synchronous functions of the server's :class:`State` and the request's
already-parsed data; :mod:`dpimage.web.app` holds the routes that call them
(off the event loop) and turns :class:`BadRequest` into a JSON error. None of
these functions sees a request object, so they can be tested and reused
without a server.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import math
import os
import secrets
import shutil
import tempfile
import threading
import time
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from filelock import FileLock, Timeout

from .. import __version__, cell_noise_scale, methods
from ..eval.predict import predict_method
from ..io import (
    InputError,
    build_manifest,
    merge_manifests,
    read_image,
    write_image,
    write_manifest,
)
from ..metrics import mse, psnr_from_mse, ssim

__all__ = [
    "METHODS",
    "BadRequest",
    "Params",
    "State",
    "check_size",
    "decode_upload",
    "info",
    "metrics",
    "out_of_memory",
    "parse_params",
    "preview",
    "release_zip",
    "remove_stale_folders",
    "strip_ssim",
]

#: Method id -> (label, library function name, private?), from the method registry.
METHODS: dict[str, tuple[str, str, bool]] = {
    spec.cli_name: (spec.label, spec.name, spec.private)
    for spec in map(methods.get, ("dp_pix", "dp_blur", "np_pix", "np_blur"))
}
#: Renderers the page offers (before the blur for DP-Blur) and colour paths.
RENDERS = ("blocks", "smooth")
COLOURS = ("rgb", "luma-chroma")

RELEASE_NAME = "dpimage-release.png"
MANIFEST_IN_ZIP = "dpimage-manifest.json"
_JPEG_QUALITY = 90
_DATA_RANGE = 255.0
#: Widest blur kernel accepted (sigma about 150 px); the blur's time grows with k.
MAX_KERNEL = 1001
_UPLOAD_LABEL = "uploaded image"
_SSIM_WINDOW = 7  # dpimage.metrics.ssim's default ("skimage") window
_TMP_PREFIX = "dpimage-web-"
_TMP_LOCK = ".server.lock"
#: uint8 bytes of one strip of the SSIM (its float64 work is about 45 times this).
_SSIM_STRIP_BYTES = 1 << 22
#: What a download's manifest counts (written into it).
COUNTED_FOR = (
    "every download of this uploaded image from this server since it was uploaded: "
    "total_epsilon_all_runs is the running total; the same image uploaded again "
    "starts a new count, which adds to this one"
)


class BadRequest(Exception):
    """A problem with the request: answered with a one-line message and status 400."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Params:
    """Validated mechanism parameters of one request."""

    method: str
    b: int
    m: int
    eps: float
    b0: int
    k: int
    render: str = "blocks"
    colour: str = "rgb"

    @property
    def spec(self) -> methods.Method:
        return methods.get(self.method)

    @property
    def private(self) -> bool:
        return self.spec.private

    def key(self) -> tuple[Any, ...]:
        return (self.method, self.b, self.m, self.eps, self.b0, self.k, self.render, self.colour)

    def method_params(self) -> dict[str, Any]:
        """The registry parameters of the chosen method (checked by :meth:`Method.validate`)."""
        given = {"b": self.b, "m": self.m, "eps": self.eps, "b0": self.b0, "k": self.k,
                 "render": self.render, "colour": self.colour}  # fmt: skip
        return self.spec.validate({k: v for k, v in given.items() if k in self.spec.param_names})

    @property
    def cell_side(self) -> int | None:
        """The cell side of the method's release (b or b0: :attr:`Method.cell`)."""
        cell = self.spec.cell
        return None if cell is None else self.method_params()[cell]

    def run(self, image: np.ndarray, rng: int | np.random.Generator | None) -> np.ndarray:
        """Apply the chosen library method (``rng=None``: secure noise)."""
        return self.spec.apply(image, self.method_params(), rng)

    def manifest_parameters(self) -> dict[str, Any]:
        """Parameters as the CLI's manifests record them (with the eps split, if any)."""
        recorded = self.method_params()
        split = self.spec.budget(recorded)
        if split is not None:
            recorded["colour_split"] = {**split, "applies_to": "RGB inputs (gray: all eps on Y)"}
        return recorded


def _int_field(data: dict[str, Any], name: str, default: int, high: int | None) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(f"{name} must be an integer, got {value!r}")
    if value != int(value):
        raise BadRequest(f"{name} must be an integer, got {value!r}")
    if high is not None and value > high:
        got = f"{int(value):,}" if value < 1e15 else f"{value:.3g}"
        raise BadRequest(f"{name} must be at most {high:,} for this image, got {got}")
    return int(value)


def _choice(data: dict[str, Any], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = data.get(name, default)
    if not isinstance(value, str) or value not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def parse_params(data: dict[str, Any], shape: tuple[int, ...] | None = None) -> Params:
    """Check a request's parameters; the library judges their values.

    With the image's ``shape``, values that would only cost memory or time
    without changing the release are refused here, each with its reason: a
    cell (``b``, ``b0``) larger than the image's longer side (such a cell is
    the whole image), ``m`` above the image's pixel count (every image is
    then a neighbour of every other), a blur kernel ``k`` wider than
    :data:`MAX_KERNEL` or than twice the image, and an ``eps`` so small that
    the noise scale is not a finite number.
    """
    method = _choice(data, "method", "dp-pix", tuple(METHODS))
    render = _choice(data, "render", "blocks", RENDERS)
    colour = data.get("colour", "rgb")
    if not isinstance(colour, str):
        raise BadRequest(f"colour must be a string, got {colour!r}")
    eps = data.get("eps", 0.5)
    if isinstance(eps, bool) or not isinstance(eps, int | float):
        raise BadRequest(f"eps must be a number, got {eps!r}")
    side = pixels = kernel = None
    if shape is not None:
        side, pixels = max(shape[:2]), shape[0] * shape[1]
        kernel = min(MAX_KERNEL, 2 * side + 1)
    takes = methods.get(method).param_names  # bounds only for what this method reads
    m = _int_field(data, "m", 16, pixels if "m" in takes else None)
    eps = float(eps)
    if not math.isfinite(eps) or (eps > 0 and not math.isfinite(_DATA_RANGE * m / eps)):
        raise BadRequest(
            f"eps must be a finite number > 0 whose noise scale 255 m / eps is finite, got {eps!r}"
        )
    params = Params(
        method=method,
        b=_int_field(data, "b", 16, side if "b" in takes else None),
        m=m,
        eps=eps,
        b0=_int_field(data, "b0", 4, side if "b0" in takes else None),
        k=_int_field(data, "k", 99, kernel if "k" in takes else None),
        render=render,
        colour=colour,
    )
    try:  # the method registry is the single source of truth for valid values
        checked = params.method_params()
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return dataclasses.replace(params, colour=checked.get("colour", "rgb"))


@dataclass
class Entry:
    image: np.ndarray
    original_jpeg: bytes
    preview_seed: int = field(default_factory=lambda: secrets.randbits(64))
    preview_id: str = ""
    preview_key: tuple[Any, ...] = ()
    preview: np.ndarray | None = None
    predicted: dict[tuple[Any, ...], float] = field(default_factory=dict)
    #: The manifest of every download of this upload so far (parameters and ε only).
    ledger: dict[str, Any] | None = None


class State:
    """Images held in memory and the server's private temporary folder.

    The folder (``dpimage-web-*`` in the system's temporary directory, mode
    0700) holds a lock file locked for the server's lifetime. A server that
    was killed cannot remove its folder, so each new one removes the folders
    whose lock nobody holds any more (the kernel drops a dead process's locks).
    """

    def __init__(
        self,
        max_upload_bytes: int,
        max_pixels: int | None,
        max_images: int,
        tmp_root: Path | None = None,
    ) -> None:
        self.max_upload_bytes = max_upload_bytes
        self.max_pixels = max_pixels
        self.max_images = max_images
        self.memory_mb: int | None = None  # the process's memory limit, when one is set
        self.lock = threading.Lock()
        self.entries: OrderedDict[str, Entry] = OrderedDict()
        root = Path(tmp_root) if tmp_root is not None else Path(tempfile.gettempdir())
        self.folder = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=root))
        # released by close(), which may run on another thread than this one
        self._alive = FileLock(self.folder / _TMP_LOCK, thread_local=False)
        self._alive.acquire()
        #: Where uploads and downloads are staged (the lock file stays beside it).
        self.tmp = self.folder / "files"
        self.tmp.mkdir(mode=0o700)
        self.removed_stale = remove_stale_folders(root)

    def add(self, entry: Entry) -> str:
        token = secrets.token_urlsafe(16)
        with self.lock:
            self.entries[token] = entry
            while len(self.entries) > self.max_images:
                self.entries.popitem(last=False)
        return token

    def get(self, token: str) -> Entry:
        with self.lock:
            entry = self.entries.get(token)
            if entry is None:
                raise BadRequest(
                    "unknown image id (the server forgets old images); upload it again", 404
                )
            self.entries.move_to_end(token)
            return entry

    def forget(self, token: str) -> bool:
        with self.lock:
            return self.entries.pop(token, None) is not None

    def close(self) -> None:
        with self.lock:
            self.entries.clear()
        shutil.rmtree(self.folder, ignore_errors=True)
        self._alive.release()


def remove_stale_folders(root: Path) -> list[Path]:
    """Remove the temporary folders of servers that died without cleaning up.

    A folder counts as stale when its lock file exists and can be locked: its
    server no longer holds it. A folder without a lock file is left alone (a
    server that is starting creates the lock just after the folder).
    """
    removed = []
    for folder in sorted(root.glob(_TMP_PREFIX + "*")):
        lock_path = folder / _TMP_LOCK
        try:
            if folder.is_symlink() or not folder.is_dir() or not lock_path.is_file():
                continue
            if folder.stat().st_uid != os.getuid():
                continue  # another user's server
        except OSError:
            continue
        lock = FileLock(lock_path)
        try:
            lock.acquire(timeout=0)
        except (Timeout, OSError):
            continue  # a live server holds it
        try:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        finally:
            lock.release()
    return removed


def _encode_jpeg(image: np.ndarray) -> bytes:
    pixels = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 gray/RGB array
        raise RuntimeError("JPEG encoding failed")
    return data.tobytes()


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def decode_upload(state: State, path: Path) -> dict[str, Any]:
    """Decode the uploaded file at ``path`` (the caller deletes it), keep the image in memory.

    Returns the JSON answer: the new image id, its size, channels and the
    reader's notices (which name the upload, never the temporary file).
    """
    image, notices = _read_upload(path, state.max_pixels)
    token = state.add(Entry(image=image, original_jpeg=_encode_jpeg(image)))
    height, width = image.shape[:2]
    return {
        "id": token,
        "width": width,
        "height": height,
        "channels": 1 if image.ndim == 2 else image.shape[2],
        "notices": notices,
    }


def preview(state: State, data: dict[str, Any]) -> dict[str, Any]:
    """The display-only release (throw-away seed) as a JPEG data URL, and the cheap numbers."""
    started = time.perf_counter()
    entry = state.get(str(data.get("id", "")))
    params = parse_params(data, entry.image.shape)
    if data.get("new_noise"):
        entry.preview_seed = secrets.randbits(64)
    image = entry.image
    rng = np.random.default_rng(entry.preview_seed) if params.private else None
    released = params.run(image, rng)
    measured = mse(image, released)
    preview_id = secrets.token_urlsafe(8)
    with state.lock:
        entry.preview, entry.preview_key, entry.preview_id = released, params.key(), preview_id
    jpeg = base64.b64encode(_encode_jpeg(released)).decode("ascii")
    return {
        "preview_id": preview_id,
        "image": "data:image/jpeg;base64," + jpeg,
        "method": METHODS[params.method][0],
        **_privacy_numbers(params, image.shape),
        "measured": {"mse": measured, "psnr": _finite(psnr_from_mse(measured))},
        "server_ms": (time.perf_counter() - started) * 1000,
    }


def metrics(state: State, token: str, preview_id: str) -> dict[str, Any]:
    """The slower numbers of the last preview: measured SSIM, predicted MSE and PSNR."""
    entry = state.get(token)
    with state.lock:
        if entry.preview_id != preview_id or entry.preview is None:
            raise BadRequest("this preview has been replaced by a newer one", 409)
        released, key = entry.preview, entry.preview_key
    params = Params(*key)
    measured_ssim = strip_ssim(entry.image, released)
    predicted = entry.predicted.get(key)
    note = None
    if predicted is None:
        try:
            predicted = _predicted_mse(entry.image, params, released)
            entry.predicted[key] = predicted
        except Exception as exc:  # the prediction works on float copies of the whole image
            if not out_of_memory(exc):
                raise
            note = "not enough memory to predict the error of this image; the SSIM is measured"
    return {
        "preview_id": preview_id,
        "measured": {"ssim": measured_ssim},
        "predicted": {
            "mse": predicted,
            "psnr": None if predicted is None else _finite(psnr_from_mse(predicted)),
            "ssim": None,  # no closed form; dpimage.tune measures SSIM by simulation
            "note": note,
        },
    }


def release_zip(state: State, data: dict[str, Any]) -> tuple[bytes, float]:
    """A ZIP with a fresh release (secure sampler) and its manifest, and the running total ε.

    Every download of one upload is counted: the manifest is the running
    record of all of them (:func:`dpimage.io.merge_manifests`), so the second
    download at ε says 2ε, and downloads with other settings are listed under
    ``previous_runs`` and added into ``total_epsilon_all_runs``.
    """
    entry = state.get(str(data.get("id", "")))
    params = parse_params(data, entry.image.shape)
    if not params.private:
        raise BadRequest(
            f"{METHODS[params.method][0]} is not private; it is shown for comparison only "
            "and cannot be downloaded here"
        )
    released = params.run(entry.image, None)  # fresh noise from the secure sampler
    own = build_manifest(
        command="serve",
        mechanism=METHODS[params.method][1],
        parameters=params.manifest_parameters(),
        outputs=[(RELEASE_NAME, params.eps)],
    )
    own["counted_for"] = COUNTED_FOR
    with state.lock:  # two downloads at once: both counted, in either order
        entry.ledger = merge_manifests(own, entry.ledger)
        manifest = entry.ledger
    workdir = Path(tempfile.mkdtemp(dir=state.tmp))
    try:
        write_image(released, workdir / RELEASE_NAME)
        write_manifest(manifest, workdir / MANIFEST_IN_ZIP)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for name in (RELEASE_NAME, MANIFEST_IN_ZIP):
                archive.write(workdir / name, arcname=name)
        return buffer.getvalue(), float(manifest["total_epsilon_all_runs"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def info(state: State) -> dict[str, Any]:
    """What the page asks at start: version, upload limit, methods."""
    return {
        "version": __version__,
        "max_upload_bytes": state.max_upload_bytes,
        "methods": {key: {"label": v[0], "private": v[2]} for key, v in METHODS.items()},
    }


def check_size(size: int, limit: int) -> None:
    """Refuse (status 413) an upload over ``limit`` bytes, saying how to raise it."""
    if size > limit:
        raise BadRequest(
            f"the image file is larger than the upload limit of {limit / 2**20:.0f} MB "
            f"({limit:,} bytes); restart with `dpimage serve --max-upload-mb N` to raise it",
            413,
        )


def _read_upload(path: Path, max_pixels: int | None) -> tuple[np.ndarray, list[str]]:
    """Decode with the CLI's guarded reader; messages name the upload, not the temp file."""
    try:
        image, notices = read_image(path, max_pixels=max_pixels)
    except InputError as exc:
        raise BadRequest(str(exc).replace(str(path), _UPLOAD_LABEL)) from None
    except MemoryError:
        raise BadRequest(f"{_UPLOAD_LABEL}: not enough memory to decode this image", 413) from None
    return image, [n.replace(str(path), _UPLOAD_LABEL) for n in notices]


def _privacy_numbers(params: Params, shape: tuple[int, ...]) -> dict[str, Any]:
    """ε spent and the per-cell noise scale (for the cell side the method uses)."""
    if not params.private:
        return {
            "private": False,
            "eps_spent": None,
            "noise_scale": None,
            "note": "no noise, no guarantee: shown for comparison only",
        }
    side = params.cell_side
    split = params.spec.budget(params.method_params()) if len(shape) == 3 else None
    if split is None:
        scales = cell_noise_scale(shape, b=side, m=params.m, eps=params.eps)
    else:  # luma/chroma: the luma grid's scale, 255 m / (n_k eps_Y) (one channel)
        scales = cell_noise_scale(shape[:2], b=side, m=params.m, eps=split["eps_luma"])
    numbers = {
        "private": True,
        "eps_spent": params.eps,
        "noise_scale": {
            "cell_side": side,
            "full_cell": float(scales[0, 0]),
            "largest": float(scales.max()),
            "std_full_cell": float(scales[0, 0] * math.sqrt(2)),
        },
    }
    if split is not None:
        numbers["colour_split"] = split
    return numbers


def _predicted_mse(image: np.ndarray, params: Params, released: np.ndarray) -> float:
    """Expected MSE of the release (clipped-Laplace model); exact for the NP methods."""
    if not params.private:
        return mse(image, released)
    predicted = predict_method(params.method, image, params.method_params(), clip=True)
    # no closed form (smooth renderer, luma/chroma): the measured error of this preview
    return mse(image, released) if predicted is None else predicted.mse


def out_of_memory(exc: BaseException) -> bool:
    """MemoryError, or OpenCV's allocation failure (a cv2.error, not a MemoryError)."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, cv2.error) and ("allocate" in text or "out of memory" in text)


def strip_ssim(a: np.ndarray, b: np.ndarray) -> float | None:
    """:func:`dpimage.metrics.ssim` computed strip by strip (None below 7x7 pixels).

    The SSIM works in float64 on a few copies of the image (about 45 bytes a
    pixel and channel); in strips of a few megabytes its memory stays small
    whatever the image. Each strip carries the 3 rows its 7x7 windows need
    on either side, and the SSIM averages only pixels whose window lies inside
    the image, so every pixel's value is the same as in one pass; the strips'
    means are weighted by their pixel counts.
    """
    height, width = a.shape[:2]
    if min(height, width) < _SSIM_WINDOW:
        return None
    pad = _SSIM_WINDOW // 2
    row_bytes = width * (a.shape[2] if a.ndim == 3 else 1)
    rows = max(1, _SSIM_STRIP_BYTES // row_bytes)
    total = weight = 0.0
    for start in range(pad, height - pad, rows):
        stop = min(start + rows, height - pad)
        part = slice(start - pad, stop + pad)
        total += ssim(a[part], b[part]) * (stop - start)
        weight += stop - start
    return total / weight
