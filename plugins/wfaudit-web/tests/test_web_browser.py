"""End to end in headless Chromium: sign in, load a pipeline's timeline and a
side-by-side diff, check what is rendered, and save screenshots.

Needs the Debian packages ``chromium`` and ``chromium-driver`` (``.ci/run``
installs them); skipped only when they are absent, and then failed instead
with ``WFAUDIT_REQUIRE_BROWSER=1`` (as in CI). With
``WFAUDIT_UPDATE_SCREENSHOTS=1`` the screenshots are also written to
``docs/images/`` for the documentation.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import sys
from collections.abc import Iterator

import pytest

from .conftest import DB_PASSWORD_1, DB_PASSWORD_2, TOKEN_A, Seeded, Server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
DOCS_IMAGES = pathlib.Path(__file__).resolve().parents[3] / "docs" / "images"

REQUIRE = "WFAUDIT_REQUIRE_BROWSER"


def require_browser() -> None:
    """Skip the test when Chromium or its driver is missing; fail it instead
    when ``WFAUDIT_REQUIRE_BROWSER=1`` (CI must not pass without the browser test)."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if not missing:
        return
    message = f"not installed: {', '.join(missing)} (apt-get install chromium chromium-driver)"
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{message}; {REQUIRE}=1 requires the browser test")
    pytest.skip(message)


@pytest.fixture
def browser(tmp_path: pathlib.Path) -> Iterator[object]:
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,860",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _screenshot(driver: object, tmp_path: pathlib.Path, name: str) -> pathlib.Path:
    path = tmp_path / name
    assert driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    assert path.read_bytes().startswith(b"\x89PNG")
    if os.environ.get("WFAUDIT_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMAGES / name)
    return path


@pytest.mark.wfaudit_backends("sqlite")
def test_timeline_and_diff_in_headless_chromium(
    seeded: Seeded, app_server: Server, browser: object, tmp_path: pathlib.Path
) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    ids = seeded.ids
    driver.get(f"{app_server.url}/ui/pipelines/shop-api")  # type: ignore[attr-defined]
    assert "Sign in" in driver.title  # type: ignore[attr-defined]
    _submit_token(driver)
    assert "Newest snapshots" in driver.page_source  # type: ignore[attr-defined]

    driver.get(f"{app_server.url}/ui/pipelines/shop-api")  # type: ignore[attr-defined]
    rows = driver.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")  # type: ignore[attr-defined]
    cells = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows]
    assert [row[1:6] for row in cells] == [
        ["CI", "102-r v1.1", "succeeded", "2", "ana"],
        ["CI", "102", "failed", "1", "bo"],
        ["CI", "101", "succeeded", "1", "ana"],
    ]
    assert cells[0][6] == "no change · diff"
    assert cells[1][6].startswith("1 step added") and "secrets" in cells[1][6]
    assert cells[1][6].endswith("bo: checkout test is flaky")
    assert cells[2][6] == "first snapshot"
    _screenshot(driver, tmp_path, "web-timeline.png")

    rows[1].find_element(By.LINK_TEXT, "diff").click()
    assert driver.current_url.endswith(f"/ui/diff?a={ids['first']}&b={ids['second']}")  # type: ignore[attr-defined]
    summary = driver.find_element(By.ID, "summary").text  # type: ignore[attr-defined]
    assert summary.startswith("1 step added") and summary.endswith("secrets")
    changes = {
        row.find_element(By.CSS_SELECTOR, "td code").text: [
            cell.text for cell in row.find_elements(By.TAG_NAME, "td")
        ]
        for row in driver.find_elements(By.CSS_SELECTOR, "#changes tbody tr")  # type: ignore[attr-defined]
    }
    assert changes["/env/DB_PASSWORD"][1:] == ["modified", "secret changed", "secret changed"]
    assert changes["/image"][1:] == ["modified", '"shop:1.0"', '"shop:1.1"']
    assert changes["/steps/1"][1] == "added"
    marked = driver.find_elements(By.CSS_SELECTOR, ".secret-changed")  # type: ignore[attr-defined]
    assert len(marked) == 2 and all(m.is_displayed() for m in marked)
    source = driver.page_source  # type: ignore[attr-defined]
    assert DB_PASSWORD_1 not in source and DB_PASSWORD_2 not in source
    _screenshot(driver, tmp_path, "web-diff.png")

    driver.get(f"{app_server.url}/ui/snapshots/{ids['second']}")  # type: ignore[attr-defined]
    manifest = driver.find_element(By.ID, "manifest").text  # type: ignore[attr-defined]
    assert "/env/DB_PASSWORD" in manifest
    facts = driver.find_element(By.TAG_NAME, "dl").text  # type: ignore[attr-defined]
    assert "failed 2 tests failed in <TestCheckout>" in facts  # text, not markup
    config = driver.find_element(By.ID, "config").text  # type: ignore[attr-defined]
    assert '"DB_PASSWORD": "[masked:' in config and '"LOG_LEVEL": "info"' in config
    _screenshot(driver, tmp_path, "web-snapshot.png")

    driver.get(f"{app_server.url}/ui/snapshots/{ids['other_tenant']}")  # type: ignore[attr-defined]
    assert "404" in driver.find_element(By.TAG_NAME, "h1").text  # type: ignore[attr-defined]


def _script(step: int, version: str) -> str:
    lines = [f"echo step {step} line {n}" for n in range(30)]
    lines[12] = f"make release VERSION={version}"
    return "\n".join(lines)


def _big_config(version: str) -> dict[str, object]:
    """A realistic request: 30 steps of 30-line scripts. Between the two versions
    one line of one script changes, and a long one-line value."""
    return {
        "steps": [
            {"name": f"step-{n}", "script": _script(n, version if n == 7 else "1.0")}
            for n in range(30)
        ],
        "notes": ("release notes " * 40) + version,
    }


def _submit_token(driver: object) -> None:
    """Sign in on the page the driver shows, and wait until the browser has left it.

    ``submit()`` returns before the POST's answer arrives: a ``get`` sent at once
    can overtake the session cookie and land on the sign-in page again.
    """
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    token = driver.find_element(By.NAME, "token")  # type: ignore[attr-defined]
    token.send_keys(TOKEN_A)
    token.submit()
    WebDriverWait(driver, 30).until(  # type: ignore[arg-type]
        lambda d: "Sign in" not in d.title  # type: ignore[attr-defined]
    )


def _sign_in(driver: object, url: str) -> None:
    driver.get(f"{url}/login")  # type: ignore[attr-defined]
    _submit_token(driver)


@pytest.mark.wfaudit_backends("sqlite")
def test_a_one_step_script_change_is_a_short_page_with_a_line_diff(
    seeded: Seeded, app_server: Server, browser: object, tmp_path: pathlib.Path
) -> None:
    from selenium.webdriver.common.by import By

    from wfaudit import Auditor

    ids = {}
    with Auditor.from_url(seeded.store_url, tenant="team-a", strict=True) as auditor:
        for run, version in (("301", "1.0"), ("302", "1.1")):
            result = auditor.audit_trigger(
                workflow_id=run,
                workflow_type="CI",
                pipeline_id="scripts",
                config=_big_config(version),
                labels={"app": "shop", "team": "a"},
            )
            assert result.ref is not None
            ids[run] = result.ref.id
        auditor.tag(ids["302"], "release-1.1", by="ana")
    driver = browser
    _sign_in(driver, app_server.url)
    driver.get(f"{app_server.url}/ui/diff?a=301:CI&b=302:CI")  # type: ignore[attr-defined]
    rows = driver.find_elements(By.CSS_SELECTOR, "#changes > tbody > tr")  # type: ignore[attr-defined]
    assert [row.find_element(By.TAG_NAME, "code").text for row in rows] == [
        "/notes",
        "/steps/7/script",
    ]
    removed = driver.find_elements(By.CSS_SELECTOR, ".linediff .line-removed")  # type: ignore[attr-defined]
    added = driver.find_elements(By.CSS_SELECTOR, ".linediff .line-added")  # type: ignore[attr-defined]
    assert [line.text for line in removed] == ["-make release VERSION=1.0"]
    assert [line.text for line in added] == ["+make release VERSION=1.1"]
    assert removed[0].is_displayed() and added[0].is_displayed()
    colour = added[0].value_of_css_property("background-color")
    assert colour not in ("rgba(0, 0, 0, 0)", "transparent"), colour  # highlighted
    # Three unchanged lines around the change; the others folded.
    context = driver.find_elements(By.CSS_SELECTOR, ".linediff pre.hunk .line-same")  # type: ignore[attr-defined]
    assert len(context) == 6 and all(line.is_displayed() for line in context)
    folded = driver.find_elements(By.CSS_SELECTOR, ".linediff details")  # type: ignore[attr-defined]
    assert [d.find_element(By.TAG_NAME, "summary").text for d in folded] == [
        "9 unchanged lines",
        "14 unchanged lines",
    ]
    assert not folded[0].find_element(By.CSS_SELECTOR, ".line-same").is_displayed()
    # The long one-line value is cut, with the whole a click away.
    long_value = driver.find_element(By.CSS_SELECTOR, "details.value")  # type: ignore[attr-defined]
    assert "characters: show all" in long_value.text
    # The whole configs are folded: a one-step change is a short page.
    assert not driver.find_element(By.ID, "config-a").is_displayed()  # type: ignore[attr-defined]
    height = driver.execute_script("return document.documentElement.scrollHeight")  # type: ignore[attr-defined]
    assert height < 1200, height
    _screenshot(driver, tmp_path, "web-diff-script.png")
    driver.find_element(By.CSS_SELECTOR, "details.configs > summary").click()  # type: ignore[attr-defined]
    assert driver.find_element(By.ID, "config-b").is_displayed()  # type: ignore[attr-defined]
    expanded = driver.execute_script("return document.documentElement.scrollHeight")  # type: ignore[attr-defined]
    assert expanded > 3 * height  # what was folded is all there

    driver.get(f"{app_server.url}/ui/snapshots/302:CI")  # type: ignore[attr-defined]
    assert driver.find_element(By.ID, "labels").text == "app=shop team=a"  # type: ignore[attr-defined]
    assert driver.find_element(By.ID, "tags").text == "release-1.1"  # type: ignore[attr-defined]
    _screenshot(driver, tmp_path, "web-snapshot-labels.png")

    driver.find_element(By.ID, "logout").click()  # type: ignore[attr-defined]
    assert driver.current_url.endswith("/login")  # type: ignore[attr-defined]
    page = driver.page_source  # type: ignore[attr-defined]
    assert "Sign in" in page and 'id="error"' not in page
    driver.get(f"{app_server.url}/ui/snapshots/302:CI")  # type: ignore[attr-defined]
    assert "Sign in" in driver.title  # type: ignore[attr-defined]  # signed out
    assert not driver.find_elements(By.ID, "error")  # type: ignore[attr-defined]
    _screenshot(driver, tmp_path, "web-login.png")


@pytest.mark.parametrize("required", [False, True], ids=["skip", "required"])
def test_a_missing_browser_skips_or_fails_as_required(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path, required: bool
) -> None:
    module = sys.modules[__name__]
    monkeypatch.setattr(module, "CHROMIUM", str(tmp_path / "no-chromium"))
    if required:
        monkeypatch.setenv(REQUIRE, "1")
    else:
        monkeypatch.delenv(REQUIRE, raising=False)
    expected = pytest.fail.Exception if required else pytest.skip.Exception
    with pytest.raises(expected, match=r"not installed: .*no-chromium") as raised:
        require_browser()
    assert (f"{REQUIRE}=1" in str(raised.value)) is required
