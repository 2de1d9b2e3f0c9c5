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

from .. import __version__, cell_noise_scale, methods
from ..eval.predict import predict_method
from ..io import InputError, build_manifest, read_image, write_image, write_manifest
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
    "parse_params",
    "preview",
    "release_zip",
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
_UPLOAD_LABEL = "uploaded image"


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


def _int_field(data: dict[str, Any], name: str, default: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise BadRequest(f"{name} must be an integer, got {value!r}")
    return int(value)


def parse_params(data: dict[str, Any]) -> Params:
    """Check a request's parameters; the library judges their values."""
    method = data.get("method", "dp-pix")
    if method not in METHODS:
        raise BadRequest(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    render = data.get("render", "blocks")
    if render not in RENDERS:
        raise BadRequest(f"render must be one of {', '.join(RENDERS)}, got {render!r}")
    eps = data.get("eps", 0.5)
    if isinstance(eps, bool) or not isinstance(eps, int | float):
        raise BadRequest(f"eps must be a number, got {eps!r}")
    params = Params(
        method=method,
        b=_int_field(data, "b", 16),
        m=_int_field(data, "m", 16),
        eps=float(eps),
        b0=_int_field(data, "b0", 4),
        k=_int_field(data, "k", 99),
        render=render,
        colour=data.get("colour", "rgb"),
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


class State:
    """Images held in memory and the server's private temporary folder."""

    def __init__(self, max_upload_bytes: int, max_pixels: int | None, max_images: int) -> None:
        self.max_upload_bytes = max_upload_bytes
        self.max_pixels = max_pixels
        self.max_images = max_images
        self.lock = threading.Lock()
        self.entries: OrderedDict[str, Entry] = OrderedDict()
        self._tmp = tempfile.TemporaryDirectory(prefix="dpimage-web-")
        self.tmp = Path(self._tmp.name)

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
        self._tmp.cleanup()


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
    params = parse_params(data)
    entry = state.get(str(data.get("id", "")))
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
    predicted = entry.predicted.get(key)
    if predicted is None:
        predicted = _predicted_mse(entry.image, params, released)
        entry.predicted[key] = predicted
    return {
        "preview_id": preview_id,
        "measured": {"ssim": ssim(entry.image, released)},
        "predicted": {
            "mse": predicted,
            "psnr": _finite(psnr_from_mse(predicted)),
            "ssim": None,  # no closed form; dpimage.tune measures SSIM by simulation
        },
    }


def release_zip(state: State, data: dict[str, Any]) -> bytes:
    """A ZIP with a fresh release (secure sampler) and its manifest."""
    params = parse_params(data)
    if not params.private:
        raise BadRequest(
            f"{METHODS[params.method][0]} is not private; it is shown for comparison only "
            "and cannot be downloaded here"
        )
    entry = state.get(str(data.get("id", "")))
    released = params.run(entry.image, None)  # fresh noise from the secure sampler
    manifest = build_manifest(
        command="serve",
        mechanism=METHODS[params.method][1],
        parameters=params.manifest_parameters(),
        outputs=[(RELEASE_NAME, params.eps)],
    )
    workdir = Path(tempfile.mkdtemp(dir=state.tmp))
    try:
        write_image(released, workdir / RELEASE_NAME)
        write_manifest(manifest, workdir / MANIFEST_IN_ZIP)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for name in (RELEASE_NAME, MANIFEST_IN_ZIP):
                archive.write(workdir / name, arcname=name)
        return buffer.getvalue()
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
