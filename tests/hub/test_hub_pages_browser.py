"""The hub's web pages in a real browser: Debian's chromium driven by Selenium (both installed by
.ci/setup-browser.sh, never downloaded at test time). Screenshots land in the test's tmp folder
(and in $ZOOLAB_SCREENSHOT_DIR when set) so people can look at the pages."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_server_support import HubServer
from pages_support import Published, publish_samples

_BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
_DRIVER = shutil.which("chromedriver")
_MISSING = "chromium/chromedriver not installed" if not (_BROWSER and _DRIVER) else None
try:
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # pragma: no cover - selenium is a dev dependency
    _MISSING = _MISSING or "selenium not installed"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HubServer, Published]]:
    server = HubServer(tmp_path_factory.mktemp("hub-pages-browser") / "home")
    try:
        yield server, publish_samples(server.url, server)
    finally:
        server.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator["webdriver.Chrome"]:
    if _MISSING:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser tests need Debian's chromium and chromium-driver ({_MISSING}): run .ci/setup-browser.sh")
        pytest.skip(f"{_MISSING}: run .ci/setup-browser.sh to run the browser tests")
    options = webdriver.ChromeOptions()
    options.binary_location = _BROWSER  # type: ignore[assignment]
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--no-first-run", "--disable-extensions", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(argument)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=_DRIVER))
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.implicitly_wait(2)
    driver.downloads = downloads  # type: ignore[attr-defined]
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    """Save a full-page screenshot of what the browser shows now."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, min(max(height + 120, 600), 2400))
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    if os.environ.get("ZOOLAB_SCREENSHOT_DIR"):
        Path(os.environ["ZOOLAB_SCREENSHOT_DIR"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(os.environ["ZOOLAB_SCREENSHOT_DIR"]) / path.name)
    assert path.stat().st_size > 5000


def no_alert(driver) -> bool:  # type: ignore[no-untyped-def]
    try:
        driver.switch_to.alert
    except NoAlertPresentException:
        return True
    return False


def test_visitor_browses_filters_reads_cards_and_downloads(site, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, pub = site
    browser.get(server.url + "/")
    titles = [a.text for a in browser.find_elements(By.CSS_SELECTOR, ".card .title")]
    assert any(pub.timm in t for t in titles) and any(pub.agent in t for t in titles)
    assert not any(pub.private in t for t in titles)
    shot(browser, tmp_path, "home-visitor")

    # Picking a task applies the filter at once (the small script submits the form).
    Select(browser.find_element(By.CSS_SELECTOR, ".filters select[name=task]")).select_by_visible_text(
        "text-classification")
    WebDriverWait(browser, 10).until(lambda d: "task=text-classification" in d.current_url)
    titles = [a.text for a in browser.find_elements(By.CSS_SELECTOR, ".card .title")]
    assert len(titles) == 1 and pub.text in titles[0]

    # The hostile card: nothing from it ran, its markup is gone, the evaluation table is there.
    browser.find_element(By.CSS_SELECTOR, ".card .title").click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith(f"/{pub.text}"))
    assert browser.title == f"{pub.text} · zoolab hub" and no_alert(browser)
    assert not browser.find_elements(By.CSS_SELECTOR, "article iframe, article script, article [onerror], article [onclick]")
    cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, ".evals table.grid td")]
    assert "Accuracy" in cells and "0.8734" in cells
    snippet = browser.find_element(By.ID, "snip-1").text
    assert f"zoolab download hub:{pub.text}" in snippet
    shot(browser, tmp_path, "card-text-model")

    # The agent's replay plays inline.
    browser.get(f"{server.url}/{pub.agent}")
    WebDriverWait(browser, 15).until(lambda d: d.execute_script(
        "const v = document.querySelector('video'); return v && v.readyState >= 1 && v.duration > 0"))
    shot(browser, tmp_path, "card-agent")

    # Files and versions: a preview, then a download through the link.
    browser.get(f"{server.url}/{pub.timm}")
    browser.find_element(By.LINK_TEXT, "Files and versions").click()
    browser.find_element(By.LINK_TEXT, "config.json").click()
    assert '"num_classes": 10' in browser.find_element(By.CSS_SELECTOR, "pre.code").text
    browser.back()
    shot(browser, tmp_path, "files-timm")
    row = next(r for r in browser.find_elements(By.CSS_SELECTOR, "table.files tr") if "model.safetensors" in r.text)
    row.find_element(By.LINK_TEXT, "Download").click()
    target = browser.downloads / "model.safetensors"
    deadline = time.monotonic() + 20
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert target.read_bytes() == pub.weights


def test_member_signs_in_sees_private_repo_then_signs_out(site, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, pub = site
    browser.get(f"{server.url}/{pub.private}")
    assert "Repository not found" in browser.find_element(By.TAG_NAME, "h1").text
    browser.find_element(By.LINK_TEXT, "Sign in").click()
    shot(browser, tmp_path, "sign-in")
    browser.find_element(By.ID, "token").send_keys(pub.member_token)
    browser.find_element(By.CSS_SELECTOR, "form.stack button[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith(f"/{pub.private}"))
    assert pub.member_token not in browser.current_url
    assert "Only the lab may see this." in browser.find_element(By.CSS_SELECTOR, "article").text
    assert "zoolab_session" not in browser.execute_script("return document.cookie")  # HttpOnly
    browser.get(server.url + "/")
    assert any(pub.private in a.text for a in browser.find_elements(By.CSS_SELECTOR, ".card .title"))
    shot(browser, tmp_path, "home-member")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    browser.get(f"{server.url}/{pub.timm}")
    background = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)"
    shot(browser, tmp_path, "card-timm-dark")
    browser.set_window_size(390, 844)  # a phone: one column, nothing wider than the screen
    browser.get(server.url + "/")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
    shot(browser, tmp_path, "home-phone-dark")
    browser.set_window_size(1280, 900)
    browser.find_element(By.CSS_SELECTOR, ".user button").click()
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.LINK_TEXT, "Sign in"))
    assert not any(pub.private in a.text for a in browser.find_elements(By.CSS_SELECTOR, ".card .title"))
