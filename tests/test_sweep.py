"""Utility sweeps on tiny real configurations, the eval CLI, and the street scene (needs_vtest)."""

import csv
import json
import math

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from dpimage import datasets
from dpimage.cli import app
from dpimage.eval.data import load_dataset
from dpimage.eval.sweep import (
    CSV_COLUMNS,
    SWEEP_VALUES,
    method_parameters,
    read_csv,
    run_sweep,
    write_csv,
)


@pytest.fixture(scope="module")
def tiny_faces():
    return load_dataset("faces", sample=5, seed=1)


def test_sweep_values_cover_the_issue_ranges():
    assert SWEEP_VALUES["b"][0] == 2 and SWEEP_VALUES["b"][-1] == 24
    assert SWEEP_VALUES["m"] == (1, 2, 4, 8, 16, 32, 64, 128, 256)
    assert {0.01, 0.1, 0.3, 0.5, 1.0, 10.0} <= set(SWEEP_VALUES["eps"])


def test_method_parameters_vary_around_the_defaults():
    assert method_parameters("dp-pix", "eps", 2.0) == {"b": 16, "m": 16, "eps": 2.0}
    assert method_parameters("dp-blur", "b", 8) == {"b0": 8, "k": 99, "m": 16, "eps": 0.5}
    assert method_parameters("np-pix", "m", 64) == {"b": 16}
    assert method_parameters("np-blur", "b", 4) == {"k": 99}
    with pytest.raises(ValueError):
        method_parameters("dp-gauss", "b", 4)


def test_faces_sample_is_seeded():
    a = load_dataset("faces", sample=5, seed=1)
    b = load_dataset("faces", sample=5, seed=1)
    c = load_dataset("faces", sample=5, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a.images, b.images, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a.images, c.images, strict=True))
    assert "5 (seed 1) of 400" in a.description


def test_tiny_eps_sweep(tiny_faces):
    ticks = []
    rows = run_sweep(
        tiny_faces, "eps", values=(0.1, 10.0), seed=3, on_image=lambda: ticks.append(1)
    )
    assert len(rows) == 8 and set(rows[0]) == set(CSV_COLUMNS)
    # 5 images x (dp-pix, dp-blur) x 2 values + NP-Pix and NP-Blur once each
    assert len(ticks) == 5 * 2 * 2 + 5 * 2
    by = {(r["method"], r["value"]): r for r in rows}
    for method in ("np-pix", "np-blur"):
        assert by[(method, 0.1)]["mse"] == by[(method, 10.0)]["mse"]  # does not depend on eps
        assert math.isnan(by[(method, 0.1)]["mse_pred"])
    for method in ("dp-pix", "dp-blur"):
        assert by[(method, 10.0)]["mse"] < by[(method, 0.1)]["mse"]
        assert by[(method, 10.0)]["ssim_skimage"] > by[(method, 0.1)]["ssim_skimage"]
        assert by[(method, 10.0)]["mse_pred_clip"] == pytest.approx(
            by[(method, 10.0)]["mse"], rel=0.15
        )
    # DP-Pix at eps = 10 is close to NP-Pix (the papers' "approaches the baseline")
    assert by[("dp-pix", 10.0)]["mse"] < 1.2 * by[("np-pix", 10.0)]["mse"]
    again = run_sweep(tiny_faces, "eps", values=(0.1, 10.0), seed=3)
    assert again == rows
    other = run_sweep(tiny_faces, "eps", values=(0.1,), methods=("dp-pix",), seed=4)
    assert other[0]["mse"] != by[("dp-pix", 0.1)]["mse"]


def test_csv_round_trip(tiny_faces, tmp_path):
    rows = run_sweep(tiny_faces, "m", values=(1, 256), methods=("np-pix", "dp-pix"), repeats=2)
    path = write_csv(rows, tmp_path / "s.csv")
    back = read_csv(path)
    assert [r["method"] for r in back] == [r["method"] for r in rows]
    assert back[1]["mse"] == pytest.approx(rows[1]["mse"], rel=1e-5)
    assert back[1]["repeats"] == 2 and back[0]["repeats"] == 1
    assert back[3]["mse"] > back[1]["mse"]  # m = 256 is noisier than m = 1


def test_run_sweep_rejects_bad_arguments(tiny_faces):
    with pytest.raises(ValueError, match="vary"):
        run_sweep(tiny_faces, "k")
    with pytest.raises(ValueError, match="method"):
        run_sweep(tiny_faces, "b", methods=("dp-gauss",))
    with pytest.raises(ValueError, match="repeats"):
        run_sweep(tiny_faces, "b", repeats=0)


def _folder(tmp_path):
    faces, _ = datasets.orl_faces()
    root = tmp_path / "mine"
    (root / "a").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(faces[i * 10]).save(root / "a" / f"{i}.png")
    Image.fromarray(datasets.photos()["astronaut"][:120, :100]).save(root / "rgb.jpg")
    return root


def test_cli_sweep_on_a_folder(tmp_path):
    root = _folder(tmp_path)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "sweep",
            "--data",
            str(root),
            "--vary",
            "eps",
            "--values",
            "0.5,5",
            "--method",
            "dp-pix",
            "--method",
            "np-pix",
            "--seed",
            "2",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    with open(out / "mine_eps.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 and {r["n_images"] for r in rows} == {"4"}
    assert (out / "mine_eps.png").stat().st_size > 10_000
    info = json.loads((out / "mine_eps.json").read_text())
    assert info["n_images"] == 4 and info["seed"] == 2
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    redraw = CliRunner().invoke(
        app, ["eval", "plot", str(out / "mine_eps.csv"), "-o", str(tmp_path / "again.png")]
    )
    assert redraw.exit_code == 0 and (tmp_path / "again.png").exists()


def test_cli_sweep_gray_folder(tmp_path):
    root = _folder(tmp_path)
    ds = load_dataset("mine", data_dir=root, gray=True, sample=2, seed=0)
    assert len(ds.images) == 2 and all(x.ndim == 2 for x in ds.images)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--vary", "b"], "exactly one"),
        (["--vary", "b", "--dataset", "faces", "--data", "."], "exactly one"),
        (["--vary", "b", "--dataset", "faces", "--values", "2,x"], "comma-separated"),
        (["--vary", "m", "--dataset", "faces", "--values", "1.5"], "integers"),
        (["--vary", "b", "--dataset", "faces", "--sample", "0"], "--sample"),
        (["--vary", "b", "--data", "/no/such/dir"], "not a directory"),
    ],
)
def test_cli_sweep_bad_arguments(tmp_path, args, message):
    result = CliRunner().invoke(app, ["eval", "sweep", "-o", str(tmp_path / "o"), *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.needs_vtest
def test_street_dataset_and_tiny_sweep():
    ds = load_dataset("street", sample=2)
    assert len(ds.images) == 2 and ds.images[0].shape == (576, 768)
    assert "every 397th" in ds.description
    rows = run_sweep(ds, "b", values=(16,), methods=("np-pix", "dp-pix"))
    assert rows[1]["mse"] > rows[0]["mse"] > 0
    assert rows[1]["mse_pred_clip"] == pytest.approx(rows[1]["mse"], rel=0.15)


def test_prediction_accuracy_table(tiny_faces, tmp_path):
    rows = run_sweep(tiny_faces, "eps", values=(0.1, 5.0), methods=("np-pix", "dp-pix"))
    path = write_csv(rows, tmp_path / "s.csv")
    result = CliRunner().invoke(app, ["eval", "accuracy", str(path)])
    assert result.exit_code == 0, result.output
    table = result.stdout
    assert table.count("| faces | dp-pix |") == 2 and "np-pix" not in table
    from dpimage.eval.report import prediction_accuracy

    acc = prediction_accuracy(read_csv(path))
    low, high = sorted(acc["rows"], key=lambda e: e["value"])
    assert high["p_clip"] < low["p_clip"]  # more noise, more clipping
    assert abs(high["clip"]) < 0.15 and low["no_clip"] > 1.0  # no-clip formula breaks at 0.1
    bad = CliRunner().invoke(app, ["eval", "accuracy", str(tmp_path / "none.csv")])
    assert bad.exit_code == 1


def test_prediction_accuracy_skips_renderers_without_a_closed_form(tiny_faces, tmp_path):
    # A sweep with smooth curves (as `make results` draws them): only the blocks rows have a
    # closed form, and the smooth rows' missing predictions must not enter the table or the
    # summary's worst case.
    rows = run_sweep(
        tiny_faces, "eps", values=(0.5,), methods=("dp-pix",), renders=("blocks", "smooth")
    )
    path = write_csv(rows, tmp_path / "s.csv")
    from dpimage.eval.report import prediction_accuracy

    acc = prediction_accuracy(read_csv(path))
    assert len(acc["rows"]) == 1
    assert all(math.isfinite(acc["worst"][m]["all"]) for m in ("no_clip", "clip"))
    result = CliRunner().invoke(app, ["eval", "accuracy", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("| faces | dp-pix |") == 1 and "+nan%" not in result.stdout


def test_cli_sweep_render_adds_smooth_curves(tmp_path):
    root = _folder(tmp_path)
    out = tmp_path / "out"
    args = ["eval", "sweep", "--data", str(root), "--vary", "eps", "--values", "0.5",
            "--method", "pix", "--method", "dp-blur", "--method", "np-pix", "--render", "smooth",
            "--seed", "1", "-o", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    with open(out / "mine_eps.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    curves = sorted((r["method"], r["render"]) for r in rows)
    assert curves == [
        ("dp-blur", "blocks"), ("dp-blur", "smooth"), ("dp-pix", "blocks"), ("dp-pix", "smooth"),
        ("np-pix", "blocks"),
    ]  # fmt: skip
    mse = {(r["method"], r["render"]): float(r["mse"]) for r in rows}
    assert mse[("dp-pix", "smooth")] < mse[("dp-pix", "blocks")]  # same noise, smoothed
    assert (out / "mine_eps.png").stat().st_size > 10_000
    bad = CliRunner().invoke(app, [*args[:-2], "-o", str(tmp_path / "x"), "--render", "blur"])
    assert bad.exit_code == 2 and "--render" in bad.output
