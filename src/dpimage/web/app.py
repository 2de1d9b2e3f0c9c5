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
    :func:`dpimage.io.build_manifest`. The server counts every download of
    one upload: the manifest records them all (the second download at ε says
    ``total_epsilon`` 2ε; other settings go under ``previous_runs``) and
    ``total_epsilon_all_runs`` is the running total, also sent in the
    ``X-Dpimage-Total-Epsilon`` header. What is kept for this is the
    parameters and ε of each download, under the upload's random id —
    nothing from the image.
``DELETE /api/images/{id}``
    Forget an image.
``GET /api/samples``, ``GET /api/samples/{name}``
    The bundled sample photos (public domain and CC0) the empty page offers;
    the page uploads the chosen one like any other image.
``POST /api/public-settings``
    ``{width, height, channels, object_width, object_height, method[, eps]}``:
    b (or b0), m and ε from the image size and the thing to protect only
    (:func:`dpimage.web.public.public_settings`). Everything else the page
    shows — the preview, the measured and the predicted numbers — is computed
    from the user's image, so a choice made by watching them depends on the
    private image and is outside the guarantee; this one is not.

Nothing from the user is ever used as a file path: uploads get names chosen
here, inside a temporary folder created for this server (mode 0700) and
removed when it stops (or, if it was killed, by the next server that starts).
Requests whose ``Host`` is not the address served are refused (a guard
against DNS rebinding).

Resources: decoding, previews, metrics and downloads run ``jobs`` at a time
(default one); further requests wait without holding a thread or memory,
and beyond ``queue`` waiting ones the answer is 503 with a message. Values
that would cost memory or time without changing the release (a cell larger
than the image, a huge kernel, ``m`` above the pixel count) are refused with
400 (:func:`dpimage.web.work.parse_params`), and ``dpimage serve`` caps the
process's memory (:func:`limit_memory`), so a request that would need more
gets 413 with a message instead of the server being killed.

This module holds the routes only (request in, response out); the work they
do — decoding, releasing, encoding, comparing — is in :mod:`dpimage.web.work`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import public, work
from .work import BadRequest, State, check_size

__all__ = ["DEFAULT_MAX_UPLOAD_BYTES", "create_app", "limit_memory"]

STATIC = Path(__file__).with_name("static")

#: Largest upload accepted by default (bytes).
DEFAULT_MAX_UPLOAD_BYTES = 40 * 1024 * 1024


def _state(request: Request) -> State:
    return request.app.state.dpimage


def _error(exc: BadRequest) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=exc.status)


async def _json_body(request: Request) -> dict[str, Any]:
    # A non-"simple" content type: a cross-site form or fetch cannot send it without
    # a CORS preflight, which this server never grants.
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise BadRequest("send the parameters as JSON (Content-Type: application/json)", 415)
    try:
        data = await request.json()
    except ValueError:
        raise BadRequest("request body must be JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    return data


class _Gate:
    """At most ``jobs`` heavy requests at once; at most ``queue`` more waiting (else 503).

    Waiting happens on the event loop, so a waiting request holds neither a
    worker thread nor any memory of its own.
    """

    def __init__(self, jobs: int, queue: int) -> None:
        self.jobs, self.queue = jobs, queue
        self._slots: asyncio.Semaphore | None = None  # made on the server's event loop
        self.waiting = 0

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.jobs)
        if self._slots.locked() and self.waiting >= self.queue:
            raise BadRequest(
                f"the server is busy ({self.jobs} request(s) running, {self.waiting} waiting); "
                "try again in a moment",
                503,
            )
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._slots.release()


async def _in_thread(request: Request, func: Any, *args: Any) -> Any:
    """Run CPU-bound work in the thread pool, through the gate; out of memory is a 413.

    The thread is awaited even if the client goes away, so the gate is held
    for as long as the work runs.
    """
    from starlette.concurrency import run_in_threadpool

    gate: _Gate = request.app.state.gate
    async with gate():
        try:
            return await run_in_threadpool(func, *args)
        except Exception as exc:
            if not work.out_of_memory(exc):
                raise
            limit = _state(request).memory_mb
            where = (
                f" within the server's limit of {limit:,} MB (`dpimage serve --memory-mb N`)"
                if limit
                else ""
            )
            raise BadRequest(
                f"not enough memory for this request{where}; try larger cells (b, b0), "
                "a smaller image, or a smaller blur kernel",
                413,
            ) from None


def limit_memory(megabytes: int) -> str | None:
    """Cap this process's data memory (heap and anonymous maps) at ``megabytes``.

    Past it, allocations fail (MemoryError, or OpenCV's allocation error) and
    the request gets 413, instead of the kernel killing the whole server.
    Uses ``RLIMIT_DATA`` (enforced on Linux); returns a note where it cannot
    be set, else None.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return "the memory limit needs the resource module (Unix); not set"
    limit = int(megabytes) * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY and limit > hard:
        limit = hard
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    except (ValueError, OSError) as exc:  # pragma: no cover - depends on the system
        return f"could not set the memory limit: {exc}"
    return None


# --------------------------------------------------------------------------- routes


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers=_PAGE_HEADERS)


async def info(request: Request) -> Response:
    return JSONResponse(work.info(_state(request)))


async def upload(request: Request) -> Response:
    state = _state(request)
    try:
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        if kind != "application/octet-stream" and not kind.startswith("image/"):
            raise BadRequest(
                "send the image file's bytes as the request body "
                "(Content-Type: application/octet-stream or image/*)",
                415,
            )
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit():
            check_size(int(declared), state.max_upload_bytes)
        handle, name = tempfile.mkstemp(dir=state.tmp, suffix=".upload")
        try:
            received = 0
            with os.fdopen(handle, "wb") as stream:
                async for chunk in request.stream():
                    received += len(chunk)
                    check_size(received, state.max_upload_bytes)
                    stream.write(chunk)
            if received == 0:
                raise BadRequest("the upload is empty; choose an image file")
            # Decoding is CPU-bound: off the event loop, like the mechanisms.
            result = await _in_thread(request, work.decode_upload, state, Path(name))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
    except BadRequest as exc:
        return _error(exc)
    return JSONResponse(result)


async def original(request: Request) -> Response:
    try:
        entry = _state(request).get(request.path_params["token"])
    except BadRequest as exc:
        return _error(exc)
    return Response(entry.original_jpeg, media_type="image/jpeg", headers=_NO_STORE)


async def forget(request: Request) -> Response:
    found = _state(request).forget(request.path_params["token"])
    return JSONResponse({"forgotten": found})


async def preview(request: Request) -> Response:
    try:
        data = await _json_body(request)
        result = await _in_thread(request, work.preview, _state(request), data)
    except BadRequest as exc:
        return _error(exc)
    return JSONResponse(result, headers=_NO_STORE)


async def metrics(request: Request) -> Response:
    token = request.query_params.get("id", "")
    preview_id = request.query_params.get("preview", "")
    try:
        result = await _in_thread(request, work.metrics, _state(request), token, preview_id)
    except BadRequest as exc:
        return _error(exc)
    return JSONResponse(result, headers=_NO_STORE)


async def release(request: Request) -> Response:
    try:
        data = await _json_body(request)
        payload, total = await _in_thread(request, work.release_zip, _state(request), data)
    except BadRequest as exc:
        return _error(exc)
    headers = {
        **_NO_STORE,
        "Content-Disposition": 'attachment; filename="dpimage-release.zip"',
        # the page shows it; the manifest in the ZIP records the same running total
        "X-Dpimage-Total-Epsilon": repr(total),
    }
    return Response(payload, media_type="application/zip", headers=headers)


async def samples(request: Request) -> Response:
    names = list(public.sample_files())
    return JSONResponse(
        {"samples": [{"name": n, "url": f"/api/samples/{n}"} for n in names]},
    )


async def sample(request: Request) -> Response:
    # Only names from the bundled list are opened: nothing from the request is a path.
    path = public.sample_files().get(request.path_params["name"])
    if path is None:
        return _error(BadRequest("no such sample photo", 404))
    return FileResponse(path, media_type=public.SAMPLE_TYPES[path.suffix.lower()])


async def public_settings(request: Request) -> Response:
    try:
        data = await _json_body(request)
        try:
            result = await _in_thread(request, public.public_settings, data)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
    except BadRequest as exc:
        return _error(exc)
    return JSONResponse(result)


def create_app(
    *,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_pixels: int | None = None,
    allowed_hosts: list[str] | None = None,
    max_images: int = 4,
    jobs: int = 1,
    queue: int = 8,
    memory_mb: int | None = None,
    tmp_root: Path | None = None,
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
    jobs : int
        Heavy requests (decode, preview, metrics, download) run at once.
    queue : int
        Heavy requests that may wait for a turn; more get status 503.
    memory_mb : int, optional
        The process's memory limit, if one was set (:func:`limit_memory`);
        named in the 413 message of a request that ran out of memory.
    tmp_root : path, optional
        Where the server's temporary folder goes (default: the system's
        temporary directory); stale folders of killed servers there are
        removed.

    Returns
    -------
    starlette.applications.Starlette
        The application; its temporary folder is removed at shutdown.
    """
    if max_upload_bytes < 1:
        raise ValueError(f"max_upload_bytes must be positive, got {max_upload_bytes}")
    if jobs < 1 or queue < 0:
        raise ValueError(f"jobs must be >= 1 and queue >= 0, got {jobs} and {queue}")
    state = State(max_upload_bytes, max_pixels, max_images, tmp_root)
    state.memory_mb = memory_mb

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
            Route("/api/samples", samples),
            Route("/api/samples/{name}", sample),
            Route("/api/public-settings", public_settings, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=hosts),
            Middleware(_SameOriginWrites),
        ],
        lifespan=lifespan,
    )
    app.state.dpimage = state
    app.state.gate = _Gate(jobs, queue)
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
