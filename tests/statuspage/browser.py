"""Headless Chromium for the status-page tests (Debian ``chromium`` + ``chromium-driver``).

The browser is driven with selenium through the distribution's chromedriver, never a
downloaded one: :func:`chromium_or_skip` skips the test with the reason when either
binary (or selenium) is missing, and fails instead under
``SHARDGATE_REQUIRE_CHROMIUM=1`` (CI installs them, so a missing browser there must
not pass as a skip).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

INSTALL_HINT = "apt-get install -y chromium chromium-driver"
#: Flags from the issue; a fresh profile per run keeps runs independent.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--force-device-scale-factor=1",
    "--hide-scrollbars",
)


def _which(*names: str) -> str | None:
    for name in names:
        path = shutil.which(name) or (
            f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None
        )
        if path:
            return path
    return None


def chromium_or_skip() -> tuple[str, str]:
    """(chromium, chromedriver) paths, or skip (fail under SHARDGATE_REQUIRE_CHROMIUM=1)."""
    problems = []
    chromium = _which("chromium", "chromium-browser")
    driver = _which("chromedriver")
    if chromium is None:
        problems.append("no chromium binary")
    if driver is None:
        problems.append("no chromedriver binary")
    try:
        import selenium  # noqa: F401
    except ImportError:
        problems.append("selenium is not installed (pip install -e '.[dev]')")
    if problems:
        reason = f"headless Chromium test needs {INSTALL_HINT}: {'; '.join(problems)}"
        if os.environ.get("SHARDGATE_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"SHARDGATE_REQUIRE_CHROMIUM=1 but {reason}")
        pytest.skip(reason)
    assert chromium is not None and driver is not None
    return chromium, driver


def start_chromium(chromium: str, driver: str, profile: Path, width: int, height: int) -> Any:
    """A selenium WebDriver on a headless Chromium with a fresh ``profile`` directory."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    service = Service(executable_path=driver)
    return webdriver.Chrome(options=options, service=service)
