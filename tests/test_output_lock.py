"""One output belongs to one run at a time, and every release is counted once, by its run.

Two runs into one output used to lose releases from the books: each read the
manifest when it started and overwrote it when it ended, so the manifest kept
only one run's outputs (40 files on disk, 20 recorded), and a worker could
count a file another run wrote as its own. A run now holds the output's lock
from reading the manifest to writing it; a second run refuses before it
writes anything. Also here: temporary files of killed runs (the rule shared
by batches and videos) and links planted where dpimage writes its books.

Concurrency is arranged with events, never with sleeps: a run is held open
in its ``on_plan`` callback (the lock is taken by then) while the other one
starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock

from conftest import batch_params as params
from conftest import copy_sample, make_images, run
from dpimage.batch import (
    EXISTS,
    SKIPPED,
    WRITTEN,
    ReleaseParams,
    read_journal,
    run_batch,
    run_jobs,
    start_journal,
)
from dpimage.io import Job, remove_stale_temporaries

MANIFEST = "dpimage-manifest.json"
LOCK = ".dpimage-manifest.json.lock"
JOURNAL = ".dpimage-manifest.json.journal"

#: Longest a test waits for the other thread (a hang fails the test instead of the suite).
WAIT_S = 120


def pix(eps: float, b: int = 8) -> ReleaseParams:
    return params(options={"b": b, "m": 4, "eps": eps, "output": "blocks"}, eps=eps)


def images_on_disk(out: Path) -> set[str]:
    return {
        p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.name != MANIFEST
    }


def recorded(manifest: dict) -> list[tuple[str, float, int]]:
    """Every (path, ε, releases) the manifest counts, earlier runs included."""
    runs = [manifest, *manifest.get("previous_runs", [])]
    return [(e["path"], e["epsilon"], e["releases"]) for r in runs for e in r["outputs"]]


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


# ---------------------------------------------------------------------------
# A second run into a held output refuses before it writes anything
# ---------------------------------------------------------------------------


def test_cli_refuses_an_output_another_run_holds(tmp_path):
    make_images(tmp_path / "in", 3)
    out = tmp_path / "out"
    out.mkdir()
    with FileLock(out / LOCK):  # another run holds the output
        result = run("pixelate", tmp_path / "in", "-o", out, "-b", 8, "--seed", 1)
    assert result.exit_code == 2, result.output
    errors = error_lines(result)
    assert len(errors) == 1 and str(out) in errors[0] and "another dpimage run" in errors[0]
    # nothing written: no release, no manifest, no journal
    assert sorted(p.name for p in out.iterdir()) == [LOCK]


def test_overlapping_runs_one_refuses_and_the_books_match_the_disk(tmp_path):
    """The measured case: the same inputs at ε=5 and at ε=0.5, the second started mid-run."""
    make_images(tmp_path / "in", 6)
    out = tmp_path / "out"
    first_holds, second_done = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def hold_open(report) -> None:
        first_holds.set()
        assert second_done.wait(WAIT_S)

    def first() -> None:
        outcome["first"] = run_batch(
            [tmp_path / "in"], out, pix(5.0), command="pixelate", on_plan=hold_open
        )

    def second() -> None:
        assert first_holds.wait(WAIT_S)
        try:
            outcome["second"] = run_batch(
                [tmp_path / "in"], out, replace(pix(0.5, b=16), overwrite=True), command="pixelate"
            )
        except ValueError as exc:
            outcome["second"] = exc
        finally:
            second_done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S)
    refused = outcome["second"]
    assert isinstance(refused, ValueError), refused
    assert "another dpimage run" in str(refused)
    report = outcome["first"]
    assert len(report.written) == 6
    manifest = json.loads((out / MANIFEST).read_text())
    entries = recorded(manifest)
    # every file on disk is counted once, at the ε it was released with
    assert sorted(p for p, _, _ in entries) == sorted(images_on_disk(out))
    assert {eps for _, eps, _ in entries} == {5.0}
    assert manifest["total_epsilon_all_runs"] == pytest.approx(30.0)
    assert not (out / JOURNAL).exists() and not (out / LOCK).exists()


def test_runs_started_together_count_every_file_on_disk(tmp_path):
    """Two runs of different inputs released at once: whatever the interleaving, books = disk."""
    make_images(tmp_path / "a", 5)
    make_images(tmp_path / "b" / "other", 5)
    out = tmp_path / "out"
    start = threading.Barrier(2, timeout=WAIT_S)
    outcome: dict[str, object] = {}

    def release(name: str) -> None:
        start.wait()
        try:
            outcome[name] = run_batch([tmp_path / name], out, params(), command="pixelate")
        except ValueError as exc:
            outcome[name] = exc

    threads = [threading.Thread(target=release, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S)
    reports = [r for r in outcome.values() if not isinstance(r, Exception)]
    refused = [r for r in outcome.values() if isinstance(r, Exception)]
    assert reports and len(reports) + len(refused) == 2
    assert all("another dpimage run" in str(r) for r in refused)
    manifest = json.loads((out / MANIFEST).read_text())
    paths = [p for p, _, _ in recorded(manifest)]
    on_disk = images_on_disk(out)
    assert sorted(paths) == sorted(on_disk)
    # each run's summary counts the files it wrote, and nothing else
    assert sum(len(r.written) for r in reports) == len(on_disk) == manifest["releases"]


def test_video_refuses_an_output_another_run_holds(tmp_path):
    pytest.importorskip("av")
    clip = tmp_path / "clip.mp4"
    write_clip(clip)
    out = tmp_path / "out.mp4"
    with FileLock(tmp_path / ".out.mp4.manifest.json.lock"):
        result = run("video", clip, "-o", out, "-b", 8, "--seed", 1)
    assert result.exit_code == 2, result.output
    errors = error_lines(result)
    assert len(errors) == 1 and "out.mp4" in errors[0] and "another dpimage run" in errors[0]
    assert not out.exists() and not (tmp_path / "out.mp4.manifest.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".dpimage-")]


def test_tune_preview_refuses_an_output_another_run_holds(tmp_path):
    [photo] = make_images(tmp_path / "in", 1)
    preview = tmp_path / "preview.png"
    args = ("tune", photo, "--pixels", 16, "--eps-grid", "0.5", "--ssim-runs", 0,
            "--preview", preview)  # fmt: skip
    with FileLock(tmp_path / ".preview.png.manifest.json.lock"):  # another run holds it
        result = run(*args)
    assert result.exit_code == 2, result.output
    errors = error_lines(result)
    assert len(errors) == 1 and "preview.png" in errors[0] and "another dpimage run" in errors[0]
    # nothing written: no preview, no manifest, no temporary file (only the holder's lock)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".preview.png.manifest.json.lock", "in"]
    # once it is free, the preview is written and its manifest counts it
    assert run(*args).exit_code == 0
    manifest = json.loads((tmp_path / "preview.png.manifest.json").read_text())
    assert recorded(manifest) == [("preview.png", 0.5, 1)]
    assert not (tmp_path / ".preview.png.manifest.json.lock").exists()


def test_tune_preview_refuses_a_busy_output_before_any_advice(tmp_path, monkeypatch):
    """The preview is held from the start: a busy output is refused before the (slow) advice."""
    import dpimage.tune

    [photo] = make_images(tmp_path / "in", 1)
    preview = tmp_path / "preview.png"
    advised = []
    real = dpimage.tune.recommend

    def counted(*args, **kwargs):
        advised.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(dpimage.tune, "recommend", counted)
    args = ("tune", photo, "--pixels", 16, "--eps-grid", "0.5", "--ssim-runs", 0,
            "--preview", preview)  # fmt: skip
    with FileLock(tmp_path / ".preview.png.manifest.json.lock"):
        result = run(*args)
    assert result.exit_code == 2, result.output
    assert advised == []  # refused before the advice was computed
    assert run(*args).exit_code == 0 and advised == [1]


def test_process_video_holds_its_output(tmp_path):
    """The library entry holds the lock too: a second release into it refuses at once."""
    pytest.importorskip("av")
    from dpimage.video import VideoSettings, process_video, run_to_end

    clip = tmp_path / "clip.mp4"
    write_clip(clip)
    out = tmp_path / "out.mp4"
    first = process_video(clip, out, VideoSettings(b=8, seed=1))
    next(first)  # started: it holds the output
    with pytest.raises(ValueError, match="another dpimage run"):
        run_to_end(process_video(clip, out, VideoSettings(b=8, seed=2), overwrite=True))
    result = run_to_end(first)
    manifest = json.loads((tmp_path / "out.mp4.manifest.json").read_text())
    assert manifest["count"] == 1 and result.manifest == manifest
    assert manifest["total_epsilon_all_runs"] == result.accounting.eps_object


def write_clip(path: Path, n: int = 6) -> None:
    from fractions import Fraction

    from dpimage.video.io import VideoWriter

    rng = np.random.default_rng(0)
    with VideoWriter(path, width=32, height=32, rate=Fraction(10)) as writer:
        for _ in range(n):
            writer.write(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))


# ---------------------------------------------------------------------------
# A run counts only what it wrote
# ---------------------------------------------------------------------------


def test_an_output_someone_else_wrote_is_not_counted_as_this_runs(tmp_path):
    """A worker finding its output already there counts it only if this run began it."""
    source = copy_sample("camera.png", tmp_path / "in" / "camera.png")
    out = tmp_path / "out"
    out.mkdir()
    theirs = out / "camera.png"
    theirs.write_bytes(b"written by another program after the plan")
    journal = out / JOURNAL
    p = replace(params(), journal=str(journal))
    start_journal(journal, {"run": p.run_id, "command": "pixelate"})
    job = Job(source=source, target=theirs, name="camera.png")
    # the plan looked before the file appeared: the job is submitted
    (result,) = run_jobs([job], p, skip=lambda job: False)
    assert result.status == SKIPPED and result.eps == 0.0
    assert theirs.read_bytes() == b"written by another program after the plan"
    assert read_journal(journal)[0]["outputs"] == []


def test_an_earlier_attempt_of_this_run_is_counted_once(tmp_path):
    """The converse: a write this run's journal shows it began is this run's, counted once."""
    source = copy_sample("camera.png", tmp_path / "in" / "camera.png")
    out = tmp_path / "out"
    out.mkdir()
    journal = out / JOURNAL
    p = replace(params(), journal=str(journal))
    start_journal(journal, {"run": p.run_id, "command": "pixelate"})
    job = Job(source=source, target=out / "camera.png", name="camera.png")
    (first,) = run_jobs([job], p)
    assert first.status == WRITTEN
    (again,) = run_jobs([job], p, skip=lambda job: False)  # a re-run of the same job
    assert again.status == WRITTEN and again.eps == p.eps
    assert EXISTS not in (first.status, again.status)


# ---------------------------------------------------------------------------
# Temporary files of dead runs: one rule for batches and videos
# ---------------------------------------------------------------------------

_WRITER = """
import sys
from pathlib import Path
from dpimage.io.atomic import atomic_writer
with atomic_writer(Path(sys.argv[1])) as stream:
    stream.write(b"half a release")
    stream.flush()
    print("writing", flush=True)
    sys.stdin.read()  # until killed
"""


def test_a_temporary_is_stale_only_once_its_writer_is_dead(tmp_path):
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path / "out.jpg")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline() == "writing\n"  # readiness, not a sleep
        temporaries = [p for p in tmp_path.iterdir() if p.name.startswith(".dpimage-")]
        assert len(temporaries) == 1
        # alive: its temporary file is its own, whatever its age
        assert remove_stale_temporaries([tmp_path]) == 0
        assert temporaries[0].exists()
    finally:
        writer.kill()  # kill -9
        writer.wait()
    assert remove_stale_temporaries([tmp_path]) == 1
    assert list(tmp_path.iterdir()) == []


def test_batch_removes_and_reports_temporaries_of_killed_runs(tmp_path):
    copy_sample("camera.png", tmp_path / "in" / "camera.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".dpimage-0123456789abcdef.tmp").write_bytes(b"released pixels of a killed run")
    result = run("pixelate", tmp_path / "in", "-o", out, "-b", 8, "--seed", 1)
    assert result.exit_code == 0, result.output
    assert "removed 1 temporary file(s) that killed runs had left" in result.stderr
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_video_removes_temporaries_of_killed_runs_and_keeps_live_ones(tmp_path):
    pytest.importorskip("av")
    from dpimage.io.atomic import _open_temp

    clip = tmp_path / "clip.mp4"
    write_clip(clip)
    dead = tmp_path / ".dpimage-0123456789abcdef.tmp"
    dead.write_bytes(b"hundreds of released frames of a killed encode")
    fd, live = _open_temp(tmp_path)  # another output's encode, still running
    try:
        result = run("video", clip, "-o", tmp_path / "out.mp4", "-b", 8, "--seed", 1)
        assert result.exit_code == 0, result.output
        assert "removed 1 temporary file(s) that killed runs had left" in result.stderr
        assert not dead.exists() and live.exists()
    finally:
        os.close(fd)
        live.unlink()


# ---------------------------------------------------------------------------
# Links planted where dpimage keeps its books are refused, never followed
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("planted", [JOURNAL, LOCK])
def test_a_link_planted_in_the_output_is_refused(tmp_path, planted):
    make_images(tmp_path / "in", 3)
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("someone else's file\n")
    (out / planted).symlink_to(victim)
    result = run("pixelate", tmp_path / "in", "-o", out, "-b", 8, "--seed", 1)
    assert result.exit_code == 2, result.output
    errors = error_lines(result)
    assert len(errors) == 1 and "symbolic link" in errors[0] and planted in errors[0]
    assert victim.read_text() == "someone else's file\n"
    assert images_on_disk(out) == set()


def test_the_journal_is_never_written_through_a_link(tmp_path):
    from dpimage.batch import record_begin

    victim = tmp_path / "victim.txt"
    victim.write_text("x\n")
    link = tmp_path / JOURNAL
    link.symlink_to(victim)
    with pytest.raises(OSError, match="symbolic link"):
        record_begin(link, "run", "a.jpg", 1.0)
    assert victim.read_text() == "x\n"


def test_tune_preview_removes_temporaries_of_killed_runs(tmp_path):
    [photo] = make_images(tmp_path / "in", 1)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".dpimage-0123456789abcdef.tmp").write_bytes(b"a preview of a killed run")
    result = run("tune", photo, "--pixels", 16, "--eps-grid", "0.5", "--ssim-runs", 0,
                 "--preview", out / "preview.png")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "removed 1 temporary file(s) that killed runs had left" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["preview.png", "preview.png.manifest.json"]
