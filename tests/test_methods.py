"""The method registry: one name per method, aliases, parameter checks, privacy map."""

import math

import numpy as np
import pytest

import dpimage
from conftest import ramp_image
from dpimage import methods
from dpimage.privacy import Accountant, compose


@pytest.mark.parametrize(
    "alias, name",
    [
        ("dp_pix", "dp_pix"),
        ("dp-pix", "dp_pix"),
        ("DP-Pix", "dp_pix"),
        ("pix", "dp_pix"),
        ("pixelate", "dp_pix"),
        (" dp-pix ", "dp_pix"),
        ("dp_blur", "dp_blur"),
        ("dp-blur", "dp_blur"),
        ("DP-Blur", "dp_blur"),
        ("blur", "dp_blur"),
        ("np_pix", "np_pix"),
        ("np-pix", "np_pix"),
        ("NP-Pix", "np_pix"),
        ("np_blur", "np_blur"),
        ("np-blur", "np_blur"),
    ],
)
def test_every_spelling_resolves_to_one_name(alias, name):
    assert methods.resolve(alias) == name
    assert methods.get(alias) is methods.get(name)


@pytest.mark.parametrize("bad", ["sharpen", "", None, 3, ["dp_pix"]])
def test_unknown_method_is_a_value_error_listing_the_names(bad):
    with pytest.raises(ValueError, match=r"use one of np_pix, dp_pix"):
        methods.get(bad)


@pytest.mark.parametrize("given", ["pix", "DP-Blur", " dp_pix "])
def test_get_among_takes_any_spelling_of_an_allowed_method(given):
    chosen = methods.get(given, among=("dp-pix", "blur"))
    assert chosen is methods.get(given)


@pytest.mark.parametrize("bad", ["np-pix", "np_blur", "sharpen", "", None, ["dp_pix"]])
def test_get_among_refuses_other_methods_naming_the_allowed_ones(bad):
    """Video, tune, the sweep and the web page judge a method with this one check."""
    with pytest.raises(ValueError, match=r"^method must be dp_pix or dp_blur \(or an alias\)"):
        methods.get(bad, among=("dp_pix", "dp_blur"))


def test_get_among_lists_every_allowed_method():
    with pytest.raises(ValueError, match="must be np_pix, dp_pix or dp_blur"):
        methods.get("np-blur", among=("np-pix", "dp-pix", "dp-blur"))


def test_names_labels_and_table_spellings():
    assert methods.names() == ("np_pix", "dp_pix", "np_blur", "dp_blur")
    table = {n: (methods.get(n).label, methods.get(n).cli_name) for n in methods.names()}
    assert table == {
        "np_pix": ("NP-Pix", "np-pix"),
        "dp_pix": ("DP-Pix", "dp-pix"),
        "np_blur": ("NP-Blur", "np-blur"),
        "dp_blur": ("DP-Blur", "dp-blur"),
    }
    assert [methods.get(n).private for n in methods.names()] == [False, True, False, True]
    assert [methods.get(n).cell for n in methods.names()] == ["b", "b", None, "b0"]


@pytest.mark.parametrize(
    "name, params, eps",
    [
        ("dp_pix", {"eps": 0.5}, 0.5),
        ("dp_pix", {}, 0.5),
        ("dp_pix", {"eps": 0.1, "b": 8, "m": 4}, 0.1),
        ("dp-blur", {"eps": 0.3}, 0.3),
        ("dp_blur", {"eps": 2}, 2.0),
        ("np_pix", {"b": 4}, None),
        ("np_blur", {"k": 9}, None),
    ],
)
def test_privacy_map_is_exact(name, params, eps):
    assert methods.get(name).epsilon(params) == eps


def test_validate_fills_defaults_and_checks_without_running_anything():
    assert methods.get("dp_pix").validate() == {
        "b": 16, "m": 16, "eps": 0.5, "render": "blocks", "output": "blocks",
        "colour": "rgb",
    }  # fmt: skip
    assert methods.get("dp_blur").validate({"k": 9}, eps=1) == {
        "b0": 4, "k": 9, "m": 16, "eps": 1.0, "sigma": None, "render": "blocks", "colour": "rgb",
    }  # fmt: skip
    assert methods.get("np_blur").validate(sigma=0) == {"k": 99, "sigma": 0.0}
    bad = [
        ("dp_pix", {"b": 0}, "b must"),
        ("dp_pix", {"b": 2.5}, "b must"),
        ("dp_pix", {"m": -1}, "m must"),
        ("dp_pix", {"eps": float("nan")}, "eps must"),
        ("dp_pix", {"eps": 0}, "eps must"),
        ("dp_pix", {"render": "oil"}, "render must"),
        ("dp_pix", {"k": 9}, "unknown parameter 'k'"),
        ("dp_pix", {"output": "tiles"}, "output must"),
        ("dp_pix", {"output": "grid", "render": "blur"}, "grid"),
        ("dp_blur", {"k": 98}, "k must be odd"),
        ("dp_blur", {"b0": True}, "b0 must"),
        ("dp_blur", {"sigma": -1.0}, "sigma must"),
        ("np_pix", {"eps": 0.5}, "unknown parameter 'eps'"),
    ]
    for name, params, match in bad:
        with pytest.raises(ValueError, match=match):
            methods.get(name).validate(params)


PUBLIC_CALLS = {
    # case -> (method, params, rng maker, the public function it must equal)
    "dp_pix": ("dp_pix", {"b": 16, "m": 16, "eps": 0.5}, lambda: 7,
               lambda x: dpimage.dp_pix(x, b=16, m=16, eps=0.5, rng=7)),
    "dp_pix_b5": ("dp-pix", {"b": 5, "m": 3, "eps": 2.0}, lambda: np.random.default_rng(11),
                  lambda x: dpimage.dp_pix(x, b=5, m=3, eps=2.0, rng=np.random.default_rng(11))),
    "dp_pix_grid": ("pix", {"output": "grid"}, lambda: 7,
                    lambda x: dpimage.dp_pix(x, b=16, m=16, eps=0.5, rng=7, output="grid")),
    "np_pix_grid": ("np-pix", {"b": 7, "output": "grid"}, lambda: None,
                    lambda x: dpimage.np_pix(x, b=7, output="grid")),
    "dp_blur": ("dp_blur", {"b0": 4, "k": 99, "m": 16, "eps": 0.5}, lambda: 7,
                lambda x: dpimage.dp_blur(x, b0=4, k=99, m=16, eps=0.5, rng=7)),
    "dp_blur_k15": ("blur", {"b0": 3, "k": 15, "m": 4, "eps": 1.0, "sigma": 2.5}, lambda: 9,
                    lambda x: dpimage.dp_blur(x, b0=3, k=15, m=4, eps=1.0, rng=9, sigma=2.5)),
    "np_pix": ("np_pix", {"b": 16}, lambda: None, lambda x: dpimage.np_pix(x, b=16)),
    "np_blur": ("np-blur", {"k": 99}, lambda: None, lambda x: dpimage.np_blur(x, k=99)),
    "np_blur_s": ("np_blur", {"k": 9, "sigma": 1.5}, lambda: None,
                  lambda x: dpimage.np_blur(x, k=9, sigma=1.5)),
}  # fmt: skip


@pytest.mark.parametrize("shape", [(37, 53), (37, 53, 3)], ids=["gray", "rgb"])
@pytest.mark.parametrize("case", PUBLIC_CALLS)
def test_apply_is_the_public_function_byte_for_byte(shape, case):
    # the same computation on the same machine: exact equality (the public functions
    # themselves are pinned in test_golden.py)
    name, params, rng, public = PUBLIC_CALLS[case]
    image = ramp_image(shape)
    want = public(image)
    method = methods.get(name)
    np.testing.assert_array_equal(method.apply(image, params, rng()), want)
    if method.has_release:
        release = method.release(image, params, rng())
        assert release.eps == method.epsilon(params)
        np.testing.assert_array_equal(method.render(release, params), want)


def test_np_blur_has_no_cell_release():
    method = methods.get("np_blur")
    assert not method.has_release
    with pytest.raises(ValueError, match="no cell release"):
        method.release(ramp_image((8, 8)))


def test_dp_pix_renderer_is_a_parameter():
    image = ramp_image((37, 53, 3))
    method = methods.get("dp_pix")
    out = method.apply(image, {"render": "blur", "b": 4}, 3, k=9)
    np.testing.assert_array_equal(out, dpimage.dp_blur(image, b0=4, k=9, rng=3))
    assert method.epsilon({"render": "blur"}) == 0.5  # renderers cost nothing


def test_describe_is_the_papers_label():
    assert methods.get("dp_pix").describe({"eps": 0.5}) == "DP-Pix b=16 ε=0.5"
    assert methods.get("dp_pix").describe({"eps": 1}) == "DP-Pix b=16 ε=1"
    assert methods.get("dp_blur").describe({"eps": 0.1}) == "DP-Blur b0=4 k=99 ε=0.1"
    assert methods.get("np_pix").describe() == "NP-Pix b=16"
    assert methods.get("np_blur").describe({"k": 9}) == "NP-Blur k=9"
    assert methods.get("dp_pix").describe({"render": "blur"}) == "DP-Pix b=16 render=blur ε=0.5"


# --- composition -------------------------------------------------------------------


def test_compose_is_basic_composition_rounded_once():
    assert compose([0.5, 0.25]) == 0.75
    assert compose([]) == 0.0
    assert compose([0.1], repeats=3) == 0.1 * 3 == 0.30000000000000004
    assert compose([0.1] * 3) == math.fsum([0.1] * 3)
    assert compose([0.1, 0.2], repeats=2) == 0.6000000000000001
    for bad in ([0.0], [float("inf")], [-1.0]):
        with pytest.raises(ValueError, match="eps"):
            compose(bad)
    with pytest.raises(ValueError, match="repeats"):
        compose([0.5], repeats=0)


def test_accountant_and_attack_use_the_one_composition():
    from dpimage.attack import averaging_cost

    acc = Accountant()
    for e in (0.1, 0.2, 0.3):
        acc.spend(e)
    assert acc.total_epsilon == compose([0.1, 0.2, 0.3])
    assert averaging_cost(0.1, 25) == compose([0.1], 25)


# --- consumers accept every spelling ---------------------------------------------


def test_attack_methods_resolve_aliases_to_one_noise_stream():
    from dpimage.attack import Method, method_rng

    a, b = Method("dp_pix", eps=0.5), Method("dp-pix", eps=0.5)
    assert a == b and a.kind == "dp-pix" and a.label == "DP-Pix b=16 ε=0.5"
    assert method_rng(0, a).integers(1 << 30) == method_rng(0, b).integers(1 << 30)
    with pytest.raises(ValueError, match="k must be odd"):
        Method("dp-blur", eps=0.5, k=4)


def test_sweep_and_tune_accept_aliases():
    from dpimage.eval import sweep
    from dpimage.tune import recommend

    assert sweep.method_parameters("dp_blur", "b", 8) == {"b0": 8, "k": 99, "m": 16, "eps": 0.5}
    with pytest.raises(ValueError, match="method"):
        sweep.method_parameters("sharpen", "b", 8)
    rec = recommend(ramp_image((32, 32)), 16, method="dp_pix", ssim_runs=0, bs=(8,))
    assert rec.method == "dp-pix"
    with pytest.raises(ValueError, match="method"):
        recommend(ramp_image((32, 32)), 16, method="np_pix")


def test_manifest_spellings_are_readable():
    assert methods.from_manifest("dp_pix") == (methods.get("dp_pix"), False)
    assert methods.from_manifest("dp_blur_regions") == (methods.get("dp_blur"), True)
    with pytest.raises(ValueError, match="unknown method"):
        methods.from_manifest("sharpen_regions")
