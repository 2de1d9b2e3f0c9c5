"""Any parameter value: memory of the order of the image, or one clear refusal.

A cell larger than the image is one cell (the grid is clamped to the image,
which draws the same cells, so the release is the same random variable); a
Gaussian kernel wider than the image is folded onto it; an m or eps whose
noise the exact sampler cannot draw is refused before any work. Memory is
measured with tracemalloc (NumPy's and OpenCV's output arrays are traced),
never with timings.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import dpimage
from conftest import run
from dpimage import cells, methods
from dpimage.cells import cell_counts, cell_sums, render_blocks
from dpimage.release import exact_cells, release_cells, release_colour
from dpimage.render import blur as blur_module
from dpimage.render import render


def _image(h: int = 20, w: int = 30, channels: int = 3) -> np.ndarray:
    shape = (h, w, channels) if channels > 1 else (h, w)
    return np.random.default_rng(5).integers(0, 256, shape, dtype=np.uint8)


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- cells larger than the image: the same cells, the same release ----------------


def test_cell_side_is_the_same_grid():
    for h, w in [(20, 30), (1, 7), (13, 1), (5, 5)]:
        for b in [1, 4, 5, 13, 29, 30, 31, 1000, 10**30]:
            clamped = cells.cell_side(b, h, w)
            assert clamped <= max(h, w)
            np.testing.assert_array_equal(cell_counts(h, w, b), cell_counts(h, w, clamped))


@pytest.mark.parametrize("b", [31, 1000, 10**6, 10**30, 2**63 - 1])
def test_huge_b_is_the_release_at_the_image_size(b):
    x = _image()
    big, ref = release_cells(x, b, 16, 0.5, rng=3), release_cells(x, 30, 16, 0.5, rng=3)
    # same cells, counts, sums and noise scale, so with one seed the same values
    assert big.b == 30 and big.means.shape == (1, 1, 3)
    np.testing.assert_array_equal(big.means, ref.means)
    np.testing.assert_array_equal(big.scale, ref.scale)
    np.testing.assert_array_equal(cell_sums(x, b), cell_sums(x, 30))
    np.testing.assert_array_equal(exact_cells(x, b).means, exact_cells(x, 30).means)
    np.testing.assert_array_equal(
        dpimage.cell_noise_scale(x.shape, b=b), dpimage.cell_noise_scale(x.shape, b=30)
    )


@pytest.mark.parametrize(
    "options",
    [
        {"render": "blocks", "colour": "rgb"},
        {"render": "smooth", "colour": "rgb"},
        {"render": "smooth", "colour": "luma-chroma"},
        {"render": "blocks", "colour": "luma-chroma"},
        {"output": "grid"},
    ],
)
def test_dp_pix_huge_b_equals_b_at_the_image_size(options):
    x = _image()
    out = dpimage.dp_pix(x, b=10**30, rng=4, **options)
    np.testing.assert_array_equal(out, dpimage.dp_pix(x, b=30, rng=4, **options))
    np.testing.assert_array_equal(dpimage.np_pix(x, b=10**30), dpimage.np_pix(x, b=30))


def test_dp_blur_huge_b0_equals_b0_at_the_image_size():
    x = _image()
    for kw in ({}, {"render": "smooth"}, {"colour": "luma-chroma"}):
        out = dpimage.dp_blur(x, b0=10**30, k=9, rng=2, **kw)
        np.testing.assert_array_equal(out, dpimage.dp_blur(x, b0=30, k=9, rng=2, **kw))


@pytest.mark.parametrize("render_name", ["blocks", "smooth"])
def test_memory_of_a_huge_cell_is_of_the_order_of_the_image(render_name):
    # 20 x 30 RGB is 1,800 bytes; b = 2,000 used to paint and upsample 2,000 x 2,000
    # cells (48 MB for smooth, 12 MB for blocks; b = 20,000 on 200 x 300 took 12.6 GB)
    x = _image()
    peak = _peak_bytes(lambda: dpimage.dp_pix(x, b=2000, rng=0, render=render_name, colour="rgb"))
    assert peak < 2_000_000


@pytest.mark.parametrize("shape", [(1, 3000), (3000, 1)])
def test_memory_of_a_long_thin_image_at_its_length(shape):
    # one cell spans the image; the smooth renderer used to upsample it to b x b
    x = _image(*shape, channels=1)
    b = max(shape)
    peak = _peak_bytes(lambda: dpimage.dp_pix(x, b=b, rng=0, render="smooth"))
    assert peak < 4_000_000
    peak = _peak_bytes(lambda: render_blocks(np.zeros((1, 1), np.uint8), *shape, b))
    assert peak < 100_000


@pytest.mark.parametrize("b", [1, 2])
def test_memory_of_small_cells_is_of_the_order_of_the_image(b):
    # at b = 1 every pixel is a cell: the learned smooth renderer built its 61
    # features for the whole grid at once (three copies) and 4 x 4 sub-blocks
    # per pixel, 475 MB traced for this 0.64 MB image (119 MB at b = 2); it
    # now works in bands of rows of the grid (55 and 40 MB)
    x = _image(800, 800, channels=1)
    peak = _peak_bytes(lambda: dpimage.dp_pix(x, b=b, rng=0, render="smooth"))
    assert peak < 128 * x.size


def test_luma_chroma_release_of_a_huge_b_keeps_its_chroma_multiple():
    x = _image()
    rel = release_colour(x, b=10**9, m=16, eps=0.5, rng=0)
    assert rel.b == 30 and rel.b_chroma % rel.b == 0 and rel.b_chroma <= 16 * 30
    assert render(rel, "blocks").shape == x.shape


# --- Gaussian kernels wider than the image ----------------------------------------


@pytest.mark.parametrize("n", [1, 2, 7, 20])
@pytest.mark.parametrize("k", [3, 15, 41, 201])
def test_folded_kernel_blurs_the_same(n, k):
    signal = np.random.default_rng(n).random((n, 5)).astype(np.float64)
    taps = cv2.getGaussianKernel(k, 0, ktype=cv2.CV_64F)
    folded = blur_module.fold_kernel(taps, n)
    assert folded.size <= max(2 * n - 1, 1) or folded.size == k
    assert folded.sum() == pytest.approx(1.0)
    one = np.ones((1, 1))
    ref = cv2.sepFilter2D(signal, -1, one, taps, borderType=cv2.BORDER_REFLECT_101)
    got = cv2.sepFilter2D(signal, -1, one, folded, borderType=cv2.BORDER_REFLECT_101)
    np.testing.assert_allclose(got, ref, atol=1e-9)


def test_huge_kernel_on_a_small_image_stays_small():
    x = _image()
    k = 2**20 + 1  # the largest accepted: 8 MB of taps, folded to 2 x 30 - 1
    for blur in (
        lambda: dpimage.np_blur(x, k=k),
        lambda: dpimage.dp_blur(x, k=k, rng=0),
        lambda: dpimage.dp_blur(x, k=k, rng=0, render="smooth"),
    ):
        assert _peak_bytes(blur) < 40_000_000
    # the blur of a kernel far wider than the image is (nearly) its reflected mean
    flat = dpimage.np_blur(x, k=k).astype(float)
    assert flat.std(axis=(0, 1)).max() < 2.0


def test_moderate_kernels_are_opencvs_own_blur():
    x = _image(40, 40)
    for k in (3, 99, 1023):
        np.testing.assert_array_equal(dpimage.np_blur(x, k=k), cv2.GaussianBlur(x, (k, k), 0))


# --- refused values: one ValueError before any work ---------------------------------


@pytest.mark.parametrize(
    ("method", "params", "words"),
    [
        ("dp_pix", {"m": 2**63}, "m=9223372036854775808"),
        ("dp_pix", {"m": 2**63 - 1}, "larger eps or a smaller m"),
        ("dp_pix", {"eps": 1e-320}, "larger eps"),
        ("dp_pix", {"eps": 1e-12}, "larger eps"),
        ("dp_pix", {"m": 10**12, "colour": "luma-chroma"}, "smaller m"),
        ("dp_blur", {"m": 2**63}, "smaller m"),
        ("dp_blur", {"eps": 1e-320}, "larger eps"),
        ("dp_blur", {"k": 10_000_001}, "at most"),
        ("dp_blur", {"k": 4}, "odd"),
        ("np_blur", {"k": 2**63 + 1}, "at most"),
        ("dp_blur", {"b0": 0}, "positive"),
        ("dp_pix", {"b": 1e30}, "positive integer"),
    ],
)
def test_registry_refuses_with_one_line(method, params, words):
    with pytest.raises(ValueError, match=words) as info:
        methods.get(method).validate(params)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda x: dpimage.dp_pix(x, m=2**63),
        lambda x: dpimage.dp_pix(x, m=2**63, colour="luma-chroma"),
        lambda x: dpimage.dp_pix(x, eps=1e-320),
        lambda x: dpimage.dp_pix(x[:, :, 0], eps=1e-320),
        lambda x: dpimage.dp_blur(x, m=2**63 - 1),
        lambda x: release_cells(x, 16, 2**70, 0.5),
        lambda x: release_colour(x, 16, 16, 1e-320),
        lambda x: dpimage.cell_noise_scale(x.shape, m=2**63),
        lambda x: dpimage.np_blur(x, k=2**21 + 1),
    ],
)
def test_library_refuses_with_a_value_error(call):
    with pytest.raises(ValueError):
        call(_image())


def test_reasonable_extremes_still_release():
    x = _image()
    # m of the whole image with a tiny eps is a lot of noise, but drawable
    out = dpimage.dp_pix(x, m=x.shape[0] * x.shape[1], eps=1e-3, rng=0)
    assert out.shape == x.shape


# --- the command line: exit 2 and one line, or a bounded run ------------------------


def _png(tmp_path: Path) -> Path:
    path = tmp_path / "in.png"
    Image.fromarray(_image(40, 60)).save(path)
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["pixelate", "-e", "1e-320"],
        ["pixelate", "-m", str(2**63)],
        ["pixelate", "-m", str(2**63 - 1)],
        ["pixelate", "-b", "1e30"],
        ["blur", "-k", "10000001"],
        ["blur", "-k", "10000000"],
        ["blur", "-m", str(2**63), "--b0", "100000"],
        ["compare", "-m", str(2**63)],
    ],
)
def test_cli_refuses_bad_values_with_one_line(tmp_path, args):
    source = _png(tmp_path)
    out = tmp_path / "out" / "x.png"
    result = run(args[0], source, "-o", out, *args[1:])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert not (tmp_path / "out").exists()  # nothing written, no journal


@pytest.mark.parametrize(
    "args",
    [["pixelate", "-b", "100000"], ["pixelate", "-b", str(10**30)], ["blur", "--b0", "100000"]],
)
def test_cli_huge_cells_release_one_cell(tmp_path, args):
    source = _png(tmp_path)
    out = tmp_path / "out" / "x.png"
    result = run(args[0], source, "-o", out, *args[1:], "--seed", "1")
    assert result.exit_code == 0, result.output
    with Image.open(out) as im:
        assert im.size == (60, 40)
