"""``dp_blur(k=1)``: a 1x1 Gaussian is the identity, so the release is DP-Pix at b0."""

import numpy as np
import pytest

import dpimage


@pytest.mark.parametrize(
    "shape",
    [(1, 1), (1, 9), (7, 1), (5, 7), (16, 16), (33, 17), (1, 1, 3), (6, 10, 3), (33, 17, 3)],
)
@pytest.mark.parametrize("b0", [1, 4, 5])
def test_k1_is_dp_pix_blocks_at_b0(shape, b0):
    image = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    out = dpimage.dp_blur(image, b0=b0, k=1, m=2, eps=1.0, rng=7)
    assert out.shape == image.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, dpimage.dp_pix(image, b=b0, m=2, eps=1.0, rng=7))


def test_k1_np_blur_is_identity():
    image = np.random.default_rng(0).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    np.testing.assert_array_equal(dpimage.np_blur(image, k=1), image)
