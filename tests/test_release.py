"""The release object and the renderers that read only it."""

import numpy as np
import pytest

import dpimage
from conftest import permute_within_cells
from dpimage import render
from dpimage.cells import cell_counts, cell_sums
from dpimage.release import Release, cell_noise_scale, exact_cells, release_cells


def photo(shape, seed=1):
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


SHAPES = [(37, 53), (37, 53, 3)]


@pytest.mark.parametrize("shape", SHAPES)
def test_release_holds_unclipped_noisy_means_and_public_facts(shape):
    image = photo(shape)
    r = release_cells(image, b=16, m=16, eps=0.5, rng=3)
    ny, nx, c = 3, 4, (3 if len(shape) == 3 else 1)
    assert r.means.dtype == np.float64 and r.means.shape == (ny, nx, c)
    assert (r.shape, r.b, r.m, r.eps, r.channels, r.sampler) == (shape, 16, 16, 0.5, c, "seeded")
    np.testing.assert_array_equal(r.scale, cell_noise_scale(shape, b=16, m=16, eps=0.5))
    np.testing.assert_array_equal(r.counts, cell_counts(37, 53, 16))
    # noisy sum / n_k: sums are integers, so means * n_k are integers, and the
    # noise at this scale leaves [0, 255] somewhere (nothing is clipped yet)
    noisy_sums = r.means * r.counts[:, :, None]
    np.testing.assert_allclose(noisy_sums, np.rint(noisy_sums), atol=1e-6)
    assert r.means.min() < 0 or r.means.max() > 255
    assert r.private and r.facts() == {
        "shape": list(shape), "b": 16, "m": 16, "eps": 0.5, "channels": c, "sampler": "seeded"
    }  # fmt: skip


def test_release_noise_is_what_dp_pix_paints():
    image = photo((37, 53, 3))
    r = release_cells(image, 16, 16, 0.5, rng=4)
    grid = np.rint(np.clip(r.means, 0, 255)).astype(np.uint8)
    np.testing.assert_array_equal(grid, dpimage.dp_pix(image, rng=4, output="grid"))


def test_secure_release_says_so_and_release_is_read_only():
    r = release_cells(photo((20, 20)), 8, 4, 1.0)
    assert r.sampler == "secure"
    with pytest.raises(ValueError):
        r.means[0, 0, 0] = 1.0
    with pytest.raises(ValueError):
        r.scale[0, 0] = 1.0


@pytest.mark.parametrize("shape", SHAPES)
def test_exact_cells_are_the_true_means(shape):
    image = photo(shape)
    r = exact_cells(image, 16)
    counts = cell_counts(37, 53, 16)
    np.testing.assert_array_equal(r.means, cell_sums(image, 16) / counts[:, :, None])
    assert r.eps is None and r.m is None and r.sampler is None and not r.private
    assert np.all(r.scale == 0)
    np.testing.assert_array_equal(render.render(r, "blocks"), dpimage.np_pix(image, b=16))


def test_release_checks_its_arguments_before_any_noise():
    image = photo((8, 8))
    for kwargs in ({"b": 0}, {"m": 0}, {"eps": 0.0}, {"eps": float("nan")}, {"rng": -1}):
        args = {"b": 4, "m": 1, "eps": 1.0, "rng": 0} | kwargs
        with pytest.raises(ValueError):
            release_cells(image, **args)
    with pytest.raises(ValueError, match="uint8"):
        release_cells(image.astype(np.float32), 4, 1, 1.0)


def test_inconsistent_release_is_refused():
    with pytest.raises(ValueError, match="means"):
        Release(np.zeros((1, 1, 1)), (20, 20), 16, 16, 0.5, 1, np.ones((2, 2)), "seeded")
    with pytest.raises(ValueError, match="all set"):
        Release(np.zeros((2, 2, 1)), (20, 20), 16, None, 0.5, 1, np.ones((2, 2)), "seeded")


# --- renderers read the release only -------------------------------------------

RENDERS = {
    "dp_pix blocks": lambda x, rng: dpimage.dp_pix(x, b=16, m=16, eps=0.5, rng=rng),
    "dp_pix blur": lambda x, rng: dpimage.dp_pix(
        x, b=16, m=16, eps=0.5, rng=rng, render="blur", render_options={"k": 9}
    ),
    "dp_blur": lambda x, rng: dpimage.dp_blur(x, b0=16, k=15, m=16, eps=0.5, rng=rng),
    "np_pix": lambda x, rng: dpimage.np_pix(x, b=16),
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", RENDERS)
def test_pixels_permuted_inside_cells_render_identically(shape, name):
    image = photo(shape, seed=2)
    shuffled = permute_within_cells(image, 16)
    assert not np.array_equal(image, shuffled)
    np.testing.assert_array_equal(cell_sums(image, 16), cell_sums(shuffled, 16))
    a, b = RENDERS[name](image, 5), RENDERS[name](shuffled, 5)
    np.testing.assert_array_equal(a, b)
    # ...and the test has power: a different cell sum does change the output
    brighter = image.copy()
    brighter[:16, :16] = 255 - brighter[:16, :16] // 4
    assert not np.array_equal(RENDERS[name](brighter, 5), a)


def test_smooth_renderer_reads_the_release_only():
    pytest.importorskip("dpimage.render.smooth")
    image = photo((37, 53, 3), seed=2)
    shuffled = permute_within_cells(image, 16)
    a = dpimage.dp_pix(image, rng=6, render="smooth")
    assert a.shape == image.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, dpimage.dp_pix(shuffled, rng=6, render="smooth"))


def test_render_table():
    assert render.names()[:3] == ("blocks", "blur", "smooth")
    r = release_cells(photo((20, 30)), 8, 4, 1.0, rng=0)
    assert render.render(r).shape == (20, 30)
    assert render.render(r, "blur", k=5).shape == (20, 30)
    with pytest.raises(ValueError, match="render must be one of"):
        render.render(r, "sharpen")
    with pytest.raises(ValueError, match="Release"):
        render.render(photo((20, 30)), "blocks")


def test_dp_pix_render_argument_is_checked_before_the_release():
    image = photo((20, 30))
    with pytest.raises(ValueError, match="render must be one of"):
        dpimage.dp_pix(image, rng=0, render="nope")
    with pytest.raises(ValueError, match="grid"):
        dpimage.dp_pix(image, rng=0, render="blur", output="grid")
    np.testing.assert_array_equal(
        dpimage.dp_pix(image, b=4, rng=1, render="blur", render_options={"k": 7}),
        dpimage.dp_blur(image, b0=4, k=7, rng=1),
    )


def test_release_of_a_crop_is_the_release_of_that_sub_image():
    """Regions release crops: a strided view gives what its copy gives, and is not modified."""
    image = photo((60, 80, 3), seed=4)
    crop = image[7:41, 13:50]
    before = image.copy()
    a = release_cells(crop, 8, 16, 0.5, rng=2)
    b = release_cells(np.array(crop), 8, 16, 0.5, rng=2)
    np.testing.assert_array_equal(a.means, b.means)
    assert a.shape == (34, 37, 3)
    np.testing.assert_array_equal(image, before)
