"""The luma/chroma release as a first-class release: renderers, registry, privacy split."""

from fractions import Fraction

import numpy as np
import pytest

import dpimage
from conftest import permute_within_cells
from dpimage import methods
from dpimage.cells import cell_counts
from dpimage.privacy.colour import float_at_least, split_budget, worst_case_epsilon
from dpimage.release import ColourRelease, check_colour, colour_split, release_colour
from dpimage.render import render


def _photo(shape=(45, 70, 3), seed=0):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    base = np.stack([xx * 3, yy * 5, (xx + yy) * 2], axis=-1) % 256
    noise = np.random.default_rng(seed).integers(0, 40, shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8)




@pytest.mark.parametrize("name", ["blocks", "smooth", "blur"])
def test_colour_render_depends_only_on_cell_sums(name):
    """Pixels permuted inside every luma cell (hence every chroma cell): byte-identical."""
    img = _photo()
    b = 4
    factor = 4  # chroma cells of 16 hold whole luma cells, so one permutation keeps both
    permuted = permute_within_cells(img, b, seed=1)
    assert not np.array_equal(img, permuted)
    options = {"k": 9} if name == "blur" else {}
    outs = [
        render(release_colour(x, b=b, m=4, eps=0.5, rng=7, chroma_factor=factor), name, **options)
        for x in (img, permuted)
    ]
    np.testing.assert_array_equal(*outs)
    assert outs[0].shape == img.shape and outs[0].dtype == np.uint8


@pytest.mark.parametrize("render_name", ["blocks", "smooth"])
def test_dp_pix_luma_chroma_permutation_invariant(render_name):
    img = _photo((64, 96, 3))
    # chroma cells (8 f) hold whole luma cells: permuting inside luma cells keeps every sum
    assert colour_split(8, 16, 0.5)["b_chroma"] % 8 == 0
    permuted = permute_within_cells(img, 8, seed=2)
    outs = [
        dpimage.dp_pix(x, b=8, rng=3, render=render_name, colour="luma-chroma")
        for x in (img, permuted)
    ]
    np.testing.assert_array_equal(*outs)


def test_release_facts_and_split():
    rel = release_colour(_photo(), b=16, m=16, eps=0.5, rng=0)
    assert isinstance(rel, ColourRelease)
    e_y, e_co, e_cg = split_budget(0.5)
    assert rel.luma.eps == e_y and rel.eps_chroma == (e_co, e_cg)
    assert rel.luma.shape == (45, 70) and rel.chroma.shape == (45, 70, 2)
    assert rel.b == 16 and rel.b_chroma == 64 and rel.sampler == "seeded"
    facts = rel.facts()
    assert facts["eps_luma"] == e_y and facts["b_chroma"] == 64
    assert facts["eps_bound"] == facts["eps"] == 0.5  # the worst case spends all of eps
    assert "means" not in facts


def test_every_public_fact_of_a_colour_release():
    """Each attribute and fact of the release and of its two channel releases, by value."""
    m, eps = 4, 0.5
    rel = release_colour(_photo(), b=16, m=m, eps=eps, rng=0, chroma_factor=2)
    e_y, e_co, e_cg = split_budget(eps)
    assert (rel.transform, rel.eps, rel.eps_chroma) == ("ycocg", eps, (e_co, e_cg))
    assert (rel.shape, rel.b, rel.b_chroma, rel.m) == ((45, 70, 3), 16, 32, m)
    assert (rel.eps_luma, rel.sampler, rel.private) == (e_y, "seeded", True)
    luma, chroma = rel.luma, rel.chroma
    assert (luma.shape, luma.b, luma.m, luma.eps, luma.channels) == ((45, 70), 16, m, e_y, 1)
    assert (chroma.shape, chroma.b, chroma.m, chroma.channels) == ((45, 70, 2), 32, m, 2)
    # the chroma release's own eps: the exact worst case of Co and Cg together, rounded up
    chroma_eps = float_at_least(worst_case_epsilon(0, e_co, e_cg))
    assert chroma.eps == chroma_eps and Fraction(chroma.eps) >= Fraction(e_co) / 2 + Fraction(e_cg)
    eps_bound = float_at_least(worst_case_epsilon(e_y, e_co, e_cg))
    assert rel.eps_bound == eps_bound and Fraction(eps_bound) <= Fraction(eps)
    assert luma.sampler == chroma.sampler == "seeded" and luma.private and chroma.private
    assert luma.means.shape == (3, 5, 1) and chroma.means.shape == (2, 3, 2)
    np.testing.assert_array_equal(luma.counts, cell_counts(45, 70, 16))
    np.testing.assert_array_equal(chroma.counts, cell_counts(45, 70, 32))
    # each channel's scale: sensitivity 255 m 4 on the integer sums, over n_k * 4
    np.testing.assert_allclose(luma.scale, 255 * m * 4 / e_y / (luma.counts * 4), rtol=1e-12)
    np.testing.assert_allclose(chroma.scale, 255 * m * 4 / e_co / (chroma.counts * 4), rtol=1e-12)
    assert rel.facts() == {
        "shape": [45, 70, 3], "transform": "ycocg", "m": m, "eps": eps, "eps_luma": e_y,
        "eps_chroma": [e_co, e_cg], "eps_bound": eps_bound, "b": 16, "b_chroma": 32,
        "sampler": "seeded",
    }  # fmt: skip
    assert luma.facts() == {
        "shape": [45, 70], "b": 16, "m": m, "eps": e_y, "channels": 1, "sampler": "seeded"
    }
    assert chroma.facts() == {
        "shape": [45, 70, 2], "b": 32, "m": m, "eps": chroma_eps, "channels": 2,
        "sampler": "seeded",
    }  # fmt: skip


def test_blocks_on_constant_colour_reproduces_it_without_noise_effects():
    # exact inverse: a constant image at huge eps comes back exactly
    img = np.zeros((32, 32, 3), np.uint8)
    img[...] = (200, 30, 90)
    out = render(release_colour(img, b=8, m=1, eps=1e7, rng=0), "blocks")
    np.testing.assert_array_equal(out, img)


def test_gray_ignores_colour_and_rgb_default_is_unchanged():
    gray = _photo()[:, :, 0].copy()
    np.testing.assert_array_equal(
        dpimage.dp_pix(gray, rng=5, colour="luma-chroma"), dpimage.dp_pix(gray, rng=5)
    )
    rgb = _photo()
    np.testing.assert_array_equal(
        dpimage.dp_pix(rgb, rng=5, colour="rgb"), dpimage.dp_pix(rgb, rng=5)
    )
    assert not np.array_equal(
        dpimage.dp_pix(rgb, rng=5, colour="ycocg"), dpimage.dp_pix(rgb, rng=5)
    )


def test_colour_spellings_and_bad_values():
    assert check_colour("YCoCg") == check_colour("luma_chroma") == "luma-chroma"
    with pytest.raises(ValueError, match="colour must be"):
        check_colour("hsv")
    with pytest.raises(ValueError, match="colour must be"):
        methods.get("dp-pix").validate(colour="lab")
    with pytest.raises(ValueError, match="grid"):
        methods.get("dp-pix").validate(colour="ycocg", output="grid")


def test_registry_release_render_equals_apply_and_records_split():
    img = _photo()
    for name, params in (
        ("dp_pix", {"colour": "ycocg", "render": "smooth"}),
        ("dp_blur", {"colour": "luma-chroma", "render": "smooth", "k": 9}),
        ("dp_blur", {"colour": "luma-chroma", "k": 9}),
    ):
        method = methods.get(name)
        p = method.validate(params)
        assert p["colour"] == "luma-chroma"
        released = method.release(img, p, rng=11)
        assert isinstance(released, ColourRelease)
        np.testing.assert_array_equal(method.render(released, p), method.apply(img, p, rng=11))
        assert method.epsilon(p) == 0.5  # the privacy map is still the total
        split = method.budget(p)
        # the worst case over one pixel's change, not the sum, is what is spent
        assert split["eps_bound"] == 0.5 and split["eps_luma"] == 0.5
        assert split["eps_co"] == split["eps_cg"] == pytest.approx(0.5 / 3)
        assert split["b_luma"] == p[method.cell]
        assert "ε_Y=0.5" in method.describe(p)
    assert methods.get("dp_pix").budget() is None
    assert methods.get("dp_pix").label_for({"render": "smooth"}) == "DP-Pix (smooth)"


def test_dp_blur_blocks_rgb_is_the_paper():
    img = _photo()
    np.testing.assert_array_equal(
        dpimage.dp_blur(img, k=9, rng=2, render="blocks", colour="rgb"),
        dpimage.dp_blur(img, k=9, rng=2),
    )
    with pytest.raises(ValueError, match="before the blur"):
        dpimage.dp_blur(img, render="blur")


def test_manifest_readers_take_any_spelling_of_the_mechanism():
    from dpimage.io.manifest import build_manifest, canonical_mechanism, merge_manifests

    assert canonical_mechanism("dp-pix") == canonical_mechanism("DP-Pix") == "dp_pix"
    assert canonical_mechanism("dp-blur_regions") == "dp_blur_regions"
    assert canonical_mechanism("something else") == "something else"
    params = {"b": 16, "m": 16, "eps": 0.5}
    old = build_manifest(command="pixelate", mechanism="dp-pix", parameters=params,
                         outputs=[("a.png", 0.5)])  # fmt: skip
    new = build_manifest(command="pixelate", mechanism="dp_pix", parameters=params,
                         outputs=[("b.png", 0.5)])  # fmt: skip
    merged = merge_manifests(new, old)
    assert "previous_runs" not in merged  # the same settings: one manifest
    assert merged["total_epsilon"] == 1.0
