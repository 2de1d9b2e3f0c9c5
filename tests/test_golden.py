"""Seeded outputs pinned byte for byte: refactoring must not change what is released.

The hashes were computed with the code *before* the release/renderer split
(DP-Pix and DP-Blur then painted and blurred inside ``mechanisms``). Shapes
cover gray and RGB, partial cells on both axes, and images small and large
enough to take each of the cell-sum code paths.

DP-Blur is pinned as the design promises it, not as a CPU computes it: its
release (DP-Pix at ``b0``, the only private step) byte for byte, and its output
within +-1 grey level of ``rint`` of the float64 blur of that release's blocks.
The float32 blur's last bits depend on OpenCV's SIMD path (AVX2 or not), so a
hash of the blurred image would pin a CPU, not the code.
"""

import cv2
import numpy as np
import pytest

import dpimage
from conftest import digest, ramp_image
from dpimage.cells import render_blocks
from dpimage.release import release_colour

SHAPES = {"gray": (37, 53), "rgb": (37, 53, 3), "gray_big": (301, 259), "rgb_big": (301, 259, 3)}

# DP-Blur's parameters: (b0, k, m, eps, rng, sigma); its release is DP-Pix at b0 with the same rng.
BLURS = {
    "dp_blur": (4, 99, 16, 0.5, 7, None),
    "dp_blur_k15": (3, 15, 4, 1.0, 9, 2.5),
}

CALLS = {
    "dp_pix": lambda x: dpimage.dp_pix(x, b=16, m=16, eps=0.5, rng=7),
    "dp_pix_b5": lambda x: dpimage.dp_pix(x, b=5, m=3, eps=2.0, rng=np.random.default_rng(11)),
    "dp_pix_grid": lambda x: dpimage.dp_pix(x, b=16, m=16, eps=0.5, rng=7, output="grid"),
    "np_pix": lambda x: dpimage.np_pix(x, b=16),
    "np_pix_grid": lambda x: dpimage.np_pix(x, b=7, output="grid"),
    "np_blur": lambda x: dpimage.np_blur(x, k=99),
    "np_blur_s": lambda x: dpimage.np_blur(x, k=9, sigma=1.5),
}

GOLDEN = {
    "gray/dp_pix": "1e262afd0d38c787",
    "gray/dp_pix_b5": "98f7fbf528e0b298",
    "gray/dp_pix_grid": "4a9d9d97da491c3e",
    "gray/np_blur": "4f201bcf7374b9a3",
    "gray/np_blur_s": "5c9e4195b0fcc3fb",
    "gray/np_pix": "05ac49afb133d34e",
    "gray/np_pix_grid": "d329e3d23938907b",
    "gray_big/dp_pix": "15b739918c899e65",
    "gray_big/dp_pix_b5": "3ac3d17de5fdb623",
    "gray_big/dp_pix_grid": "c721571b88577e0f",
    "gray_big/np_blur": "81839c4cb7cf2da8",
    "gray_big/np_blur_s": "5486647df319cf6c",
    "gray_big/np_pix": "9ece47cbe202f98c",
    "gray_big/np_pix_grid": "0b1b1f4a49671abb",
    "rgb/dp_pix": "bad319a278cf53f7",
    "rgb/dp_pix_b5": "6f12c4e5055c4b59",
    "rgb/dp_pix_grid": "1113c3840c73b7ae",
    "rgb/np_blur": "1e1446d52ddb9842",
    "rgb/np_blur_s": "dff3e155cc4ad07e",
    "rgb/np_pix": "9042f5de14e0e5aa",
    "rgb/np_pix_grid": "e018dc3f4b5f9d8a",
    "rgb_big/dp_pix": "38d1c0426efe95df",
    "rgb_big/dp_pix_b5": "140cb9d98de8cc22",
    "rgb_big/dp_pix_grid": "80fcd30503d96def",
    "rgb_big/np_blur": "fe604c0984b6dc18",
    "rgb_big/np_blur_s": "d9ca2d0c1210b37e",
    "rgb_big/np_pix": "88d4f15dde4f1b98",
    "rgb_big/np_pix_grid": "2bd7cba40ef3869b",
}

# The release under each DP-Blur case: DP-Pix's clipped, rounded grid at b0, same seed.
GOLDEN_BLUR_RELEASES = {
    "gray/dp_blur": "7e4643fbc79cdf16",
    "gray/dp_blur_k15": "227c6eba75620411",
    "rgb/dp_blur": "b9c6916aefa7d669",
    "rgb/dp_blur_k15": "d99f784d48cfcfbe",
    "gray_big/dp_blur": "1c4a396f85bd096f",
    "gray_big/dp_blur_k15": "fccfca4861e7e037",
    "rgb_big/dp_blur": "f4da1f42519e4869",
    "rgb_big/dp_blur_k15": "68dfe99977c46754",
}


@pytest.mark.parametrize("shape_name", SHAPES)
@pytest.mark.parametrize("call", CALLS)
def test_seeded_output_is_unchanged(shape_name, call):
    image = ramp_image(SHAPES[shape_name])
    before = image.copy()
    assert digest(CALLS[call](image)) == GOLDEN[f"{shape_name}/{call}"]
    np.testing.assert_array_equal(image, before)


@pytest.mark.parametrize("shape_name", SHAPES)
@pytest.mark.parametrize("call", BLURS)
def test_seeded_blur_is_its_pinned_release_blurred_within_one_grey_level(shape_name, call):
    b0, k, m, eps, rng, sigma = BLURS[call]
    image = ramp_image(SHAPES[shape_name])
    before = image.copy()
    grid = dpimage.dp_pix(image, b=b0, m=m, eps=eps, rng=rng, output="grid")
    assert digest(grid) == GOLDEN_BLUR_RELEASES[f"{shape_name}/{call}"]
    got = dpimage.dp_blur(image, b0=b0, k=k, m=m, eps=eps, rng=rng, sigma=sigma)
    assert got.shape == image.shape and got.dtype == np.uint8
    height, width = image.shape[:2]
    cells = grid.reshape(grid.shape[0], grid.shape[1], -1)
    blocks = render_blocks(cells, height, width, b0).astype(np.float64)
    want = np.rint(cv2.GaussianBlur(blocks, (k, k), sigma or 0)).reshape(image.shape)
    assert np.abs(got.astype(np.float64) - want).max() <= 1
    np.testing.assert_array_equal(image, before)


# The luma/chroma path: its release (Y and Co/Cg noisy means and their scales, exact integer
# sums and one division each) and the blocks rendered from it, byte for byte.
GOLDEN_LUMA_CHROMA = {
    "rgb": ("07f34e0c4165eae5", "848c06cc409ca993", "b8f86b7b414bd268", "365acfe740913f90",
            "815a0a50bdf35616"),
    "rgb_big": ("ef6fbbc0adad7245", "ff5f0de05f602e8f", "8e1af12468474590", "5c00566772019586",
                "90c6a84a86a30be3"),
}  # fmt: skip


@pytest.mark.parametrize("shape_name", GOLDEN_LUMA_CHROMA)
def test_seeded_luma_chroma_release_is_unchanged(shape_name):
    image = ramp_image(SHAPES[shape_name])
    release = release_colour(image, 16, 16, 0.5, rng=7)
    got = (
        digest(release.luma.means),
        digest(release.chroma.means),
        digest(release.luma.scale),
        digest(release.chroma.scale),
        digest(dpimage.dp_pix(image, b=16, m=16, eps=0.5, rng=7, colour="luma-chroma")),
    )
    assert got == GOLDEN_LUMA_CHROMA[shape_name]
