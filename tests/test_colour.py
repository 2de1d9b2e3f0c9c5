"""Luma/chroma release: transform, sensitivity, budget split, noise scale and audit.

The audit follows ``tests/test_audit.py``: neighbours differing in ``m``
pixels inside the smallest (partial) luma cell (and so in one chroma cell),
each pixel changed across a vertex of the cube of changes (the worst case of
:func:`worst_case_epsilon`), ``N`` seeded draws each, an event on the output,
a one-sided Clopper–Pearson lower bound on ``ln(P[E | x'] / P[E | x])`` that
must not exceed eps but come close to it (the split spends all of eps) — and
must exceed it for the broken controls kept here (half noise, full eps on
each of Y/Co/Cg, the ``b^2`` formula on a partial cell, and two splits that
overspend: chroma budgeted beyond the joint bound, and luma and chroma
composed as if they were disjoint). The draws are batched through
:func:`noisy_ycocg_means`, the private step :func:`release_colour` runs
(a test below checks that both give the same release under one seed).
"""

import math
from fractions import Fraction

import numpy as np
import pytest

from conftest import epsilon_lower_bound_from_counts
from dpimage.cells import cell_counts, cell_sums
from dpimage.privacy.colour import (
    DIVISOR,
    TRANSFORM,
    channel_sensitivity,
    chroma_factor_for,
    rgb_to_ycocg,
    split_budget,
    worst_case_epsilon,
    ycocg_to_rgb,
)
from dpimage.privacy.sampling import discrete_laplace, make_bit_source
from dpimage.release import colour_split, release_colour
from dpimage.release.colour import noisy_ycocg_means

EPS, M, B, FACTOR = 0.5, 16, 16, 2
SHAPE = (20, 20, 3)  # the corner luma cell holds 4 x 4 = 16 = M pixels
RUNS = 400_000
ALPHA = 0.01
#: The real mechanism's audit bound must reach this fraction of eps (the split spends all of it).
CLOSE = 0.85


def test_transform_is_integer_and_inverts():
    rgb = np.random.default_rng(0).integers(0, 256, size=(50, 3))
    assert TRANSFORM.dtype.kind == "i"
    np.testing.assert_allclose(ycocg_to_rgb(rgb_to_ycocg(rgb)), rgb, atol=1e-9)
    ycocg = rgb_to_ycocg(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0]]))
    np.testing.assert_allclose(ycocg, [[255, 0, 0], [0, 0, 0], [63.75, 127.5, -63.75]])


def test_sensitivity_is_255_m_row_l1_and_attained():
    delta = channel_sensitivity(M)
    assert delta == (255 * M * 4,) * 3
    rng = np.random.default_rng(1)
    # random neighbours: m pixels of one cell changed by anything in [-255, 255]
    for _ in range(200):
        d = rng.integers(-255, 256, size=(M, 3))
        change = np.abs(d.sum(axis=0) @ TRANSFORM.T)
        assert np.all(change <= delta)
    # black -> white attains the luma bound; (0,0,255) -> (255,255,0) the Co bound
    assert abs(np.full((M, 3), 255).sum(axis=0) @ TRANSFORM[0]) == delta[0]
    assert abs(np.tile([255, 255, -255], (M, 1)).sum(axis=0) @ TRANSFORM[1]) == delta[1]


def _loss(budgets, delta_sums, m):
    """Exact pure-DP loss of a YCoCg release for a change of the transformed integer sums.

    ``delta_sums``: per channel, the changes of that channel's cell sums (any grid);
    the loss is ``sum_c eps_c ||change_c||_1 / Delta_c`` (module docstring of privacy.colour).
    """
    delta = channel_sensitivity(m)
    return sum(
        Fraction(e) * int(np.abs(d).sum()) / int(dc)
        for e, d, dc in zip(budgets, delta_sums, delta, strict=True)
    )


def _cube(n):
    """Every d in {-255, ..., 255}^3 on an n-point grid per axis (the 8 vertices included)."""
    axis = np.linspace(-255, 255, n).round().astype(np.int64)
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)


@pytest.mark.parametrize(
    "budgets",
    [(0.5, 1 / 6, 1 / 6), (0.35, 0.075, 0.075), (0.1, 0.9, 0.2), (0.3, 0.05, 0.6), (0, 0.2, 0.2)],
)
def test_worst_case_epsilon_is_the_max_over_one_pixels_change(budgets):
    e_y, e_co, e_cg = map(Fraction, budgets)
    bound = worst_case_epsilon(*budgets)
    assert bound == max(e_y, e_cg, e_y / 2 + e_co + e_cg / 2)  # the closed form
    # one pixel (m = 1), every change on a grid of the cube: never above, the max attained
    moves = np.abs(_cube(11) @ TRANSFORM.T)
    losses = [_loss(budgets, move, 1) for move in moves]
    assert max(losses) == bound
    # random interior changes stay below (convexity: the max sits on a vertex)
    rng = np.random.default_rng(0)
    for d in rng.integers(-254, 255, size=(300, 3)):
        assert _loss(budgets, np.abs(d @ TRANSFORM.T), 1) <= bound
    if e_y == 0:  # chroma alone: its own bound
        assert bound == max(e_co + e_cg / 2, e_cg)


@pytest.mark.parametrize("b, b_chroma", [(16, 16), (4, 32), (5, 7)])
@pytest.mark.parametrize("spread", [False, True])
def test_worst_case_is_attained_by_m_pixels_whatever_the_cells(b, b_chroma, spread):
    """m pixels all changed across the worst vertex: the sums' loss equals the bound exactly."""
    budgets = split_budget(EPS)
    shape = (40, 44, 3)
    rng = np.random.default_rng(1)
    flat = rng.choice(40 * 44, M, replace=False) if spread else np.arange(M)
    where = np.unravel_index(flat, shape[:2]) if spread else (flat // 4, flat % 4)
    losses = []
    for u in ([1, 1, 1], [1, 1, -1], [-1, 1, 1], [1, -1, 1]):
        x = np.zeros(shape, dtype=np.uint8)
        x[...] = 255 * (1 - np.array(u)) // 2
        x_prime = x.copy()
        x_prime[where] = 255 * (1 + np.array(u)) // 2
        changes = []
        for c, side in enumerate((b, b_chroma, b_chroma)):
            s, s_prime = (cell_sums(img, side) @ TRANSFORM[c] for img in (x, x_prime))
            changes.append(s_prime - s)
        losses.append(_loss(budgets, changes, M))
        # the triangle inequality is an equality: m times one pixel's loss at that vertex
        assert losses[-1] == _loss(budgets, np.abs(TRANSFORM @ (255 * np.array(u))), 1)
    assert max(losses) == worst_case_epsilon(*budgets) == Fraction(EPS)


@pytest.mark.parametrize("eps", [0.5, 0.1, 0.2, 1 / 3, 1.0, 2.0, 1e-3, 7.3])
@pytest.mark.parametrize("share", [0.5, 0.7, 0.9, 1.0])
def test_split_budget_worst_case_is_eps_never_above(eps, share):
    e_y, e_co, e_cg = split_budget(eps, share)
    bound = worst_case_epsilon(e_y, e_co, e_cg)
    assert bound <= Fraction(eps)  # exact binary values: rounding never overspends
    assert e_co == e_cg and e_y == pytest.approx(share * eps)
    assert float(bound) == pytest.approx(eps, rel=1e-15)  # and spends all of it
    # as close as doubles allow: one ulp more chroma would overspend (when chroma binds)
    more = float(np.nextafter(e_co, np.inf))
    assert worst_case_epsilon(e_y, more, more) > Fraction(eps)


def test_old_sum_split_spent_only_0_7_eps():
    # 0.7 / 0.15 / 0.15 of eps, sum = eps by basic composition, worst case 0.7 eps
    assert worst_case_epsilon(0.35, 0.075, 0.075) == Fraction(0.35)
    assert sum(split_budget(EPS)) > EPS  # the new split's sum is 5/3 eps: not the claim


def test_split_budget_and_colour_split_refuse_overspending():
    with pytest.raises(ValueError, match="luma_share"):
        split_budget(EPS, 1.2)
    e_y, e_c, _ = split_budget(EPS)
    more = float(np.nextafter(e_c, np.inf))
    with pytest.raises(ValueError, match="spend"):
        colour_split(B, M, EPS, budgets=(e_y, more, more))
    with pytest.raises(ValueError, match="equal"):
        colour_split(B, M, EPS, budgets=(e_y, e_c, e_c / 2))
    split = colour_split(B, M, EPS, budgets=(0.35, 0.075, 0.075))
    assert split["eps_bound"] == 0.35 and split["bound"].startswith("max(")
    default = colour_split(B, M, EPS)
    assert default["eps_bound"] == EPS and default["eps_luma"] == EPS


def test_split_budget_never_exceeds_eps_for_any_share():
    # Rounding the chroma budgets to nearest overspends for many (eps, share) pairs: the
    # exact worst case of every split, over shares in (0, 1], stays <= eps.
    rng = np.random.default_rng(0)
    eps_values = np.exp(rng.uniform(np.log(1e-4), np.log(1e3), 2000))
    shares = np.append(rng.uniform(0.01, 1.0, 1999), 1.0)
    for eps, share in zip(eps_values.tolist(), shares.tolist(), strict=True):
        e_y, e_co, e_cg = split_budget(eps, share)
        assert worst_case_epsilon(e_y, e_co, e_cg) <= Fraction(eps), (eps, share)
        assert e_co == e_cg > 0 and float(worst_case_epsilon(e_y, e_co, e_cg)) == pytest.approx(
            eps, rel=1e-15
        )


def test_release_records_split_and_shapes():
    img = np.zeros((40, 70, 3), dtype=np.uint8)
    rel = release_colour(img, b=16, m=M, eps=EPS, rng=0)
    assert rel.luma.means.shape == (3, 5, 1) and rel.luma.scale.shape == (3, 5)
    assert rel.chroma.means.shape == (1, 2, 2) and rel.chroma.scale.shape == (1, 2)
    assert rel.b_chroma == 16 * 4 and rel.eps_bound == EPS
    assert worst_case_epsilon(rel.eps_luma, *rel.eps_chroma) <= Fraction(EPS)
    assert rel.luma.eps == rel.eps_luma and rel.chroma.b == rel.b_chroma
    # each part's own eps is its own worst case: luma eps_Y, chroma eps_Co + eps_Cg / 2
    assert rel.luma.eps == EPS and rel.chroma.eps == 1.5 * rel.eps_chroma[0] == EPS / 2
    assert rel.facts()["eps_bound"] == EPS
    assert release_colour(img, 16, M, EPS, 0, chroma_factor=2).chroma.means.shape == (2, 3, 2)
    with pytest.raises(ValueError, match="uint8"):
        release_colour(np.zeros((8, 8), dtype=np.uint8))


def test_public_release_equals_batched_private_step():
    img = np.random.default_rng(3).integers(0, 256, SHAPE, dtype=np.uint8)
    rel = release_colour(img, B, M, EPS, rng=7, chroma_factor=FACTOR)
    assert rel.b_chroma == B * FACTOR
    h, w = SHAPE[:2]
    luma, _, chroma, _ = noisy_ycocg_means(
        cell_sums(img, B), cell_counts(h, w, B), cell_sums(img, B * FACTOR),
        cell_counts(h, w, B * FACTOR), M, split_budget(EPS), make_bit_source(7),
    )  # fmt: skip
    np.testing.assert_array_equal(rel.luma.means[:, :, 0], luma)
    np.testing.assert_array_equal(rel.chroma.means, chroma)


def _discrete_laplace_sd(t: float) -> float:
    q = math.exp(-1.0 / t)
    return math.sqrt(2 * q) / (1 - q)


def test_noise_scale_matches_derivation_full_and_partial_cells():
    """Empirical spread per channel = derived scale, on full and on partial cells."""
    shape = (72, 88, 3)  # partial luma row/column (8 px) and partial chroma cells
    img = np.full(shape, 128, dtype=np.uint8)
    truth = rgb_to_ycocg(np.array([128, 128, 128]))
    draws = [release_colour(img, B, M, EPS, rng=s, chroma_factor=FACTOR) for s in range(60)]
    e_y, e_c, _ = split_budget(EPS)
    counts_y, counts_c = cell_counts(72, 88, B), cell_counts(72, 88, B * FACTOR)
    luma = np.stack([d.luma.means[:, :, 0] for d in draws])
    chroma = np.stack([d.chroma.means for d in draws])
    for values, counts, eps_c, scales, true in (
        (luma, counts_y, e_y, draws[0].luma.scale, truth[0]),
        (chroma[..., 0], counts_c, e_c, draws[0].chroma.scale, truth[1]),
        (chroma[..., 1], counts_c, e_c, draws[0].chroma.scale, truth[2]),
    ):
        t_sum = 255 * M * 4 / eps_c
        np.testing.assert_allclose(scales, t_sum / (counts * DIVISOR))
        for n in (counts.max(), counts.min()):  # a full cell and the smallest partial one
            cells = counts == n
            err = (values[:, cells] - true).ravel()
            expected = _discrete_laplace_sd(t_sum) / (n * DIVISOR)
            # 60+ draws: the sample sd is within ~25% of the truth with overwhelming odds
            assert err.std() == pytest.approx(expected, rel=0.3), (n, err.size)
    # partial cells are noisier, by n_full / n_partial exactly
    assert draws[0].luma.scale[-1, -1] / draws[0].luma.scale[0, 0] == 256 / 64


def test_noise_spread_is_pinned_to_a_few_percent():
    """Enough draws that a noise 5% too small (or too large) fails: 40 seeded releases of a
    flat 512 x 512 image, 1,024 full cells per channel each, through the public release.

    The sample sd of n Laplace draws has a relative sd of about sqrt(5 / n) / 2 (kurtosis 6),
    0.55% at n = 40,960: a 3% tolerance is more than 5 of those, a 5% error more than 9.
    """
    shape, b = (512, 512, 3), 16
    img = np.full(shape, 128, dtype=np.uint8)
    truth = rgb_to_ycocg(np.array([128, 128, 128]))
    draws = [release_colour(img, b, M, EPS, rng=s, chroma_factor=1) for s in range(40)]
    e_y, e_co, e_cg = split_budget(EPS)
    n = b * b
    for values, eps_c, true in (
        (np.stack([d.luma.means[..., 0] for d in draws]), e_y, truth[0]),
        (np.stack([d.chroma.means[..., 0] for d in draws]), e_co, truth[1]),
        (np.stack([d.chroma.means[..., 1] for d in draws]), e_cg, truth[2]),
    ):
        t_sum = 255 * M * 4 / eps_c
        expected = _discrete_laplace_sd(t_sum) / (n * DIVISOR)
        err = (values - true).ravel()
        assert err.size == 40 * 1024
        assert err.std() == pytest.approx(expected, rel=0.03)
        assert abs(err.mean()) < 5 * expected / math.sqrt(err.size)  # unbiased


def test_chroma_factor_rule():
    # the factors measured best on the public tuning photos (docstring), default split
    factors = [chroma_factor_for(16, 16, split_budget(e)[1]) for e in (0.1, 0.2, 0.5, 1, 2)]
    assert factors == [8, 8, 4, 4, 2]
    assert chroma_factor_for(16, 16, 1e-6) == 16


# --- broken controls: the same private step with one plausible bug each ---


def _sums_step(sums_l, counts_l, sums_c, counts_c, m, budgets, bits, *, scale_of):
    """Like noisy_ycocg_means, but channel c's sum-scale is ``scale_of(c, t_c, counts)``."""
    delta = channel_sensitivity(m)
    s_y = sums_l @ TRANSFORM[0]
    s_c = sums_c @ TRANSFORM[1:].T
    out = []
    channels = ((s_y, counts_l), (s_c[..., 0], counts_c), (s_c[..., 1], counts_c))
    for c, (s, counts) in enumerate(channels):
        t = Fraction(int(delta[c])) / Fraction(budgets[c])
        noise = np.empty(s.shape, dtype=np.int64)
        for n in np.unique(counts):
            cells = np.broadcast_to(counts == n, s.shape)
            noise[cells] = discrete_laplace(scale_of(c, t, int(n)), (int(cells.sum()),), bits)
        out.append((s + noise) / (counts * DIVISOR))
    return out[0], None, np.stack(out[1:], axis=-1), None


def half_noise(*args):
    return _sums_step(*args, scale_of=lambda c, t, n: t / 2)


def eps_per_channel(sums_l, counts_l, sums_c, counts_c, m, budgets, bits):
    # each of Y, Co, Cg spends the full eps: 2 eps at the yellow/blue vertex
    return noisy_ycocg_means(sums_l, counts_l, sums_c, counts_c, m, (EPS, EPS, EPS), bits)


def chroma_beyond_bound(sums_l, counts_l, sums_c, counts_c, m, budgets, bits):
    # luma at eps and chroma on top as if it were free up to eps / 2 each: 1.25 eps
    budgets = (EPS, EPS / 2, EPS / 2)
    return noisy_ycocg_means(sums_l, counts_l, sums_c, counts_c, m, budgets, bits)


def luma_chroma_parallel(sums_l, counts_l, sums_c, counts_c, m, budgets, bits):
    # luma eps and chroma at its own worst case eps (2/3 each), composed as if disjoint: 1.5 eps
    budgets = (EPS, 2 * EPS / 3, 2 * EPS / 3)
    return noisy_ycocg_means(sums_l, counts_l, sums_c, counts_c, m, budgets, bits)


def b2_on_partial(*args):
    # luma noise as if every cell held b^2 pixels
    return _sums_step(*args, scale_of=lambda c, t, n: t * Fraction(n, B * B) if c == 0 else t)


def real(*args):
    return noisy_ycocg_means(*args)


# x -> x': every pixel of the 16-pixel corner cell changed in every channel, across a
# vertex of the cube of changes (privacy.colour: the worst cases).
#  "white": black -> white moves only Y (by the full Delta_Y): loss eps_Y = eps.
#  "co": blue (0,0,255) -> yellow (255,255,0) moves Y by Delta/2, Co by Delta and Cg by
#  Delta/2: loss eps_Y/2 + eps_Co + eps_Cg/2 = eps with the default split (2 eps with
#  eps on each channel, 1.25 eps and 1.5 eps for the overspending splits below).
PAIRS = {"white": ((0, 0, 0), (255, 255, 255)), "co": ((0, 0, 255), (255, 255, 0))}


def _event(luma, chroma, luma_thr, chroma_thr, use_chroma):
    """Every channel that the pair moves is at least its value under x' (a direction event)."""
    hit = luma[:, -1, -1] >= luma_thr
    if use_chroma:
        hit &= np.all(chroma[:, -1, -1] >= chroma_thr, axis=-1)
    return int(hit.sum())


def _epsilon_lower_bound(step, pair, seed):
    base, changed = PAIRS[pair]
    x = np.zeros(SHAPE, dtype=np.uint8)
    x[...] = base
    x_prime = x.copy()
    x_prime[16:, 16:] = changed
    h, w = SHAPE[:2]
    counts_l, counts_c = cell_counts(h, w, B), cell_counts(h, w, B * FACTOR)
    bits = make_bit_source(seed)
    hits = []
    for img in (x, x_prime):
        sums_l = np.broadcast_to(cell_sums(img, B), (RUNS, *counts_l.shape, 3))
        sums_c = np.broadcast_to(cell_sums(img, B * FACTOR), (RUNS, *counts_c.shape, 3))
        luma, _, chroma, _ = step(sums_l, counts_l, sums_c, counts_c, M, split_budget(EPS), bits)
        hits.append((luma, chroma))
    # thresholds: the noise-free values of x' (public to the auditor, not to any renderer)
    luma_thr = (cell_sums(x_prime, B)[-1, -1] @ TRANSFORM[0]) / (counts_l[-1, -1] * DIVISOR)
    chroma_thr = (cell_sums(x_prime, B * FACTOR)[-1, -1] @ TRANSFORM[1:].T) / (
        counts_c[-1, -1] * DIVISOR
    )
    k, k_prime = (_event(lu, ch, luma_thr, chroma_thr, pair == "co") for lu, ch in hits)
    return epsilon_lower_bound_from_counts(k, k_prime, RUNS, ALPHA)


CASES = {
    "ycocg white": (real, "white", True),
    "ycocg co": (real, "co", True),
    "control: half noise": (half_noise, "white", False),
    "control: eps per channel": (eps_per_channel, "co", False),
    "control: b^2 on partial cell": (b2_on_partial, "white", False),
    "control: chroma beyond the bound": (chroma_beyond_bound, "co", False),
    "control: luma and chroma in parallel": (luma_chroma_parallel, "co", False),
}


@pytest.mark.parametrize("name", list(CASES))
def test_audit_luma_chroma(name):
    step, pair, is_private = CASES[name]
    eps_hat = _epsilon_lower_bound(step, pair, seed=sum(map(ord, name)))
    if is_private:
        assert eps_hat <= EPS, f"{name}: audit lower bound {eps_hat:.3f} exceeds eps={EPS}"
        # tight: the worst-case change costs all of eps (the old 0.7/0.15/0.15 split: 0.7 eps)
        assert eps_hat >= CLOSE * EPS, f"{name}: bound {eps_hat:.3f} far below eps={EPS}"
    else:
        assert eps_hat > EPS, f"{name}: broken control not detected (bound {eps_hat:.3f})"


def test_sensitivity_is_exact_where_int64_would_wrap():
    # 255 m 4 passes 2**64 here: in int64 it wrapped to 764 and the release drew
    # almost no noise while claiming this m and eps (found by a review).
    m = -(-(2**64) // 1020)
    assert channel_sensitivity(m) == (255 * m * 4,) * 3
    image = np.full((16, 16, 3), 128, dtype=np.uint8)
    release = release_colour(image, b=8, m=m, eps=8e5, rng=0, chroma_factor=2)
    n = 64  # pixels of a full luma cell
    assert release.luma.scale[0, 0] == pytest.approx(255 * m / (release.luma.eps * n), rel=1e-9)
