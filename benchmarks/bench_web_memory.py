"""Peak memory of ``dpimage serve`` under heavy requests (Linux: reads /proc/PID/status).

Each scenario starts a fresh server, uploads a generated photo-like image
(the astronaut sample resized), sends its requests and reports the server's
peak resident memory (``VmHWM``) and the answers' status codes::

    python benchmarks/bench_web_memory.py                       # all scenarios
    python benchmarks/bench_web_memory.py --side 3000 metrics   # one, another size
    python benchmarks/bench_web_memory.py --serve-args="--memory-mb 2048" smooth-b1

``--port N`` serves on a fixed port, for versions of ``dpimage serve`` that
do not take ``--port 0``.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "astronaut.jpg"

# name: (image side, requests); each request is (route, JSON body without the id) and
# the number sent at once.
SCENARIOS = {
    "metrics": (3000, [("metrics", {"method": "dp-pix", "b": 16, "m": 16, "eps": 1}, 1)]),
    "metrics-x4": (3000, [("metrics", {"method": "dp-pix", "b": 16, "m": 16, "eps": 1}, 4)]),
    "smooth-b12000": (512, [("preview", {"method": "dp-pix", "b": 12000, "render": "smooth"}, 1)]),
    "smooth-b1": (2000, [("preview", {"method": "dp-pix", "b": 1, "render": "smooth"}, 1)]),
    "blur-metrics": (3000, [("metrics", {"method": "dp-blur", "b0": 4, "k": 31, "eps": 1}, 1)]),
}


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=600) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _send(target: tuple[str, dict | None]) -> tuple[int, dict]:
    url, body = target
    return _get(url) if body is None else _post(url, body)


def _wait_listening(url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "api/info", timeout=5).close()
            return
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _peak_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def run(name: str, side: int | None, serve_args: list[str], port: int) -> dict:
    default_side, requests = SCENARIOS[name]
    side = side or default_side
    cli = [sys.executable, "-c", "from dpimage.cli import main; main()", "serve"]
    proc = subprocess.Popen(
        [*cli, "--port", str(port), *serve_args], stderr=subprocess.PIPE, text=True
    )
    try:
        for line in proc.stderr:  # the server names its address once it listens
            found = re.search(r"web page on (http://\S+/)", line)
            if found:
                break
        else:
            raise SystemExit(f"dpimage serve exited {proc.wait()}")
        url = found.group(1)
        if port:  # older versions print the line before they listen: wait for the socket
            _wait_listening(url)
        photo = Image.open(SAMPLE).convert("RGB").resize((side, side), Image.Resampling.BICUBIC)
        data = io.BytesIO()
        photo.save(data, format="JPEG", quality=92)
        upload = urllib.request.Request(
            url + "api/images", data=data.getvalue(),
            headers={"Content-Type": "application/octet-stream"},
        )  # fmt: skip
        with urllib.request.urlopen(upload, timeout=600) as answer:
            token = json.loads(answer.read())["id"]
        before = _peak_mb(proc.pid)
        statuses = []
        for route, body, at_once in requests:
            if route == "metrics":
                status, shown = _post(url + "api/preview", {"id": token, **body})
                if status != 200:
                    statuses.append(("preview", status, shown.get("error")))
                    continue
                target = (f"{url}api/metrics?id={token}&preview={shown['preview_id']}", None)
            else:
                target = (url + "api/preview", {"id": token, **body})
            with ThreadPoolExecutor(at_once) as pool:
                answers = list(pool.map(_send, [target] * at_once))
            statuses += [(route, code, shown.get("error")) for code, shown in answers]
        return {
            "scenario": name,
            "side": side,
            "serve_args": " ".join(serve_args),
            "peak_rss_mb_after_upload": round(before),
            "peak_rss_mb": round(_peak_mb(proc.pid)),
            "alive": proc.poll() is None,
            "answers": statuses,
        }
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=", ".join(SCENARIOS))
    parser.add_argument("--side", type=int, help="image side (default: each scenario's)")
    parser.add_argument("--serve-args", default="", help="extra `dpimage serve` options")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        known = ", ".join(SCENARIOS)
        parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; choose from {known}")
    for name in args.scenarios or SCENARIOS:
        print(json.dumps(run(name, args.side, args.serve_args.split(), args.port)), flush=True)


if __name__ == "__main__":
    main()
