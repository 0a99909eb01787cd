"""compare.html as a reader sees it: rendered by a real headless Chromium, not blank.

Skips locally when Chromium is missing; fails in CI (CI=true), where `make setup-browser`
installs Debian's package.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from matplotlib import image as mpimg

from harness.compare import compare_runs, find_browser, screenshot
from tests.unit.report.synthetic import both, run, write

pytestmark = pytest.mark.integration


@pytest.fixture
def browser() -> str:
    found = find_browser()
    if found is None:
        message = "Chromium is not installed: run `make setup-browser`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI must render the compare report)")
        pytest.skip(message)
    return found


def test_compare_report_renders_in_headless_chromium(browser: str, tmp_path: Path) -> None:
    run_dir = write(tmp_path / "reports", run("chaos", both("llm_latency") + both("llm_down")))
    out_dir = run_dir / "compare"
    _, page = compare_runs(run_dir, None, out_dir)
    png = screenshot(page, out_dir / "compare-screenshot.png", width=1280, height=2400)
    assert png.parent == out_dir  # kept beside the report it shows
    assert png.stat().st_size > 50_000
    pixels = mpimg.imread(png)[..., :3]
    assert pixels.shape[:2] == (2400, 1280)
    # A blank or error page is nearly uniform; tables and plots are not.
    assert float(pixels.std()) > 0.08
    # The plots are inside the first screen: some rows hold the strong red/blue of the lines.
    red = (pixels[..., 0] > 0.7) & (pixels[..., 1] < 0.3) & (pixels[..., 2] < 0.3)
    assert int(red.sum()) > 1_000
