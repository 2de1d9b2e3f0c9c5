"""API tests of the local web page (``dpimage serve``) with Starlette's test client."""

from __future__ import annotations

import base64
import io
import json
import re
import socket
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("starlette", reason="needs the web extra: pip install 'dpimage[web]'")
pytest.importorskip("httpx2", reason="needs the web-test extra: pip install 'dpimage[web-test]'")

from starlette.testclient import TestClient

import dpimage
from conftest import SAMPLES, served_page
from dpimage.web import create_app

ASTRONAUT = SAMPLES / "astronaut.jpg"
CAMERA = SAMPLES / "camera.png"
RAW = {"content-type": "application/octet-stream"}


@pytest.fixture
def client():
    app = create_app(allowed_hosts=["testserver"])
    with TestClient(app) as test_client:
        yield test_client


def _upload(client: TestClient, path: Path = ASTRONAUT) -> dict:
    response = client.post("/api/images", content=path.read_bytes(), headers=RAW)
    assert response.status_code == 200, response.text
    return response.json()


def _decode_data_url(url: str) -> np.ndarray:
    prefix = "data:image/jpeg;base64,"
    assert url.startswith(prefix)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :]))))


# --------------------------------------------------------------------------- page


def test_page_and_assets_are_local(client):
    page = client.get("/")
    assert page.status_code == 200
    assert "stays on this machine" in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "/static/app.js" in assets and "/static/style.css" in assets
    for asset in assets:
        assert asset.startswith("/static/"), asset  # nothing from a CDN
        response = client.get(asset)
        assert response.status_code == 200
        assert "http://" not in response.text and "https://" not in response.text


def test_page_opens_on_an_empty_state_without_broken_images(client):
    page = client.get("/").text
    # Every picture slot sits inside the container that stays hidden until an image is
    # loaded; before it, the page shows a drop invitation and the sample photos.
    loaded = page.index('<div id="loaded" hidden>')
    for match in re.finditer(r"<img\b", page):
        assert match.start() > loaded, page[match.start() : match.start() + 60]
    empty = page[page.index('id="empty"') : loaded]
    assert "Drop an image here" in empty and 'id="samples"' in empty
    assert 'type="file"' in empty


def test_the_page_says_its_numbers_look_at_the_private_image(client):
    page = client.get("/").text
    note = page[page.index('id="data-note"') :]
    note = " ".join(note[: note.index("</p>")].split())
    assert "your image" in note and "not covered by the guarantee" in note
    assert "Settings from size only" in page and 'id="public-settings"' in page


def test_bundled_sample_photos_are_served_from_the_package(client):
    from dpimage.web import public

    folder = public.samples_dir()
    package = Path(dpimage.__file__).resolve().parent
    assert folder.resolve().is_relative_to(package)  # package data, not a repository path
    listed = client.get("/api/samples").json()["samples"]
    names = [s["name"] for s in listed]
    assert names == ["astronaut.jpg", "camera.png", "chelsea.jpg", "coffee.jpg"]
    for sample in listed:
        response = client.get(sample["url"])
        assert response.status_code == 200
        assert response.content == (folder / sample["name"]).read_bytes()
        assert response.headers["content-type"] in ("image/jpeg", "image/png")
    # A sample goes through the ordinary upload, as the page does.
    photo = client.get("/api/samples/chelsea.jpg").content
    info = client.post("/api/images", content=photo, headers=RAW).json()
    assert (info["width"], info["height"], info["channels"]) == (451, 300, 3)


@pytest.mark.parametrize(
    "name", ["nope.jpg", "..%2Fpyproject.toml", "README.md", "%2Fetc%2Fpasswd"]
)
def test_only_the_bundled_sample_names_are_opened(client, name):
    assert client.get(f"/api/samples/{name}").status_code == 404


def _public(client: TestClient, **change) -> dict:
    body = {"width": 512, "height": 512, "channels": 3, "object_width": 40,
            "object_height": 50, "method": "dp-pix", **change}
    return client.post("/api/public-settings", json=body)


def test_settings_from_size_only(client):
    from dpimage.tune import DEFAULT_EPS, b_grid

    answer = _public(client).json()
    assert answer["m"] == 40 * 50 and answer["eps"] == DEFAULT_EPS
    assert answer["b"] in b_grid((512, 512))
    assert "not your image's pixels" in answer["reason"]
    # A weak guarantee on a tiny object keeps fine cells; a strong one on a large
    # object averages over large cells (the noise per cell mean decides).
    fine = _public(client, object_width=1, object_height=1, eps=100).json()["b"]
    coarse = _public(client, object_width=200, object_height=200, eps=0.1).json()["b"]
    assert fine <= 4 and coarse >= 128
    blur = _public(client, method="dp-blur").json()
    assert "b0" in blur and blur["m"] == 2000
    gray = _public(client, channels=1, width=451, height=300, object_width=4,
                   object_height=4).json()
    assert gray["b"] in b_grid((300, 451))


def test_settings_from_size_only_need_no_image_and_see_none(client):
    # No image id is part of the request: the answer cannot depend on any upload.
    before = _public(client).json()
    _upload(client)
    _upload(client, CAMERA)
    assert _public(client).json() == before


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"object_width": 600}, "object_width must be between 1 and 512"),
        ({"method": "np-pix"}, "method must be"),
        ({"eps": 0}, "eps must be a number > 0"),
        ({"width": "wide"}, "width must be an integer"),
        ({"channels": 2}, "channels must be 1"),
    ],
)
def test_settings_from_size_only_bad_requests(client, change, fragment):
    response = _public(client, **change)
    assert response.status_code == 400 and fragment in response.json()["error"]


def test_info_reports_the_upload_limit():
    app = create_app(max_upload_bytes=12345, allowed_hosts=["testserver"])
    with TestClient(app) as test_client:
        info = test_client.get("/api/info").json()
    assert info["max_upload_bytes"] == 12345
    assert info["methods"]["dp-pix"]["private"] is True
    assert info["methods"]["np-blur"]["private"] is False


def test_foreign_host_header_is_refused(client):
    response = client.get("/api/info", headers={"host": "attacker.example"})
    assert response.status_code == 400


# --------------------------------------------------------------------------- upload


def test_upload_decodes_with_the_guarded_reader(client):
    info = _upload(client)
    assert (info["width"], info["height"], info["channels"]) == (512, 512, 3)
    assert info["notices"] == []
    original = client.get(f"/api/images/{info['id']}/original")
    assert original.headers["content-type"] == "image/jpeg"
    shown = np.asarray(Image.open(io.BytesIO(original.content)))
    expected, _ = dpimage.io.read_image(ASTRONAUT)
    assert shown.shape == expected.shape
    assert np.abs(shown.astype(float) - expected).mean() < 3  # JPEG for display only


def test_gray_upload_stays_gray(client):
    info = _upload(client, CAMERA)
    assert info["channels"] == 1


def test_upload_larger_than_the_limit_is_refused_with_a_clear_message():
    app = create_app(max_upload_bytes=10_000, allowed_hosts=["testserver"])
    with TestClient(app) as test_client:
        response = test_client.post("/api/images", content=ASTRONAUT.read_bytes(), headers=RAW)
        assert response.status_code == 413
        message = response.json()["error"]
        assert "larger than the upload limit" in message and "10,000 bytes" in message
        # Same without a Content-Length (chunked body): counted while streaming.
        data = ASTRONAUT.read_bytes()
        chunks = (data[i : i + 4096] for i in range(0, len(data), 4096))
        response = test_client.post("/api/images", content=chunks, headers=RAW)
        assert response.status_code == 413
        assert list(app.state.dpimage.tmp.iterdir()) == []


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"", "upload is empty"),
        (b"definitely not an image", "not an image file Pillow can read"),
        (ASTRONAUT.read_bytes()[:5000], "cannot decode image"),
    ],
)
def test_bad_uploads_get_one_line_errors_without_server_paths(payload, fragment):
    app = create_app(allowed_hosts=["testserver"])
    with TestClient(app) as test_client:
        response = test_client.post("/api/images", content=payload, headers=RAW)
        tmp = str(app.state.dpimage.tmp)
        assert response.status_code == 400
        message = response.json()["error"]
        assert fragment in message
        assert "\n" not in message and tmp not in message and "/tmp" not in message
        assert list(app.state.dpimage.tmp.iterdir()) == []


def test_decompression_bomb_limit_applies():
    app = create_app(max_pixels=100_000, allowed_hosts=["testserver"])
    with TestClient(app) as test_client:
        response = test_client.post("/api/images", content=ASTRONAUT.read_bytes(), headers=RAW)
    assert response.status_code == 400
    assert "262,144 pixels, more than the limit of 100,000" in response.json()["error"]


def test_notices_name_the_upload_not_the_temp_file(client, tmp_path):
    rgba = np.zeros((32, 32, 4), dtype=np.uint8)
    rgba[..., 3] = 200
    path = tmp_path / "x.png"
    Image.fromarray(rgba, "RGBA").save(path)
    info = _upload(client, path)
    assert info["notices"] == [
        "uploaded image: alpha channel dropped (it can carry content and is not released)"
    ]


def test_temp_folder_is_private_emptied_and_removed():
    app = create_app(allowed_hosts=["testserver"])
    tmp = app.state.dpimage.tmp
    with TestClient(app) as test_client:
        assert oct(tmp.stat().st_mode & 0o777) == oct(0o700)
        info = _upload(test_client)
        test_client.post("/api/release", json={"id": info["id"]})
        assert list(tmp.iterdir()) == []
    assert not tmp.exists()


def test_old_images_are_forgotten():
    app = create_app(allowed_hosts=["testserver"], max_images=2)
    with TestClient(app) as test_client:
        first = _upload(test_client)["id"]
        _upload(test_client)
        _upload(test_client)
        response = test_client.post("/api/preview", json={"id": first})
    assert response.status_code == 404
    assert "upload it again" in response.json()["error"]


def test_forget(client):
    token = _upload(client)["id"]
    assert client.delete(f"/api/images/{token}").json() == {"forgotten": True}
    assert client.post("/api/preview", json={"id": token}).status_code == 404
    assert client.get(f"/api/images/{token}/original").status_code == 404


# --------------------------------------------------------------------------- preview


def test_preview_numbers_are_the_library_s(client):
    token = _upload(client)["id"]
    body = {"id": token, "method": "dp-pix", "b": 16, "m": 16, "eps": 0.5}
    data = client.post("/api/preview", json=body).json()
    assert data["private"] is True and data["eps_spent"] == 0.5
    # 255 m C / (b^2 eps) = 255 * 16 * 3 / (256 * 0.5), the RGB full-cell scale.
    assert data["noise_scale"]["full_cell"] == 95.625
    assert data["noise_scale"]["largest"] == 95.625  # 512 = 32 * 16: no partial cells
    image = _decode_data_url(data["image"])
    assert image.shape == (512, 512, 3)
    mse = data["measured"]["mse"]
    assert 2000 < mse < 20000  # a heavily noised mosaic
    assert data["measured"]["psnr"] == pytest.approx(10 * np.log10(255**2 / mse))

    partial = client.post("/api/preview", json={**body, "b": 20}).json()
    # 512 = 25 * 20 + 12: the corner cell has 12 * 12 pixels.
    assert partial["noise_scale"]["largest"] == pytest.approx(255 * 16 * 3 / (144 * 0.5))


def test_preview_follows_eps_and_keeps_its_display_noise(client):
    token = _upload(client)["id"]
    body = {"id": token, "method": "dp-pix", "eps": 0.5}
    first = client.post("/api/preview", json=body).json()
    again = client.post("/api/preview", json=body).json()
    assert first["image"] == again["image"]  # same display seed: only parameters change it
    sharper = client.post("/api/preview", json={**body, "eps": 5}).json()
    assert sharper["eps_spent"] == 5
    assert sharper["image"] != first["image"]
    assert sharper["measured"]["mse"] < first["measured"]["mse"]
    fresh = client.post("/api/preview", json={**body, "new_noise": True}).json()
    assert fresh["image"] != first["image"]


@pytest.mark.parametrize("method", ["dp-blur", "np-pix", "np-blur"])
def test_other_methods(client, method):
    token = _upload(client)["id"]
    data = client.post(
        "/api/preview", json={"id": token, "method": method, "b0": 4, "k": 31, "eps": 1}
    ).json()
    assert _decode_data_url(data["image"]).shape == (512, 512, 3)
    if method == "dp-blur":
        assert data["eps_spent"] == 1.0
        assert data["noise_scale"]["cell_side"] == 4
        assert data["noise_scale"]["full_cell"] == 255 * 16 * 3 / 16
    else:
        assert data["private"] is False and data["eps_spent"] is None
        original, _ = dpimage.io.read_image(ASTRONAUT)
        if method == "np-pix":
            expected = dpimage.np_pix(original, b=16)
        else:
            expected = dpimage.np_blur(original, k=31)
        diff = original.astype(float) - expected
        assert data["measured"]["mse"] == pytest.approx(float(np.mean(diff**2)))


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"method": "gauss"}, "method must be one of"),
        ({"eps": -1}, "eps"),
        ({"eps": "0.5"}, "eps must be a number"),
        ({"b": 0}, "b must be a positive integer"),
        ({"b": 2.5}, "b must be an integer"),
        ({"m": True}, "m must be an integer"),
        ({"method": "dp-blur", "k": 98}, "k"),
    ],
)
def test_bad_parameters(client, change, fragment):
    token = _upload(client)["id"]
    response = client.post("/api/preview", json={"id": token, **change})
    assert response.status_code == 400
    assert fragment in response.json()["error"]


def test_body_must_be_a_json_object(client):
    json_type = {"content-type": "application/json"}
    assert client.post("/api/preview", content=b"[1, 2]", headers=json_type).status_code == 400
    response = client.post("/api/preview", content=b"{oops", headers=json_type)
    assert response.json()["error"] == "request body must be JSON"


def test_cross_site_requests_are_refused(client):
    """A page on another site can neither post JSON as a simple request nor pass Origin."""
    token = _upload(client)["id"]
    body = json.dumps({"id": token})
    simple = client.post("/api/release", content=body, headers={"content-type": "text/plain"})
    assert simple.status_code == 415
    form = client.post("/api/images", content=b"x", headers={"content-type": "text/plain"})
    assert form.status_code == 415
    foreign = {"origin": "https://attacker.example", "content-type": "application/json"}
    response = client.post("/api/release", content=body, headers=foreign)
    assert response.status_code == 403
    assert client.delete(f"/api/images/{token}", headers=foreign).status_code == 403
    same = {"origin": "http://testserver", "content-type": "application/json"}
    assert client.post("/api/preview", content=body, headers=same).status_code == 200


def test_metrics_match_the_preview_and_go_stale(client):
    token = _upload(client)["id"]
    body = {"id": token, "method": "dp-pix", "eps": 2}
    first = client.post("/api/preview", json=body).json()
    metrics = client.get("/api/metrics", params={"id": token, "preview": first["preview_id"]})
    data = metrics.json()
    assert 0 < data["measured"]["ssim"] < 1
    predicted = data["predicted"]["mse"]
    assert predicted == pytest.approx(first["measured"]["mse"], rel=0.1)
    assert data["predicted"]["ssim"] is None
    client.post("/api/preview", json={**body, "eps": 3})
    stale = client.get("/api/metrics", params={"id": token, "preview": first["preview_id"]})
    assert stale.status_code == 409


# --------------------------------------------------------------------------- download


def _unzip(content: bytes) -> tuple[np.ndarray, dict, Image.Image]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert sorted(archive.namelist()) == ["dpimage-manifest.json", "dpimage-release.png"]
        manifest = json.loads(archive.read("dpimage-manifest.json"))
        png = Image.open(io.BytesIO(archive.read("dpimage-release.png")))
        png.load()
    return np.asarray(png), manifest, png


def test_release_is_fresh_secure_noise_with_its_manifest(client, monkeypatch):
    from dpimage import methods

    calls = []
    real = methods.dp_pix  # the page dispatches through the method registry

    def spy(image, **kwargs):
        calls.append(kwargs["rng"])
        return real(image, **kwargs)

    monkeypatch.setattr(methods, "dp_pix", spy)
    token = _upload(client)["id"]
    body = {"id": token, "method": "dp-pix", "b": 16, "m": 16, "eps": 0.5}
    client.post("/api/preview", json=body)
    assert isinstance(calls[-1], np.random.Generator)  # the display-only seed
    response = client.post("/api/release", json=body)
    assert calls[-1] is None  # the download: secure sampler, no seed
    assert response.headers["content-type"] == "application/zip"
    assert "dpimage-release.zip" in response.headers["content-disposition"]
    released, manifest, png = _unzip(response.content)
    assert released.shape == (512, 512, 3) and released.dtype == np.uint8
    assert not png.info.get("exif") and "icc_profile" not in png.info
    assert manifest["mechanism"] == "dp_pix" and manifest["command"] == "serve"
    assert manifest["parameters"] == {
        "b": 16, "m": 16, "eps": 0.5, "output": "blocks", "render": "blocks", "colour": "rgb",
    }  # fmt: skip
    assert [(o["path"], o["epsilon"], o["releases"]) for o in manifest["outputs"]] == [
        ("dpimage-release.png", 0.5, 1)
    ]
    assert manifest["total_epsilon"] == 0.5
    assert manifest["private_release"] is True and manifest["sampler"]["kind"] == "secure"
    assert "seed" not in json.dumps(manifest["sampler"])
    # Nothing derived from the image: no size, no hash, no name of the upload.
    text = json.dumps(manifest)
    assert "512" not in text and "astronaut" not in text and "sha" not in text.lower()
    # Two downloads are two independent releases.
    second, _, _ = _unzip(client.post("/api/release", json=body).content)
    assert not np.array_equal(second, released)


def test_dp_blur_release_manifest(client):
    token = _upload(client, CAMERA)["id"]
    body = {"id": token, "method": "dp-blur", "b0": 4, "k": 31, "m": 9, "eps": 1.5}
    released, manifest, _ = _unzip(client.post("/api/release", json=body).content)
    assert released.shape == (512, 512)
    assert manifest["mechanism"] == "dp_blur"
    assert manifest["parameters"] == {
        "b0": 4, "k": 31, "sigma": None, "m": 9, "eps": 1.5, "render": "blocks", "colour": "rgb",
    }  # fmt: skip
    assert manifest["total_epsilon"] == 1.5


def test_non_private_methods_are_not_offered_for_download(client):
    token = _upload(client)["id"]
    response = client.post("/api/release", json={"id": token, "method": "np-pix"})
    assert response.status_code == 400
    assert "not private" in response.json()["error"]


# --------------------------------------------------------------------------- CLI


def test_dpimage_serve_binds_loopback_and_serves_the_page():
    # Port 0: the server binds a free port itself and its first line names it.
    with served_page() as (_, url):
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url) and not url.endswith(":0/")
        with urllib.request.urlopen(url, timeout=30) as page:
            text = page.read().decode()
    assert "dpimage" in text and "/static/app.js" in text


@pytest.fixture
def fake_uvicorn(monkeypatch):
    """uvicorn's server does not run; each call is (app, listening socket's address)."""
    import uvicorn

    from dpimage.web import app as web_app

    calls = []

    def run(self, sockets=None):
        (sock,) = sockets
        calls.append((self.config.app, sock.getsockname()[:2]))

    monkeypatch.setattr(uvicorn.Server, "run", run)
    # the memory cap is for the server's own process, not the test runner's
    monkeypatch.setattr(web_app, "limit_memory", lambda megabytes: None)
    yield calls
    for served, _ in calls:
        served.state.dpimage.close()  # what the lifespan does when a real server stops


def _hosts(app) -> list[str]:
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    (middleware,) = [m for m in app.user_middleware if m.cls is TrustedHostMiddleware]
    return list(middleware.kwargs["allowed_hosts"])


def test_serve_defaults_to_loopback(fake_uvicorn):
    from typer.testing import CliRunner

    from dpimage.cli import app as cli_app

    result = CliRunner().invoke(cli_app, ["serve", "--max-upload-mb", "2", "--port", "0"])
    assert result.exit_code == 0, result.output
    (served, (host, port)) = fake_uvicorn[0]
    assert host == "127.0.0.1" and port > 0
    assert f"http://127.0.0.1:{port}/" in result.output  # the port it got, not 0
    assert "*" not in _hosts(served) and "127.0.0.1" in _hosts(served)
    assert served.state.dpimage.max_upload_bytes == 2 * 1024 * 1024
    assert "warning" not in result.output


def test_serve_warns_on_a_public_address(fake_uvicorn):
    from typer.testing import CliRunner

    from dpimage.cli import app as cli_app

    result = CliRunner().invoke(cli_app, ["serve", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert "warning: serving on 0.0.0.0, not the loopback address" in result.output
    assert fake_uvicorn[0][1][0] == "0.0.0.0"


def test_serve_rejects_a_bad_port(fake_uvicorn):
    from typer.testing import CliRunner

    from dpimage.cli import app as cli_app

    result = CliRunner().invoke(cli_app, ["serve", "--port", "-1"])
    assert result.exit_code == 2 and fake_uvicorn == []


def test_serve_says_when_the_port_is_taken(fake_uvicorn):
    from typer.testing import CliRunner

    from dpimage.cli import app as cli_app

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli_app, ["serve", "--port", str(port)])
    assert result.exit_code == 1 and fake_uvicorn == []
    assert f"error: cannot listen on 127.0.0.1:{port}" in result.output


# --------------------------------------------------------------------------- render, colour


def test_render_and_colour_in_preview_and_release(client):
    token = _upload(client)["id"]
    body = {"id": token, "method": "dp-pix", "render": "smooth", "colour": "ycocg"}
    data = client.post("/api/preview", json=body).json()
    split = data["colour_split"]
    assert split["eps_luma"] == 0.5 and split["b_chroma"] == 64 and split["eps_bound"] == 0.5
    # the luma grid's scale: 255 m / (b^2 eps_Y), one channel
    assert data["noise_scale"]["full_cell"] == pytest.approx(255 * 16 / (256 * 0.5))
    blocks = client.post("/api/preview", json={**body, "render": "blocks"}).json()
    assert blocks["image"] != data["image"]
    _, manifest, _ = _unzip(client.post("/api/release", json=body).content)
    params = manifest["parameters"]
    assert params["render"] == "smooth" and params["colour"] == "luma-chroma"
    assert params["colour_split"]["eps_luma"] == 0.5
    assert params["colour_split"]["eps_bound"] == 0.5  # the three channels together
    assert manifest["total_epsilon"] == 0.5  # the privacy map is still the total


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("render", "blur", "render must be one of"), ("colour", "hsv", "colour must be")],
)
def test_bad_render_or_colour_is_400(client, field, value, message):
    token = _upload(client)["id"]
    response = client.post("/api/preview", json={"id": token, field: value})
    assert response.status_code == 400 and message in response.text


def test_the_web_guide_says_what_make_test_does():
    """The guide's sentence on the browser test matches the Makefile's `test` target."""
    from conftest import ROOT

    makefile = (ROOT / "Makefile").read_text()
    test_needs = re.search(r"^test:(.*)$", makefile, re.MULTILINE).group(1).split()
    guide = " ".join((ROOT / "docs" / "guides" / "web-page.md").read_text().split())
    installs = "browser-deps" in test_needs
    assert ("`make test` installs" in guide) == installs
    assert ("it never installs system packages" in guide) == (not installs)
