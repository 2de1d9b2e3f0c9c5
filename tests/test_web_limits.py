"""The web page under bad values, load and kills: 4xx messages, bounded work, the books.

Every download of one upload is counted in the manifest it carries; values
that would only cost memory or time are refused with a message; heavy work
runs a bounded number at a time; out of memory is a 413, not a dead server;
a killed server's temporary folder is removed by the next one.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import threading
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("starlette", reason="needs the web extra: pip install 'dpimage[web]'")
pytest.importorskip("httpx2", reason="needs the web-test extra: pip install 'dpimage[web-test]'")

from starlette.testclient import TestClient

from conftest import SAMPLES, served_page
from dpimage.metrics import ssim
from dpimage.web import create_app, work

ASTRONAUT = SAMPLES / "astronaut.jpg"
CAMERA = SAMPLES / "camera.png"
RAW = {"content-type": "application/octet-stream"}


@pytest.fixture
def client():
    # A server bug is a 500 here, as a browser would see it, not an exception in the test.
    app = create_app(allowed_hosts=["testserver"])
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _upload(client: TestClient, path: Path = ASTRONAUT) -> str:
    response = client.post("/api/images", content=path.read_bytes(), headers=RAW)
    assert response.status_code == 200, response.text
    return response.json()["id"]


def _manifest(response) -> dict:
    assert response.status_code == 200, response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return json.loads(archive.read("dpimage-manifest.json"))


# --------------------------------------------------------------------------- the books


def _leaves(value):
    """Every scalar in a JSON value (dict values, list items), depth first."""
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def test_every_download_of_one_upload_is_counted(client):
    token = _upload(client)
    body = {"id": token, "method": "dp-pix", "b": 16, "m": 16, "eps": 0.5}
    first = _manifest(client.post("/api/release", json=body))
    assert first["total_epsilon"] == 0.5 and first["total_epsilon_all_runs"] == 0.5
    second_response = client.post("/api/release", json=body)
    second = _manifest(second_response)
    # Two downloads of one image are two releases: the second manifest says so.
    assert second["total_epsilon"] == 1.0 and second["releases"] == 2
    assert second["outputs"][0]["releases"] == 2
    assert float(second_response.headers["x-dpimage-total-epsilon"]) == 1.0
    # Other settings: the earlier downloads stay listed, the running total adds them.
    third = _manifest(client.post("/api/release", json={**body, "eps": 2, "b": 8}))
    assert third["total_epsilon"] == 2.0
    assert third["total_epsilon_all_runs"] == pytest.approx(3.0)
    assert [run["total_epsilon"] for run in third["previous_runs"]] == [1.0]
    assert "uploaded again starts a new count" in third["counted_for"]
    # Nothing from the image, and another upload has its own count.
    # (The image's side, 512, as a value: run ids are random hex and may contain "512".)
    leaves = _leaves(third)
    assert 512 not in [v for v in leaves if isinstance(v, int | float)]
    assert not any(token in v for v in leaves if isinstance(v, str))
    other = _upload(client, CAMERA)
    fresh = _manifest(client.post("/api/release", json={**body, "id": other}))
    assert fresh["total_epsilon_all_runs"] == 0.5


def test_downloads_at_once_are_each_counted_once():
    app = create_app(allowed_hosts=["testserver"], jobs=4)
    with TestClient(app) as test_client:
        token = _upload(test_client, CAMERA)
        body = {"id": token, "method": "dp-pix", "b": 16, "m": 16, "eps": 0.25}
        totals: list[float] = []

        def download() -> None:
            totals.append(_manifest(test_client.post("/api/release", json=body))["total_epsilon"])

        threads = [threading.Thread(target=download) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(totals) == [0.25 * n for n in range(1, 7)]


# --------------------------------------------------------------------------- bad values


BAD_VALUES = [
    ({"eps": 1e-320}, 400, "eps must be a finite number > 0"),
    ({"eps": float("inf")}, 400, "eps must be a finite number"),
    ({"b": 1e30}, 400, "b must be at most 512"),
    ({"b": 12000, "render": "smooth"}, 400, "b must be at most 512"),
    ({"m": 2**63}, 400, "m must be at most 262,144"),
    ({"method": ["x"]}, 400, "method must be one of"),
    ({"render": {"a": 1}}, 400, "render must be one of"),
    ({"colour": ["rgb"]}, 400, "colour must be a string"),
    ({"method": "np-blur", "k": 10000001}, 400, "k must be at most 1,001"),
    ({"method": "dp-blur", "k": 2**63}, 400, "k must be at most 1,001"),
    ({"method": "dp-blur", "b0": 1e30}, 400, "b0 must be at most 512"),
    ({"b": float("nan")}, 400, "b must be an integer"),
    ({"id": ["x"]}, 404, "unknown image id"),
]


@pytest.mark.parametrize(("change", "status", "fragment"), BAD_VALUES)
@pytest.mark.parametrize("route", ["/api/preview", "/api/release"])
def test_every_bad_value_gets_a_4xx_with_its_reason(client, route, change, status, fragment):
    token = _upload(client)
    # json.dumps writes inf and nan as Infinity and NaN, which the server's parser reads
    body = json.dumps({"id": token, **change})
    response = client.post(route, content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert fragment in message and "\n" not in message


def test_the_kernel_bound_follows_a_small_image(client):
    tiny = Image.fromarray(np.full((20, 30), 128, dtype=np.uint8))
    data = io.BytesIO()
    tiny.save(data, format="PNG")
    response = client.post("/api/images", content=data.getvalue(), headers=RAW)
    token = response.json()["id"]
    body = {"id": token, "method": "np-blur", "k": 61}
    assert client.post("/api/preview", json=body).status_code == 200  # 2 * 30 + 1
    refused = client.post("/api/preview", json={**body, "k": 63})
    assert refused.status_code == 400 and "k must be at most 61" in refused.json()["error"]
    # dp-pix reads neither k nor b0: their defaults are not judged against the image
    assert client.post("/api/preview", json={"id": token, "b": 8}).status_code == 200


def test_metrics_of_an_image_smaller_than_the_ssim_window(client):
    small = io.BytesIO()
    Image.fromarray(np.full((5, 9, 3), 90, dtype=np.uint8)).save(small, format="PNG")
    token = client.post("/api/images", content=small.getvalue(), headers=RAW).json()["id"]
    preview = client.post("/api/preview", json={"id": token, "b": 2, "m": 1, "eps": 1}).json()
    metrics = client.get("/api/metrics", params={"id": token, "preview": preview["preview_id"]})
    assert metrics.status_code == 200, metrics.text
    assert metrics.json()["measured"]["ssim"] is None


# --------------------------------------------------------------------------- memory


@pytest.mark.parametrize("shape", [(61, 47), (61, 47, 3), (200, 9, 3)])
def test_ssim_in_strips_is_the_ssim(monkeypatch, shape):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, shape), 0, 255).astype(np.uint8)
    monkeypatch.setattr(work, "_SSIM_STRIP_BYTES", 200)  # a few rows a strip
    assert work.strip_ssim(a, b) == pytest.approx(ssim(a, b), rel=1e-12)


def test_metrics_work_in_strips_of_bounded_size(client, monkeypatch):
    """The SSIM of the metrics never sees more than one strip of the image at once."""
    from dpimage import metrics as metrics_module

    seen = []
    real = metrics_module.ssim

    def spy(a, b, **kwargs):
        seen.append(a.nbytes)
        return real(a, b, **kwargs)

    monkeypatch.setattr(work, "ssim", spy)
    monkeypatch.setattr(work, "_SSIM_STRIP_BYTES", 64 * 1024)
    token = _upload(client)
    preview = client.post("/api/preview", json={"id": token}).json()
    response = client.get("/api/metrics", params={"id": token, "preview": preview["preview_id"]})
    assert response.status_code == 200
    assert 0 < response.json()["measured"]["ssim"] < 1
    assert len(seen) > 1 and max(seen) <= 64 * 1024 + 6 * 512 * 3


@pytest.mark.parametrize(
    "failure",
    [MemoryError(), pytest.param("cv2", id="opencv-allocation-error")],
)
def test_out_of_memory_is_a_413_and_the_server_keeps_serving(client, monkeypatch, failure):
    import cv2

    token = _upload(client)
    real = work.preview

    def starved(state, data):
        if failure == "cv2":  # what OpenCV raises when an allocation fails
            cv2.resize(np.zeros((2, 2), np.uint8), (1 << 18, 1 << 18))
        raise failure

    monkeypatch.setattr(work, "preview", starved)
    response = client.post("/api/preview", json={"id": token, "b": 1})
    assert response.status_code == 413, response.text
    assert "not enough memory for this request" in response.json()["error"]
    monkeypatch.setattr(work, "preview", real)
    assert client.post("/api/preview", json={"id": token}).status_code == 200


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/limits")
def test_dpimage_serve_caps_its_memory():
    with served_page("--memory-mb", "1500") as (proc, _):
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
    (line,) = [row for row in limits.splitlines() if row.startswith("Max data size")]
    assert line.split()[3] == str(1500 * 1024 * 1024)


# --------------------------------------------------------------------------- concurrency


def test_heavy_requests_wait_their_turn_and_excess_ones_are_told(monkeypatch):
    started, proceed = threading.Event(), threading.Event()
    real = work.preview
    calls = []

    def slow(state, data):
        calls.append(data.get("b"))
        if len(calls) == 1:  # the first request holds its turn until told to go on
            started.set()
            assert proceed.wait(timeout=60)
        return real(state, data)

    monkeypatch.setattr(work, "preview", slow)
    app = create_app(allowed_hosts=["testserver"], jobs=1, queue=0)
    with TestClient(app) as test_client:
        token = _upload(test_client)
        answers = {}
        first = threading.Thread(
            target=lambda: answers.update(
                first=test_client.post("/api/preview", json={"id": token, "b": 16})
            )
        )
        first.start()
        assert started.wait(timeout=60)
        busy = test_client.post("/api/preview", json={"id": token, "b": 8})
        proceed.set()
        first.join()
        assert busy.status_code == 503
        assert "the server is busy" in busy.json()["error"]
        assert answers["first"].status_code == 200
        assert calls == [16]  # the refused request never started its work
        assert test_client.post("/api/preview", json={"id": token}).status_code == 200


# --------------------------------------------------------------------------- temp folder


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_killed_server_s_temp_folder_is_removed_by_the_next(tmp_path):
    env = {"TMPDIR": str(tmp_path)}
    with served_page(env=env) as (first, url):
        urllib.request.urlopen(url + "api/info", timeout=30).close()
        (left,) = tmp_path.glob("dpimage-web-*")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    assert left.is_dir()  # nothing could remove it
    with served_page(env=env) as (_, url):
        urllib.request.urlopen(url + "api/info", timeout=30).close()
        (alive,) = tmp_path.glob("dpimage-web-*")
        assert alive != left
    assert list(tmp_path.glob("dpimage-web-*")) == []  # stopped normally: removed


def test_metrics_without_memory_for_the_prediction_still_measure(client, monkeypatch):
    def starved(*args):
        raise MemoryError

    monkeypatch.setattr(work, "_predicted_mse", starved)
    token = _upload(client)
    preview = client.post("/api/preview", json={"id": token, "method": "dp-blur"}).json()
    response = client.get("/api/metrics", params={"id": token, "preview": preview["preview_id"]})
    assert response.status_code == 200, response.text
    data = response.json()
    assert 0 < data["measured"]["ssim"] < 1
    assert data["predicted"]["mse"] is None and data["predicted"]["psnr"] is None
    assert "not enough memory to predict" in data["predicted"]["note"]
