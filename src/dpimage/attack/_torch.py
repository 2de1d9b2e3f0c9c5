"""Lazy import of PyTorch with a message naming the extra to install."""

from __future__ import annotations

from types import ModuleType

INSTALL_HINT = "pip install 'dpimage[torch]'  (pins torch==2.13.0, the CPU build)"


def import_torch() -> ModuleType:
    """Return the ``torch`` module, or raise ImportError saying how to install it."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"the attack needs PyTorch: {INSTALL_HINT}") from exc
    return torch
