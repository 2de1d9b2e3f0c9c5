"""Privacy maths: neighbourhood sensitivity, exact noise sampling, accounting."""

from .accountant import Accountant, Spend, compose
from .sampling import (
    SEEDED_WARNING,
    SecureBits,
    SeededBits,
    check_noise_scale,
    discrete_laplace,
    make_bit_source,
    sampler_info,
)
from .sensitivity import (
    PIXEL_RANGE,
    channels_of,
    epsilon_for_distance,
    l1_sensitivity,
    laplace_scale,
)

__all__ = [
    "PIXEL_RANGE",
    "SEEDED_WARNING",
    "Accountant",
    "SecureBits",
    "SeededBits",
    "Spend",
    "channels_of",
    "check_noise_scale",
    "compose",
    "discrete_laplace",
    "epsilon_for_distance",
    "l1_sensitivity",
    "laplace_scale",
    "make_bit_source",
    "sampler_info",
]
