"""Soak: a 10,000-file directory with 1% broken files, memory sampled over time.

Makes (once, cached under ``data/cache/soak_batch``) 9,900 small real-content
images — random 64×96 crops of the bundled photos, JPEG and PNG, gray and
RGB, in 10 sub-directories — and 100 broken files of five kinds (truncated
JPEG, truncated PNG, empty, random bytes, text with an image extension). Runs
``dpimage pixelate IN -o OUT --workers N`` as a subprocess and samples the
resident memory (RSS, from ``/proc``) of the CLI process and of its worker
processes every 0.5 s. Then checks that:

- the run finished (exit code 1, because of the broken files);
- every broken file is named in an error line, and no good one is;
- every good file has exactly one output, which decodes, and the manifest
  lists each exactly once (no temporaries, no journal left);
- memory is flat: the CLI's RSS over the last tenth of the run is within
  16 MB of the second tenth (the first is start-up: imports, workers starting).

    python benchmarks/soak_batch.py               # 10,000 files, --workers 2
    python benchmarks/soak_batch.py --files 2000 --workers 1

Linux only (reads ``/proc``). Prints numbers to paste into benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
CACHE = ROOT / "data" / "cache" / "soak_batch"
PAGE = os.sysconf("SC_PAGE_SIZE")


def make_inputs(folder: Path, count: int) -> tuple[list[str], list[str]]:
    """Good and broken files (relative paths) in ``folder``; 1% broken."""
    listing = folder / "listing.json"
    if listing.exists():
        data = json.loads(listing.read_text())
        if data["count"] == count:
            return data["good"], data["broken"]
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    photos = []
    for path in sorted(SAMPLES.iterdir()):
        if path.suffix.lower() in (".jpg", ".png"):
            with Image.open(path) as im:
                photos.append(np.asarray(im.convert("RGB")))
    rng = np.random.default_rng(10_000)
    n_broken = count // 100
    broken_at = set(rng.choice(count, size=n_broken, replace=False).tolist())
    good, broken = [], []
    for i in range(count):
        sub = folder / f"part{i % 10}"
        sub.mkdir(exist_ok=True)
        ext = "png" if i % 5 == 0 else "jpg"
        rel = f"part{i % 10}/img{i:05d}.{ext}"
        path = folder / rel
        if i in broken_at:
            kind = len(broken) % 5
            if kind == 0:  # a JPEG cut in half
                tmp = Image.fromarray(photos[0][:64, :96])
                tmp.save(path.with_suffix(".jpg"), quality=90)
                rel = rel.rsplit(".", 1)[0] + ".jpg"
                path = folder / rel
                data = path.read_bytes()
                path.write_bytes(data[: len(data) // 2])
            elif kind == 1:  # a PNG cut short
                tmp = Image.fromarray(photos[1][:64, :96])
                rel = rel.rsplit(".", 1)[0] + ".png"
                path = folder / rel
                tmp.save(path)
                data = path.read_bytes()
                path.write_bytes(data[: len(data) // 3])
            elif kind == 2:
                path.write_bytes(b"")
            elif kind == 3:
                path.write_bytes(rng.integers(0, 256, 2048, dtype=np.uint8).tobytes())
            else:
                path.write_text("not an image\n")
            broken.append(rel)
            continue
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        y, x = int(rng.integers(0, h - 64)), int(rng.integers(0, w - 96))
        crop = photo[y : y + 64, x : x + 96]
        im = Image.fromarray(crop)
        if i % 3 == 0:
            im = im.convert("L")
        im.save(path, quality=90)
        good.append(rel)
    listing.write_text(json.dumps({"count": count, "good": good, "broken": broken}))
    return good, broken


def tree_rss(root: int) -> tuple[int, int]:
    """(RSS of ``root``, summed RSS of all its descendants) in bytes."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/statm") as f:
                pages = int(f.read().split()[1])
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        parents[int(entry)] = int(fields[1])
        rss[int(entry)] = pages * PAGE
    descendants, frontier = set(), {root}
    while frontier:
        children = {pid for pid, ppid in parents.items() if ppid in frontier}
        children -= descendants
        descendants |= children
        frontier = children
    return rss.get(root, 0), sum(rss.get(pid, 0) for pid in descendants)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    inputs = CACHE / f"in{args.files}"
    good, broken = make_inputs(inputs, args.files)
    print(f"{len(good)} good + {len(broken)} broken files (64x96 crops; "
          f"made/found in {time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    out = Path(tempfile.mkdtemp(prefix="dpimage-soak-")) / "out"
    cmd = [sys.executable, "-c", "from dpimage.cli import main; main()", "pixelate",
           str(inputs), "-o", str(out), "-b", "8", "--workers", str(args.workers)]
    errfile = out.parent / "stderr.txt"
    samples: list[tuple[float, int, int]] = []
    start = time.perf_counter()
    with open(errfile, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        while proc.poll() is None:
            main_rss, workers_rss = tree_rss(proc.pid)
            if main_rss:
                samples.append((time.perf_counter() - start, main_rss, workers_rss))
            time.sleep(0.5)
        stdout = proc.stdout.read()
    elapsed = time.perf_counter() - start
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())

    stderr = errfile.read_text()
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    named = {rel for rel in broken if any(str(inputs / rel) in line for line in errors)}
    wrongly = [rel for rel in good if any(str(inputs / rel) + ":" in line for line in errors)]
    outputs = sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()
    )
    manifest = json.loads((out / "dpimage-manifest.json").read_text())
    listed = [o["path"] for o in manifest["outputs"]]
    undecodable = 0
    for rel in good:
        try:
            with Image.open(out / rel) as im:
                im.load()
        except OSError:
            undecodable += 1

    # Memory after start-up (imports, worker start) is the second tenth of the
    # run; it must be where the last tenth is.
    tenth = max(1, len(samples) // 10)
    first = [s[1] for s in samples[tenth : 2 * tenth]]
    last = [s[1] for s in samples[-tenth:]]
    mb = 1 / 2**20
    print(f"\nrun: {elapsed:.1f} s, {args.files / elapsed:.0f} files/s, exit code "
          f"{proc.returncode}, --workers {args.workers}; load average after: {load}")
    print(f"summary: {stdout.strip()}")
    print(f"broken named in an error line: {len(named)}/{len(broken)}; "
          f"good files wrongly reported: {len(wrongly)}; error lines: {len(errors)}")
    print(f"outputs: {len(outputs) - 1} files + manifest; good inputs {len(good)}; "
          f"manifest lists {len(listed)} ({len(set(listed))} distinct); "
          f"outputs == good: {outputs == sorted([*good, 'dpimage-manifest.json'])}; "
          f"undecodable: {undecodable}")
    print(f"CLI RSS (MB): second tenth {min(first) * mb:.1f}-{max(first) * mb:.1f}, "
          f"last tenth {min(last) * mb:.1f}-{max(last) * mb:.1f}, "
          f"max {max(s[1] for s in samples) * mb:.1f} ({len(samples)} samples)")
    early = samples[tenth : 2 * tenth]
    print(f"workers' RSS, summed (MB): second tenth {max(s[2] for s in early) * mb:.1f}, "
          f"last tenth {max(s[2] for s in samples[-tenth:]) * mb:.1f}, "
          f"max {max(s[2] for s in samples) * mb:.1f}")
    step = max(1, len(samples) // 10)
    print("RSS over time (s: CLI MB / workers MB): " + ", ".join(
        f"{t:.0f}: {m * mb:.0f}/{w * mb:.0f}" for t, m, w in samples[::step]))
    ok = (
        proc.returncode == 1
        and len(named) == len(broken)
        and not wrongly
        and outputs == sorted([*good, "dpimage-manifest.json"])
        and sorted(listed) == sorted(good)
        and undecodable == 0
        and max(last) - min(first) < 16 * 2**20
    )
    print("SOAK PASSED" if ok else "SOAK FAILED")
    shutil.rmtree(out.parent, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
