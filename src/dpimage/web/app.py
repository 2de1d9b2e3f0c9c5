"""The local web page behind ``dpimage serve`` (Starlette).

One page (``static/index.html``) and a small JSON API:

``POST /api/images``
    The image's bytes as the raw request body (at most ``max_upload_bytes``).
    They go to a private temporary file, are decoded by the CLI's guarded
    reader :func:`dpimage.io.read_image`, and the file is deleted at once. The
    decoded array is kept in memory (a few images at most) under a random id.
``GET /api/images/{id}/original``
    The decoded, upright original as JPEG, for display.
``POST /api/preview``
    ``{id, method, b, m, eps, b0, k[, new_noise]}``: the release as JPEG (data
    URL) and the cheap numbers (ε, noise scale per cell, measured MSE/PSNR).
    The noise comes from a throw-away seed held by the server for display only:
    it is never sent to the browser and never used for a download.
``GET /api/metrics?id=..&preview=..``
    The slower numbers for the last preview: measured SSIM
    (:func:`dpimage.metrics.ssim`) and the predicted (expected) MSE and PSNR
    from the closed form of :mod:`dpimage.eval.predict`, with clipping, the
    model ``dpimage tune`` uses. There is no cheap predicted SSIM (``tune``
    simulates it), so that field is ``null``.
``POST /api/release``
    The same parameters; a ZIP with ``dpimage-release.png``, drawn afresh from
    the secure sampler (``rng=None``), and its manifest built by
    :func:`dpimage.io.build_manifest`.
``DELETE /api/images/{id}``
    Forget an image.

Nothing from the user is ever used as a file path: uploads get names chosen
here, inside a temporary folder created for this server (mode 0700) and
removed when it stops. Requests whose ``Host`` is not the address served are
refused (a guard against DNS rebinding).
"""

from __future__ import annotations

import base64
import contextlib
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
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import __version__, cell_noise_scale, dp_blur, dp_pix, np_blur, np_pix
from ..eval.predict import predict_dp_blur, predict_dp_pix
from ..io import InputError, build_manifest, read_image, write_image, write_manifest
from ..metrics import mse, psnr_from_mse, ssim

__all__ = ["DEFAULT_MAX_UPLOAD_BYTES", "METHODS", "create_app"]

STATIC = Path(__file__).with_name("static")

#: Largest upload accepted by default (bytes).
DEFAULT_MAX_UPLOAD_BYTES = 40 * 1024 * 1024

#: Method id -> (label, library function name, private?).
METHODS: dict[str, tuple[str, str, bool]] = {
    "dp-pix": ("DP-Pix", "dp_pix", True),
    "dp-blur": ("DP-Blur", "dp_blur", True),
    "np-pix": ("NP-Pix", "np_pix", False),
    "np-blur": ("NP-Blur", "np_blur", False),
}

RELEASE_NAME = "dpimage-release.png"
MANIFEST_IN_ZIP = "dpimage-manifest.json"
_JPEG_QUALITY = 90
_UPLOAD_LABEL = "uploaded image"


class _BadRequest(Exception):
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

    @property
    def private(self) -> bool:
        return METHODS[self.method][2]

    def key(self) -> tuple[Any, ...]:
        return (self.method, self.b, self.m, self.eps, self.b0, self.k)

    def run(self, image: np.ndarray, rng: int | np.random.Generator | None) -> np.ndarray:
        """Apply the chosen library mechanism (``rng=None``: secure noise)."""
        if self.method == "dp-pix":
            return dp_pix(image, b=self.b, m=self.m, eps=self.eps, rng=rng)
        if self.method == "dp-blur":
            return dp_blur(image, b0=self.b0, k=self.k, m=self.m, eps=self.eps, rng=rng)
        if self.method == "np-pix":
            return np_pix(image, b=self.b)
        return np_blur(image, k=self.k)

    def manifest_parameters(self) -> dict[str, Any]:
        """Parameters as the CLI's manifests record them."""
        if self.method == "dp-pix":
            return {"b": self.b, "m": self.m, "eps": self.eps, "output": "blocks"}
        return {"b0": self.b0, "k": self.k, "sigma": None, "m": self.m, "eps": self.eps}


def _int_field(data: dict[str, Any], name: str, default: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise _BadRequest(f"{name} must be an integer, got {value!r}")
    return int(value)


def parse_params(data: dict[str, Any]) -> Params:
    """Check a request's parameters; the library judges their values."""
    method = data.get("method", "dp-pix")
    if method not in METHODS:
        raise _BadRequest(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    eps = data.get("eps", 0.5)
    if isinstance(eps, bool) or not isinstance(eps, int | float):
        raise _BadRequest(f"eps must be a number, got {eps!r}")
    params = Params(
        method=method,
        b=_int_field(data, "b", 16),
        m=_int_field(data, "m", 16),
        eps=float(eps),
        b0=_int_field(data, "b0", 4),
        k=_int_field(data, "k", 99),
    )
    try:  # the mechanisms are the single source of truth for valid values
        params.run(np.zeros((1, 1), dtype=np.uint8), rng=0)
    except ValueError as exc:
        raise _BadRequest(str(exc)) from None
    return params


@dataclass
class _Entry:
    image: np.ndarray
    original_jpeg: bytes
    preview_seed: int = field(default_factory=lambda: secrets.randbits(64))
    preview_id: str = ""
    preview_key: tuple[Any, ...] = ()
    preview: np.ndarray | None = None
    predicted: dict[tuple[Any, ...], float] = field(default_factory=dict)


class _State:
    """Images held in memory and the server's private temporary folder."""

    def __init__(self, max_upload_bytes: int, max_pixels: int | None, max_images: int) -> None:
        self.max_upload_bytes = max_upload_bytes
        self.max_pixels = max_pixels
        self.max_images = max_images
        self.lock = threading.Lock()
        self.entries: OrderedDict[str, _Entry] = OrderedDict()
        self._tmp = tempfile.TemporaryDirectory(prefix="dpimage-web-")
        self.tmp = Path(self._tmp.name)

    def add(self, entry: _Entry) -> str:
        token = secrets.token_urlsafe(16)
        with self.lock:
            self.entries[token] = entry
            while len(self.entries) > self.max_images:
                self.entries.popitem(last=False)
        return token

    def get(self, token: str) -> _Entry:
        with self.lock:
            entry = self.entries.get(token)
            if entry is None:
                raise _BadRequest(
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


def _error(exc: _BadRequest) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=exc.status)


async def _json_body(request: Request) -> dict[str, Any]:
    # A non-"simple" content type: a cross-site form or fetch cannot send it without
    # a CORS preflight, which this server never grants.
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise _BadRequest("send the parameters as JSON (Content-Type: application/json)", 415)
    try:
        data = await request.json()
    except ValueError:
        raise _BadRequest("request body must be JSON") from None
    if not isinstance(data, dict):
        raise _BadRequest("request body must be a JSON object")
    return data


def create_app(
    *,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_pixels: int | None = None,
    allowed_hosts: list[str] | None = None,
    max_images: int = 4,
) -> Starlette:
    """Build the web application.

    Parameters
    ----------
    max_upload_bytes : int
        Largest upload accepted, in bytes; larger ones get status 413 and a
        message saying the limit.
    max_pixels : int, optional
        Decompression-bomb limit passed to :func:`dpimage.io.read_image`
        (default: Pillow's, about 89 megapixels).
    allowed_hosts : list of str, optional
        Accepted ``Host`` header names (default ``127.0.0.1`` and
        ``localhost``).
    max_images : int
        Images kept in memory; the least recently used is forgotten first.

    Returns
    -------
    starlette.applications.Starlette
        The application; its temporary folder is removed at shutdown.
    """
    if max_upload_bytes < 1:
        raise ValueError(f"max_upload_bytes must be positive, got {max_upload_bytes}")
    state = _State(max_upload_bytes, max_pixels, max_images)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=_PAGE_HEADERS)

    async def upload(request: Request) -> Response:
        try:
            kind = request.headers.get("content-type", "").split(";")[0].strip()
            if kind != "application/octet-stream" and not kind.startswith("image/"):
                raise _BadRequest(
                    "send the image file's bytes as the request body "
                    "(Content-Type: application/octet-stream or image/*)",
                    415,
                )
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit():
                _check_size(int(declared), state.max_upload_bytes)
            handle, name = tempfile.mkstemp(dir=state.tmp, suffix=".upload")
            try:
                received = 0
                with os.fdopen(handle, "wb") as stream:
                    async for chunk in request.stream():
                        received += len(chunk)
                        _check_size(received, state.max_upload_bytes)
                        stream.write(chunk)
                if received == 0:
                    raise _BadRequest("the upload is empty; choose an image file")
                # Decoding is CPU-bound: off the event loop, like the mechanisms.
                image, notices = await _in_thread(_read_upload, Path(name), state.max_pixels)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name)
            jpeg = await _in_thread(_encode_jpeg, image)
            token = state.add(_Entry(image=image, original_jpeg=jpeg))
        except _BadRequest as exc:
            return _error(exc)
        height, width = image.shape[:2]
        return JSONResponse(
            {
                "id": token,
                "width": width,
                "height": height,
                "channels": 1 if image.ndim == 2 else image.shape[2],
                "notices": notices,
            }
        )

    async def original(request: Request) -> Response:
        try:
            entry = state.get(request.path_params["token"])
        except _BadRequest as exc:
            return _error(exc)
        return Response(entry.original_jpeg, media_type="image/jpeg", headers=_NO_STORE)

    async def forget(request: Request) -> Response:
        found = state.forget(request.path_params["token"])
        return JSONResponse({"forgotten": found})

    def preview_sync(data: dict[str, Any]) -> dict[str, Any]:
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

    def metrics_sync(token: str, preview_id: str) -> dict[str, Any]:
        entry = state.get(token)
        with state.lock:
            if entry.preview_id != preview_id or entry.preview is None:
                raise _BadRequest("this preview has been replaced by a newer one", 409)
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

    def release_sync(data: dict[str, Any]) -> bytes:
        params = parse_params(data)
        if not params.private:
            raise _BadRequest(
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

    async def preview(request: Request) -> Response:
        try:
            data = await _json_body(request)
            result = await _in_thread(preview_sync, data)
        except _BadRequest as exc:
            return _error(exc)
        return JSONResponse(result, headers=_NO_STORE)

    async def metrics(request: Request) -> Response:
        token = request.query_params.get("id", "")
        preview_id = request.query_params.get("preview", "")
        try:
            result = await _in_thread(metrics_sync, token, preview_id)
        except _BadRequest as exc:
            return _error(exc)
        return JSONResponse(result, headers=_NO_STORE)

    async def release(request: Request) -> Response:
        try:
            data = await _json_body(request)
            payload = await _in_thread(release_sync, data)
        except _BadRequest as exc:
            return _error(exc)
        headers = {
            **_NO_STORE,
            "Content-Disposition": 'attachment; filename="dpimage-release.zip"',
        }
        return Response(payload, media_type="application/zip", headers=headers)

    async def info(request: Request) -> Response:
        return JSONResponse(
            {
                "version": __version__,
                "max_upload_bytes": state.max_upload_bytes,
                "methods": {key: {"label": v[0], "private": v[2]} for key, v in METHODS.items()},
            }
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            state.close()

    hosts = allowed_hosts if allowed_hosts is not None else ["127.0.0.1", "localhost"]
    app = Starlette(
        routes=[
            Route("/", index),
            Route("/api/info", info),
            Route("/api/images", upload, methods=["POST"]),
            Route("/api/images/{token}/original", original),
            Route("/api/images/{token}", forget, methods=["DELETE"]),
            Route("/api/preview", preview, methods=["POST"]),
            Route("/api/metrics", metrics),
            Route("/api/release", release, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=hosts),
            Middleware(_SameOriginWrites),
        ],
        lifespan=lifespan,
    )
    app.state.dpimage = state
    return app


# Everything the page needs is served from here: no CDN, no inline script.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_NO_STORE = {"Cache-Control": "no-store"}


class _SameOriginWrites:
    """Refuse POST/DELETE requests that a browser marks as coming from another site.

    Browsers send ``Origin`` with every POST; a page elsewhere on the web
    must not be able to push images into, or pull releases out of, this
    server. Clients that send no ``Origin`` (curl, scripts) are let through.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            origin = headers.get("origin")
            if origin is not None:
                host = headers.get("host", "")
                allowed = {f"http://{host}", f"https://{host}"}
                if origin not in allowed:
                    response = JSONResponse(
                        {"error": "cross-site request refused: use the page this server serves"},
                        status_code=403,
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _check_size(size: int, limit: int) -> None:
    if size > limit:
        raise _BadRequest(
            f"the image file is larger than the upload limit of {limit / 2**20:.0f} MB "
            f"({limit:,} bytes); restart with `dpimage serve --max-upload-mb N` to raise it",
            413,
        )


def _read_upload(path: Path, max_pixels: int | None) -> tuple[np.ndarray, list[str]]:
    """Decode with the CLI's guarded reader; messages name the upload, not the temp file."""
    try:
        image, notices = read_image(path, max_pixels=max_pixels)
    except InputError as exc:
        raise _BadRequest(str(exc).replace(str(path), _UPLOAD_LABEL)) from None
    except MemoryError:
        raise _BadRequest(f"{_UPLOAD_LABEL}: not enough memory to decode this image", 413) from None
    return image, [n.replace(str(path), _UPLOAD_LABEL) for n in notices]


async def _in_thread(func: Any, *args: Any) -> Any:
    """Run CPU-bound work in Starlette's thread pool; out of memory becomes a message."""
    from starlette.concurrency import run_in_threadpool

    try:
        return await run_in_threadpool(func, *args)
    except MemoryError:
        raise _BadRequest("not enough memory for this image", 413) from None


def _privacy_numbers(params: Params, shape: tuple[int, ...]) -> dict[str, Any]:
    """ε spent and the per-cell noise scale (for the cell side the method uses)."""
    if not params.private:
        return {
            "private": False,
            "eps_spent": None,
            "noise_scale": None,
            "note": "no noise, no guarantee: shown for comparison only",
        }
    side = params.b if params.method == "dp-pix" else params.b0
    scales = cell_noise_scale(shape, b=side, m=params.m, eps=params.eps)
    return {
        "private": True,
        "eps_spent": params.eps,
        "noise_scale": {
            "cell_side": side,
            "full_cell": float(scales[0, 0]),
            "largest": float(scales.max()),
            "std_full_cell": float(scales[0, 0] * math.sqrt(2)),
        },
    }


def _predicted_mse(image: np.ndarray, params: Params, released: np.ndarray) -> float:
    """Expected MSE of the release (clipped-Laplace model); exact for the NP methods."""
    if params.method == "dp-pix":
        return predict_dp_pix(image, params.b, params.m, params.eps, clip=True).mse
    if params.method == "dp-blur":
        return predict_dp_blur(image, params.b0, params.k, params.m, params.eps, clip=True).mse
    return mse(image, released)
