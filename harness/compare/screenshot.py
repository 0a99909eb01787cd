"""A PNG of ``compare.html`` as a reader sees it: headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.compare.model import CompareError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def screenshot(page: Path, png: Path, *, width: int = 1280, height: int = 2400) -> Path:
    """Render ``page`` in headless Chromium and save a PNG (how a reader will see the report)."""
    browser = find_browser()
    if browser is None:
        raise CompareError(
            "no Chromium on PATH: install it (make setup-browser, or apt-get install chromium)"
        )
    with tempfile.TemporaryDirectory(prefix="compare-chromium-") as profile:
        command = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--user-data-dir={profile}", f"--window-size={width},{height}",
            f"--screenshot={png.resolve()}", page.resolve().as_uri(),
        ]  # fmt: skip
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        except subprocess.TimeoutExpired as exc:
            raise CompareError(f"{browser} took over 120 s to render {page}") from exc
    if proc.returncode != 0 or not png.exists():
        raise CompareError(f"{browser} could not render {page}: {proc.stderr.strip()[-500:]}")
    return png
