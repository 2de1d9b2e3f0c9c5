"""Attacks on rendered releases: the dp-pix-smooth kind and the simulating template adversary."""

import numpy as np
import pytest

from dpimage import methods
from dpimage.attack import (
    KINDS,
    LabelledData,
    Method,
    method_rng,
    noise_free,
    obfuscate,
    template_attack,
)
from dpimage.attack.experiment import attack_methods
from dpimage.attack.template import simulated_templates


@pytest.fixture(scope="module")
def faces10(faces):
    images, labels = faces
    keep = labels < 10
    return LabelledData("faces10", images[keep], labels[keep], [str(i) for i in range(10)])


def test_smooth_kind_is_dp_pix_with_the_smooth_renderer():
    method = Method("dp-pix-smooth", eps=0.5)
    assert "dp-pix-smooth" in KINDS
    assert method.label == "DP-Pix b=16 render=smooth ε=0.5"
    assert method.params() == {"b": 16, "m": 16, "eps": 0.5, "render": "smooth"}
    assert method.epsilon == 0.5 and method.private
    labels = [m.label for m in attack_methods(["dp-pix-smooth"], [0.5, 1])]
    assert labels == ["DP-Pix b=16 render=smooth ε=0.5", "DP-Pix b=16 render=smooth ε=1"]
    with pytest.raises(ValueError, match="eps"):
        Method("dp-pix-smooth")


def test_smooth_kind_renders_the_same_release_as_blocks(faces10):
    image = faces10.images[0]
    smooth, blocks = Method("dp-pix-smooth", eps=0.5), Method("dp-pix", eps=0.5)
    # one noise stream for both kinds: the same noisy means, drawn two ways
    release = methods.get("dp_pix").release(image, {"eps": 0.5}, method_rng(3, blocks))
    expected = methods.get("dp_pix").render(release, {"eps": 0.5, "render": "smooth"})
    got = obfuscate(image[None], smooth, method_rng(3, smooth))[0]
    assert np.array_equal(got, expected)
    assert np.array_equal(
        obfuscate(image[None], blocks, method_rng(3, blocks))[0],
        methods.get("dp_pix").render(release, {"eps": 0.5}),
    )


def test_noise_free_smooth_is_the_release_without_noise(faces10):
    image = faces10.images[0]
    method = Method("dp-pix-smooth", eps=1e6)  # noise far below one gray level
    assert np.abs(
        noise_free(image, method).astype(int) - method.apply(image, np.random.default_rng(0))
    ).max() <= 1


def test_simulated_templates_are_the_expected_release(faces10):
    refs = faces10.images[:3]
    # without noise worth a gray level, the simulated mean is the noise-free output
    quiet = Method("dp-pix", eps=1e6)
    np.testing.assert_array_equal(
        simulated_templates(refs, quiet, 0, 2), np.stack([noise_free(x, quiet) for x in refs])
    )
    # with noise, the mean of 64 releases is closer to the expected release than one release
    noisy = Method("dp-pix", eps=0.5)
    clean = np.stack([noise_free(x, noisy) for x in refs]).astype(float)
    one = np.abs(simulated_templates(refs, noisy, 0, 1) - clean).mean()
    many = np.abs(simulated_templates(refs, noisy, 0, 64) - clean).mean()
    assert many < 0.3 * one
    # the adversary's noise is its own: not the test releases' stream
    test_release = obfuscate(refs, noisy, method_rng(0, noisy, 1))
    assert not np.array_equal(simulated_templates(refs, noisy, 0, 1), test_release)
    with pytest.raises(ValueError, match="n must be"):
        simulated_templates(refs, noisy, 0, 0)


def test_template_attack_with_simulation(faces10):
    kinds = [Method("np-pix"), Method("dp-pix-smooth", eps=1.0), Method("dp-blur", eps=1.0)]
    rows = list(template_attack(faces10, kinds, [0], simulate=4))
    assert [r["attack"] for r in rows] == ["template-sim4"] * 3
    acc = {r["kind"]: r["accuracy"] for r in rows}
    assert acc["np-pix"] >= 0.9  # not private: its template is the exact output
    assert acc["dp-pix-smooth"] > 0.2  # chance is 0.1
    plain = list(template_attack(faces10, kinds[:1], [0]))
    assert plain[0]["attack"] == "template" and plain[0]["accuracy"] == acc["np-pix"]
    with pytest.raises(ValueError, match="simulate"):
        list(template_attack(faces10, kinds, [0], simulate=-1))


def test_cli_simulate_needs_template(tmp_path):
    from typer.testing import CliRunner

    from dpimage.cli import app

    out = tmp_path / "o"
    result = CliRunner().invoke(app, ["eval", "attack", "--simulate", "3", "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "--simulate is an option of --template" in result.output
    assert not out.exists()
