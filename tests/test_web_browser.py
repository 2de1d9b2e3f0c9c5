"""The web page in a real browser: headless Chromium driven by Selenium.

Uses Debian's ``chromium`` and ``chromium-driver`` packages (``make
test-browser`` and CI install them; ``make test`` never does); nothing is
downloaded at run time — the driver path is given explicitly, so Selenium
Manager is never asked for one. Skipped with a one-line reason when either is
missing. Artefacts (a screenshot of the page and the
measured preview latencies) go to ``out/test-artefacts/`` (or
``$DPIMAGE_ARTEFACTS``).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import statistics
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, SAMPLES, served_page

pytestmark = pytest.mark.browser

ASTRONAUT = SAMPLES / "astronaut.jpg"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or (
    "/usr/lib/chromium/chromedriver" if os.path.exists("/usr/lib/chromium/chromedriver") else None
)

if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip(
        "needs chromium and chromedriver on PATH: `make test-browser` installs them (apt, root)",
        allow_module_level=True,
    )
webdriver = pytest.importorskip("selenium.webdriver", reason="needs the web-test extra")

from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1440,1080",
]


def _artefacts() -> Path:
    folder = Path(os.environ.get("DPIMAGE_ARTEFACTS", ROOT / "out" / "test-artefacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """``dpimage serve`` on a port it picks itself (its first line names it), own process."""
    with served_page() as (_, url):
        yield url


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(tmp_path_factory, downloads) -> Iterator[webdriver.Chrome]:
    # Selenium Manager must not fetch anything: the browser and driver are given.
    os.environ.setdefault("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _stats(driver) -> dict:
    return driver.execute_script("return window.dpimageStats")


def _until(driver, condition, what: str, timeout: float = 60):
    """``WebDriverWait.until`` that says what it waited for and what the page showed."""
    try:
        return WebDriverWait(driver, timeout).until(condition)
    except TimeoutException:
        status = driver.find_element(By.ID, "status").text
        stats = {k: v for k, v in _stats(driver).items() if k != "latencies"}
        raise AssertionError(
            f"timed out after {timeout} s waiting for {what}; page status {status!r}, "
            f"stats {stats}, load average {os.getloadavg()}"
        ) from None


def _wait_for_preview(driver, count: int, timeout: float = 90) -> dict:
    """Wait until ``count`` previews have been shown."""
    _until(driver, lambda d: _stats(d)["previews"] >= count, f"preview #{count}", timeout)
    return _stats(driver)


def _type_settings(driver, **values: str) -> None:
    """Type each value into its field, waiting for the preview it triggers."""
    for field, value in values.items():
        count = _stats(driver)["previews"]
        box = driver.find_element(By.ID, field)
        box.clear()
        box.send_keys(value, Keys.TAB)
        _wait_for_preview(driver, count + 1)


def _upload(driver, url: str, path: Path) -> None:
    driver.get(url)
    driver.find_element(By.ID, "file").send_keys(str(path))
    _wait_for_preview(driver, 1)


_BROKEN_IMAGES = (
    "return [...document.images].filter((i) => i.offsetParent !== null"
    " && !(i.complete && i.naturalWidth > 0)).map((i) => i.src || '(no src)')"
)


def test_empty_page_offers_the_samples_and_settings_from_size_only(server, browser):
    driver = browser
    driver.get(server)
    empty = driver.find_element(By.ID, "empty")
    assert empty.is_displayed() and "Drop an image here" in empty.text
    assert not driver.find_element(By.ID, "loaded").is_displayed()
    _until(
        driver,
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#samples .sample")) == 4,
        "the four sample photos",
    )
    # No broken-image icon anywhere: every visible picture has decoded.
    _until(driver, lambda d: d.execute_script(_BROKEN_IMAGES) == [], "no broken images")

    driver.find_element(By.CSS_SELECTOR, '#samples .sample[data-name="chelsea.jpg"]').click()
    _wait_for_preview(driver, 1)
    assert not empty.is_displayed() and driver.find_element(By.ID, "loaded").is_displayed()
    assert "451×300" in driver.find_element(By.ID, "box-info").text
    assert "not covered by the guarantee" in driver.find_element(By.ID, "data-note").text
    _until(driver, lambda d: d.execute_script(_BROKEN_IMAGES) == [], "both pictures shown")

    count = _stats(driver)["previews"]
    driver.find_element(By.ID, "public-settings").click()
    reason = driver.find_element(By.ID, "public-reason")
    _until(driver, lambda d: "not your image's pixels" in reason.text, "settings from size only")
    _wait_for_preview(driver, count + 1)
    assert driver.find_element(By.ID, "m").get_attribute("value") == str(40 * 50)
    assert driver.find_element(By.ID, "eps").get_attribute("value") == "0.5"


def test_page_upload_slider_region_and_screenshot(server, browser):
    driver = browser
    _upload(driver, server, ASTRONAUT)
    assert "stays on this machine" in driver.find_element(By.ID, "local-note").text
    preview = driver.find_element(By.ID, "preview")
    eps_spent = driver.find_element(By.ID, "eps-spent")
    assert eps_spent.get_attribute("data-eps") == "0.5"
    assert "ε = 0.5 for the whole image" in eps_spent.text
    # the page preselects the luma/chroma release: luma gets all of ε, so a full
    # 16x16 luma cell's mean has Laplace scale 255 * 16 / (256 * 0.5) = 31.9
    assert "31.9" in driver.find_element(By.ID, "noise-scale").text
    before = preview.get_attribute("src")

    # Move the ε slider one step to the right: 0.5 -> 0.7.
    count = _stats(driver)["previews"]
    driver.find_element(By.ID, "eps-slider").send_keys(Keys.ARROW_RIGHT)
    _wait_for_preview(driver, count + 1)
    _until(driver, lambda d: eps_spent.get_attribute("data-eps") == "0.7", "ε = 0.7 stated")
    assert driver.find_element(By.ID, "eps").get_attribute("value") == "0.7"
    assert "ε = 0.7 for the whole image" in eps_spent.text
    after = preview.get_attribute("src")
    assert after.startswith("data:image/jpeg;base64,") and after != before

    # The slower numbers follow.
    _until(driver, lambda d: _stats(d)["metrics"] >= 1, "the first metrics")
    for cell in ("meas-ssim", "pred-mse", "pred-psnr"):
        _until(
            driver,
            lambda d, cell=cell: d.find_element(By.ID, cell).text not in ("", "…", "—"),
            f"#{cell} filled",
        )
    measured_ssim = float(driver.find_element(By.ID, "meas-ssim").text)
    assert 0 < measured_ssim < 1

    # Draw a region box on the original: m becomes its pixel count.
    canvas = driver.find_element(By.ID, "box-canvas")
    count = _stats(driver)["previews"]
    drag = ActionChains(driver).move_to_element_with_offset(canvas, -60, -80).click_and_hold()
    drag.move_by_offset(90, 60).release().perform()
    _wait_for_preview(driver, count + 1)
    info = driver.find_element(By.ID, "box-info").text
    m_value = int(driver.find_element(By.ID, "m").get_attribute("value"))
    width, height = (int(v) for v in info.split()[1].split("×"))
    assert m_value == width * height and m_value > 100
    assert f"m = {m_value:,}" in info
    _until(driver, lambda d: f"m = {m_value:,} pixels" in eps_spent.text, "m stated")

    driver.save_screenshot(str(_artefacts() / "web-page-region.png"))
    assert not driver.find_element(By.ID, "download").get_property("disabled")

    # Back to m = 16 (typed), ε = 5 (typed), for the README's picture.
    driver.find_element(By.ID, "clear-box").click()
    _type_settings(driver, m="16", eps="5")
    _until(driver, lambda d: eps_spent.get_attribute("data-eps") == "5", "ε = 5 stated")
    # Each preview resets the slow numbers to "…"; the metrics of the last one fill them.
    for cell in ("meas-ssim", "pred-mse"):
        _until(
            driver,
            lambda d, cell=cell: d.find_element(By.ID, cell).text not in ("", "…", "—"),
            f"#{cell} filled for ε = 5",
        )
    driver.save_screenshot(str(_artefacts() / "web-page.png"))


def test_download_is_a_fresh_release_with_its_manifest(server, browser, downloads):
    driver = browser
    # the previous test leaves the astronaut at m = 16, ε = 5; run alone, set it up
    fields = driver.find_elements(By.ID, "eps")
    if not (fields and fields[0].is_displayed() and fields[0].get_attribute("value") == "5"):
        _upload(driver, server, ASTRONAUT)
        _type_settings(driver, m="16", eps="5")
    assert driver.find_element(By.ID, "eps").get_attribute("value") == "5"
    driver.find_element(By.ID, "download").click()
    target = downloads / "dpimage-release.zip"
    _until(driver, lambda d: target.exists(), "the downloaded ZIP")
    _until(
        driver,
        lambda d: "Saved dpimage-release.zip" in d.find_element(By.ID, "download-status").text,
        "the download note",
    )
    with zipfile.ZipFile(target) as archive:
        manifest = json.loads(archive.read("dpimage-manifest.json"))
        released = np.asarray(Image.open(io.BytesIO(archive.read("dpimage-release.png"))))
    parameters = manifest["parameters"]
    assert {k: parameters[k] for k in ("b", "m", "eps")} == {"b": 16, "m": 16, "eps": 5.0}
    assert (parameters["render"], parameters["colour"]) == ("smooth", "luma-chroma")
    assert manifest["total_epsilon"] == 5.0 and manifest["private_release"] is True
    assert released.shape == (512, 512, 3)
    # The page states the running total of this upload's downloads, as the manifest does.
    spent = manifest["total_epsilon_all_runs"]
    note = driver.find_element(By.ID, "download-status").text
    assert f"{spent:g} in all for this upload's downloads" in note, note


def _latencies(driver, steps: int) -> tuple[list[float], list[float]]:
    """Per ε-slider step: ms from the key press to the decoded picture, and server ms.

    Each step must show the release at the ε the slider moved to: a latency
    is only reported for the preview it claims to time.
    """
    total, server = [], []
    slider = driver.find_element(By.ID, "eps-slider")
    shown = driver.find_element(By.ID, "eps-spent")
    for i in range(steps):
        count = _stats(driver)["previews"]
        before = driver.find_element(By.ID, "eps").get_attribute("value")
        slider.send_keys(Keys.ARROW_RIGHT if i % 2 == 0 else Keys.ARROW_LEFT)
        stats = _wait_for_preview(driver, count + 1)
        wanted = driver.find_element(By.ID, "eps").get_attribute("value")
        assert wanted != before, f"the slider step did not change ε ({before})"
        assert float(shown.get_attribute("data-eps")) == float(wanted), (wanted, stats)
        total.append(stats["lastLatencyMs"])
        server.append(stats["serverMs"])
    return total, server


def test_preview_latency_full_hd(server, browser, tmp_path):
    """Preview time per ε-slider change for a 1920x1080 photo (reported, not asserted).

    No 1920x1080 photo ships offline: the astronaut photo's top 512x288 is
    upscaled 3.75x (Lanczos) to 1920x1080.
    """
    image = Image.open(ASTRONAUT).convert("RGB").crop((0, 0, 512, 288))
    photo = tmp_path / "astronaut-1920x1080.jpg"
    image.resize((1920, 1080), Image.Resampling.LANCZOS).save(photo, quality=92)
    driver = browser
    _upload(driver, server, photo)
    report = {"image": "astronaut.jpg top 512x288 upscaled to 1920x1080", "load_average": None}
    for method in ("dp-pix", "dp-blur"):
        select = Select(driver.find_element(By.ID, "method"))
        if select.first_selected_option.get_attribute("value") != method:
            count = _stats(driver)["previews"]
            select.select_by_value(method)
            _wait_for_preview(driver, count + 1)
        _latencies(driver, 2)  # warm-up
        values, server = _latencies(driver, 8)
        report[method] = {
            "median_ms": round(statistics.median(values), 1),
            "max_ms": round(max(values), 1),
            "all_ms": [round(v, 1) for v in values],
            "server_median_ms": round(statistics.median(server), 1),
        }
    report["load_average"] = os.getloadavg()
    (_artefacts() / "preview-latency.json").write_text(json.dumps(report, indent=2) + "\n")
    print("preview latency, 1920x1080:", json.dumps(report))
