"""The re-identification attack: protocol, accounting, and a CNN that really learns faces."""

import csv

import numpy as np
import pytest

from dpimage import cell_noise_scale, datasets, dp_pix
from dpimage.attack import (
    LabelledData,
    Method,
    averaging_cost,
    confusion_summary,
    identity_bound,
    method_rng,
    nearest_neighbour_accuracy,
    noise_free,
    obfuscate,
    paper_methods,
    pixel_distances,
    split_for_seed,
    stratified_split,
    template_attack,
)

# --- protocol: splits -------------------------------------------------------


def test_faces_split_is_the_papers_8_train_2_test(faces):
    _, labels = faces
    rng = np.random.default_rng(3)
    train, test = stratified_split(labels, 0.2, rng)
    assert len(train) == 320 and len(test) == 80
    assert np.array_equal(np.bincount(labels[test]), np.full(40, 2))
    assert np.intersect1d(train, test).size == 0
    assert np.array_equal(np.union1d(train, test), np.arange(400))
    # the validation carve-out takes one of the 8 training images per person
    tr, va = stratified_split(labels[train], 0.125, rng)
    assert np.array_equal(np.bincount(labels[train][va]), np.ones(40, dtype=int))
    assert len(tr) == 280


def test_split_depends_on_the_seed_only(faces):
    _, labels = faces
    a = stratified_split(labels, 0.2, np.random.default_rng(0))[1]
    b = stratified_split(labels, 0.2, np.random.default_rng(0))[1]
    c = stratified_split(labels, 0.2, np.random.default_rng(1))[1]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_split_keeps_singleton_classes_for_training():
    labels = np.array([0, 0, 0, 0, 0, 1])
    first, second = stratified_split(labels, 0.2, np.random.default_rng(0))
    assert 5 in first and len(second) == 1 and labels[second[0]] == 0
    with pytest.raises(ValueError, match="fraction"):
        stratified_split(labels, 1.0, np.random.default_rng(0))


# --- methods and noise ------------------------------------------------------


def test_paper_methods_are_seed_002_and_003_tables():
    labels = [m.label for m in paper_methods()]
    assert labels == [
        "clean",
        "NP-Pix b=16",
        "DP-Pix b=16 ε=0.1",
        "DP-Pix b=16 ε=0.3",
        "DP-Pix b=16 ε=0.5",
        "DP-Pix b=16 ε=1",
        "NP-Blur k=99",
        "DP-Blur b0=4 k=99 ε=0.1",
        "DP-Blur b0=4 k=99 ε=0.5",
        "DP-Blur b0=4 k=99 ε=1",
    ]
    assert all(m.m == 16 for m in paper_methods() if m.private)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kind": "sharpen"}, "method"),
        ({"kind": "dp-pix"}, "eps"),
        ({"kind": "np-pix", "eps": 1.0}, "no eps"),
    ],
)
def test_bad_methods(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Method(**kwargs)


def test_method_noise_is_reproducible_and_distinct_per_method(faces):
    images = faces[0][:4]
    a, b = Method("dp-pix", eps=0.5), Method("dp-pix", eps=1.0)
    first = obfuscate(images, a, method_rng(0, a))
    assert np.array_equal(first, obfuscate(images, a, method_rng(0, a)))
    assert not np.array_equal(first, obfuscate(images, a, method_rng(1, a)))
    assert method_rng(0, a).integers(1 << 30) != method_rng(0, b).integers(1 << 30)
    assert method_rng(0, a, 1).integers(1 << 30) != method_rng(0, a, 5).integers(1 << 30)
    # obfuscate is exactly the library mechanism, image by image
    rng = np.random.default_rng(7)
    expected = [dp_pix(im, b=16, m=16, eps=0.5, rng=rng) for im in images]
    assert np.array_equal(obfuscate(images, a, np.random.default_rng(7)), np.stack(expected))


# --- averaging: composition in action ----------------------------------------


@pytest.mark.parametrize(
    "eps, r, spent", [(0.1, 1, 0.1), (0.1, 5, 0.5), (0.1, 25, 2.5), (0.5, 25, 12.5), (1.0, 5, 5.0)]
)
def test_averaging_cost_is_r_times_eps(eps, r, spent):
    assert averaging_cost(eps, r) == pytest.approx(spent, rel=1e-15)


@pytest.mark.parametrize("eps, r", [(0.5, 0), (0.5, 2.5), (0.0, 3), (-1.0, 3)])
def test_averaging_cost_rejects_bad_input(eps, r):
    with pytest.raises(ValueError):
        averaging_cost(eps, r)


def test_averaging_divides_the_noise_variance_by_r():
    # mid-grey, so clipping at 0/255 almost never bites at eps = 2; 16 images of 256 cells:
    # 4,096 cell values, whose sample variance is within ~2.5% of the truth (one sd), so a
    # 10% tolerance fails averaging 20 releases instead of 25 (25% more variance)
    image = np.full((256, 256), 128, dtype=np.uint8)
    images = np.repeat(image[None], 16, axis=0)
    method = Method("dp-pix", eps=2.0)
    one = obfuscate(images, method, np.random.default_rng(0))[:, ::16, ::16].astype(float)
    avg = obfuscate(images, method, np.random.default_rng(1), repeats=25)[:, ::16, ::16]
    assert avg.dtype == np.float32 and avg.size == 4096
    scale = cell_noise_scale(image.shape, b=16, m=16, eps=2.0)[0, 0]  # 7.97 grey levels
    # Laplace variance 2 t^2, plus 1/12 from rounding each release to whole grey levels
    one_release = 2 * scale**2 + 1 / 12
    assert one.var() == pytest.approx(one_release, rel=0.15)
    assert avg.var() == pytest.approx(one_release / 25, rel=0.1)


def test_averaging_a_deterministic_method_is_refused(faces):
    with pytest.raises(ValueError, match="deterministic"):
        obfuscate(faces[0][:2], Method("np-pix"), np.random.default_rng(0), repeats=5)


# --- the template attack (no training) -------------------------------------------


def test_noise_free_is_the_mechanism_without_noise(faces):
    image = faces[0][0]
    method = Method("dp-pix", eps=1e6)  # noise scale 0.004 per cell sum: rounds away
    assert np.array_equal(noise_free(image, method), method.apply(image, np.random.default_rng(0)))
    blur = noise_free(image, Method("dp-blur", eps=0.5))
    from dpimage import np_blur, np_pix

    assert np.array_equal(blur, np_blur(np_pix(image, b=4), k=99))


def test_template_attack_beats_chance_on_dp_pix_and_averaging_helps(faces):
    images, labels = faces
    keep = labels < 10
    data = LabelledData("faces10", images[keep], labels[keep], [str(i) for i in range(10)])
    rows = list(template_attack(data, [Method("np-pix"), Method("dp-pix", eps=0.3)], [0, 1],
                                repeats=[1, 25]))  # fmt: skip
    acc = {(r["method"], r["repeats"], r["seed"]): r["accuracy"] for r in rows}
    assert len(rows) == 6  # NP-Pix is not averaged
    assert min(acc[("NP-Pix b=16", 1, s)] for s in (0, 1)) >= 0.9
    one = np.mean([acc[("DP-Pix b=16 ε=0.3", 1, s)] for s in (0, 1)])
    many = np.mean([acc[("DP-Pix b=16 ε=0.3", 25, s)] for s in (0, 1)])
    assert one > 0.2 and many >= 0.9 and many > one  # chance is 0.1; 25 releases cost ε = 7.5
    assert [r["eps_spent"] for r in rows if r["repeats"] == 25] == pytest.approx([7.5, 7.5])


def test_template_and_cnn_use_the_same_split(faces):
    images, labels = faces
    data = LabelledData("faces", images, labels, [str(i) for i in range(40)])
    _, y_pool, _, y_test, tr, va = split_for_seed(data, 4)
    assert len(y_pool) == 320 and len(y_test) == 80 and len(tr) == 280 and len(va) == 40
    again = split_for_seed(data, 4)
    assert np.array_equal(again[4], tr) and np.array_equal(again[3], y_test)


# --- statistics ---------------------------------------------------------------


def test_confusion_summary_flags_a_collapse():
    y = np.array([1] * 6 + [0, 2, 3, 4])
    s = confusion_summary(y, np.ones(10, dtype=int))
    assert s == {"accuracy": 0.6, "top_class": 1, "top_class_share": 1.0, "n_predicted_classes": 1}
    s = confusion_summary(y, y)
    assert s["accuracy"] == 1.0 and s["n_predicted_classes"] == 5 and s["top_class_share"] == 0.6


def test_nearest_neighbour_uses_cosine_distance():
    gallery = np.array([[1.0, 0.0], [0.0, 1.0]])
    queries = np.array([[10.0, 1.0], [0.1, 3.0]])
    assert list(nearest_neighbour_accuracy(gallery, np.array([7, 9]), queries)) == [7, 9]


# --- what the guarantee says about identity --------------------------------------


def test_pixel_distances_count_differing_positions_across_classes():
    a = np.zeros((1, 4, 4), dtype=np.uint8)
    b = a.copy()
    b[0, :2, :] = 1  # 8 pixels differ from a
    c = a.copy()
    c[0, 0, 0] = 1  # 1 pixel differs from a, 7 from b
    d = pixel_distances(np.concatenate([a, b, c]), np.array([0, 1, 0]))
    assert sorted(d.tolist()) == [7, 8]  # (a, c) are the same class: not counted


def test_identity_bound_exact_numbers():
    distances = np.array([10_000, 10_228, 10_300])
    out = identity_bound(distances, [0.1, 1.0], m=16, shape=(112, 92))
    assert out["distance"]["median"] == 10_228 and out["distance"]["min"] == 10_000
    low, high = out["rows"]
    assert low["bound_median"] == pytest.approx(0.1 * 10_228 / 16)  # 63.925
    assert low["bound_min"] == pytest.approx(62.5)
    assert low["group_bound_median"] == pytest.approx(0.1 * 640)  # ceil(10228 / 16) = 640
    assert low["noise_scale_b16"] == pytest.approx(255 * 16 / (256 * 0.1))
    assert low["m_for_bound_1"] == 1023 and high["m_for_bound_1"] == 10_228
    assert high["noise_scale_b16_for_bound_1"] == pytest.approx(255 * 10_228 / 256)
    assert high["noise_scale_one_cell_for_bound_1"] == pytest.approx(255 * 10_228 / (112 * 92))


def test_att_faces_are_thousands_of_pixels_apart(faces):
    images, labels = faces
    keep = np.arange(0, 400, 5)  # 2 images per person
    d = pixel_distances(images[keep], labels[keep])
    assert d.size == 80 * 78 // 2
    assert np.median(d) > 9000  # of 10,304: far beyond m = 16


# --- the CNN really learns (needs the torch extra) ---------------------------------


def _clean_split(faces, people, half=False):
    import cv2

    images, labels = faces
    keep = labels < people
    x, y = images[keep], labels[keep]
    if half:  # the tiny configuration: 56 x 46 faces, a quarter of the compute
        x = np.stack([cv2.resize(im, (46, 56), interpolation=cv2.INTER_AREA) for im in x])
    rng = np.random.default_rng(0)
    pool, test = stratified_split(y, 0.2, rng)
    tr, va = stratified_split(y[pool], 0.125, rng)
    return x[pool][tr], y[pool][tr], x[pool][va], y[pool][va], x[test], y[test]


def test_face_cnn_reidentifies_clean_faces_well_above_chance(faces):
    pytest.importorskip("torch")
    from dpimage.attack.train import TrainConfig, embed, predict, train_classifier

    # 10 people, 7 training faces each, at half resolution; the real network
    xt, yt, xv, yv, xs, ys = _clean_split(faces, people=10, half=True)
    config = TrainConfig(max_epochs=10, min_epochs=10, patience=10, batch_size=8, threads=1)
    trained = train_classifier("face", xt, yt, xv, yv, 10, config=config, seed=0)
    accuracy = np.mean(predict(trained, xs).argmax(1) == ys)
    assert accuracy >= 0.7  # chance is 0.1
    assert trained.epochs_run == 10 and 1 <= trained.best_epoch <= 10
    assert embed(trained, xs[:3]).shape == (3, 1024)


def test_early_stopping_keeps_the_best_epoch(faces):
    pytest.importorskip("torch")
    from dpimage.attack.train import TrainConfig, train_classifier

    xt, yt, xv, yv, _, _ = _clean_split(faces, people=4, half=True)
    config = TrainConfig(max_epochs=6, min_epochs=1, patience=1, batch_size=16, threads=1)
    trained = train_classifier("face", xt, yt, xv, yv, 4, config=config, seed=1)
    history = trained.history
    assert len(history) == trained.epochs_run <= 6
    best = max(h["val_acc"] for h in history)
    assert trained.best_val_accuracy == best
    assert history[trained.best_epoch - 1]["val_acc"] == best


def test_digit_cnn_learns_mnist_digits():
    pytest.importorskip("torch")
    from dpimage.attack.train import TrainConfig, predict, train_classifier

    x, y = datasets.mnist("test")
    rng = np.random.default_rng(0)
    rest, train = stratified_split(y, 0.06, rng)  # 600 training digits
    val, test = rest[:300], rest[300:1300]
    config = TrainConfig(max_epochs=3, min_epochs=3, batch_size=16, threads=1)
    trained = train_classifier("digit", x[train], y[train], x[val], y[val], 10, config=config)
    assert np.mean(predict(trained, x[test]).argmax(1) == y[test]) >= 0.8


ALL_METHODS = ("dp-pix", "none", "np-pix")


@pytest.mark.parametrize(
    "people, epochs, kinds",
    [
        # fast: 3 runs (one of the four skipped), the same checks
        pytest.param(4, 1, ("dp-pix", "np-pix"), id="4-people-2-methods"),
        pytest.param(6, 2, ALL_METHODS, id="6-people-3-methods", marks=pytest.mark.slow),
    ],
)
def test_parallel_jobs_give_the_same_rows_as_one_process(faces, people, epochs, kinds):
    pytest.importorskip("torch")
    from dpimage.attack import run_attack
    from dpimage.attack.train import TrainConfig

    images, labels = faces
    keep = labels < people
    data = LabelledData(
        f"faces-{people}",
        images[keep][:, ::2, ::2].copy(),
        labels[keep],
        [str(i) for i in range(people)],
    )
    methods = [Method(kind, eps=1.0) if kind == "dp-pix" else Method(kind) for kind in kinds]
    config = TrainConfig(max_epochs=epochs, min_epochs=epochs, batch_size=8, threads=1)
    skip = lambda key: key["method"] == "NP-Pix b=16" and key["seed"] == 1  # noqa: E731

    def rows(jobs):
        out = run_attack(
            data, methods, [0, 1], model="face", config=config, skip=skip, jobs=jobs
        )
        timing = ("train_seconds", "obfuscate_seconds")
        return sorted(
            tuple((k, v) for k, v in row.items() if k not in timing) for row in out
        )

    serial, parallel = rows(1), rows(2)
    assert parallel == serial
    # 2 seeds per method, one run skipped; each run a CNN row and two nearest-neighbour rows
    assert len(serial) == 3 * (2 * len(methods) - 1)
    assert {dict(r)["attack"] for r in serial} == {"cnn", "nn-embed", "nn-embed-clean"}


def test_bad_training_config():
    from dpimage.attack.train import TrainConfig

    with pytest.raises(ValueError, match="patience"):
        TrainConfig(patience=0)
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=0.0)


# --- command line ------------------------------------------------------------------


def _folder(tmp_path, faces, people=3, shots=6):
    from PIL import Image

    images, labels = faces
    root = tmp_path / "people"
    for p in range(people):
        (root / f"person{p}").mkdir(parents=True)
        for i in range(shots):
            Image.fromarray(images[labels == p][i]).save(root / f"person{p}" / f"{i}.png")
    return root


def test_cli_attacks_a_labelled_folder(tmp_path, faces):
    pytest.importorskip("torch")
    from typer.testing import CliRunner

    from dpimage.cli import app

    root = _folder(tmp_path, faces)
    before = sorted(p.read_bytes() for p in root.rglob("*.png"))
    out = tmp_path / "out"
    args = ["eval", "attack", "--data", str(root), "--method", "none", "--method", "dp-pix",
            "--eps", "1", "--seeds", "0", "--repeats", "1,3", "--max-epochs", "1",
            "-o", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for name in ("attack_runs.csv", "attack_summary.csv", "attack.md", "attack.png"):
        assert (out / name).stat().st_size > 0
    with (out / "attack_runs.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    runs = {(r["method"], r["repeats"], r["attack"]) for r in rows}
    assert ("DP-Pix b=16 ε=1", "3", "cnn") in runs and ("clean", "3", "cnn") not in runs
    spent = {r["repeats"]: float(r["eps_spent"]) for r in rows if r["kind"] == "dp-pix"}
    assert spent == {"1": 1.0, "3": 3.0}
    assert {r["n_test"] for r in rows} == {"3"}  # round(0.2 * 6) = 1 per person
    assert sorted(p.read_bytes() for p in root.rglob("*.png")) == before  # inputs untouched

    # a second run refuses to clobber the results; --resume adds nothing new
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1 and "--resume" in again.output
    resumed = CliRunner().invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0
    with (out / "attack_runs.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == len(rows)


def test_cli_bad_folder_is_one_line_error(tmp_path):
    pytest.importorskip("torch")
    from typer.testing import CliRunner

    from dpimage.cli import app

    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["eval", "attack", "--data", str(tmp_path / "empty"),
                                      "-o", str(tmp_path / "o")])  # fmt: skip
    assert result.exit_code != 0
    assert "no class subfolders" in result.output
    assert not (tmp_path / "o").exists()


def test_cli_identity_bound_on_faces(faces):  # faces: skips without the AT&T set
    from typer.testing import CliRunner

    from dpimage.cli import app

    result = CliRunner().invoke(app, ["eval", "identity-bound", "--eps", "0.5"])
    assert result.exit_code == 0, result.output
    assert "median 10228" in result.output
    assert "| 0.5 | 31.9 |" in result.output


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["-k", "4"], 2, "k must be odd"),
        (["--method", "dp-pix", "--eps", "-1"], 2, "eps"),
        (["--resume", "--overwrite"], 2, "exclude each other"),
        (["--report-only"], 1, "does not exist"),
    ],
)
def test_cli_bad_options_fail_before_any_work(tmp_path, args, code, message):
    from typer.testing import CliRunner

    from dpimage.cli import app

    out = tmp_path / "o"
    result = CliRunner().invoke(app, ["eval", "attack", "--template", "-o", str(out), *args])
    assert result.exit_code == code, result.output
    assert message in result.output
    assert not out.exists()


def test_attack_methods_from_options():
    from dpimage.attack.experiment import attack_methods

    labels = [m.label for m in attack_methods(["dp_pix", "none", "dp-pix"], [0.5, 1])]
    assert labels == ["DP-Pix b=16 ε=0.5", "DP-Pix b=16 ε=1", "clean"]
    assert len(attack_methods()) == 10  # clean + the 9 of the papers' tables
    default_eps = [m.label for m in attack_methods(eps=[2.0]) if m.private]
    assert default_eps == ["DP-Pix b=16 ε=2", "DP-Blur b0=4 k=99 ε=2"]
    with pytest.raises(ValueError, match="unknown method"):
        attack_methods(["sharpen"])
