"""PyTorch for the modules that need it, with a message naming the extra when it is missing.

Only the network (:mod:`.model`), the model file (:mod:`.bundle`), encoding
and decoding (:mod:`.codec`), training (:mod:`.train`) and the evaluation
import this; keys, fake generators' NumPy parts and the data preparation do not.
"""

from __future__ import annotations

try:
    import torch
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "this part of dpimage.ambiguation needs PyTorch, safetensors and scikit-learn: "
        "pip install 'dpimage[ambiguation]'"
    ) from exc

__all__ = ["torch"]
