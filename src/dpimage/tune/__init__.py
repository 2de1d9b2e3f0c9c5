"""Parameter advice: which ``m``, ``ε`` and ``b`` for an image, with predicted utility.

- :mod:`.advice` — :func:`recommend` on the user's own image (its choice is
  **not** covered by the DP guarantee: it depends on the private pixels);
- :mod:`.public` — :func:`recommend_public`, the same on public look-alike
  photos, so the choice depends only on facts every release shows;
- :mod:`.simulate` — the seeded simulations both use where no closed form exists.
"""

from __future__ import annotations

from .advice import DEFAULT_EPS, TUNABLE, Recommendation, b_grid, recommend
from .public import public_references, recommend_public

__all__ = [
    "DEFAULT_EPS",
    "TUNABLE",
    "Recommendation",
    "b_grid",
    "public_references",
    "recommend",
    "recommend_public",
]
