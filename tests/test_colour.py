"""Luma/chroma release: transform, sensitivity, budget split, noise scale and audit.

The audit follows ``tests/test_audit.py``: neighbours differing in ``m``
pixels inside the smallest (partial) luma cell, ``N`` seeded draws each, an
event on the output, a one-sided Clopper–Pearson lower bound on
``ln(P[E | x'] / P[E | x])`` that must not exceed eps — and must exceed it
for the broken controls kept here (half noise, full eps on each of Y/Co/Cg,
the ``b^2`` formula on a partial cell). The draws are batched through
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
    ycocg_to_rgb,
)
from dpimage.privacy.sampling import discrete_laplace, make_bit_source
from dpimage.release import release_colour
from dpimage.release.colour import noisy_ycocg_means

EPS, M, B, FACTOR = 0.5, 16, 16, 2
SHAPE = (20, 20, 3)  # the corner luma cell holds 4 x 4 = 16 = M pixels
RUNS = 40_000
ALPHA = 0.01


def test_transform_is_integer_and_inverts():
    rgb = np.random.default_rng(0).integers(0, 256, size=(50, 3))
    assert TRANSFORM.dtype.kind == "i"
    np.testing.assert_allclose(ycocg_to_rgb(rgb_to_ycocg(rgb)), rgb, atol=1e-9)
    ycocg = rgb_to_ycocg(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0]]))
    np.testing.assert_allclose(ycocg, [[255, 0, 0], [0, 0, 0], [63.75, 127.5, -63.75]])


def test_sensitivity_is_255_m_row_l1_and_attained():
    delta = channel_sensitivity(M)
    assert delta.tolist() == [255 * M * 4] * 3
    rng = np.random.default_rng(1)
    # random neighbours: m pixels of one cell changed by anything in [-255, 255]
    for _ in range(200):
        d = rng.integers(-255, 256, size=(M, 3))
        change = np.abs(d.sum(axis=0) @ TRANSFORM.T)
        assert np.all(change <= delta)
    # black -> white attains the luma bound; (0,0,255) -> (255,255,0) the Co bound
    assert abs(np.full((M, 3), 255).sum(axis=0) @ TRANSFORM[0]) == delta[0]
    assert abs(np.tile([255, 255, -255], (M, 1)).sum(axis=0) @ TRANSFORM[1]) == delta[1]


@pytest.mark.parametrize("eps", [0.5, 0.1, 1 / 3, 2.0, 1e-3])
@pytest.mark.parametrize("share", [0.1, 0.3, 0.5, 0.6, 0.7, 0.9])
def test_split_budget_never_exceeds_eps(eps, share):
    e_y, e_co, e_cg = split_budget(eps, share)
    assert Fraction(e_y) + Fraction(e_co) + Fraction(e_cg) <= Fraction(eps)
    assert e_co == e_cg and e_y == pytest.approx(share * eps)
    assert e_y + e_co + e_cg == pytest.approx(eps, rel=1e-12)


def test_split_budget_never_exceeds_eps_for_any_share():
    # Below a luma share of 0.5 the rounded chroma halves overshoot eps for about 30% of
    # values: the exact sum of every split, over shares on both sides of 0.5, stays <= eps.
    rng = np.random.default_rng(0)
    eps_values = np.exp(rng.uniform(np.log(1e-4), np.log(1e3), 2000))
    shares = rng.uniform(0.01, 0.99, 2000)
    assert np.mean(shares < 0.5) > 0.4
    for eps, share in zip(eps_values.tolist(), shares.tolist(), strict=True):
        e_y, e_co, e_cg = split_budget(eps, share)
        assert Fraction(e_y) + Fraction(e_co) + Fraction(e_cg) <= Fraction(eps), (eps, share)
        assert e_co == e_cg > 0 and e_y + e_co + e_cg == pytest.approx(eps, rel=1e-12)


def test_release_records_split_and_shapes():
    img = np.zeros((40, 70, 3), dtype=np.uint8)
    rel = release_colour(img, b=16, m=M, eps=EPS, rng=0)
    assert rel.luma.means.shape == (3, 5, 1) and rel.luma.scale.shape == (3, 5)
    assert rel.chroma.means.shape == (1, 1, 2) and rel.chroma.scale.shape == (1, 1)
    assert rel.b_chroma == 16 * 8 and rel.eps_luma + sum(rel.eps_chroma) <= EPS
    assert rel.luma.eps == rel.eps_luma and rel.chroma.b == rel.b_chroma
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
    assert chroma_factor_for(16, 16, split_budget(0.5)[1]) == 8
    assert chroma_factor_for(16, 16, split_budget(2.0)[1]) == 4
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
    # each of Y, Co, Cg spends the full eps: 3 eps in total
    return noisy_ycocg_means(sums_l, counts_l, sums_c, counts_c, m, (EPS, EPS, EPS), bits)


def b2_on_partial(*args):
    # luma noise as if every cell held b^2 pixels
    return _sums_step(*args, scale_of=lambda c, t, n: t * Fraction(n, B * B) if c == 0 else t)


def real(*args):
    return noisy_ycocg_means(*args)


# x -> x': every pixel of the 16-pixel corner cell changed in every channel.
#  "white": black -> white moves only Y (by the full Delta_Y): the half-noise and b^2 probes.
#  "co": (0,0,255) -> (255,255,0) moves Y by Delta/2, Co by Delta and Cg by Delta/2: with
#  eps on each channel the loss is 2 eps, with the split 0.6 * 0.5 + 0.2 + 0.1 = 0.6 eps.
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
}


@pytest.mark.parametrize("name", list(CASES))
def test_audit_luma_chroma(name):
    step, pair, is_private = CASES[name]
    eps_hat = _epsilon_lower_bound(step, pair, seed=sum(map(ord, name)))
    if is_private:
        assert eps_hat <= EPS, f"{name}: audit lower bound {eps_hat:.3f} exceeds eps={EPS}"
    else:
        assert eps_hat > EPS, f"{name}: broken control not detected (bound {eps_hat:.3f})"
