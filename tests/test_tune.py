"""dpimage tune: the guarantee sentence against the DP definition, and the recommendation."""

import json
import math

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import dpimage
from dpimage import datasets
from dpimage.cli import app
from dpimage.eval.predict import predict_dp_pix
from dpimage.guarantee import binary_guess_bound, guarantee, protected_pixels
from dpimage.metrics import mse
from dpimage.tune import DEFAULT_EPS, b_grid, recommend


def _output_pmf(total: int, n: int, scale: float) -> np.ndarray:
    """Exact P[released cell value = v], v = 0..255, of DP-Pix on one gray cell.

    The cell of ``n`` pixels has integer sum ``total``; the release is
    ``rint(clip((total + Z) / n, 0, 255))`` with ``P[Z = z] ∝ q^|z|``,
    ``q = exp(-1/scale)``. Every ``z`` in the window is mapped exactly; the two
    tails (which clip to 0 and 255) are summed in closed form.
    """
    q = math.exp(-1.0 / scale)
    lo, hi = -total - n, 255 * n - total + n
    z = np.arange(lo, hi + 1)
    pmf = (1 - q) / (1 + q) * q ** np.abs(z).astype(np.float64)
    values = np.rint(np.clip((total + z) / n, 0.0, 255.0)).astype(int)
    out = np.bincount(values, weights=pmf, minlength=256)

    def upper_tail(a):  # P[Z >= a]
        return q**a / (1 + q) if a >= 1 else 1 - q ** (1 - a) / (1 + q)

    out[0] += upper_tail(-lo + 1)  # P[Z <= lo - 1] = P[Z >= 1 - lo] by symmetry
    out[255] += upper_tail(hi + 1)
    return out


@pytest.mark.parametrize("m, eps", [(1, 0.5), (4, 0.5), (4, 1.0), (16, 0.1)])
def test_guarantee_sentence_against_the_dp_definition(m, eps):
    n = 16  # one 4x4 gray cell; the neighbour differs in m of its pixels, 0 -> 255
    scale = dpimage.privacy.l1_sensitivity(m, 1) / eps
    p = _output_pmf(0, n, scale)
    p_neighbour = _output_pmf(255 * m, n, scale)
    assert p.sum() == pytest.approx(1.0) and p_neighbour.sum() == pytest.approx(1.0)
    # DP definition: for every output event E, P[E] <= e^eps P'[E]; singletons are the worst case
    log_ratio = np.abs(np.log(p) - np.log(p_neighbour))
    g = guarantee(eps, m)
    assert log_ratio.max() <= eps + 1e-9
    assert math.exp(log_ratio.max()) == pytest.approx(g.odds_factor, rel=1e-6)  # tight
    # tail events (output >= v) are within the factor too
    tails, tails_n = np.cumsum(p[::-1]), np.cumsum(p_neighbour[::-1])
    assert np.all(np.abs(np.log(tails) - np.log(tails_n)) <= eps + 1e-9)
    # the best two-way guess (prior 1/2) picks the likelier version for each output
    success = 0.5 * np.maximum(p, p_neighbour).sum()
    assert 0.5 < success <= g.guess_bound + 1e-12
    assert g.guess_bound == pytest.approx(math.exp(eps) / (1 + math.exp(eps)))
    assert f"{g.odds_factor:.3g}" in g.sentence
    assert f"{100 * g.guess_bound:.1f}%" in g.sentence and f"at most {m} pixels" in g.sentence


def test_output_pmf_matches_the_mechanism():
    # 10,000 identical 4x4 cells in one image: 10,000 draws of one cell's release
    m, eps, n = 4, 1.0, 16
    cell = np.zeros((4, 4), dtype=np.uint8)
    cell[0, :m] = 255
    image = np.tile(cell, (100, 100))
    released = dpimage.dp_pix(image, b=4, m=m, eps=eps, rng=7, output="grid").ravel()
    pmf = _output_pmf(255 * m, n, dpimage.privacy.l1_sensitivity(m, 1) / eps)
    assert released.mean() == pytest.approx(float(np.sum(pmf * np.arange(256))), abs=1.0)
    for v in (0, 255):
        assert np.mean(released == v) == pytest.approx(pmf[v], abs=0.015)


def test_rgb_guarantee_is_the_product_over_channels():
    # C = 3: each channel's noise scale is 3x larger; the m pixels change in all three
    m, eps, n = 2, 0.5, 16
    scale = dpimage.privacy.l1_sensitivity(m, 3) / eps
    p, p_n = _output_pmf(0, n, scale), _output_pmf(255 * m, n, scale)
    per_channel = np.abs(np.log(p) - np.log(p_n)).max()
    assert 3 * per_channel == pytest.approx(eps, rel=1e-6)
    assert "three colour channels" in guarantee(eps, m, 3).sentence


def test_binary_guess_bound_is_tight():
    # randomized response that reports the truth w.p. e^eps/(1+e^eps) is eps-DP and
    # reaches exactly the bound: the sentence's percentage cannot be lowered
    for eps in (0.1, 0.5, 2.0):
        truth = math.exp(eps) / (1 + math.exp(eps))
        assert math.log(truth / (1 - truth)) == pytest.approx(eps)
        assert binary_guess_bound(eps) == pytest.approx(truth)
    assert binary_guess_bound(0.5) == pytest.approx(0.6225, abs=1e-4)


def test_protected_pixels():
    assert protected_pixels(object_size=(40, 50))[0] == 2000
    assert protected_pixels(pixels=120)[0] == 120
    m, reason = protected_pixels(box=(10, 20, 30, 40), image_shape=(100, 100))
    assert m == 1200 and "30x40" in reason
    with pytest.raises(ValueError, match="outside"):
        protected_pixels(box=(90, 20, 30, 40), image_shape=(100, 100))
    with pytest.raises(ValueError, match="exactly one"):
        protected_pixels(pixels=3, object_size=(1, 3))
    with pytest.raises(ValueError):
        protected_pixels(pixels=0)


@pytest.fixture(scope="module")
def camera():
    return datasets.photos(gray=True)["camera"][::4, ::4].copy()  # 128x128, real photo


def test_recommend_marks_the_best_b_and_predicts_measured_mse(camera):
    rec = recommend(camera, 16, eps_grid=(0.5, 2.0), ssim_runs=1)
    assert rec.eps == DEFAULT_EPS and b_grid(camera.shape) == (2, 4, 8, 16, 32, 64, 128)
    for eps in (0.5, 2.0):
        rows = [c for c in rec.candidates if c.eps == eps]
        best = [c for c in rows if c.best_b]
        assert len(best) == 1 and best[0].mse == min(c.mse for c in rows)
    chosen = rec.best()
    assert chosen is not None and chosen.b == rec.b and chosen.ssim is not None
    measured = np.mean(
        [mse(dpimage.dp_pix(camera, b=rec.b, m=16, eps=rec.eps, rng=s), camera) for s in range(8)]
    )
    assert chosen.mse == pytest.approx(measured, rel=0.1)
    assert chosen.mse == pytest.approx(predict_dp_pix(camera, rec.b, 16, 0.5, clip=True).mse)


def test_recommend_with_a_target_picks_the_smallest_sufficient_eps(camera):
    grid = (0.1, 0.5, 2.0, 8.0)
    rec = recommend(camera, 16, eps_grid=grid, ssim_runs=0)
    best_psnr = {e: max(c.psnr for c in rec.candidates if c.eps == e) for e in grid}
    target = (best_psnr[0.5] + best_psnr[2.0]) / 2
    with_target = recommend(camera, 16, eps_grid=grid, target_psnr=target, ssim_runs=0)
    assert with_target.eps == 2.0 and with_target.best().psnr >= target
    impossible = recommend(camera, 16, eps_grid=grid, target_psnr=80.0, ssim_runs=0)
    assert impossible.eps is None and impossible.guarantee is None
    assert "no ε" in impossible.eps_reason


def test_larger_object_needs_larger_cells(camera):
    small = recommend(camera, 4, eps_grid=(0.5,), ssim_runs=0)
    face = recommend(camera, 900, eps_grid=(0.5,), ssim_runs=0)
    assert face.b > small.b


def _save(tmp_path, array, name="photo.png"):
    path = tmp_path / name
    Image.fromarray(array).save(path)
    return path


def test_cli_tune_json_and_preview(tmp_path, camera):
    photo = _save(tmp_path, camera)
    before = photo.read_bytes()
    preview = tmp_path / "preview.png"
    result = CliRunner().invoke(
        app,
        [
            "tune",
            str(photo),
            "--box",
            "40,30,8,6",
            "--eps-grid",
            "0.5,1",
            "--ssim-runs",
            "1",
            "--json",
            "--preview",
            str(preview),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["m"] == 48 and data["eps"] == 0.5 and data["b"] in b_grid(camera.shape)
    assert "62.2%" in data["guarantee"]["sentence"]
    assert preview.exists() and photo.read_bytes() == before
    released = np.asarray(Image.open(preview))
    assert released.shape == camera.shape


def test_cli_tune_table(tmp_path, camera):
    photo = _save(tmp_path, camera)
    result = CliRunner().invoke(
        app, ["tune", str(photo), "--object", "10x12", "--eps-grid", "0.5", "--ssim-runs", "0"]
    )
    assert result.exit_code == 0, result.output
    assert "m = 10x12 = 120" in result.stdout and "recommended" in result.stdout
    assert "62.2%" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--box", "1,2,3"], "x,y,w,h"),
        (["--box", "120,120,20,20"], "outside"),
        (["--object", "10"], "WxH"),
        ([], "exactly one"),
        (["--pixels", "5", "--object", "2x2"], "exactly one"),
        (["--pixels", "5", "--eps-grid", "0,1"], "eps-grid"),
        (["--pixels", "5", "--method", "blurry"], "--method"),
    ],
)
def test_cli_tune_bad_arguments(tmp_path, camera, args, message):
    photo = _save(tmp_path, camera)
    result = CliRunner().invoke(app, ["tune", str(photo), *args])
    assert result.exit_code == 2
    assert message in result.stderr


def test_cli_tune_missing_image(tmp_path):
    result = CliRunner().invoke(app, ["tune", str(tmp_path / "none.png"), "--pixels", "4"])
    assert result.exit_code == 1 and "none.png" in result.stderr


def test_tuned_on_the_image_says_it_is_outside_the_guarantee(tmp_path, camera):
    photo = _save(tmp_path, camera)
    result = CliRunner().invoke(
        app, ["tune", str(photo), "--pixels", "64", "--eps-grid", "0.5", "--ssim-runs", "0"]
    )
    assert result.exit_code == 0, result.output
    assert "NOT covered by the DP guarantee" in " ".join(result.stdout.split())
    rec = recommend(camera, 64, eps_grid=[0.5], ssim_runs=0)
    assert rec.tuned_on == "image" and "NOT covered" in rec.privacy_note
    assert "not** covered" in dpimage.tune.advice.__doc__


def test_public_tuning_depends_only_on_the_shape(camera):
    from dpimage.tune import recommend_public

    noise = np.random.default_rng(0).integers(0, 256, camera.shape, dtype=np.uint8)
    a = recommend_public(camera.shape, 64, eps_grid=[0.3, 1.0], ssim_runs=0)
    # the private image is not an argument at all: same shape, same answer
    b = recommend_public(noise.shape, 64, eps_grid=[0.3, 1.0], ssim_runs=0)
    assert (a.b, a.eps) == (b.b, b.eps) and a.candidates == b.candidates
    assert a.tuned_on.startswith("public images")
    assert "covered by the DP guarantee" in a.privacy_note
    # and the averaged prediction is the mean of the per-reference predictions
    from dpimage.tune import public_references

    refs = public_references(camera.shape)
    per = [predict_dp_pix(r, b=a.b, m=64, eps=1.0, clip=True).mse for r in refs.values()]
    row = next(c for c in a.candidates if c.b == a.b and c.eps == 1.0)
    assert row.mse == pytest.approx(np.mean(per))


def test_cli_tune_public_and_reference_ignore_the_pixels(tmp_path, camera):
    photo = _save(tmp_path, camera)
    other = tmp_path / "other.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, camera.shape, np.uint8)).save(other)
    common = ["--pixels", "64", "--eps-grid", "0.5", "--ssim-runs", "0", "--json"]
    ref = tmp_path / "ref.png"
    Image.fromarray(np.asarray(datasets.photos(gray=True)["coffee"])).save(ref)
    for flag in (["--public"], ["--reference", str(ref)]):
        outs = []
        for private in (photo, other):
            result = CliRunner().invoke(app, ["tune", str(private), *common, *flag])
            assert result.exit_code == 0, result.output
            outs.append(json.loads(result.stdout))
        assert outs[0]["candidates"] == outs[1]["candidates"]
        assert outs[0]["tuned_on"] != "image"
    both_flags = ["--public", "--reference", str(ref)]
    both = CliRunner().invoke(app, ["tune", str(photo), *common, *both_flags])
    assert both.exit_code == 2


def test_cli_tune_preview_has_a_manifest_that_counts(tmp_path, camera):
    photo = _save(tmp_path, camera)
    preview = tmp_path / "preview.png"
    args = ["tune", str(photo), "--pixels", "16", "--eps-grid", "0.5", "--ssim-runs", "0",
            "--preview", str(preview)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest_path = tmp_path / "preview.png.manifest.json"
    manifest = json.loads(manifest_path.read_text())
    [entry] = manifest["outputs"]
    assert (entry["path"], entry["epsilon"], entry["releases"]) == ("preview.png", 0.5, 1)
    assert manifest["total_epsilon"] == 0.5 and manifest["private_release"] is True
    assert "outside the DP guarantee" in manifest["parameter_choice"]
    assert "camera" not in manifest_path.read_text()
    # An existing preview is kept without --overwrite (usage error, nothing changes).
    assert CliRunner().invoke(app, args).exit_code == 2
    # Written again, it is released again: the manifest counts both releases, and says so.
    again = CliRunner().invoke(app, [*args, "--overwrite"])
    assert again.exit_code == 0, again.output
    manifest = json.loads(manifest_path.read_text())
    [entry] = manifest["outputs"]
    assert (entry["path"], entry["releases"], manifest["releases"]) == ("preview.png", 2, 2)
    assert manifest["total_epsilon"] == 1.0
    assert "preview.png has now been released 2 times" in again.output


def test_cli_tune_preview_render_and_colour(tmp_path):
    from dpimage import datasets

    photo = tmp_path / "rgb.png"
    Image.fromarray(datasets.photos()["astronaut"][:96, :128]).save(photo)
    preview = tmp_path / "p.png"
    args = ["tune", str(photo), "--pixels", "16", "--eps-grid", "0.5", "--ssim-runs", "0",
            "--preview", str(preview), "--render", "smooth", "--colour", "ycocg"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "p.png.manifest.json").read_text())
    params = manifest["parameters"]
    assert params["render"] == "smooth" and params["colour"] == "luma-chroma"
    assert params["colour_split"]["eps_luma"] == params["colour_split"]["eps_bound"] == 0.5
    assert manifest["total_epsilon"] == 0.5
    bad = CliRunner().invoke(app, [*args[:-4], "--render", "blur"])
    assert bad.exit_code == 2


# --- the smooth renderer and the SSIM objective -----------------------------------


def test_recommend_smooth_simulates_mse_and_matches_measurement(camera):
    rec = recommend(camera, 16, eps_grid=(0.5,), bs=(8, 16, 32), ssim_runs=2, render="smooth")
    assert rec.render == "smooth" and all(c.mse_source == "simulated" for c in rec.candidates)
    chosen = rec.best()
    measured = np.mean(
        [
            mse(dpimage.dp_pix(camera, b=rec.b, m=16, eps=0.5, rng=s, render="smooth"), camera)
            for s in range(100, 106)
        ]
    )
    # simulated on the image with other seeds: the same quantity, up to noise
    assert chosen.mse == pytest.approx(measured, rel=0.2)
    blocks = recommend(camera, 16, eps_grid=(0.5,), bs=(8, 16, 32), ssim_runs=0)
    assert all(c.mse_source == "closed form" for c in blocks.candidates)
    assert chosen.mse < blocks.best().mse  # the smooth release is closer to the image


def test_objectives_and_the_cell_cap_on_a_large_photo():
    # A 4x4 object (m = 16) in a 640x427 photo: MSE favours a handful of huge cells.
    import cv2

    photo = datasets.photos(gray=True)["camera"]
    image = cv2.resize(photo, (640, 427), interpolation=cv2.INTER_AREA)
    bs = (8, 16, 32, 64, 128)
    by_mse = recommend(image, 16, eps_grid=(0.5,), bs=bs, ssim_runs=1)
    by_ssim = recommend(image, 16, eps_grid=(0.5,), bs=bs, ssim_runs=1, objective="ssim")
    assert by_ssim.objective == "ssim" and by_mse.objective == "mse"
    assert by_ssim.best().ssim == max(c.ssim for c in by_ssim.candidates)
    assert by_mse.best().mse == min(c.mse for c in by_mse.candidates)
    assert by_mse.b >= 32  # a mosaic of at most 20x14 cells
    # at least 16 cells on the 427-pixel side: b <= 26, so b = 16 here
    capped = recommend(image, 16, eps_grid=(0.5,), bs=bs, ssim_runs=0, min_cells=16)
    assert {c.b for c in capped.candidates} == {8, 16} and capped.b == 16
    with pytest.raises(ValueError, match="cells"):
        recommend(image, 16, eps_grid=(0.5,), bs=(64, 128), ssim_runs=0, min_cells=16)


def test_objective_and_render_are_checked(camera):
    with pytest.raises(ValueError, match="objective"):
        recommend(camera, 16, eps_grid=(0.5,), objective="psnr")
    with pytest.raises(ValueError, match="ssim_runs"):
        recommend(camera, 16, eps_grid=(0.5,), objective="ssim", ssim_runs=0)
    with pytest.raises(ValueError, match="own renderer"):
        recommend(camera, 16, eps_grid=(0.5,), method="dp-blur", render="smooth")


def test_public_tuning_takes_recommends_options_and_defaults(camera):
    """recommend_public has no copy of recommend's options: the names and defaults are one."""
    from dpimage.tune import recommend_public

    refs = {"camera": camera}
    public = recommend_public(camera.shape, 64, references=refs, eps_grid=[0.5], ssim_runs=0)
    private = recommend(camera, 64, eps_grid=[0.5], ssim_runs=0)
    assert (public.method, public.render, public.objective) == (
        private.method, private.render, private.objective
    )
    assert [(c.b, c.eps) for c in public.candidates] == [(c.b, c.eps) for c in private.candidates]
    with pytest.raises(TypeError, match="bogus"):
        recommend_public(camera.shape, 64, references=refs, bogus=1)


def test_public_tuning_with_smooth_never_reads_the_image(camera):
    from dpimage.tune import recommend_public

    a = recommend_public(camera.shape, 64, eps_grid=[0.5], bs=(8, 16), ssim_runs=1,
                         render="smooth", objective="ssim")  # fmt: skip
    assert a.render == "smooth" and a.objective == "ssim"
    assert all(c.mse_source == "simulated" for c in a.candidates)


def test_cli_tune_render_smooth_and_objective(tmp_path, camera):
    photo = _save(tmp_path, camera)
    preview = tmp_path / "p.png"
    args = ["tune", str(photo), "--pixels", "16", "--eps-grid", "0.5", "--ssim-runs", "1"]
    options = ["--render", "smooth", "--objective", "ssim", "--min-cells", "4"]
    result = CliRunner().invoke(app, [*args, *options, "--json", "--preview", str(preview)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["render"] == "smooth" and data["objective"] == "ssim"
    assert max(c["b"] for c in data["candidates"]) <= 128 // 4
    manifest = json.loads((tmp_path / "p.png.manifest.json").read_text())
    assert "smooth" in json.dumps(manifest)
    bad = CliRunner().invoke(app, [*args, "--min-cells", "1000"])
    assert bad.exit_code == 2 and "cells" in bad.stderr
    bad = CliRunner().invoke(app, [*args, "--objective", "psnr"])
    assert bad.exit_code == 2 and "--objective" in bad.stderr
    bad = CliRunner().invoke(app, [*args, "--method", "dp-blur", "--render", "smooth"])
    assert bad.exit_code == 2 and "--render" in bad.stderr
