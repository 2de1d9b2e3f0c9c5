"""Basic-composition accountant: every release of the same content spends its eps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction

from .._validation import check_positive_float, check_positive_int

__all__ = ["Accountant", "Spend", "compose"]


def compose(eps_values: Iterable[float], repeats: int = 1) -> float:
    """Basic composition: releases of the same content at ``eps_1 .. eps_k`` cost their sum.

    Parameters
    ----------
    eps_values : iterable of float
        The eps of each release (each finite and > 0).
    repeats : int, default 1
        How many times the whole list is released (e.g. ``r`` releases of one
        image averaged by an attacker, or ``T`` frames showing one object).

    Returns
    -------
    float
        ``repeats * sum(eps_values)``, computed exactly in rationals and rounded
        once (``compose([0.1], 3)`` is the double nearest to 3 x 0.1's exact
        value); 0.0 for no releases.

    Notes
    -----
    If each release is eps_i-DP for a neighbourhood, all of them together
    (and anything computed from them, e.g. their average) are
    ``sum eps_i``-DP for it: the output densities multiply, and so do their
    ratio bounds. This is the only composition rule the package uses.

    Examples
    --------
    >>> compose([0.5, 0.25])
    0.75
    >>> compose([0.1], repeats=3)
    0.30000000000000004
    """
    repeats = check_positive_int(repeats, "repeats")
    total = sum((Fraction(check_positive_float(e, "eps")) for e in eps_values), Fraction(0))
    return float(total * repeats)


@dataclass(frozen=True)
class Spend:
    """One eps-DP release as the accountant records it: what was spent, and a label.

    (The released data itself is a :class:`dpimage.release.Release`.)
    """

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

    releases: list[Spend] = field(default_factory=list)

    def spend(self, eps: float, label: str = "") -> None:
        """Record one release that cost ``eps``."""
        eps = check_positive_float(eps, "eps")
        self.releases.append(Spend(eps, str(label)))

    @property
    def total_epsilon(self) -> float:
        """Sum of all eps spent (basic composition)."""
        return compose(r.eps for r in self.releases)

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
