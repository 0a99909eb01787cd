"""Locust's own web UI, driven by headless Chromium as a user would: pick ``three_am`` as
the shape, start, see its faults applied (read back from Toxiproxy's API) and the
*Verdict* tab filled once the shape ends; the UI's stop button clears the faults.

Skips locally without Chromium; fails in CI (CI=true), where `make setup-browser`
installs Debian's package (Playwright drives that browser; it downloads none).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.compare.screenshot import find_browser
from loadtests.faults import toxic_name
from loadtests.scenarios import THREE_AM
from testbed.net import free_port, wait_for_http
from testbed.processes import ProcessGroup
from tests.integration.locust_ui.conftest import (
    REPO_ROOT,
    TIME_SCALE,
    UiStack,
    locust_command,
    locust_env,
)

pytestmark = pytest.mark.integration
LLM_TOXIC = toxic_name(THREE_AM.faults[1].label)  # the LLM latency of the 03:00 mark
SCREENSHOT_DIR = "LOCUST_UI_SCREENSHOT_DIR"  # keep the verdict tab's PNG there


@pytest.fixture
def browser() -> str:
    found = find_browser()
    if found is None:
        message = "Chromium is not installed: run `make setup-browser`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI must run the Locust UI test)")
        pytest.skip(message)
    return found


@pytest.fixture
def web_ui(ui_stack: UiStack, tmp_path: Path) -> Iterator[str]:
    """``locust -f loadtests/locustfile.py --class-picker --stack ...``: the UI's URL."""
    port = free_port()
    argv = locust_command(
        "--class-picker",
        "--stack",
        str(ui_stack.stack_json),
        "--host",
        ui_stack.lb_url,
        "--time-scale",
        str(TIME_SCALE),
        "--web-host",
        "127.0.0.1",
        "--web-port",
        str(port),
    )
    with ProcessGroup(tmp_path / "logs") as group:
        ui = group.start("locust-ui", argv, env=locust_env(tmp_path), cwd=REPO_ROOT)
        url = f"http://127.0.0.1:{port}"
        wait_for_http(url + "/", timeout=60, alive=ui.alive)
        yield url


def toxics(stack: UiStack) -> list[str]:
    response = httpx.get(f"{stack.toxiproxy_url}/proxies/llm/toxics", timeout=5)
    return [t["name"] for t in response.json()]


def wait_until(what: str, check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout:.0f}s: {what}")


def verdict(url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{url}/scenario/verdict", timeout=5).json())


def test_pick_three_am_in_the_ui_see_its_faults_and_its_verdict(
    browser: str, ui_stack: UiStack, web_ui: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=browser, args=["--no-sandbox"])
        try:
            page = chromium.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(web_ui)
            page.select_option("select[name=shapeClass]", THREE_AM.name)
            page.get_by_role("button", name="Start").click()
            # the LLM latency is applied at the 03:00 mark (200 s x scale), from inside Locust
            wait_until(
                "three_am's LLM toxic in Toxiproxy", lambda: LLM_TOXIC in toxics(ui_stack), 60
            )
            running = verdict(web_ui)
            assert running["scenario"] == "three_am" and running["target"] == "refactored"
            assert THREE_AM.faults[1].label in running["active_faults"]
            # the shape ends by itself; the verdict is judged like make load's
            done = wait_until(
                "the verdict", lambda: (v := verdict(web_ui))["state"] == "done" and v, 120
            )
            assert done["error"] is None
            assert toxics(ui_stack) == []  # every fault it set is cleared
            result = done["result"]
            assert [e["name"] for e in result["expectations"]] == [
                t.name for t in THREE_AM.thresholds
            ]
            page.get_by_role("tab", name="Verdict").click()
            page.get_by_text("no_lb_504").wait_for(timeout=15_000)  # the UI polls every 2 s
            page.get_by_text("three_am on refactored").wait_for()
            cell = page.get_by_role("cell", name=result["verdict"], exact=True)
            cell.first.wait_for()
            page.wait_for_timeout(600)  # the tab's underline slides over before the picture
            shots = Path(os.environ.get(SCREENSHOT_DIR) or tmp_path)
            shots.mkdir(parents=True, exist_ok=True)
            png = page.screenshot(path=str(shots / "locust-verdict-tab.png"), full_page=True)
            assert len(png) > 20_000
        finally:
            chromium.close()
    assert (Path(done["out_dir"]) / "results.json").exists()  # as make load writes it


def test_stop_in_the_ui_clears_the_faults(ui_stack: UiStack, web_ui: str) -> None:
    form = {"shape_class": THREE_AM.name, "user_count": "1", "spawn_rate": "1"}
    httpx.post(f"{web_ui}/swarm", data=form, timeout=10).raise_for_status()
    wait_until("three_am's LLM toxic in Toxiproxy", lambda: LLM_TOXIC in toxics(ui_stack), 60)
    httpx.post(f"{web_ui}/stop", timeout=10).raise_for_status()
    wait_until("the toxic cleared after stop", lambda: toxics(ui_stack) == [], 10)
    done = wait_until("the verdict", lambda: (v := verdict(web_ui))["state"] == "done" and v, 60)
    assert done["result"] is not None  # judged over what ran before the stop
