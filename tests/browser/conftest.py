"""The browser tier: the playground page in a real headless Chromium, the distribution's own package
(Debian's ``chromium``; scripts/test.sh installs it when missing and it can), driven by Playwright for
Python through that executable (Playwright's own browser downloads are never used).

Without chromium or Playwright the tier is skipped with the reason, unless the environment variable CI is
set: then every test fails, so CI cannot pass without running the tier. Screenshots go to
tests/browser/screenshots/ (ignored by git, kept by CI).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from browser_support import SCREENSHOTS, PageRecord

from tooljet_portkey.simulator import Simulator

# Flags that keep a headless Chromium quiet and self-contained here (Playwright adds --headless and a fresh
# --user-data-dir of its own for every launch)
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _missing() -> str | None:
    """Why the tier cannot run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed: pip install -e '.[dev]'"
    if chromium_path() is None:
        return "chromium is not installed: apt-get install chromium (scripts/test.sh does it as root)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module. Not longer: Playwright's sync API keeps an asyncio loop running
    in this thread while it is open, and other tiers call asyncio.run()."""
    reason = _missing()
    if reason is not None:
        if _in_ci():
            pytest.fail(f"CI is set but the browser tier cannot run: {reason}", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_FLAGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def record(browser: Any, request: pytest.FixtureRequest) -> Iterator[PageRecord]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, service_workers="block")
    page = context.new_page()
    page.set_default_timeout(30_000)
    recorded = PageRecord(page)
    try:
        yield recorded
    finally:
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}-end.png"), full_page=True)
        context.close()


@pytest.fixture(scope="module")
def hosted_simulator() -> Iterator[Simulator]:
    with Simulator(profile="hosted") as sim:
        yield sim


@pytest.fixture
def hosted(hosted_simulator: Simulator) -> Simulator:
    hosted_simulator.reset()
    return hosted_simulator
