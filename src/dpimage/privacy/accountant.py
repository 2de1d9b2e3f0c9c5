"""Basic-composition accountant: every release of the same content spends its eps."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .._validation import check_positive_float

__all__ = ["Accountant", "Release"]


@dataclass(frozen=True)
class Release:
    """One eps-DP release: what was spent, and a label naming the output."""

    eps: float
    label: str


@dataclass
class Accountant:
    """Running total of eps under basic composition (``k`` releases cost the sum).

    The total bounds what an adversary learns about content that appears in
    *all* the recorded releases (the same image released twice, the same person
    in every frame). Releases of unrelated images each protect their own image
    at their own eps; :attr:`max_epsilon` is that per-image figure.

    A failed :meth:`spend` leaves the history untouched.
    """

    releases: list[Release] = field(default_factory=list)

    def spend(self, eps: float, label: str = "") -> None:
        """Record one release that cost ``eps``."""
        eps = check_positive_float(eps, "eps")
        self.releases.append(Release(eps, str(label)))

    @property
    def total_epsilon(self) -> float:
        """Sum of all eps spent (basic composition)."""
        return math.fsum(r.eps for r in self.releases)

    @property
    def max_epsilon(self) -> float:
        """Largest single release (0.0 if nothing was released)."""
        return max((r.eps for r in self.releases), default=0.0)

    def state_dict(self) -> dict:
        """JSON-able summary: per-release eps, count, total and max."""
        return {
            "composition": "basic (sum of eps)",
            "releases": [{"label": r.label, "eps": r.eps} for r in self.releases],
            "count": len(self.releases),
            "total_epsilon": self.total_epsilon,
            "max_epsilon": self.max_epsilon,
        }
