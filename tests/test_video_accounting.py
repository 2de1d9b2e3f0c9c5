"""Exact numbers for video accounting: every mode against hand-computed composition."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dpimage.video.accounting import (
    account,
    compose,
    full_frame_release_frames,
    region_release_frames,
    split_budget,
)


def test_compose_is_exact_product():
    assert compose(0.5, 795) == 397.5
    assert compose(0.5, 80) == 40.0
    # one rounding of the exact product, not a running float sum
    assert compose(0.1, 3) == float(Fraction(0.1) * 3)
    assert compose(0.5, 0) == 0.0


def test_split_budget_never_overspends():
    # 1/5 rounds up to the double 0.2 > 1/5, so five of them would overspend
    assert Fraction(0.2) * 5 > 1
    share = split_budget(1.0, 5)
    assert share == math.nextafter(0.2, 0.0)
    assert Fraction(share) * 5 <= 1
    # where the nearest double does not overspend, it is used as is
    assert split_budget(1.0, 4) == 0.25


@given(st.floats(1e-3, 1e3), st.integers(1, 10_000))
def test_split_budget_is_the_largest_safe_double(total, releases):
    share = split_budget(total, releases)
    assert Fraction(share) * releases <= Fraction(total)
    assert Fraction(math.nextafter(share, math.inf)) * releases > Fraction(total)


def test_full_frame_release_frames():
    assert list(full_frame_release_frames(10, 1)) == list(range(10))
    assert list(full_frame_release_frames(10, 3)) == [0, 3, 6, 9]
    assert len(full_frame_release_frames(795, 10)) == 80  # ceil(795 / 10)
    with pytest.raises(ValueError):
        full_frame_release_frames(10, 0)


def test_region_release_frames_each_mode():
    spans = [(0, 9), (5, 14)]
    assert region_release_frames(spans, None) == [0, 5]  # reuse: one per track start
    assert region_release_frames(spans, 1) == list(range(15))  # every covered frame
    # every 4: 0, 4, 8 for the first track, its start 5, then 8, 12 for the second
    assert region_release_frames(spans, 4) == [0, 4, 5, 8, 12]
    with pytest.raises(ValueError):
        region_release_frames([(3, 2)], 1)


def test_account_per_frame_vtest():
    acc = account(frames=795, release_frames=range(795), mode="per-frame", eps=0.5)
    assert (acc.releases, acc.eps_per_release, acc.eps_object) == (795, 0.5, 397.5)


def test_account_release_every():
    frames = full_frame_release_frames(795, 10)
    acc = account(frames=795, release_frames=frames, mode="release-every", eps=0.5)
    assert acc.releases == 80
    assert acc.eps_object == 40.0


def test_account_total_budget():
    acc = account(frames=795, release_frames=range(795), mode="per-frame", total_eps=2.0)
    assert acc.releases == 795
    assert acc.eps_per_release == split_budget(2.0, 795)
    assert acc.eps_object <= 2.0
    assert acc.total_eps_budget == 2.0
    # the budget split over every-5th-frame releases: ceil(795 / 5) = 159
    acc5 = account(
        frames=795,
        release_frames=full_frame_release_frames(795, 5),
        mode="release-every",
        total_eps=1.0,
    )
    assert acc5.releases == 159
    assert Fraction(acc5.eps_per_release) * 159 <= 1


def test_account_region_reuse():
    frames = region_release_frames([(0, 9), (5, 14)], None)
    acc = account(
        frames=15, release_frames=frames, mode="region-reuse", eps=0.25, max_track_releases=1
    )
    assert acc.releases == 2
    assert acc.eps_object == 0.5
    assert acc.eps_per_track == 0.25


def test_account_validation():
    with pytest.raises(ValueError, match="exactly one"):
        account(frames=3, release_frames=[0], mode="per-frame", eps=0.5, total_eps=1.0)
    with pytest.raises(ValueError, match="mode"):
        account(frames=3, release_frames=[0], mode="weekly", eps=0.5)
    with pytest.raises(ValueError, match="lie in"):
        account(frames=3, release_frames=[3], mode="per-frame", eps=0.5)
