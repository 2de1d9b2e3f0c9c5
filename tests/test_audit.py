"""Statistical privacy audit (the method: docs/privacy.md, "The statistical audit").

Two neighbours ``x`` and ``x'`` differ in exactly ``m`` pixels, all inside the
*smallest* (partial) cell, every channel changed from 0 to 255. Each mechanism
runs ``N`` times on each, with a seeded generator. The event ``E`` is "every
channel of that cell's released value is 255". For an eps-DP mechanism
``P[E | x'] <= e^eps P[E | x]``; a one-sided Clopper–Pearson bound gives a
lower confidence bound on ``ln(P[E | x'] / P[E | x])``, which must not exceed
eps. The *same* audit must flag the broken controls kept below: half the
noise, eps spent per channel, and the paper's ``b^2`` formula applied to a
partial cell. An audit that cannot tell those apart proves nothing.
"""

from fractions import Fraction

import numpy as np
import pytest

from conftest import epsilon_lower_bound_from_counts
from dpimage import dp_blur, dp_pix
from dpimage.cells import cell_counts, cell_sums
from dpimage.privacy import channels_of, discrete_laplace, laplace_scale, make_bit_source
from dpimage.render.blocks import as_pixels
from dpimage.render.blur import blur_blocks

RUNS = 20_000
ALPHA = 0.01  # the real mechanisms pass with probability >= 1 - ALPHA; seeds are fixed
EPS, M = 0.5, 16


# --- broken control mechanisms: each is a plausible bug, each must FAIL the audit ---
#
# They run all RUNS releases of an image in one vectorised draw (the same
# distribution as RUNS separate calls): the audit's power on them is what is
# tested, and drawing them one call at a time cost two thirds of this file's time.


def _releases_with_sum_scales(image, b, sum_scale_of_count, rng, runs):
    """``runs`` DP-Pix grids ``(runs, ny, nx, C)``, except the noise scale on each
    cell sum comes from ``sum_scale_of_count``."""
    bits = make_bit_source(rng)
    sums = cell_sums(image, b)
    counts = cell_counts(image.shape[0], image.shape[1], b)
    noise = np.empty((runs, *sums.shape), dtype=np.int64)
    for n in np.unique(counts):
        cells = counts == n
        shape = (runs, int(cells.sum()), sums.shape[2])
        noise[:, cells] = discrete_laplace(sum_scale_of_count(int(n)), shape, bits)
    return as_pixels((sums + noise) / counts[:, :, None])


def half_noise_dp_pix(image, b, m, eps, rng, runs):
    scale = laplace_scale(m, channels_of(image.shape), eps) / 2
    return _releases_with_sum_scales(image, b, lambda n: scale, rng, runs)


def per_channel_eps_dp_pix(image, b, m, eps, rng, runs):
    scale = laplace_scale(m, 1, eps)  # eps on each channel: 3 eps in total
    return _releases_with_sum_scales(image, b, lambda n: scale, rng, runs)


def paper_b2_dp_pix(image, b, m, eps, rng, runs):
    # mean noise 255 m C / (b^2 eps) in every cell, partial ones included
    scale = laplace_scale(m, channels_of(image.shape), eps)
    return _releases_with_sum_scales(image, b, lambda n: scale * Fraction(n, b * b), rng, runs)


def blurred(control):
    """A control's DP-Pix step, then DP-Blur's rendering and blur (k=3), per release."""

    def mechanism(image, b, m, eps, rng, runs):
        grids = control(image, b, m, eps, rng, runs)
        return np.stack(
            [blur_blocks(g, image.shape[0], image.shape[1], b, 3, 0.0) for g in grids]
        )

    return mechanism


# --- the real mechanisms, one public call per release ---


def _one_call_per_release(release):
    def mechanism(image, b, m, eps, rng, runs):
        return (release(image, b, m, eps, rng) for _ in range(runs))

    return mechanism


@_one_call_per_release
def real_dp_pix(image, b, m, eps, rng):
    return dp_pix(image, b=b, m=m, eps=eps, rng=rng, output="grid")


@_one_call_per_release
def real_dp_blur(image, b, m, eps, rng):
    return dp_blur(image, b0=b, k=3, m=m, eps=eps, rng=rng)


# --- the audit ---


def neighbours(shape, b, m):
    """``x`` all black; ``x'`` has the m pixels of the smallest (corner) cell white."""
    x = np.zeros(shape, dtype=np.uint8)
    x_prime = x.copy()
    counts = cell_counts(shape[0], shape[1], b)
    assert counts[-1, -1] == counts.min() == m, "the corner cell must hold exactly m pixels"
    x_prime[(counts.shape[0] - 1) * b :, (counts.shape[1] - 1) * b :] = 255
    assert np.count_nonzero(np.any(x != x_prime, axis=-1) if x.ndim == 3 else x != x_prime) == m
    return x, x_prime


def corner_is_white(output):
    corner = output[-1, -1]
    return bool(np.all(corner == 255))


def epsilon_lower_bound(mechanism, x, x_prime, b, m, seed):
    """Lower confidence bound (level 1 - ALPHA) on ln(P[E | x'] / P[E | x])."""
    rng = np.random.default_rng(seed)
    hits = sum(map(corner_is_white, mechanism(x, b, m, EPS, rng, RUNS)))
    hits_prime = sum(map(corner_is_white, mechanism(x_prime, b, m, EPS, rng, RUNS)))
    return epsilon_lower_bound_from_counts(hits, hits_prime, RUNS, ALPHA)


# (20, 20) at b=16 has a 4x4 = 16-pixel corner cell (m = 16); (6, 6) at b0=4 a
# 2x2 one (m = 4). With k=3 the blurred corner pixel, reflected at the border,
# sees only its own cell, so the event keeps its power after the blur.
CASES = {
    # name: (mechanism(image, b, m, eps, rng, runs) -> outputs, shape, cell side, m, is private)
    "dp_pix gray": (real_dp_pix, (20, 20), 16, M, True),
    "dp_pix rgb": (real_dp_pix, (20, 20, 3), 16, M, True),
    "control: half noise": (half_noise_dp_pix, (20, 20), 16, M, False),
    "control: eps per channel": (per_channel_eps_dp_pix, (20, 20, 3), 16, M, False),
    "control: b^2 on partial cell": (paper_b2_dp_pix, (20, 20), 16, M, False),
    "dp_blur gray": (real_dp_blur, (6, 6), 4, 4, True),
    "dp_blur rgb": (real_dp_blur, (6, 6, 3), 4, 4, True),
    "control: dp_blur half noise": (blurred(half_noise_dp_pix), (6, 6), 4, 4, False),
    "control: dp_blur eps per channel": (blurred(per_channel_eps_dp_pix), (6, 6, 3), 4, 4, False),
    "control: dp_blur b^2 on partial cell": (blurred(paper_b2_dp_pix), (6, 6), 4, 4, False),
}


@pytest.mark.parametrize("name", list(CASES))
def test_audit(name):
    mechanism, shape, b, m, is_private = CASES[name]
    x, x_prime = neighbours(shape, b, m)
    eps_hat = epsilon_lower_bound(mechanism, x, x_prime, b, m, seed=sum(map(ord, name)))
    if is_private:
        assert eps_hat <= EPS, f"{name}: audit lower bound {eps_hat:.3f} exceeds eps={EPS}"
    else:
        assert eps_hat > EPS, f"{name}: broken control not detected (bound {eps_hat:.3f})"
