"""Batches at scale: process pool, Dask cluster, journal, resumable runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import make_images
from dpimage.batch import (
    ReleaseParams,
    Result,
    _ordered,
    journal_path,
    process_one,
    read_journal,
    remove_stale_temporaries,
    run_jobs,
    start_journal,
)
from dpimage.cli import app
from dpimage.io import Job, merge_manifests, plan_outputs, read_manifest
from dpimage.io.manifest import build_manifest

MANIFEST = "dpimage-manifest.json"


def params(**kw) -> ReleaseParams:
    base = {
        "mechanism": "dp_pix",
        "options": {"b": 8, "m": 4, "eps": 0.5, "output": "blocks"},
        "eps": 0.5,
        "seed": 7,
    }
    base.update(kw)
    return ReleaseParams(**base)


def temporaries(files: dict[str, bytes]) -> list[str]:
    """Temporary files a killed worker left (hidden ``.dpimage-*.tmp``, never outputs)."""
    return [name for name in files if Path(name).name.startswith(".dpimage-")]


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def run_cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


# ---------------------------------------------------------------------------
# process_one and run_jobs
# ---------------------------------------------------------------------------


def test_process_one_statuses(tmp_path):
    (source,) = make_images(tmp_path / "in", 1)
    before = source.read_bytes()
    job = Job(source=source, target=tmp_path / "out" / "a.jpg", name="a.jpg")
    first = process_one(job, params(), index=3)
    assert first == Result(3, "a.jpg", "written", 0.5, ())
    assert job.target.is_file() and source.read_bytes() == before
    again = process_one(job, params(), index=3)
    assert again.status == "exists" and again.eps == 0
    assert "already exists" in again.messages[0][1]
    broken = tmp_path / "in" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    bad = process_one(Job(broken, tmp_path / "out" / "b.jpg", "b.jpg"), params())
    assert bad.status == "failed" and bad.messages[0][0] == "error"
    assert str(broken) in bad.messages[0][1]
    assert not (tmp_path / "out" / "b.jpg").exists()


def test_params_reject_unknown_mechanism():
    with pytest.raises(ValueError, match="unknown mechanism"):
        ReleaseParams(mechanism="np_pix", options={}, eps=1.0)


@pytest.mark.parametrize("workers", [1, 2])
def test_run_jobs_in_order_and_same_files_for_any_worker_count(tmp_path, workers):
    make_images(tmp_path / "in", 14)
    (tmp_path / "in" / "zz-broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    reference = tmp_path / "ref"
    plan = plan_outputs([tmp_path / "in"], reference)
    serial = list(run_jobs(plan.jobs, params(), workers=1))
    plan_w = plan_outputs([tmp_path / "in"], tmp_path / "w")
    parallel = list(run_jobs(iter(plan_w.jobs), params(), workers=workers, window=3))
    assert [r.index for r in parallel] == list(range(len(plan_w.jobs)))
    assert [(r.name, r.status) for r in parallel] == [(r.name, r.status) for r in serial]
    assert [r.status for r in parallel].count("failed") == 1
    assert tree(tmp_path / "w") == tree(reference)  # seeded: identical bytes
    # Rerun: everything already there is skipped, nothing is rewritten.
    again = list(run_jobs(plan_w.jobs, params(), workers=workers))
    assert [r.status for r in again].count("skipped") == 14
    assert [r.status for r in again].count("failed") == 1


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_pool_worker_killed_mid_run(tmp_path):
    """SIGKILL one worker of the local pool: the pool is rebuilt, nothing lost or doubled."""
    from multiprocessing import forkserver

    make_images(tmp_path / "in", 24, size=(240, 320))
    blur = {"mechanism": "dp_blur", "options": {"b0": 4, "k": 31, "sigma": None, "m": 4, "eps": 1}}
    reference = tmp_path / "ref"
    list(run_jobs(plan_outputs([tmp_path / "in"], reference).jobs, params(**blur)))
    plan = plan_outputs([tmp_path / "in"], tmp_path / "out")
    results, killed = [], None
    for result in run_jobs(plan.jobs, params(**blur), workers=2, window=6):
        results.append(result)
        if len(results) == 3:
            server = forkserver._forkserver._forkserver_pid
            killed = _children(server)[0]
            os.kill(killed, signal.SIGKILL)
    assert killed is not None
    assert [r.index for r in results] == list(range(24))
    assert [r.status for r in results] == ["written"] * 24, [r.messages for r in results]
    # A killed worker breaks the pool, which stops both workers, possibly
    # mid-write: their temporary files (never output names) stay until the
    # next run clears them; every output is complete and correct.
    written = tree(tmp_path / "out")
    leftovers = temporaries(written)
    assert all(name.endswith(".tmp") for name in leftovers) and len(leftovers) <= 2
    assert {k: v for k, v in written.items() if k not in leftovers} == tree(reference)
    later = time.time() + 1
    assert remove_stale_temporaries(
        {p.parent for p in (tmp_path / "out").rglob("*")}, later
    ) == len(leftovers)
    assert tree(tmp_path / "out") == tree(reference)


def test_run_jobs_rejects_bad_worker_count(tmp_path):
    with pytest.raises(ValueError, match="workers"):
        list(run_jobs([], params(), workers=0))
    with pytest.raises(ValueError, match="chunk"):
        list(run_jobs([], params(), chunk=0))


@pytest.mark.parametrize("chunk", [1, 3, 8])
@pytest.mark.parametrize("window", [1, 4, 9, 100])
def test_ordered_groups_keep_input_order_and_the_window(chunk, window):
    # Skipped results interleave with jobs; groups finish in reverse order.
    def item(i):
        if i % 5 == 2:
            return Result(i, str(i), "skipped")
        return i, Job(Path(str(i)), Path(f"o{i}"), str(i))

    items = [item(i) for i in range(40)]
    running: list[list[tuple[int, Job]]] = []
    in_flight = {"jobs": 0, "max": 0}

    def submit(group):
        assert 1 <= len(group) <= chunk
        running.append(group)
        in_flight["jobs"] += len(group)
        in_flight["max"] = max(in_flight["max"], in_flight["jobs"])

    def wait_one():
        group = running.pop()  # the newest group first: out of order
        in_flight["jobs"] -= len(group)
        return [(index, Result(index, job.name, "written")) for index, job in group]

    out = list(_ordered(iter(items), submit, wait_one, window, chunk))
    assert [r.index for r in out] == list(range(40))
    assert [r.status for r in out] == ["skipped" if i % 5 == 2 else "written" for i in range(40)]
    assert in_flight["max"] <= window


# ---------------------------------------------------------------------------
# Journal and manifest merging
# ---------------------------------------------------------------------------


def test_journal_round_trip_ignores_torn_line(tmp_path):
    path = journal_path(tmp_path / MANIFEST)
    assert path.name == f".{MANIFEST}.journal"
    start_journal(path, {"run": "r1", "command": "pixelate", "mechanism": "dp_pix"})
    with open(path, "a", encoding="utf-8") as stream:
        stream.write('{"run": "r1", "path": "a.jpg", "epsilon": 0.5}\n')
        stream.write('{"run": "unknown", "path": "x.jpg", "epsilon": 9}\n')
        stream.write('{"run": "r1", "path": "b.j')  # killed mid-line
    (run,) = read_journal(path)
    assert run["run"] == "r1" and run["outputs"] == [("a.jpg", 0.5)]
    assert read_journal(tmp_path / "missing") == []


def _manifest(outputs, **kw):
    args = {
        "command": "pixelate",
        "mechanism": "dp_pix",
        "parameters": {"b": 8, "m": 4, "eps": 0.5, "output": "blocks"},
        "outputs": outputs,
    }
    args.update(kw)
    return build_manifest(**args)


def test_merge_same_settings_unions_outputs():
    old = _manifest([("a.jpg", 0.5), ("b.jpg", 0.5)])
    new = _manifest([("c.jpg", 0.5), ("a.jpg", 0.5)])
    merged = merge_manifests(new, old)
    assert [o["path"] for o in merged["outputs"]] == ["a.jpg", "b.jpg", "c.jpg"]
    assert merged["total_epsilon"] == pytest.approx(1.5)
    assert "previous_runs" not in merged
    assert merge_manifests(new, None) == new


def test_merge_different_settings_keeps_earlier_run():
    old = _manifest([("a.jpg", 0.5)], seed=3)
    new = _manifest([("b.jpg", 1.0)], parameters={"b": 16, "m": 4, "eps": 1.0, "output": "blocks"})
    merged = merge_manifests(new, old)
    assert [o["path"] for o in merged["outputs"]] == ["b.jpg"]
    assert merged["total_epsilon"] == 1.0
    assert len(merged["previous_runs"]) == 1
    assert merged["previous_runs"][0]["outputs"] == [{"path": "a.jpg", "epsilon": 0.5}]
    third = merge_manifests(_manifest([("c.jpg", 0.5)], seed=3), merged)
    assert len(third["previous_runs"]) == 2  # nothing dropped


def test_read_manifest_refuses_foreign_file(tmp_path):
    path = tmp_path / MANIFEST
    assert read_manifest(path) is None
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_manifest(path)


# ---------------------------------------------------------------------------
# Command line: --workers, merged manifest, kill -9 and resume
# ---------------------------------------------------------------------------


def test_cli_same_outputs_and_manifest_for_any_worker_count(tmp_path):
    make_images(tmp_path / "in", 9)
    outputs = {}
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        result = run_cli(
            "pixelate", tmp_path / "in", "-o", out, "-b", 8, "--seed", 5, "--workers", workers
        )
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("9 written, 0 skipped, 0 failed;")
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        outputs[workers] = (tree(out), manifest["outputs"], manifest["total_epsilon"])
        assert not journal_path(out / MANIFEST).exists()
    assert outputs[1] == outputs[2]


def test_cli_rerun_merges_manifest(tmp_path):
    paths = make_images(tmp_path / "in", 6)
    held = [p.rename(tmp_path / p.name) for p in paths[3:]]  # not there on the first run
    out = tmp_path / "out"
    assert run_cli("blur", tmp_path / "in", "-o", out, "--b0", 8, "-k", 9).exit_code == 0
    for original, moved in zip(paths[3:], held, strict=True):
        moved.rename(original)
    again = run_cli("blur", tmp_path / "in", "-o", out, "--b0", 8, "-k", 9)
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("3 written, 3 skipped, 0 failed;")
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert len(manifest["outputs"]) == 6
    assert manifest["total_epsilon"] == pytest.approx(3.0)
    assert sorted(o["path"] for o in manifest["outputs"]) == sorted(tree(out))


def test_cli_parallel_option_errors(tmp_path):
    make_images(tmp_path / "in", 1)
    both = run_cli("pixelate", tmp_path / "in", "-o", tmp_path / "o", "--dask", "--scheduler", "x")
    assert both.exit_code == 2 and "--scheduler" in both.stderr
    zero = run_cli("pixelate", tmp_path / "in", "-o", tmp_path / "o", "--workers", 0)
    assert zero.exit_code == 2
    assert not (tmp_path / "o").exists()


def _dpimage_cmd(*args) -> list[str]:
    return [sys.executable, "-c", "from dpimage.cli import main; main()", *map(str, args)]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_interrupted_run_then_rerun_completes(tmp_path, sig):
    """Kill the CLI and its workers mid-batch; the same command then finishes the job."""
    # Enough files that the run cannot finish between the 6th output and the signal
    # (with 40, a fast machine sometimes did).
    count = 120
    make_images(tmp_path / "in", count, size=(192, 288))
    out = tmp_path / "out"
    cmd = _dpimage_cmd("blur", tmp_path / "in", "-o", out, "-k", 31, "--workers", 2)
    # A shell starting the test suite in the background (`make test &`, some CI runners)
    # ignores SIGINT, and an ignored SIGINT is inherited: Python then never turns it
    # into KeyboardInterrupt. Ctrl-C in a terminal is not ignored; restore that here.
    interactive = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    proc = subprocess.Popen(
        [cmd[0], "-c", interactive + cmd[2], *cmd[3:]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            done = [p for p in out.rglob("*.*") if not p.name.startswith(".")]
            if len(done) >= 6:
                break
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, sig)  # the CLI, its process pool, everything (as Ctrl-C does)
        proc.wait(timeout=60)
    assert proc.returncode in (-sig, 128 + sig, 1), "the run finished before it was stopped"
    first = tree(out)
    assert 6 <= len([n for n in first if not n.split("/")[-1].startswith(".")]) < count
    for name in first:  # every output there is complete
        if not name.split("/")[-1].startswith("."):
            with Image.open(out / name) as im:
                im.load()
    assert journal_path(out / MANIFEST).exists()  # the journal has the record...
    if sig == signal.SIGKILL:
        assert not (out / MANIFEST).exists()  # ...of a run killed before its manifest
    else:  # Ctrl-C: the manifest lists exactly the outputs there, including unreported ones
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        assert sorted(o["path"] for o in manifest["outputs"]) == sorted(
            n for n in first if not n.split("/")[-1].startswith(".")
        )

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    finished = tree(out)
    assert len(finished) == count  # every output, and no temporary or journal left over
    assert all(finished[n] == data for n, data in first.items() if n in finished)
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    names = [o["path"] for o in manifest["outputs"]]
    assert sorted(names) == sorted(finished) and len(set(names)) == count
    assert manifest["total_epsilon"] == pytest.approx(0.5 * count)


# ---------------------------------------------------------------------------
# Dask: a real LocalCluster of worker processes on loopback
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=3,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as local,
        distributed.Client(local) as client,
    ):
        yield local, client


def test_dask_worker_killed_mid_run(tmp_path, cluster):
    _, client = cluster
    make_images(tmp_path / "in", 36, size=(240, 320))
    blur = {
        "mechanism": "dp_blur",
        "options": {"b0": 4, "k": 31, "sigma": None, "m": 4, "eps": 0.5},
    }
    reference = tmp_path / "ref"
    list(run_jobs(plan_outputs([tmp_path / "in"], reference).jobs, params(**blur)))

    plan = plan_outputs([tmp_path / "in"], tmp_path / "out")
    killed = None
    results = []
    for result in run_jobs(plan.jobs, params(**blur), client=client, window=9):
        results.append(result)
        if len(results) == 5 and killed is None:
            busy = {w: n for w, n in client.processing().items() if n}
            pids = client.run(os.getpid, workers=list(busy) or None)
            killed = next(iter(pids.values()))
            os.kill(killed, signal.SIGKILL)
    assert killed is not None
    assert [r.index for r in results] == list(range(36))
    assert [r.status for r in results] == ["written"] * 36
    written = tree(tmp_path / "out")
    leftovers = temporaries(written)  # the killed worker may have died mid-write
    assert all(name.endswith(".tmp") for name in leftovers) and len(leftovers) <= 1
    outputs = {k: v for k, v in written.items() if k not in leftovers}
    assert sorted(r.name for r in results) == sorted(outputs)
    assert outputs == tree(reference)  # no file lost, duplicated or different
    client.wait_for_workers(3, timeout=60)
    assert killed not in client.run(os.getpid).values()  # the nanny started a new worker


def test_cli_on_existing_scheduler(tmp_path, cluster):
    local, _ = cluster
    make_images(tmp_path / "in", 8)
    out = tmp_path / "out"
    result = run_cli(
        "pixelate", tmp_path / "in", "-o", out, "-b", 8, "--seed", 5, "--scheduler",
        local.scheduler_address,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert local.scheduler_address.startswith("tcp://127.0.0.1:")
    serial = run_cli(
        "pixelate", tmp_path / "in", "-o", tmp_path / "s", "-b", 8, "--seed", 5, "--workers", 1
    )
    assert serial.exit_code == 0
    assert tree(out) == tree(tmp_path / "s")
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["outputs"] == json.loads((tmp_path / "s" / MANIFEST).read_text())["outputs"]


def test_cli_dask_local_cluster(tmp_path):
    pytest.importorskip("distributed")
    make_images(tmp_path / "in", 5)
    out = tmp_path / "out"
    result = run_cli("pixelate", tmp_path / "in", "-o", out, "-b", 8, "--dask", "--workers", 2)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("5 written, 0 skipped, 0 failed;")
    assert "Dask LocalCluster of 2" in result.stderr
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert sorted(o["path"] for o in manifest["outputs"]) == sorted(tree(out))


def test_cli_refuses_to_replace_a_foreign_manifest(tmp_path):
    make_images(tmp_path / "in", 2)
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text("my notes, not JSON", encoding="utf-8")
    result = run_cli("pixelate", tmp_path / "in", "-o", out, "-b", 8)
    assert result.exit_code == 2
    assert "not valid JSON" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST]
    assert (out / MANIFEST).read_text(encoding="utf-8") == "my notes, not JSON"
