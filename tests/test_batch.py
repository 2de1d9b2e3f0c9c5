"""Batches at scale: process pool, Dask cluster, journal, resumable runs."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import batch_params as params
from conftest import full_disk_after, make_images
from dpimage.batch import (
    ReleaseParams,
    Result,
    journal_path,
    process_one,
    read_journal,
    record_abandoned,
    record_begin,
    record_done,
    remove_stale_temporaries,
    run_batch,
    run_jobs,
    start_journal,
)
from dpimage.batch.executors import _ordered
from dpimage.cli import app
from dpimage.io import Job, merge_manifests, plan_outputs, read_manifest, write_manifest
from dpimage.io.manifest import build_manifest

MANIFEST = "dpimage-manifest.json"


def temporaries(files: dict[str, bytes]) -> list[str]:
    """Temporary files a killed worker left (hidden ``.dpimage-*.tmp``, never outputs)."""
    return [name for name in files if Path(name).name.startswith(".dpimage-")]


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def without_runs(outputs: list[dict]) -> list[dict]:
    """Manifest entries without the random run identifiers (which differ between runs)."""
    return [{k: v for k, v in entry.items() if k != "runs"} for entry in outputs]


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


def _pool_workers() -> list[int]:
    """This process's pool workers: the children of its forkserver (found in /proc)."""
    workers = []
    for child in _children(os.getpid()):
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"multiprocessing.forkserver" in cmdline:
                workers += _children(child)
    return workers


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_pool_worker_killed_mid_run(tmp_path):
    """SIGKILL one worker of the local pool: the pool is rebuilt, nothing lost or doubled."""
    make_images(tmp_path / "in", 24, size=(240, 320))
    blur = {"mechanism": "dp_blur", "options": {"b0": 4, "k": 31, "sigma": None, "m": 4, "eps": 1}}
    reference = tmp_path / "ref"
    list(run_jobs(plan_outputs([tmp_path / "in"], reference).jobs, params(**blur)))
    plan = plan_outputs([tmp_path / "in"], tmp_path / "out")
    results, killed = [], None
    for result in run_jobs(plan.jobs, params(**blur), workers=2, window=6):
        results.append(result)
        if len(results) == 3:
            killed = _pool_workers()[0]
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
    record_begin(path, "r1", "a.jpg", 0.5)
    record_begin(path, "r1", "gone.jpg", 0.5)
    record_done(path, "r1", "a.jpg")
    record_begin(path, "r1", "failed.jpg", 0.5)
    record_abandoned(path, "r1", "failed.jpg")
    record_begin(path, "unknown", "x.jpg", 9)  # no header: not a run of this journal
    with open(path, "a", encoding="utf-8") as stream:
        stream.write('{"run": "r1", "path": "old.jpg", "epsilon": 0.5}\n')  # older format
        stream.write('{"run": "r1", "path": "b.j')  # killed mid-line
    (run,) = read_journal(path)
    assert run["run"] == "r1" and run["outputs"] == [("a.jpg", 0.5)]
    # Begun and never ended: the run was killed during the write.
    assert run["unconfirmed"] == [("gone.jpg", 0.5), ("old.jpg", 0.5)]
    assert read_journal(tmp_path / "missing") == []


def test_journal_and_manifest_keep_names_that_are_not_utf8(tmp_path):
    """A file name the file system allows but UTF-8 does not round-trips exactly."""
    name = os.fsdecode(b"caf\xe9-\xff.jpg")  # Latin-1 bytes: lone surrogates in Python
    path = journal_path(tmp_path / MANIFEST)
    start_journal(path, {"run": "r1"})
    record_begin(path, "r1", name, 0.5)
    record_done(path, "r1", name)
    assert read_journal(path)[0]["outputs"] == [(name, 0.5)]
    path.read_bytes().decode("utf-8")  # still a valid UTF-8 text file
    written = write_manifest(_manifest([(name, 0.5)]), tmp_path / MANIFEST)
    written.read_bytes().decode("utf-8")
    assert read_manifest(written)["outputs"][0]["path"] == name


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
    old = _manifest([("a.jpg", 0.5), ("b.jpg", 0.5)], run="r1")
    new = _manifest([("c.jpg", 0.5)], run="r2")
    merged = merge_manifests(new, old)
    assert [o["path"] for o in merged["outputs"]] == ["a.jpg", "b.jpg", "c.jpg"]
    assert merged["total_epsilon"] == pytest.approx(1.5) and merged["releases"] == 3
    assert "previous_runs" not in merged
    assert merge_manifests(new, None)["outputs"] == new["outputs"]


def test_merge_counts_every_release_of_the_same_output_once():
    """Writing an output again (--overwrite) spends ε again; folding a run in twice does not."""
    first = _manifest([("a.jpg", 0.5), ("b.jpg", 0.5)], run="r1")
    again = _manifest([("a.jpg", 0.5)], run="r2")  # a.jpg released a second time
    merged = merge_manifests(again, first)
    entry = {o["path"]: o for o in merged["outputs"]}["a.jpg"]
    assert entry["releases"] == 2 and entry["runs"] == ["r1", "r2"]
    assert merged["releases"] == 3 and merged["total_epsilon"] == pytest.approx(1.5)
    assert merged["accountant"]["count"] == 3
    assert merge_manifests(again, merged) == merged  # the same run folded in again
    # A version-1 entry (no runs) is one release by an unknown run.
    legacy = {**first, "outputs": [{"path": "a.jpg", "epsilon": 0.5}]}
    assert merge_manifests(again, legacy)["total_epsilon"] == pytest.approx(1.0)


def test_merge_different_settings_keeps_earlier_run():
    old = _manifest([("a.jpg", 0.5)], seed=3, run="r1")
    new = _manifest(
        [("b.jpg", 1.0)], parameters={"b": 16, "m": 4, "eps": 1.0, "output": "blocks"}, run="r2"
    )
    merged = merge_manifests(new, old)
    assert [o["path"] for o in merged["outputs"]] == ["b.jpg"]
    assert merged["total_epsilon"] == 1.0
    assert merged["total_epsilon_all_runs"] == pytest.approx(1.5)  # the earlier run counts
    assert len(merged["previous_runs"]) == 1
    assert merged["previous_runs"][0]["outputs"] == [
        {"path": "a.jpg", "epsilon": 0.5, "releases": 1, "runs": ["r1"]}
    ]
    third = merge_manifests(_manifest([("c.jpg", 0.5)], seed=3, run="r3"), merged)
    assert len(third["previous_runs"]) == 2  # nothing dropped
    assert third["total_epsilon_all_runs"] == pytest.approx(2.0)
    assert merge_manifests(new, third) == third  # r2 is already recorded (under previous_runs)


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
        outputs[workers] = (tree(out), without_runs(manifest["outputs"]), manifest["total_epsilon"])
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


# Run the CLI in a child process that holds its batch after `after` results: it writes
# "ready" to the inherited pipe `fd`, then waits for a signal. The test stops it at a
# known point of the run, whatever the machine's speed (no polling, no race with the end).
_HELD_RUN = """
import os, signal
import dpimage.batch.run as batch_run
real_run_jobs = batch_run.run_jobs

def held(*args, **kwargs):
    results = real_run_jobs(*args, **kwargs)
    try:
        for n, result in enumerate(results, 1):
            yield result
            if n == {after}:
                os.write({fd}, b"ready")
                os.close({fd})
                while True:
                    signal.pause()  # until the test's signal (SIGINT raises KeyboardInterrupt)
    finally:
        results.close()

batch_run.run_jobs = held
from dpimage.cli import main
main()
"""


def _start_held_run(args, after: int, *, prefix: str = "", **popen) -> subprocess.Popen:
    """Start ``dpimage ARGS`` held after ``after`` results; returns once it is held there."""
    read_end, write_end = os.pipe()
    code = prefix + _HELD_RUN.format(after=after, fd=write_end)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, *map(str, args)],
            pass_fds=(write_end,),
            start_new_session=True,
            **popen,
        )
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as ready:
        said = ready.read()  # returns when the child writes "ready" or exits
    if said != b"ready":
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"the run ended before {after} results (exit {proc.returncode})")
    return proc


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_interrupted_run_then_rerun_completes(tmp_path, sig):
    """Kill the CLI and its workers mid-batch; the same command then finishes the job."""
    count = 30  # more than the 6 results it is held after plus the 8 jobs in flight
    make_images(tmp_path / "in", count, size=(192, 288))
    out = tmp_path / "out"
    cmd = _dpimage_cmd("blur", tmp_path / "in", "-o", out, "-k", 31, "--workers", 2)
    # A shell starting the test suite in the background (`make test &`, some CI runners)
    # ignores SIGINT, and an ignored SIGINT is inherited: Python then never turns it
    # into KeyboardInterrupt. Ctrl-C in a terminal is not ignored; restore that here.
    interactive = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    stderr = open(tmp_path / "stderr.txt", "w+b")  # closed below
    proc = _start_held_run(
        cmd[3:], 6, prefix=interactive, stdout=subprocess.DEVNULL, stderr=stderr
    )
    try:
        os.killpg(proc.pid, sig)  # the CLI, its process pool, everything (as Ctrl-C does)
    finally:
        proc.wait(timeout=60)
    stderr.close()
    said = (tmp_path / "stderr.txt").read_text(encoding="utf-8", errors="replace")
    if sig == signal.SIGINT:
        # Ctrl-C: exit 130 and one line saying what was done and how to resume.
        assert proc.returncode == 130, said
        (line,) = [ln for ln in said.splitlines() if ln.startswith("interrupted: ")]
        assert line.endswith("left; run the same command again to resume")
    else:
        assert proc.returncode == -sig
    first = tree(out)
    assert 6 <= len([n for n in first if not n.split("/")[-1].startswith(".")]) < count
    for name in first:  # every output there is complete
        if not name.split("/")[-1].startswith("."):
            with Image.open(out / name) as im:
                im.load()
    assert journal_path(out / MANIFEST).exists()  # the journal has the record...
    # A write begun and never confirmed (killed just after its rename) is redone.
    unconfirmed = {
        name
        for run in read_journal(journal_path(out / MANIFEST))
        for name, _ in run["unconfirmed"]
        if name in first
    }
    if sig == signal.SIGKILL:
        assert not (out / MANIFEST).exists()  # ...of a run killed before its manifest
    else:  # Ctrl-C: the manifest lists exactly the outputs there, including unreported ones
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        assert sorted(o["path"] for o in manifest["outputs"]) == sorted(
            n for n in first if not n.split("/")[-1].startswith(".") and n not in unconfirmed
        )

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    finished = tree(out)
    assert len(finished) == count  # every output, and no temporary or journal left over
    assert all(
        finished[n] == data for n, data in first.items() if n in finished and n not in unconfirmed
    )
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    names = [o["path"] for o in manifest["outputs"]]
    assert sorted(names) == sorted(finished) and len(set(names)) == count
    # Every release counted once; a redone output twice (it may have been seen).
    assert manifest["releases"] == count + len(unconfirmed)
    assert manifest["total_epsilon"] == pytest.approx(0.5 * manifest["releases"])


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
            dashboard_address=":0",  # None would bind the scheduler's HTTP server to 8787
            scheduler_kwargs={"dashboard": False},
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
    serial_manifest = json.loads((tmp_path / "s" / MANIFEST).read_text())
    assert without_runs(manifest["outputs"]) == without_runs(serial_manifest["outputs"])


def test_dask_local_cluster_listens_on_no_fixed_port():
    """--dask's cluster: its scheduler's HTTP server on a port the system picked (with
    dashboard_address=None it took 8787 when free, so two runs at once collided)."""
    pytest.importorskip("distributed")
    from dpimage.cli._parallel import dask_client

    with dask_client(1, True, None) as client:
        assert client.cluster.scheduler.http_server.port != 8787


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


# ---------------------------------------------------------------------------
# Faults a user hits: full disk, re-releases, outputs inside inputs, odd names,
# kill -9 of the main process, Ctrl-C, a manifest that cannot be written
# ---------------------------------------------------------------------------


def test_full_disk_output_fails_and_the_rerun_redoes_it(tmp_path, monkeypatch):
    """ENOSPC in the middle of one output: it fails, leaves nothing under its name,
    is not in the manifest, and the next run writes it (the others are skipped)."""
    import dpimage.io.atomic as atomic

    make_images(tmp_path / "in", 6, size=(160, 200))
    out = tmp_path / "out"
    victim = "img002.jpg"
    # 2000 bytes free once the victim's write starts; the other outputs have room
    write_chunk = full_disk_after(
        2000, applies=lambda: writing["name"] == victim, write=atomic._write_chunk
    )

    import dpimage.batch.release as release

    writing = {"name": None}
    real_write_image = release.write_image

    def tracking_write_image(array, target, **kw):
        writing["name"] = Path(target).name
        try:
            return real_write_image(array, target, **kw)
        finally:
            writing["name"] = None

    monkeypatch.setattr(atomic, "_write_chunk", write_chunk)
    monkeypatch.setattr(release, "write_image", tracking_write_image)
    result = run_cli("pixelate", tmp_path / "in", "-o", out, "-b", 8, "--workers", 1)
    assert result.exit_code == 1
    assert result.stdout.startswith("5 written, 0 skipped, 1 failed;")
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert victim in error and "No space left on device" in error
    assert not (out / victim).exists() and temporaries(tree(out)) == []
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert victim not in [o["path"] for o in manifest["outputs"]]
    assert manifest["releases"] == 5

    monkeypatch.undo()
    again = run_cli("pixelate", tmp_path / "in", "-o", out, "-b", 8, "--workers", 1)
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("1 written, 5 skipped, 0 failed;")
    with Image.open(out / victim) as im:
        im.load()
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert len(manifest["outputs"]) == 6 and manifest["releases"] == 6


@pytest.fixture
def small_tmpfs(tmp_path):
    """A real file system with ~600 KB free (a tmpfs: needs root, else skipped)."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root on Linux")
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_real_full_disk_never_leaves_a_truncated_output(tmp_path, small_tmpfs):
    """The field report: JPEGs of 4096/8192 bytes stayed, counted written, trusted by reruns."""
    rng = np.random.default_rng(0)
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(60):  # noise: each output ~26 KB, so the disk fills part-way through
        pixels = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(inputs / f"i{i:02d}.jpg", quality=95)
    out = small_tmpfs / "out"
    args = ("pixelate", inputs, "-o", out, "-b", 1, "-e", 100, "--workers", 1)
    result = run_cli(*args)
    assert result.exit_code == 1, result.output
    written = int(result.stdout.split(" written")[0])
    outputs = sorted(p for p in out.iterdir() if p.suffix == ".jpg")
    for path in outputs:  # every output under its final name is complete
        with Image.open(path) as im:
            im.load()
    assert len(outputs) == written
    assert temporaries({p.name: b"" for p in out.iterdir() if p.suffix == ".tmp"}) == []

    # Space freed (the disk grows): the same command completes the batch.
    subprocess.run(["mount", "-o", "remount,size=4m", str(small_tmpfs)], check=True)
    again = run_cli(*args)
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith(f"{60 - written} written, {written} skipped, 0 failed;")
    for path in out.glob("*.jpg"):
        with Image.open(path) as im:
            im.load()
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert len(manifest["outputs"]) == 60 == manifest["releases"]


def test_overwrite_release_is_counted_and_earlier_settings_add_up(tmp_path):
    (source,) = make_images(tmp_path / "in", 1)
    out = tmp_path / "out"
    first = run_cli("pixelate", source, "-o", out, "-b", 8)
    again = run_cli("pixelate", source, "-o", out, "-b", 8, "--overwrite")
    assert first.exit_code == 0 and again.exit_code == 0, again.output
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    (entry,) = manifest["outputs"]
    assert entry["releases"] == 2 and len(set(entry["runs"])) == 2
    assert manifest["releases"] == 2 and manifest["accountant"]["count"] == 2
    assert manifest["total_epsilon"] == pytest.approx(1.0)
    assert "total ε = 1 (m=16)" in again.stdout
    # Other settings: the earlier runs go under previous_runs and still count.
    other = run_cli("pixelate", source, "-o", out, "-b", 16, "-e", 0.25, "--overwrite")
    assert other.exit_code == 0, other.output
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["total_epsilon"] == pytest.approx(0.25)
    assert manifest["total_epsilon_all_runs"] == pytest.approx(1.25)
    assert "total ε = 1.25 (m=16; 1 of it from 1 earlier run with other settings)" in other.stdout


def test_output_inside_the_input_skips_every_earlier_output(tmp_path):
    photos = tmp_path / "photos"
    make_images(photos, 4)
    inputs = sorted(p.relative_to(photos) for p in photos.rglob("*.*"))
    assert run_cli("pixelate", photos, "-o", photos / "rel1", "-b", 8).exit_code == 0
    # A single-file output with its manifest beside it is an earlier output too.
    single = run_cli("pixelate", photos / inputs[0], "-o", photos / "one.jpg", "-b", 8)
    assert single.exit_code == 0
    second = run_cli("pixelate", photos, "-o", photos / "rel2", "-b", 8)
    assert second.exit_code == 0, second.output
    assert second.stdout.startswith("4 written, 0 skipped, 0 failed;")
    (note,) = [line for line in second.stderr.splitlines() if "earlier" in line]
    assert "skipped 5 image file(s) in 2 earlier dpimage output(s)" in note
    assert "rel1" in note and "one.jpg" in note
    released = sorted(p.relative_to(photos / "rel2") for p in (photos / "rel2").rglob("*.*"))
    assert released == sorted([*inputs, Path(MANIFEST)])
    # The current output directory, now holding a manifest, is skipped like the others.
    third = run_cli("pixelate", photos, "-o", photos / "rel2", "-b", 8)
    assert third.stdout.startswith("0 written, 4 skipped, 0 failed;")
    assert "in 3 earlier dpimage output(s)" in third.stderr


@pytest.mark.skipif(sys.platform != "linux", reason="needs a file system with byte file names")
def test_file_name_that_is_not_utf8(tmp_path):
    """Any name the file system allows works, in the journal and the manifest too."""
    folder = tmp_path / "in"
    (source,) = make_images(folder, 1)
    odd = os.fsdecode(b"caf\xe9-\xff.jpg")
    os.rename(source, folder / odd)
    out = tmp_path / "out"
    result = run_cli("pixelate", folder, "-o", out, "-b", 8, "--seed", 1, "--workers", 1)
    assert result.exit_code == 0, result.output
    assert os.listdir(os.fsencode(out)).count(b"caf\xe9-\xff.jpg") == 1
    manifest = read_manifest(out / MANIFEST)
    assert [o["path"] for o in manifest["outputs"]] == [odd]
    (out / MANIFEST).read_bytes().decode("utf-8")  # valid UTF-8 JSON
    again = run_cli("pixelate", folder, "-o", out, "-b", 8, "--seed", 1, "--workers", 1)
    assert again.stdout.startswith("0 written, 1 skipped, 0 failed;")
    assert "not recorded" not in again.stderr


def _descendants(pid: int) -> set[int]:
    found, frontier = set(), [pid]
    while frontier:
        children = _children(frontier.pop())
        found.update(children)
        frontier.extend(children)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited (only its parent has not reaped it yet)


def _wait_for_exit(pids: set[int], timeout: float) -> list[int]:
    """Wait (on pidfds: woken by each exit, no polling) until ``pids`` have exited or
    ``timeout`` passes; returns those still running. Not our children: no wait()."""
    import select

    fds = {}
    for pid in pids:
        try:
            fds[os.pidfd_open(pid)] = pid
        except ProcessLookupError:
            continue
    try:
        deadline = time.monotonic() + timeout
        while fds and (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select(list(fds), [], [], left)
            for fd in ready:
                if not _alive(fds[fd]):  # readable: exited (a zombie counts as exited)
                    os.close(fd)
                    del fds[fd]
        return [pid for pid in fds.values() if _alive(pid)]
    finally:
        for fd in fds:
            os.close(fd)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_kill_9_of_the_main_process_stops_its_workers(tmp_path):
    """Workers, forkserver and resource tracker exit when the main process is SIGKILLed."""
    make_images(tmp_path / "in", 30, size=(192, 288))
    out = tmp_path / "out"
    args = _dpimage_cmd("blur", tmp_path / "in", "-o", out, "-k", 31, "--workers", 2)[3:]
    proc = _start_held_run(args, 3, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        helpers = _descendants(proc.pid)
        assert len(helpers) >= 3, "expected a forkserver, a resource tracker and workers"
        os.kill(proc.pid, signal.SIGKILL)  # the main process only, not its group
        proc.wait(timeout=30)
        left = _wait_for_exit(helpers, timeout=30)  # generous: they exit within a second
        assert not left, f"still running after the main process was killed: {left}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def test_failed_run_writes_no_manifest(tmp_path):
    broken = tmp_path / "in" / "broken.jpg"
    broken.parent.mkdir()
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "out"
    result = run_cli("pixelate", tmp_path / "in", "-o", out, "-b", 8)
    assert result.exit_code == 1
    assert not out.exists() or list(out.iterdir()) == []
    # One input to a file name with an unknown extension: nothing beside the input either.
    single = run_cli("pixelate", broken, "-o", tmp_path / "in" / "x.unknown", "-b", 8)
    assert single.exit_code != 0
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["broken.jpg"]


def test_manifest_names_follow_the_output_not_the_input(tmp_path):
    (source,) = make_images(tmp_path / "in", 1)
    assert run_cli("pixelate", source, "-o", tmp_path / "a", "-b", 8).exit_code == 0
    assert run_cli("pixelate", tmp_path / "in", "-o", tmp_path / "b", "-b", 8).exit_code == 0
    assert (tmp_path / "a" / MANIFEST).is_file() and (tmp_path / "b" / MANIFEST).is_file()
    assert run_cli("pixelate", source, "-o", tmp_path / "c.jpg", "-b", 8).exit_code == 0
    assert (tmp_path / "c.jpg.manifest.json").is_file()


def test_manifest_that_cannot_be_written_is_its_own_error(tmp_path, monkeypatch):
    import dpimage.io.atomic as atomic

    make_images(tmp_path / "in", 3)
    out = tmp_path / "out"
    real = atomic._write_chunk

    def manifest_disk_full(fd, data):
        if bytes(data[:24]).startswith(b'{\n  "manifest_version"'):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data)

    monkeypatch.setattr(atomic, "_write_chunk", manifest_disk_full)
    result = run_cli("pixelate", tmp_path / "in", "-o", out, "-b", 8, "--workers", 1)
    assert result.exit_code == 1
    assert result.stdout.startswith("3 written, 0 skipped, 0 failed;")  # not a failed input
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert f"cannot write the manifest {out / MANIFEST}: No space left on device" in error
    assert "None" not in error and "run the same command again" in error
    assert not (out / MANIFEST).exists() and journal_path(out / MANIFEST).exists()

    monkeypatch.undo()
    again = run_cli("pixelate", tmp_path / "in", "-o", out, "-b", 8, "--workers", 1)
    assert again.exit_code == 0 and again.stdout.startswith("0 written, 3 skipped, 0 failed;")
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["releases"] == 3 and not journal_path(out / MANIFEST).exists()


@pytest.mark.skipif(os.name != "posix", reason="POSIX process watching")
@pytest.mark.parametrize("how", ["pidfd", "poll"])
def test_watch_parent_exits_when_the_watched_process_is_gone(how):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    hide = "import os; os.__dict__.pop('pidfd_open', None); " if how == "poll" else ""
    watcher = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"{hide}import time; from dpimage.batch import watch_parent; "
            f"watch_parent({sleeper.pid}); print('watching', flush=True); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert watcher.stdout.readline() == b"watching\n"  # its watch is set up
        assert watcher.poll() is None  # and a live process does not end it
        sleeper.kill()
        sleeper.wait(timeout=30)
        assert watcher.wait(timeout=30) == 1  # generous; it exits within a second
    finally:
        for proc in (sleeper, watcher):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        watcher.stdout.close()


def test_run_batch_redoes_an_output_the_journal_never_confirmed(tmp_path):
    """A run killed between an output's rename and its "done" record: the next run
    counts that output (it may have been seen) and writes it again; confirmed ones stay."""
    make_images(tmp_path / "in", 3)
    out = tmp_path / "out"
    first = run_batch([tmp_path / "in"], out, params(), command="pixelate")
    assert len(first.written) == 3 and first.manifest_written
    (out / MANIFEST).unlink()  # as if killed before its manifest
    journal = journal_path(out / MANIFEST)
    start_journal(journal, {"run": "k1", "command": "pixelate", "mechanism": "dp_pix",
                            "parameters": dict(params().options), "seed": 7})  # fmt: skip
    names = [job.name for job in first.plan.jobs]
    for name in names:
        record_begin(journal, "k1", name, 0.5)
    for name in names[:2]:
        record_done(journal, "k1", name)
    (out / names[2]).write_bytes(b"not what the journal confirmed")
    seen: list[Result] = []
    second = run_batch([tmp_path / "in"], out, params(), command="pixelate", on_result=seen.append)
    assert [r.status for r in seen] == ["skipped", "skipped", "written"]
    assert "released again" in " ".join(text for _, text in seen[2].messages)
    with Image.open(out / names[2]) as im:
        im.load()
    entries = {o["path"]: o for o in second.manifest["outputs"]}
    assert [entries[n]["releases"] for n in names] == [1, 1, 2]
    assert second.manifest["total_epsilon"] == pytest.approx(2.0)
    assert not journal.exists()
