"""``dpimage serve``: the local web page to choose parameters by eye."""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Annotated

import typer

from ._app import InputFailed, app
from ._console import _say, _stderr


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; keep the loopback default.")
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(
            "--port", min=0, max=65535, help="TCP port; 0: a free one (the line printed names it)."
        ),
    ] = 8000,
    max_upload_mb: Annotated[
        float, typer.Option("--max-upload-mb", min=0.001, help="Largest upload, in MB.")
    ] = 40.0,
    max_pixels: Annotated[
        int | None,
        typer.Option(
            "--max-pixels",
            min=1,
            help="Largest image (width x height); default Pillow's bomb guard (~89 Mpx).",
            show_default=False,
        ),
    ] = None,
    memory_mb: Annotated[
        int | None,
        typer.Option(
            "--memory-mb",
            min=64,
            help="Memory limit of the server process, in MB; a request that needs more gets "
            "an error, the server keeps running. Default: half the RAM, at most 4096.",
            show_default=False,
        ),
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", min=1, help="Previews, metrics and downloads run at once.")
    ] = 1,
) -> None:
    """Open a local web page to try b, m and ε on your own image before a batch run.

    Images stay on this machine: they are decoded in memory (via a private
    temporary folder that is removed at once) and never written elsewhere.
    """
    console = _stderr()
    try:
        import uvicorn

        from ..web import create_app
        from ..web.app import limit_memory
    except ImportError as exc:
        from ..web import missing_extra_message

        raise InputFailed(f"{missing_extra_message(exc)}") from None

    hosts = ["127.0.0.1", "localhost", "[::1]", "::1"]
    if not _is_loopback(host):
        _say(
            console,
            f"warning: serving on {host}, not the loopback address: anyone who can reach "
            "this port can upload images and download releases",
            "yellow",
        )
        hosts = ["*"]
    memory_mb = memory_mb if memory_mb is not None else _default_memory_mb()
    # Bound here, before the line below: a client that reads the port from that line
    # can connect at once (the kernel queues it until the server takes it).
    sock = _listen(host, port)
    note = limit_memory(memory_mb)
    if note:
        _say(console, f"note: {note}", "yellow")
    web_app = create_app(
        max_upload_bytes=int(max_upload_mb * 1024 * 1024),
        max_pixels=max_pixels,
        allowed_hosts=hosts,
        jobs=jobs,
        memory_mb=None if note else memory_mb,
    )
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    _say(console, f"dpimage {_version()} web page on http://{shown}:{bound}/  (Ctrl+C to stop)")
    config = uvicorn.Config(web_app, log_level="warning")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (0: a free port the kernel picks)."""
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise InputFailed(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise InputFailed(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} (choose another with --port)"
        ) from None
    return sock


def _default_memory_mb() -> int:
    """Half the machine's RAM, at most 4096 MB (4096 where the RAM cannot be read)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 4096
    return int(max(256, min(4096, total // 2)))


def _version() -> str:
    from .. import __version__

    return __version__
