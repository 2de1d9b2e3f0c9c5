"""The reversal attack: the adversary's model of each method, and what reversing it gains."""

import csv

import cv2
import numpy as np
import pytest

from conftest import run
from dpimage.attack import Method, method_rng, noise_free, obfuscate
from dpimage.metrics import psnr
from dpimage.render.blur import gaussian_blur

torch = pytest.importorskip("torch")

from dpimage.attack.reversal import (  # noqa: E402 - needs torch, skipped above without it
    blur_matrix,
    forward_model,
    reflect101_index,
    reverse,
)


def _shapes_image(shape=(48, 40), seed=3):
    """Flat shapes with sharp edges and a little texture: what blur hides and reversal restores."""
    rng = np.random.default_rng(seed)
    h, w = shape
    image = np.full(shape, 90.0)
    for _ in range(8):
        y, x = rng.integers(0, h - 6), rng.integers(0, w - 6)
        image[y : y + rng.integers(4, 16), x : x + rng.integers(4, 16)] = rng.integers(0, 256)
    image += rng.normal(0, 4, shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _model_output(method, image):
    with torch.no_grad():
        x = torch.tensor(image[None].astype(np.float32))
        return forward_model(method, image.shape)(x)[0].numpy()


def test_reflect101_matches_opencv_border_even_beyond_the_image():
    for n, pad in ((7, 3), (5, 12), (1, 4), (2, 5)):
        row = np.arange(n, dtype=np.float32)[None]
        want = cv2.copyMakeBorder(row, 0, 0, pad, pad, cv2.BORDER_REFLECT_101)[0]
        assert np.array_equal(reflect101_index(n, pad), want.astype(int)), (n, pad)


@pytest.mark.parametrize("k", [5, 25, 99])
def test_blur_model_matches_opencv_to_within_rounding(k):
    # 37 x 53 with k = 99 folds the kernel (k // 2 > both sides); dpimage's np_blur as reference
    image = np.random.default_rng(k).integers(0, 256, (37, 53), dtype=np.uint8)
    method = Method("np-blur", k=k)
    modelled = _model_output(method, image)
    exact = np.rint(gaussian_blur(image.astype(np.float64), k, 0.0))  # OpenCV, in float64
    assert np.abs(modelled - exact).max() <= 1  # only float32 ties at .5 may differ
    assert np.mean(modelled != exact) < 0.01
    # OpenCV's 8-bit path rounds its fixed-point taps: within 2 grey levels of the exact blur
    library = method.apply(image, None)
    assert np.abs(modelled - library.astype(np.float64)).max() <= 2
    assert np.mean(modelled != library) < 0.35


def test_blur_matrix_rows_are_the_kernel():
    m = blur_matrix(30, 9, 2.0)
    assert np.allclose(m.sum(axis=1), 1.0)
    taps = cv2.getGaussianKernel(9, 2.0, ktype=cv2.CV_64F).ravel()
    assert np.allclose(m[15, 11:20], taps)  # an interior row: the kernel, centred


@pytest.mark.parametrize(
    "method",
    [Method("np-pix", b=8), Method("dp-pix", eps=0.5, b=8), Method("dp-blur", eps=0.5, b0=4, k=9)],
    ids=lambda m: m.label,
)
def test_pix_models_are_the_noise_free_method(method):
    image = np.random.default_rng(1).integers(0, 256, (37, 53), dtype=np.uint8)
    modelled = _model_output(method, image)
    diff = np.abs(modelled - noise_free(image, method).astype(np.float64))
    assert diff.max() <= (1 if method.kind == "dp-blur" else 0)


def test_reversal_undoes_np_blur_but_not_dp_pix():
    image = _shapes_image()
    images = image[None]
    blur = Method("np-blur", k=9)
    blurred = obfuscate(images, blur, method_rng(0, blur))
    recovered = reverse(blurred, blur, steps=300)
    before, after = psnr(image, blurred[0]), psnr(image, recovered[0])
    assert after > before + 4, (before, after)

    pix = Method("dp-pix", eps=0.5, b=8)
    released = obfuscate(images, pix, method_rng(0, pix))
    guess = reverse(released, pix, steps=100)
    # the noise is unknown: the reconstruction is as far from the image as the release
    assert psnr(image, guess[0]) < psnr(image, released[0]) + 1.5
    assert psnr(image, guess[0]) < after - 8


def test_reverse_refuses_bad_arguments():
    with pytest.raises(ValueError, match="steps"):
        reverse(np.zeros((1, 8, 8), np.uint8), Method("np-blur", k=3), steps=0)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        reverse(np.zeros((8, 8), np.uint8), Method("np-blur", k=3))


def test_cli_reversal_writes_scores_and_pictures(tmp_path, faces):
    from PIL import Image

    images, labels = faces
    root = tmp_path / "people"
    for p in range(3):
        (root / f"p{p}").mkdir(parents=True)
        for i in range(5):
            Image.fromarray(images[labels == p][i][::2, ::2]).save(root / f"p{p}" / f"{i}.png")
    out = tmp_path / "out"
    args = ["eval", "attack", "--reversal", "--data", root, "--method", "np-blur", "-k", "5",
            "--method", "dp-pix", "-b", "8", "--eps", "1", "--reversal-steps", "20",
            "--no-embedding", "--threads", "1", "--seeds", "0,1", "-o", out]  # fmt: skip
    result = run(*args)
    assert result.exit_code == 0, result.output
    with (out / "reversal_runs.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    # every seed given is run (the first used to be run alone, silently)
    assert [(r["seed"], r["method"]) for r in rows] == [
        (seed, method) for seed in "01" for method in ("NP-Blur k=5", "DP-Pix b=8 ε=1")
    ]
    assert all(r["n_images"] == "3" for r in rows)  # one test face per person
    assert all(0 <= float(r["template_recon_accuracy"]) <= 1 for r in rows)
    assert cv2.imread(str(out / "reversal_0.png")).shape[0] > 56
    report = (out / "reversal.md").read_text()
    assert "Means over seeds 0, 1" in report and "(3 images × 2 seeds)" in report
    blur = [float(r["psnr_reconstruction"]) for r in rows if r["method"] == "NP-Blur k=5"]
    assert "| NP-Blur k=5 | " in report and f"→ {np.mean(blur):.2f} |" in report

    again = run(*args)  # one output belongs to one run: no silent overwrite
    assert again.exit_code == 1 and "--overwrite" in again.output


def test_cli_reversal_options_are_checked():
    assert run("eval", "attack", "--street-frame", "0").exit_code == 2
    assert run("eval", "attack", "--reversal", "--template").exit_code == 2
    assert run("eval", "attack", "--reversal", "--method", "none").exit_code == 2


@pytest.mark.slow
def test_reversal_on_forty_faces_gains_on_np_blur_only(faces):
    """The documented run's PSNR findings without the CNN (docs/results/attacks.md)."""
    from dpimage.attack import LabelledData
    from dpimage.attack.reversal import reversal_attack

    images, labels = faces
    data = LabelledData("AT&T faces", images, labels, [f"s{p + 1}" for p in range(40)])
    methods = [Method("np-blur", k=99), Method("dp-pix", eps=0.5), Method("dp-blur", eps=0.5)]
    rows = {r["kind"]: r for r in reversal_attack(data, methods, n_images=40).rows}
    gain = {kind: r["psnr_reconstruction"] - r["psnr_release"] for kind, r in rows.items()}
    assert gain["np-blur"] > 1.5 and gain["dp-pix"] < 0.5 and gain["dp-blur"] < 0.5, gain
    assert rows["np-blur"]["template_recon_accuracy"] > 0.8
