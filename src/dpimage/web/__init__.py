"""A local web page to choose b, m and ε by eye (``dpimage serve``).

Needs the ``web`` extra (``pip install 'dpimage[web]'``): Starlette and
uvicorn. Import :func:`create_app` from here; the heavy imports happen only
then, with a message naming the extra if they are missing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "missing_extra_message"]


def missing_extra_message(exc: ImportError) -> str:
    """One line saying what to install when the web extra is absent."""
    return (
        f"the web page needs the 'web' extra ({exc.name or exc} is missing): "
        "pip install 'dpimage[web]'"
    )


def create_app(**kwargs: Any) -> Any:
    """Build the Starlette application; see :func:`dpimage.web.app.create_app`."""
    try:
        from .app import create_app as _create_app
    except ImportError as exc:
        raise ImportError(missing_extra_message(exc)) from exc
    return _create_app(**kwargs)
