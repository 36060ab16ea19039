"""Product cards that sell, in a real headless Chromium against a real hub: a card is a link
to the product (a new tab), prices in the pin's currency for the page's locale, a clean
placeholder for a product without a picture (or whose picture fails), a tap reported to the
shop; the phone layout keeps video, products and chat on the first screen; "Ask about this
product" attaches the product to a support question; the customer's other tabs show it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningHub
from tests.helpers.browser import DESKTOP, Tab, chromium
from tests.helpers.testutils import free_port

pytestmark = pytest.mark.slow

PHONE_TALL = {"width": 375, "height": 812}
PINS = [
    {
        "productId": "serum",
        "name": "Hydrating Serum",
        "price": 1249.5,
        "currency": "EUR",
        "url": "https://shop.example/serum",
        "displayOrder": 1,
    },
    {
        "productId": "cream",
        "name": "Night Cream",
        "price": 1200,
        "currency": "JPY",
        "image": "/uploads/missing.png",
        "displayOrder": 2,
    },
    {
        "productId": "mask",
        "name": "Clay Mask",
        "price": 19.9,
        "displayOrder": 3,
    },
]


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[RunningHub]:
    running = RunningHub(tmp_path / "data", port=free_port())
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with chromium() as b:
        yield b


async def open_page(
    browser: Any,
    site: RunningHub,
    viewport: dict[str, int] = DESKTOP,
    locale: str = "en-US",
    context: Any = None,
) -> Tab:
    if context is None:
        context = await browser.new_context(viewport=viewport, locale=locale)
    tab = Tab(await context.new_page())
    await tab.page.goto(site.http_url + "/")
    await tab.until("document.getElementById('status').textContent !== 'Connecting…'")
    return tab


async def session_of(tab: Tab) -> str:
    return str(await tab.page.evaluate("localStorage.getItem('wrencos.sessionId')"))


async def test_cards_link_price_placeholder_and_tap(site: RunningHub, browser: Any) -> None:
    """A card with an http(s) url is a link opening a new tab; prices follow the pin's
    currency and the page's locale; no picture means a placeholder; a tap is counted."""
    admin = await site.admin()
    await site.live(admin)
    tab = await open_page(browser, site, locale="de-DE")
    await admin.send({"type": "pin_products", "pinnedProducts": PINS})
    await tab.until("document.querySelectorAll('#pinned li').length === 3")
    assert await tab.texts("#pinned .name") == ["Hydrating Serum", "Night Cream", "Clay Mask"]
    prices = await tab.texts("#pinned .price")
    assert prices[0] == "1.249,50\u00a0€"
    assert prices[1] == "1.200\u00a0¥"
    # No currency on the pin (an unknown product keeps what was sent): a plain amount.
    assert prices[2] in ("19,90", "19,90\u00a0€")
    # Only the card with a url is a link, to a new tab, without an opener.
    links = tab.page.locator("#pinned a.card")
    assert await links.count() == 1
    assert await links.get_attribute("href") == "https://shop.example/serum"
    assert await links.get_attribute("target") == "_blank"
    assert "noopener" in (await links.get_attribute("rel") or "")
    assert await tab.page.locator("#pinned li:not(:first-child) a").count() == 0
    # No picture, and a picture that fails to load: the placeholder, never a broken image.
    await tab.until("document.querySelectorAll('#pinned .thumb.placeholder').length === 3")
    assert await tab.page.locator("#pinned img").count() == 0
    # Tapping the card opens the product in a new tab and tells the shop.
    await tab.page.context.route(
        "https://shop.example/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body="<p>serum</p>"),
    )
    async with tab.page.context.expect_page() as popup_info:
        await links.click()
    popup = await popup_info.value
    assert popup.url == "https://shop.example/serum"
    await tab.page.bring_to_front()
    await tab.page.click("#pinned li:nth-child(3) .card")
    sid = await session_of(tab)
    tapped: list[dict[str, Any]] = []
    for _ in range(30):
        await admin.send({"type": "get_customer_context", "sessionId": sid})
        ctx = await admin.expect("customer_context")
        tapped = ctx["tapped"]
        if len(tapped) == 2:
            break
        await asyncio.sleep(0.1)
    assert sorted(t["productId"] for t in tapped) == ["mask", "serum"]
    assert [e for e in tab.errors if "404" not in e] == []  # the missing picture's 404


async def test_a_price_edit_reaches_the_card(site: RunningHub, browser: Any) -> None:
    """Saving a pinned catalog product changes its card at once (price in its currency)."""
    admin = await site.admin()
    await site.live(admin)
    tab = await open_page(browser, site, locale="en-US")
    product = {
        "productId": "lip",
        "name": "Lip Balm",
        "price": 24.9,
        "currency": "USD",
        "url": "http://shop.example/lip",
    }
    await admin.send({"type": "save_product", "product": product})
    pin = {"productId": "lip", "price": 1, "displayOrder": 1}
    await admin.send({"type": "pin_products", "pinnedProducts": [pin]})
    await tab.until("document.querySelector('#pinned .price')?.textContent === '$24.90'")
    assert await tab.page.get_attribute("#pinned a.card", "href") == "http://shop.example/lip"
    await admin.send({"type": "save_product", "product": {**product, "price": 19.9}})
    await tab.until("document.querySelector('#pinned .price')?.textContent === '$19.90'")
    assert tab.errors == []
