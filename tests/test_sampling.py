"""The exact discrete Laplace sampler: distribution, exact fallback, bit sources."""

import math
from fractions import Fraction

import numpy as np
import pytest

from dpimage.privacy import (
    SEEDED_WARNING,
    SecureBits,
    SeededBits,
    discrete_laplace,
    make_bit_source,
    sampler_info,
)
from dpimage.privacy.sampling import _buffers, _fast_block, _geometric_from_words


def discrete_laplace_pmf(z, t):
    q = math.exp(-1 / float(t))
    return (1 - q) / (1 + q) * q ** np.abs(z)


def chi_square_statistic(samples, t, support):
    """Pearson chi-square of ``samples`` against the exact pmf, tails pooled."""
    observed = np.array([np.sum(samples == z) for z in support], dtype=float)
    expected = discrete_laplace_pmf(np.array(support), t) * samples.size
    tail_obs = samples.size - observed.sum()
    tail_exp = samples.size - expected.sum()
    observed = np.append(observed, tail_obs)
    expected = np.append(expected, tail_exp)
    return float(np.sum((observed - expected) ** 2 / expected)), len(support)


@pytest.mark.parametrize("t", [Fraction(1, 3), Fraction(3, 2), Fraction(7)])
def test_matches_exact_pmf(t):
    samples = discrete_laplace(t, 400_000, SeededBits(np.random.default_rng(11)))
    support = list(range(-int(6 * float(t)) - 2, int(6 * float(t)) + 3))
    stat, dof = chi_square_statistic(samples, t, support)
    # 99.99th percentile of chi-square is below dof + 6 sqrt(2 dof) + 20 for these dofs
    assert stat < dof + 6 * math.sqrt(2 * dof) + 20


def test_large_scale_moments():
    t = Fraction(8160)  # DP-Pix defaults on a gray image: 255 * 16 / 0.5
    samples = discrete_laplace(t, 1_000_000, SeededBits(np.random.default_rng(3)))
    q = math.exp(-1 / 8160)
    exact_var = 2 * q / (1 - q) ** 2
    assert samples.dtype == np.int64
    assert abs(samples.mean()) < 5 * math.sqrt(exact_var / samples.size)
    assert samples.var() == pytest.approx(exact_var, rel=0.01)
    assert np.mean(np.abs(samples)) == pytest.approx(8160, rel=0.01)


def test_zero_has_the_right_mass_despite_the_sign_trick():
    t = Fraction(1, 2)
    samples = discrete_laplace(t, 300_000, SeededBits(np.random.default_rng(5)))
    p0 = discrete_laplace_pmf(0, t)
    se = math.sqrt(p0 * (1 - p0) / samples.size)
    assert abs(np.mean(samples == 0) - p0) < 5 * se
    assert abs(np.mean(samples > 0) - np.mean(samples < 0)) < 0.01


class ScriptedBits:
    """A bit source that replays given words, then a seeded stream."""

    def __init__(self, first, seed=0):
        self.queue = list(first)
        self.rest = SeededBits(np.random.default_rng(seed))

    def words(self, n):
        take = [self.queue.pop(0) for _ in range(min(n, len(self.queue)))]
        extra = self.rest.words(n - len(take)) if n > len(take) else np.empty(0, np.uint64)
        return np.concatenate([np.array(take, dtype=np.uint64), extra])


def exact_floor_neg_t_log(u_int, nbits, t):
    """floor(-t ln(u / 2**nbits)) via 200-digit decimal, for checking."""
    import decimal

    with decimal.localcontext() as ctx:
        ctx.prec = 200
        x = -(decimal.Decimal(t.numerator) / t.denominator) * (
            decimal.Decimal(u_int).ln() - nbits * decimal.Decimal(2).ln()
        )
        return int(x.to_integral_value(decimal.ROUND_FLOOR))


def test_fast_path_agrees_with_exact_arithmetic():
    t = Fraction(8160)
    words = SeededBits(np.random.default_rng(9)).words(2000)
    fast = _geometric_from_words(words, t, SeededBits(np.random.default_rng(1)))
    for w, g in zip(words[:300], fast[:300], strict=False):
        u = int(w) >> 11
        # G must equal floor(-t ln U) at both ends of U's interval (when decided)
        lo = exact_floor_neg_t_log(u + 1, 53, t)
        hi = exact_floor_neg_t_log(u, 53, t)
        assert lo <= g <= hi


def test_fast_path_is_exact_at_the_integer_boundaries():
    """Draws aimed at the boundaries the float fast path must not decide by rounding.

    ``-t ln U`` crosses the integer ``k`` at ``U = exp(-k/t)``: for scales from 1/3 to
    2**46 (the largest the sampler takes), the 53-bit intervals of ``U`` at and around
    each ``exp(-k/t)`` go through the fast path, and every value it decides is checked
    against the floor at both ends of its interval in 50-digit decimal arithmetic
    (correctly rounded ``ln``): the floor must be the same at both ends and equal to the
    value. A value whose interval holds a boundary must be left to the exact resolution.
    Without the safety margin, dozens of these are decided wrongly.
    """
    import decimal

    rng = np.random.default_rng(22)
    log_scales = rng.uniform(math.log(1 / 3), 46 * math.log(2), 40)
    scales = [Fraction(1, 3), Fraction(1), Fraction(5, 2), Fraction(8160), Fraction(2**46)]
    scales += [Fraction(float(x)) for x in np.exp(log_scales)]
    checked = wrong = 0
    with decimal.localcontext() as ctx:
        ctx.prec = 50  # t < 2**46 and 53-bit U: 14 + 16 digits, and a wide margin

        def floor_at(t_dec, v):  # floor(-t ln(v / 2**53)), exactly
            x = t_dec * (ln_2_53 - decimal.Decimal(v).ln())
            return int(x.to_integral_value(decimal.ROUND_FLOOR))

        ln_2_53 = 53 * decimal.Decimal(2).ln()
        for t in scales:
            t_dec = decimal.Decimal(t.numerator) / t.denominator
            tops = set()
            for k in np.unique(rng.uniform(1, 36 * float(t) + 1, 20).astype(np.int64)).tolist():
                centre = int((-decimal.Decimal(k) / t_dec).exp() * 2**53)
                tops.update(u for u in range(centre - 3, centre + 4) if 0 < u < 2**53)
            tops = sorted(tops)
            words = np.array(tops, dtype=np.uint64) << np.uint64(11)
            values = np.empty(words.size, dtype=np.int64)
            undecided, _ = _fast_block(words, float(t), False, values, _buffers(words.size))
            left = set(undecided.tolist())
            for i, (u, g) in enumerate(zip(tops, values.tolist(), strict=True)):
                if i not in left:
                    checked += 1
                    wrong += not floor_at(t_dec, u + 1) == floor_at(t_dec, u) == g
    assert checked > 1500
    assert wrong == 0, f"{wrong} of {checked} values decided by the fast path are wrong"


def test_exact_resolution_of_a_boundary_case():
    # With t = 3 * 2**51 and U in [1 - 10 * 2**-53, 1 - 9 * 2**-53), x = -t ln U
    # runs over (6.75, 7.5]: the float fast path cannot decide, and the exact
    # answer is 7 with probability (7.5 - 7) / 0.75 = 2/3, else 6.
    t = Fraction(3 * 2**51)
    u = 2**53 - 10
    assert exact_floor_neg_t_log(u + 1, 53, t) == 6
    assert exact_floor_neg_t_log(u, 53, t) == 7
    word = np.array([u << 11], dtype=np.uint64)
    bits = SeededBits(np.random.default_rng(0))
    draws = np.array([_geometric_from_words(word, t, bits)[0] for _ in range(3000)])
    assert set(np.unique(draws)) == {6, 7}
    assert np.mean(draws == 7) == pytest.approx(2 / 3, abs=0.03)


def test_u_zero_is_refined_not_infinite():
    bits = ScriptedBits([0])  # first word: U in [0, 2**-53)
    g = _geometric_from_words(np.array([0], dtype=np.uint64), Fraction(2), bits)
    # -2 ln U >= 2 * 53 ln 2 ~ 73.5 for every U in that interval
    assert g[0] >= 73


def test_seeded_is_reproducible_and_secure_is_not():
    t = Fraction(100)
    a = discrete_laplace(t, 1000, make_bit_source(42))
    b = discrete_laplace(t, 1000, make_bit_source(42))
    np.testing.assert_array_equal(a, b)
    c = discrete_laplace(t, 1000, make_bit_source(None))
    d = discrete_laplace(t, 1000, make_bit_source(None))
    assert not np.array_equal(c, d)


def test_secure_source_gives_uniform_words():
    words = SecureBits().words(50_000)
    assert words.dtype == np.uint64 and words.shape == (50_000,)
    ones = np.unpackbits(words.view(np.uint8)).mean()
    assert abs(ones - 0.5) < 0.005


def test_sampler_info_labels_seeded_runs():
    assert sampler_info(None)["kind"] == "secure"
    assert sampler_info(None)["private_release"] is True
    info = sampler_info(7)
    assert info["kind"] == "seeded" and info["private_release"] is False
    assert info["warning"] == SEEDED_WARNING and "NOT a private release" in SEEDED_WARNING


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_bad_rng_rejected(bad):
    with pytest.raises(ValueError, match=r"rng|seed"):
        make_bit_source(bad)


def test_bad_scale_rejected():
    with pytest.raises(ValueError):
        discrete_laplace(Fraction(0), 3, SecureBits())
    with pytest.raises(ValueError, match="too large"):
        discrete_laplace(Fraction(10**20), 3, SecureBits())


def test_secure_words_differ_in_a_forked_child():
    # OpenSSL's DRBG must reseed after fork: a child never replays the parent's noise
    import os

    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: send its next words, exit without running pytest's teardown
        os.write(write, SecureBits().words(4).tobytes())
        os._exit(0)
    os.close(write)
    mine = SecureBits().words(4).tobytes()
    theirs = os.read(read, 64)
    os.waitpid(pid, 0)
    os.close(read)
    assert len(theirs) == 32 and theirs != mine


def test_blocked_sampler_matches_one_pass_over_the_same_stream():
    # the sampler decides values in blocks; the stream and the values are those
    # of one pass (the undecided ones resolved afterwards, in index order)
    t = Fraction(8160)
    n = 3 * 8192 + 17
    words = SeededBits(np.random.default_rng(8)).words(n)
    direct = _geometric_from_words(words, t, SeededBits(np.random.default_rng(9)))
    u = (words >> np.uint64(11)).astype(np.float64)
    expected = np.floor(-float(t) * np.log(u * 2.0**-53))
    assert np.mean(direct == expected) > 0.9999
    drawn = discrete_laplace(t, n, SeededBits(np.random.default_rng(8)))
    sign = np.where((words & np.uint64(1)).astype(bool), -1, 1)
    kept = ~((sign < 0) & (direct == 0))
    np.testing.assert_array_equal(drawn[kept], (sign * direct)[kept])
