"""Headless chromium for the Web UI tests: Debian's /usr/bin/chromium driven by Playwright for Python.

Playwright's own browser download (`playwright install`) is never used. Without chromium or without
the `playwright` package the tests are skipped with a message saying what to install (pytest's -ra
lists it); CI (.ci/run) sets MESHSHIFT_REQUIRE_BROWSER=1, which turns that skip into a failure so the
journey can never pass in CI by not running.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Another Chromium-based browser can stand in (e.g. on a developer's non-Debian machine).
CHROMIUM_ENV = "MESHSHIFT_CHROMIUM"
REQUIRE_ENV = "MESHSHIFT_REQUIRE_BROWSER"
ARTIFACTS = Path(__file__).resolve().parents[1] / ".artifacts" / "browser"
VIEWPORT = {"width": 1280, "height": 800}
# Without the background-networking flags chromium keeps calling Google services, which on a closed
# network means a stream of failing connections; sandboxing needs privileges a CI container lacks.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV, "").strip() not in ("", "0"):
        pytest.fail(f"{REQUIRE_ENV} is set but the Web UI test cannot run: {reason}", pytrace=False)
    pytest.skip(f"Web UI browser test skipped: {reason}")


def _find_chromium() -> Path:
    chromium = Path(os.environ.get(CHROMIUM_ENV, "").strip() or CHROMIUM)
    if not (chromium.is_file() and os.access(chromium, os.X_OK)):
        _unavailable(
            f"{chromium} is missing; install Debian's chromium "
            f"(`apt-get install -y --no-install-recommends chromium`, as .ci/run does) or set {CHROMIUM_ENV}"
        )
    return chromium


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """A headless chromium (Playwright async API), closed after the test."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _unavailable("the `playwright` Python package is not installed; run `pip install -e '.[dev]'`")
    chromium = _find_chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def artifacts() -> Path:
    """Where the screenshots go (gitignored); the best ones are copied to docs/images/web-ui/ by hand."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
