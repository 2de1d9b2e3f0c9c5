"""People counting on releases: the area counter on a synthetic street, and on PETS-2009 frames."""


import numpy as np
import pytest
from typer.testing import CliRunner

from dpimage import datasets
from dpimage.cli import app
from dpimage.eval import counting, counting_experiment


def _street(n=60, seed=0, shape=(96, 128)):
    """A textured static scene with 0-6 dark 8x20 'people' at random places; their counts."""
    rng = np.random.default_rng(seed)
    scene = rng.integers(120, 200, shape).astype(np.uint8)
    frames, counts = [], []
    for _ in range(n):
        frame = scene.copy()
        k = int(rng.integers(0, 7))
        for _ in range(k):
            y, x = int(rng.integers(0, shape[0] - 20)), int(rng.integers(0, shape[1] - 8))
            frame[y : y + 20, x : x + 8] = 20
        frames.append(frame)
        counts.append(k)
    return np.stack(frames), np.array(counts, float)


def test_background_is_the_static_scene():
    frames, _ = _street()
    bg = counting.background(frames)
    scene = frames[np.argmin(_street()[1])]  # a frame with nobody (count 0) if any
    assert np.mean(np.abs(bg - scene) > 1) < 0.05
    with pytest.raises(ValueError, match="frames"):
        counting.background(np.zeros((4, 4)))


def test_features_grow_with_the_number_of_people():
    frames, counts = _street()
    feats = counting.foreground_features(frames, counting.background(frames), (0.0, 32.0), 2)
    assert feats.shape == (len(frames), 2, 2)
    area = feats[:, 1, :].sum(axis=1)
    assert np.corrcoef(area, counts)[0, 1] > 0.9
    with pytest.raises(ValueError, match="bands"):
        counting.foreground_features(frames, counting.background(frames), (0.0,), 1000)


def test_counter_on_originals_and_on_releases():
    frames, counts = _street(n=80)
    calibration = counting.calibration_frames(len(frames), "blocks", 10)
    rows = counting_experiment.count_experiment(
        frames, counts, calibration, methods=["none", "dp-pix"], eps=[0.5, 50.0], seeds=[0],
        params={"b": 8, "m": 8},
    )  # fmt: skip
    s = {(r["method"], r["eps"]): r for r in counting_experiment.summarise_counts(rows)}
    assert s[("none", "")]["frames"] == int((~calibration).sum())
    constant = s[("constant", "")]["mae"]
    assert s[("none", "")]["mae"] < 0.5 < constant  # the counter works on clean frames
    assert s[("dp-pix", 50.0)]["mae"] < 0.5 * constant  # and on a weakly noisy release
    # more noise, more error (up to the constant's, never much beyond it)
    assert s[("dp-pix", 0.5)]["mae"] > s[("dp-pix", 50.0)]["mae"]
    text = counting_experiment.summary_markdown(list(s.values()), frames=80, step=1)
    assert "| DP-Pix blocks |" in text and "constant" in text


def test_blocks_and_smooth_share_one_release():
    frames, _ = _street(n=4)
    a = counting_experiment._releases(frames, "dp-pix", 0.5, 0, 0, {"b": 8, "m": 8})
    b = counting_experiment._releases(frames, "dp-pix-smooth", 0.5, 0, 0, {"b": 8, "m": 8})
    # the smooth render of the same noisy means stays near the block values
    assert not np.array_equal(a, b)
    assert np.abs(a.astype(float).mean() - b.astype(float).mean()) < 5


def test_reference_count_keeps_boxes_over_moving_pixels():
    frames, _ = _street(n=30, seed=2)

    def detector(frame):  # a box on a person-free corner and one on the whole frame
        return [(0, 0, 8, 8), (0, 0, frame.shape[1], frame.shape[0])]

    assert list(counting.hog_counts(frames[:2], detector, min_foreground=None)) == [2.0, 2.0]
    kept = counting.hog_counts(frames, detector, min_foreground=0.5)
    assert kept.max() <= 1  # the whole-frame box is mostly static: dropped in every frame



def test_calibration_frames():
    mask = counting.calibration_frames(40, "blocks", 10)
    assert mask[:10].all() and not mask[10:20].any() and mask[20:30].all()
    assert counting.calibration_frames(10, "halves").sum() == 5
    with pytest.raises(ValueError, match="split"):
        counting.calibration_frames(10, "random")


def test_cli_count_bad_options(tmp_path):
    out = tmp_path / "o"
    for args, message in [(["--split", "odd"], "--split"), (["--eps", "0"], "--eps"),
                          (["--method", "sharpen"], "--method")]:  # fmt: skip
        result = CliRunner().invoke(app, ["eval", "count", "-o", str(out), *args])
        assert result.exit_code == 2, result.output
        assert message in result.output
    assert not out.exists()


@pytest.mark.needs_vtest
def test_counting_on_a_few_street_frames():
    frames = datasets.street_frames(step=40)  # present: conftest skips needs_vtest without it
    truth = counting.hog_counts(frames)
    assert 2 <= truth.mean() <= 10  # a handful of people walk through the scene
    rows = counting_experiment.count_experiment(
        frames, truth, counting.calibration_frames(len(frames), "blocks", 5),
        methods=["none", "dp-pix-smooth"], eps=[1.0], seeds=[0],
    )  # fmt: skip
    s = {(r["method"], r["eps"]): r for r in counting_experiment.summarise_counts(rows)}
    assert s[("dp-pix-smooth", 1.0)]["mae"] < 4 and s[("none", "")]["mae"] < 4
