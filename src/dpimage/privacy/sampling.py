"""Exact discrete Laplace noise from a secure (or, for research, seeded) bit source.

The sampler
-----------
We need ``Z`` with ``P[Z = z] ∝ exp(-|z| / t)`` on the integers, for a rational
scale ``t``. We draw

* ``G = floor(t * E)`` with ``E ~ Exp(1)``: then ``P[G >= k] = P[E >= k/t] =
  exp(-k/t)``, so ``G`` is geometric on ``{0, 1, ...}`` with ratio
  ``q = exp(-1/t)``;
* a fair sign ``s``; ``Z = s * G``, rejecting ``(s = -, G = 0)`` so that zero is
  not counted twice. Given acceptance, ``P[Z = z] ∝ q^|z|``: the discrete
  Laplace distribution (Canonne, Kamath & Steinke 2020, Def. 4).

``E = -ln U`` with ``U`` uniform on ``(0, 1)``. Exactness comes from treating
``U`` as an infinite string of random bits of which only a prefix is known:
64 random bits give 53 bits of ``U`` (and one sign bit), which pin ``U`` into
an interval ``[u, u + 1) * 2**-53``. ``G`` is the same for every ``U`` in that
interval unless ``-t ln U`` crosses an integer inside it. The vectorised fast
path bounds ``-t ln U`` over the interval in float64 — above by
``-t ln(u 2**-53)``, below by that minus ``t / u`` (as ``ln(1 + 1/u) <= 1/u``)
— widens both bounds by a relative margin of ``2**-44`` (hundreds of times any
rounding error of ``log``, one product and one division), and accepts ``G``
only when both widened bounds floor to the same integer. Any
other draw (probability about ``1e-13 * t`` per value, or ``u = 0``) is
resolved exactly by :func:`_resolve_exactly`: more random bits of ``U`` are
drawn, and the interval ends are computed with correctly-rounded decimal
logarithms at a precision whose proven error bound is added as a margin,
until the floor is determined. No value is ever decided by a rounded
comparison, so the output distribution is exactly the discrete Laplace — the
floating-point attack on textbook Laplace samplers (Mironov 2012) has nothing
to exploit, and the noise is on integer sums besides.

The fast path runs on blocks of 8,192 values in reused buffers (whole-array
passes over megabyte temporaries cost more in page faults than in
arithmetic); the words are drawn block after block, which is the same stream
as one draw, and the few undecided values are resolved after all of them, in
index order, as a single pass would. Seeded outputs are therefore unchanged.

Bit sources
-----------
``rng=None`` reads a cryptographically secure generator: OpenSSL's
``RAND_bytes`` (through :func:`ssl.RAND_bytes`), a counter-mode DRBG
(NIST SP 800-90A CTR_DRBG, AES-256) that OpenSSL seeds and reseeds from the
operating system's CSPRNG and reseeds in a forked child. It delivers the
~1 MB a 1080p DP-Blur release needs ~20x faster than ``os.urandom`` here
(0.19 ms against 3.4 ms), which is used where Python has no :mod:`ssl`. An
``int`` seed or a ``numpy.random.Generator`` gives a reproducible stream for
research and tests; anyone holding the seed can regenerate and subtract the
noise, so a seeded output is **not** a private release, and callers must
say so (:data:`SEEDED_WARNING`).
"""

from __future__ import annotations

import decimal
import math
import os
from collections.abc import Callable
from fractions import Fraction
from typing import Protocol

import numpy as np

__all__ = [
    "SEEDED_WARNING",
    "BitSource",
    "SecureBits",
    "SeededBits",
    "check_noise_scale",
    "discrete_laplace",
    "make_bit_source",
    "sampler_info",
]

SEEDED_WARNING = (
    "WARNING: a seed was given, so the noise is reproducible. Anyone who knows "
    "the seed can regenerate and subtract it: these outputs are NOT a private "
    "release. Use seeds only for research and testing."
)

SAMPLER_NAME = (
    "exact discrete Laplace on integer cell sums (sign x floor(t*Exp(1)), lazy-bit inversion)"
)

# Relative widening of the float64 interval ends: 2**-44 is ~250x the largest
# error of np.log (a few ulp) plus one rounded product and one rounded scale.
_FAST_PATH_MARGIN = 2.0**-44
_U_BITS = 53
# Scales above this would overflow int64 in the tail; no useful release has them.
_MAX_SCALE = 2.0**52 / 64


def check_noise_scale(sensitivity: int, eps: float, *, m: int, total_eps: float) -> Fraction:
    """The exact noise scale ``sensitivity / eps`` of a release, if it can be drawn.

    The exact discrete Laplace sampler (:func:`dpimage.privacy.discrete_laplace`)
    draws scales up to ``2**46`` on a cell sum (beyond that its tail would
    overflow int64). Larger scales come only from an absurd ``m`` or a
    vanishing ``eps``; they are refused here, before any work, naming the
    user's ``m`` and ``eps`` (``total_eps``: the whole release's budget, of
    which ``eps`` may be a share). The scale is never changed: refusing is
    the only alternative to drawing exactly.
    """
    scale = Fraction(int(sensitivity)) / Fraction(eps)
    if scale > _MAX_SCALE:
        shown = f"{float(scale):.3g}" if scale < Fraction(1e300) else "above 1e300"
        raise ValueError(
            f"m={m} with eps={total_eps:g} needs noise of scale {shown} on a cell "
            f"sum, more than can be drawn exactly ({_MAX_SCALE:.3g}); use a larger eps or a "
            "smaller m"
        )
    return scale


class BitSource(Protocol):
    """Anything that returns ``n`` independent uniform 64-bit words."""

    def words(self, n: int) -> np.ndarray:  # pragma: no cover - protocol
        ...


def _secure_bytes_function() -> tuple[object, str]:
    """OpenSSL's ``RAND_bytes`` if Python has :mod:`ssl`, else ``os.urandom``."""
    try:
        import ssl
    except ImportError:  # pragma: no cover - CPython builds without OpenSSL
        return os.urandom, "os.urandom (operating-system CSPRNG)"
    return ssl.RAND_bytes, (
        f"OpenSSL RAND_bytes ({ssl.OPENSSL_VERSION}: CTR_DRBG AES-256, "
        "its entropy drawn from the operating-system CSPRNG)"
    )


_SECURE_BYTES, _SECURE_DESCRIPTION = _secure_bytes_function()


class SecureBits:
    """Uniform 64-bit words from a cryptographically secure generator.

    OpenSSL's CTR_DRBG (``ssl.RAND_bytes``), or ``os.urandom`` without
    :mod:`ssl`; no bits are buffered between calls, so a forked process
    never replays a parent's noise (OpenSSL reseeds its DRBG after a fork).
    """

    kind = "secure"
    description = _SECURE_DESCRIPTION

    def words(self, n: int) -> np.ndarray:
        return np.frombuffer(_SECURE_BYTES(8 * n), dtype="<u8").astype(np.uint64, copy=False)


class SeededBits:
    """Uniform 64-bit words from a NumPy ``Generator`` (reproducible, NOT private)."""

    kind = "seeded"

    def __init__(self, generator: np.random.Generator):
        self.generator = generator
        self.description = f"numpy.random.Generator({type(generator.bit_generator).__name__})"

    def words(self, n: int) -> np.ndarray:
        return self.generator.integers(
            0, np.iinfo(np.uint64).max, size=n, dtype=np.uint64, endpoint=True
        )


def make_bit_source(rng: int | np.random.Generator | None) -> SecureBits | SeededBits:
    """Map the public ``rng`` argument to a bit source.

    ``None`` → :class:`SecureBits`; an ``int`` → a fresh ``default_rng(seed)``;
    a ``Generator`` → used as is (its state advances).
    """
    if rng is None:
        return SecureBits()
    if isinstance(rng, np.random.Generator):
        return SeededBits(rng)
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"a seed must be a non-negative integer, got {rng}")
        return SeededBits(np.random.default_rng(int(rng)))
    raise ValueError(
        "rng must be None (secure), an int seed or a numpy.random.Generator, "
        f"got {type(rng).__name__}"
    )


def sampler_info(rng: int | np.random.Generator | None) -> dict:
    """JSON-able description of the randomness ``rng`` selects, for manifests."""
    source = make_bit_source(rng)
    info = {"kind": source.kind, "bit_source": source.description, "sampler": SAMPLER_NAME}
    if source.kind == "seeded":
        info["private_release"] = False
        info["warning"] = SEEDED_WARNING
    else:
        info["private_release"] = True
    return info


def discrete_laplace(
    scale: Fraction | int, size: int | tuple[int, ...], bits: BitSource
) -> np.ndarray:
    """Draw i.i.d. integers with ``P[z] ∝ exp(-|z| / scale)``, exactly.

    Parameters
    ----------
    scale : Fraction or int
        The scale ``t > 0`` (exact rational; see :func:`laplace_scale`).
    size : int or tuple of int
        Output shape.
    bits : BitSource
        Where the randomness comes from.

    Returns
    -------
    noise : ndarray of int64
    """
    if not isinstance(scale, Fraction):
        scale = Fraction(scale)
    if scale.numerator <= 0:  # a Fraction's denominator is positive
        raise ValueError(f"scale must be > 0, got {scale}")
    if float(scale) > _MAX_SCALE:
        raise ValueError(
            f"noise scale {float(scale):.3g} is too large to sample (eps far too small)"
        )
    shape = (int(size),) if isinstance(size, (int, np.integer)) else tuple(size)
    count = math.prod(shape)
    out = np.empty(count, dtype=np.int64)
    # First pass: the words are drawn block by block straight into ``out`` (no
    # array of all the words: fresh megabyte buffers cost page faults that
    # dominate here); the stream is the same as one draw of ``count`` words.
    pending = _from_words(lambda start, n: bits.words(n), count, scale, bits, out, signed=True)
    while pending.size:
        words = bits.words(pending.size)
        values, rejected = _laplace_from_words(words, scale, bits)
        out[pending] = values
        pending = pending[rejected]
    return out.reshape(shape)


# Values per block of the float fast path: its few float64 temporaries (64 KiB
# each) stay in the CPU cache and are reused by the allocator from block to
# block (on 1080p at b0 = 4 this is ~2x faster than whole-array passes).
_BLOCK = 8192
_SHIFT = np.uint64(64 - _U_BITS)
_ONE = np.uint64(1)


def _geometric_from_words(words: np.ndarray, scale: Fraction, bits: BitSource) -> np.ndarray:
    """``floor(scale * -ln U)`` where the top 53 bits of each word start ``U``."""
    result = np.empty(words.size, dtype=np.int64)
    _from_words(lambda start, n: words[start : start + n], words.size, scale, bits, result)
    return result


def _laplace_from_words(
    words: np.ndarray, scale: Fraction, bits: BitSource
) -> tuple[np.ndarray, np.ndarray]:
    """``s * G`` for each word (``G`` as :func:`_geometric_from_words`, ``s`` its low bit).

    Also returns the sorted positions of the rejected draws ``(s = -, G = 0)``.
    """
    result = np.empty(words.size, dtype=np.int64)
    rejected = _from_words(
        lambda start, n: words[start : start + n], words.size, scale, bits, result, signed=True
    )
    return result, rejected


def _buffers(n: int) -> tuple[np.ndarray, ...]:
    """Work arrays of one block: reused from block to block (no page faults)."""
    return tuple(
        np.empty(n, dtype=d) for d in (np.uint64, np.float64, np.float64, np.int64)
    )


def _fast_block(
    words: np.ndarray,
    t: float,
    signed: bool,
    values: np.ndarray,
    buffers: tuple[np.ndarray, ...],
) -> tuple[np.ndarray, np.ndarray | None]:
    """The float64 fast path on one block of words, written into ``values``.

    ``values`` gets ``G`` (or, ``signed``, ``s * G``) per word, with a
    placeholder ``1`` (never rejected) where the float bounds differ. Returns
    the positions of those undecided words, for :func:`_resolve_exactly`, and,
    if ``signed``, those of the rejected draws ``(s = -, G = 0)``. ``buffers``
    are work arrays (:func:`_buffers`) of at least ``words.size``.
    """
    n = words.size
    top, u, high, sign = (b[:n] for b in buffers)
    np.right_shift(words, _SHIFT, out=top)
    u[...] = top  # exact: < 2**53
    # x = -t ln U over U in [u, u+1) * 2**-53 lies in (high_end - width, high_end]
    # with width = t ln(1 + 1/u) <= t / u, so one log and one division bound it:
    #   high_end = -t * log(u * 2**-53);  width = t / u
    #   low = floor((high_end - width * (1 + margin)) * (1 - margin))
    #   high = floor(high_end * (1 + margin))
    # (u == 0 gives high = inf and low = nan: undecided, refined exactly)
    np.multiply(u, 2.0**-_U_BITS, out=high)
    np.log(high, out=high)
    np.multiply(high, -t, out=high)
    low = np.divide(t, u, out=u)
    np.multiply(low, 1.0 + _FAST_PATH_MARGIN, out=low)
    np.subtract(high, low, out=low)
    np.multiply(low, 1.0 - _FAST_PATH_MARGIN, out=low)
    np.floor(low, out=low)
    np.multiply(high, 1.0 + _FAST_PATH_MARGIN, out=high)
    np.floor(high, out=high)
    undecided = np.flatnonzero(low != high)
    if undecided.size:  # rare: about 1e-13 * t per value
        low[undecided] = 1.0
    values[...] = low
    if not signed:
        return undecided, None
    np.bitwise_and(words, _ONE, out=sign, casting="unsafe")
    # (s = -, G = 0) is rejected: G < s exactly there, as G >= 0 (and the
    # placeholder 1 of an undecided value never is)
    rejected = np.flatnonzero(values < sign)
    # G -> -G where the sign bit is set: (G ^ -1) + 1 in two's complement
    np.negative(sign, out=sign)
    np.bitwise_xor(values, sign, out=values)
    np.subtract(values, sign, out=values)
    return undecided, rejected


def _from_words(
    fetch: Callable[[int, int], np.ndarray],
    count: int,
    scale: Fraction,
    bits: BitSource,
    result: np.ndarray,
    *,
    signed: bool = False,
) -> np.ndarray:
    """Fill ``result`` with ``G`` (or, ``signed``, ``s * G``) from ``fetch(start, n)`` words.

    ``fetch`` gives the words of positions ``start .. start + n`` in order.
    Signed, each value gets the sign of its word's low bit and the sorted
    positions of the rejected draws ``(s = -, G = 0)`` are returned.
    """
    t = float(scale)
    undecided, tops, negatives, rejected = [], [], [], []
    buffers = _buffers(min(_BLOCK, count))
    with np.errstate(divide="ignore", invalid="ignore"):
        for start in range(0, count, _BLOCK):
            words = fetch(start, min(_BLOCK, count - start))
            values = result[start : start + words.size]
            open_, rejected_here = _fast_block(words, t, signed, values, buffers)
            if open_.size:
                undecided.append(start + open_)
                tops.append(words[open_] >> _SHIFT)
                negatives.append(words[open_] & _ONE)
            if signed and rejected_here.size:
                rejected.append(start + rejected_here)
    # Resolved in index order after all words were drawn, as a single pass would.
    resolved_rejected = []
    if undecided:
        flat = (np.concatenate(x) for x in (undecided, tops, negatives))
        for i, top_i, neg_i in zip(*flat, strict=True):
            g = _resolve_exactly(int(top_i), _U_BITS, scale, bits)
            negative = signed and bool(neg_i)
            result[i] = -g if negative else g
            if negative and g == 0:
                resolved_rejected.append(i)
    if not rejected and not resolved_rejected:
        return np.empty(0, dtype=np.int64)
    # blocks are in order and flatnonzero sorts within each: sorted already,
    # unless a resolved value was rejected too
    out_rejected = np.concatenate(rejected) if rejected else np.empty(0, dtype=np.int64)
    if resolved_rejected:
        out_rejected = np.sort(np.concatenate([out_rejected, resolved_rejected]))
    return out_rejected


def _resolve_exactly(numerator: int, nbits: int, scale: Fraction, bits: BitSource) -> int:
    """Exact ``floor(scale * -ln U)`` for ``U`` in ``[num, num+1) / 2**nbits``.

    Refines ``U`` with fresh random bits until the floor is the same over the
    whole interval. The ends are computed with :mod:`decimal`, whose ``ln`` is
    correctly rounded; with precision ``P`` the total absolute error of
    ``t * (nbits ln 2 - ln num)`` is below ``(t + 1)(nbits + 1) 10**-(P-3)``
    (each of the five rounded operations errs by at most half an ulp of a
    value no larger than ``(t + 1) * nbits``), and we widen by
    ``10**-(P-5)`` times that factor.
    """
    t_digits = len(str(scale.numerator)) + len(str(scale.denominator))
    while True:
        if numerator > 0:
            precision = 40 + (nbits * 31) // 100 + t_digits
            with decimal.localcontext() as ctx:
                ctx.prec = precision
                t = decimal.Decimal(scale.numerator) / decimal.Decimal(scale.denominator)
                ln_two_pow = decimal.Decimal(nbits) * decimal.Decimal(2).ln()
                high_end = t * (ln_two_pow - decimal.Decimal(numerator).ln())
                low_end = t * (ln_two_pow - decimal.Decimal(numerator + 1).ln())
                margin = (t + 1) * (nbits + 1) * decimal.Decimal(10) ** (5 - precision)
                low = max(0, int((low_end - margin).to_integral_value(decimal.ROUND_FLOOR)))
                high = int((high_end + margin).to_integral_value(decimal.ROUND_FLOOR))
            if low == high:
                return low
        numerator = (numerator << 64) | int(bits.words(1)[0])
        nbits += 64
