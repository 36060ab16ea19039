"""The customer page in Debian's headless Chromium: a browser for a test, and a tab that
collects console errors and polls the page's state."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from tests.helpers.testutils import chromium_options

__all__ = ["DESKTOP", "PHONE", "Tab", "chromium", "open_tab"]

PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 800}


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A Playwright ``Browser`` on Debian's chromium, closed afterwards."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(**chromium_options())
        try:
            yield browser
        finally:
            await browser.close()


class Tab:
    """A customer's tab, collecting console errors."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    async def until(self, script: str, timeout: float = 10.0) -> Any:
        """Poll a JS expression until truthy (the page's CSP forbids wait_for_function)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await self.page.evaluate(script)
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(script)
            await asyncio.sleep(0.1)

    async def texts(self, selector: str) -> list[str]:
        return list(await self.page.locator(selector).all_inner_texts())


async def open_tab(browser: Any, url: str, viewport: dict[str, int] = DESKTOP) -> Tab:
    """A new context (its own storage: a new customer) on ``url``, once it has connected."""
    context = await browser.new_context(viewport=viewport)
    tab = Tab(await context.new_page())
    await tab.page.goto(url)
    await tab.until("document.getElementById('status').textContent !== 'Connecting…'")
    return tab
