"""Grid geometry: exact sums against a per-cell reference loop."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dpimage.cells import (
    _cell_sums_opencv,
    _cell_sums_reduceat,
    _cell_sums_row_bands,
    _cell_sums_uint16,
    cell_counts,
    cell_sums,
    grid_shape,
    render_blocks,
)


def reference_cell_sums(image, b):
    """The obvious per-cell loop: the reference every fast path is checked against."""
    if image.ndim == 2:
        image = image[:, :, None]
    ny, nx = -(-image.shape[0] // b), -(-image.shape[1] // b)
    out = np.zeros((ny, nx, image.shape[2]), dtype=np.int64)
    for i in range(ny):
        for j in range(nx):
            cell = image[i * b : (i + 1) * b, j * b : (j + 1) * b]
            out[i, j] = cell.astype(np.int64).sum(axis=(0, 1))
    return out


images = st.one_of(
    arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 40))),
    arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 40), st.just(3))),
)


@settings(max_examples=150, deadline=None)
@given(image=images, b=st.integers(1, 24))
def test_cell_sums_match_reference_loop(image, b):
    expected = reference_cell_sums(image, b)
    np.testing.assert_array_equal(cell_sums(image, b), expected)
    # both implementations, whichever the size threshold picks
    image3 = image if image.ndim == 3 else image[:, :, None]
    np.testing.assert_array_equal(_cell_sums_reduceat(image3, b), expected)
    np.testing.assert_array_equal(_cell_sums_opencv(image3, b), expected)
    np.testing.assert_array_equal(_cell_sums_row_bands(image3, b), expected)
    if b <= 16:
        np.testing.assert_array_equal(_cell_sums_uint16(image3, b), expected)


@pytest.mark.parametrize("shape", [(1080, 1920), (1001, 777, 3)])
def test_large_image_paths_agree(shape):
    image = np.random.default_rng(4).integers(0, 256, shape, dtype=np.uint8)
    image3 = image if image.ndim == 3 else image[:, :, None]
    for b in (4, 7, 16, 23, 1000):
        expected = _cell_sums_reduceat(image3, b)
        np.testing.assert_array_equal(_cell_sums_opencv(image3, b), expected)
        np.testing.assert_array_equal(_cell_sums_row_bands(image3, b), expected)
        np.testing.assert_array_equal(cell_sums(image, b), expected)


def test_row_bands_cannot_overflow_int32():
    # The worst case for the int32 band sums: every pixel 255, a large cell.
    image = np.full((3000, 40, 3), 255, dtype=np.uint8)
    sums = _cell_sums_row_bands(image, 3000)
    assert sums.dtype == np.int64
    np.testing.assert_array_equal(sums[0, 0], [255 * 3000 * 40] * 3)


@settings(max_examples=100, deadline=None)
@given(h=st.integers(1, 200), w=st.integers(1, 200), b=st.integers(1, 50))
def test_cell_counts_partition_the_image(h, w, b):
    counts = cell_counts(h, w, b)
    assert counts.shape == grid_shape(h, w, b)
    assert counts.sum() == h * w
    assert counts.max() <= b * b
    # only the last row/column may be partial
    assert np.all(counts[:-1, :-1] == b * b)


def test_partial_cells_count_only_their_own_pixels():
    image = np.full((20, 20), 255, dtype=np.uint8)
    sums = cell_sums(image, 16)[:, :, 0]
    counts = cell_counts(20, 20, 16)
    np.testing.assert_array_equal(counts, [[256, 64], [64, 16]])
    np.testing.assert_array_equal(sums, 255 * counts)


def test_cached_cell_counts_cannot_be_changed_by_a_caller():
    counts = cell_counts(20, 20, 16)
    with pytest.raises(ValueError, match="read-only"):
        counts[0, 0] = 1
    # numpy integers and Python ints name the same grid
    assert cell_counts(np.int64(20), 20, np.int32(16)) is counts
    np.testing.assert_array_equal(cell_counts(20, 20, 16), [[256, 64], [64, 16]])


def test_large_cells_and_uniform_image_do_not_overflow():
    image = np.full((300, 300, 3), 255, dtype=np.uint8)
    sums = cell_sums(image, 300)
    assert sums.dtype == np.int64
    np.testing.assert_array_equal(sums, np.full((1, 1, 3), 255 * 300 * 300))


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3)])
def test_render_blocks_paints_and_crops(shape):
    grid = np.arange(np.prod((2, 3, *shape[2:])), dtype=np.uint8).reshape((2, 3, *shape[2:]))
    blocks = render_blocks(grid, shape[0], shape[1], 3)
    assert blocks.shape == shape
    for y in range(shape[0]):
        for x in range(shape[1]):
            np.testing.assert_array_equal(blocks[y, x], grid[y // 3, x // 3])


def test_uint16_path_is_exact_at_its_largest_sums():
    # 255 * 16 * 16 = 65280: the largest cell sum the uint16 path holds
    image = np.full((1000, 300, 3), 255, dtype=np.uint8)
    sums = _cell_sums_uint16(image, 16)
    assert sums.dtype == np.int64 and sums.max() == 65280
    np.testing.assert_array_equal(sums, _cell_sums_reduceat(image, 16))
