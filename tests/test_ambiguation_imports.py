"""What ``dpimage.ambiguation`` imports: no PyTorch for its NumPy parts.

Fast: no model is trained. The subprocesses start a fresh interpreter so
that what the test process already imported does not count.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_numpy_parts_do_not_import_torch(tmp_path):
    """Keys and files, the fake generators' NumPy parts, the data preparation, the
    attacks module and the research fakes all import, and keys round-trip,
    without PyTorch being imported."""
    result = _run(
        f"""
        import sys
        import numpy as np
        import dpimage.ambiguation as amb
        import dpimage.ambiguation.keys, dpimage.ambiguation.mixture, dpimage.ambiguation.decoy
        import dpimage.ambiguation.data, dpimage.ambiguation.stats, dpimage.ambiguation.attacks
        import dpimage.ambiguation.intervals, dpimage.ambiguation.research
        published = np.zeros((2, 8), np.float32)
        published[:, :4] = 1.0
        mask = np.zeros((2, 8), bool)
        mask[:, :2] = True
        key = amb.make_key(published, mask, bytes(16), "0" * 32)
        amb.write_key(key, {str(tmp_path / "k.dpkey")!r})
        assert (amb.read_key({str(tmp_path / "k.dpkey")!r}).bits == key.bits).all()
        amb.random_guess(published, 2, rng=0)
        stats = amb.ValueStats(np.full((2, 8), 0.5), np.ones((2, 8, 3)))
        dpimage.ambiguation.research.ambiguate_resample(published, 6, stats, rng=0)
        assert "torch" not in sys.modules, "torch was imported"
        print("ok")
        """
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


def test_missing_torch_names_the_extra():
    """Without PyTorch, the NumPy parts still work and the parts that need it
    fail on use with one message naming ``pip install 'dpimage[ambiguation]'``."""
    result = _run(
        """
        import sys
        sys.modules["torch"] = None  # as if not installed
        import dpimage.ambiguation as amb
        from dpimage.ambiguation import make_key, ambiguate_mixture
        for attempt in (lambda: amb.load_model, lambda: __import__("dpimage.ambiguation.model")):
            try:
                attempt()
            except ImportError as exc:
                assert "pip install 'dpimage[ambiguation]'" in str(exc), str(exc)
            else:
                raise AssertionError("no ImportError")
        print("ok")
        """
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


def test_cli_without_torch_is_one_line(tmp_path):
    result = _run(
        f"""
        import sys
        sys.modules["torch"] = None
        from typer.testing import CliRunner
        from dpimage.cli import app
        r = CliRunner().invoke(app, ["ambiguate", "decode", "x.dpamb", "-m", "m", "-o",
                                     {str(tmp_path / "x.png")!r}])
        assert r.exit_code == 1, r.output
        assert "dpimage[ambiguation]" in r.output and "Traceback" not in r.output, r.output
        print("ok")
        """
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr



def test_evaluation_metrics_are_dpimage_metrics():
    """The research evaluation's PSNR is the old formula's number and its
    SSIM scikit-image's, to 1e-12 (other code paths: never compared exactly)."""
    pytest.importorskip("torch")
    skimage_metrics = pytest.importorskip("skimage.metrics")
    from dpimage.ambiguation.research import evaluate
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.random((32, 32))
        b = np.clip(a + 0.05 * rng.standard_normal(a.shape), -0.1, 1.1)
        a8, b8 = np.rint(np.clip(a, 0, 1) * 255), np.rint(np.clip(b, 0, 1) * 255)
        old = 10.0 * np.log10(255.0**2 / float(np.mean((a8 - b8) ** 2)))
        assert evaluate.psnr(a, b) == pytest.approx(old, rel=1e-12)  # log10 of another library
        old_ssim = skimage_metrics.structural_similarity(
            a8.astype(np.uint8), b8.astype(np.uint8), data_range=255
        )
        assert evaluate.ssim(a, b) == pytest.approx(old_ssim, abs=1e-12)
    assert evaluate.psnr(a, a) == float("inf")
