"""``dpimage serve``: the local web page to choose parameters by eye."""

from __future__ import annotations

import ipaddress
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
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
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
) -> None:
    """Open a local web page to try b, m and ε on your own image before a batch run.

    Images stay on this machine: they are decoded in memory (via a private
    temporary folder that is removed at once) and never written elsewhere.
    """
    console = _stderr()
    try:
        import uvicorn

        from ..web import create_app
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
    problem = _bind_error(host, port)
    if problem:
        raise InputFailed(f"{problem} (choose another with --port)")
    web_app = create_app(
        max_upload_bytes=int(max_upload_mb * 1024 * 1024),
        max_pixels=max_pixels,
        allowed_hosts=hosts,
    )
    shown = f"[{host}]" if ":" in host else host
    _say(console, f"dpimage {_version()} web page on http://{shown}:{port}/  (Ctrl+C to stop)")
    uvicorn.run(web_app, host=host, port=port, log_level="warning")


def _bind_error(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be bound (checked before starting), or None."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, _, _, _, address = infos[0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def _version() -> str:
    from .. import __version__

    return __version__
