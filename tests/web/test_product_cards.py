"""Product cards that sell, in a real headless Chromium against a real hub: a card is a link
to the product (a new tab), prices in the pin's currency for the page's locale, a clean
placeholder for a product without a picture (or whose picture fails), a tap reported to the
shop; the phone layout keeps video, products and chat on the first screen; "Ask about this
product" attaches the product to a support question; the customer's other tabs show it."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningHub
from tests.helpers.browser import DESKTOP, Tab

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
    assert await tab.page.locator("#pinned .thumb.placeholder").count() == 1
    # A picture that loads replaces the placeholder.
    await admin.send({"type": "save_product", "product": {**product, "image": "/static/icon.svg"}})
    await tab.until("document.querySelector('#pinned .thumb:not(.placeholder) img')")
    assert await tab.page.is_visible("#pinned .thumb img")
    # A stored product image: the card loads its small thumbnail, not the display size.
    from PIL import Image

    from wrencos_studio.catalog.images import store_product_image

    photo = site.data_dir / "photo.png"
    Image.new("RGB", (900, 600), "orange").save(photo)
    stored = store_product_image(photo, site.data_dir / "uploads")
    await admin.send({"type": "save_product", "product": {**product, "image": stored.url}})
    thumb = json.dumps(stored.thumbnail_url)
    await tab.until(
        f"document.querySelector('#pinned .thumb img')?.src.endsWith({thumb})"
        " && document.querySelector('#pinned .thumb img').complete"
    )
    assert await tab.page.is_visible("#pinned .thumb img")
    assert tab.errors == []


async def broadcasting(site: RunningHub) -> Any:
    """A stand-in studio peer: pages show the video box (black: it never answers offers)."""
    studio = await site.admin("studio")
    await studio.send({"type": "webrtc_register", "peerId": "studio", "userType": "admin"})
    await studio.expect("webrtc_registered")
    await studio.send({"type": "webrtc_broadcast_start", "peerId": "studio"})
    return studio


async def box(tab: Tab, selector: str) -> dict[str, float]:
    b = await tab.page.locator(selector).first.bounding_box()
    assert b is not None, f"{selector} is not shown"
    return dict(b)


async def cut_cards(tab: Tab) -> list[str]:
    """The pinned cards only partly inside the strip's visible width (names)."""
    return list(
        await tab.page.evaluate(
            """() => {
              const ul = document.getElementById('pinned');
              const v = ul.getBoundingClientRect();
              return [...ul.children].filter((li) => {
                const r = li.getBoundingClientRect();
                const inside = r.left >= v.left - 1 && r.right <= v.right + 1;
                const outside = r.right <= v.left + 1 || r.left >= v.right - 1;
                return !inside && !outside;
              }).map((li) => li.querySelector('.name').textContent);
            }"""
        )
    )


async def test_phone_layout_keeps_video_products_and_chat_on_one_screen(
    site: RunningHub, browser: Any, tmp_path: Path
) -> None:
    """375x812 with 3 pins: the video in view, products a compact strip, the first chat
    line and the chat input on the first screen, the newest pin highlighted; on a desktop
    video, products and chat side by side (screenshots in WRENCOS_SHOTS or the test dir)."""
    shots = Path(os.environ.get("WRENCOS_SHOTS") or tmp_path)
    admin = await site.admin()
    await site.live(admin, "Spring serum launch")
    await broadcasting(site)
    await admin.send({"type": "pin_products", "pinnedProducts": PINS[:2]})
    for user, text in (
        ("Dana", "Is the serum fragrance free?"),
        ("Lee", "Love the packaging"),
        ("Mo", "Does it ship to Oslo?"),
    ):
        c = await site.customer(f"shot-{user}")
        await c.send({"type": "chat_message", "username": user, "message": text})
    await admin.send({"type": "chat_message", "username": "Shop", "message": "Yes, fully!"})
    phone = await open_page(browser, site, PHONE_TALL)
    await phone.until("document.querySelectorAll('#messages li').length === 4")
    await phone.until("!document.getElementById('screen').hidden")
    # The presenter pins a third product while the customer watches: it is the newest.
    await admin.send({"type": "pin_products", "pinnedProducts": PINS})
    await phone.until("document.querySelectorAll('#pinned li').length === 3")
    assert await phone.texts("#pinned li.newest .name") == ["Clay Mask"]
    await phone.page.wait_for_timeout(600)  # the strip's smooth scroll
    await phone.page.screenshot(path=str(shots / "phone-375x812.png"))
    height = PHONE_TALL["height"]
    video, strip = await box(phone, "#screen"), await box(phone, "#pinned")
    first_line, text_box = await box(phone, "#messages li"), await box(phone, "#text")
    newest = await box(phone, "#pinned li.newest")
    assert video["y"] >= 0 and video["y"] + video["height"] <= height and video["height"] > 150
    assert strip["height"] <= 110, "a compact strip, not a wall of cards"
    assert strip["y"] + strip["height"] <= first_line["y"]
    assert first_line["y"] + first_line["height"] <= height
    assert text_box["y"] + text_box["height"] <= height
    assert newest["x"] >= 0 and newest["x"] + newest["width"] <= PHONE_TALL["width"] + 1
    assert await cut_cards(phone) == [], "no card cut in half by the strip's edges"
    width = await phone.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_TALL["width"], "no sideways scrolling of the page"
    # Chatting keeps the video where it is: the page itself does not scroll.
    await phone.page.fill("#name", "Ann")
    await phone.page.fill("#text", "Which size is best?")
    await phone.page.press("#text", "Enter")
    await phone.until("document.querySelectorAll('#messages li').length === 5")
    assert (await box(phone, "#screen"))["y"] == video["y"]
    text_box = await box(phone, "#text")
    assert text_box["y"] + text_box["height"] <= height
    help_box = await box(phone, "#help-button")
    assert help_box["y"] + help_box["height"] <= video["y"], "Help sits in the top bar"
    # A small phone (or the keyboard open): the chat input is still on the first screen.
    small = {"width": 360, "height": 600}
    await phone.page.set_viewport_size(small)
    await phone.page.wait_for_timeout(200)
    await phone.page.screenshot(path=str(shots / "phone-360x600.png"))
    text_box, video = await box(phone, "#text"), await box(phone, "#screen")
    assert text_box["y"] + text_box["height"] <= small["height"]
    assert video["y"] >= 0 and video["height"] > 150
    await phone.page.evaluate("document.activeElement.blur()")
    await phone.page.screenshot(path=str(shots / "phone-360x600-idle.png"))
    text_box, like = await box(phone, "#text"), await box(phone, "#like")
    assert text_box["y"] + text_box["height"] <= small["height"]
    assert like["y"] + like["height"] <= small["height"], "the heart is reachable"
    # Landscape phone and a desktop: everything side by side, nothing off screen.
    for name, viewport in (("phone-844x390", {"width": 844, "height": 390}), ("desktop", DESKTOP)):
        tab = await open_page(browser, site, viewport)
        await tab.until("document.querySelectorAll('#messages li').length === 5")
        await tab.until("!document.getElementById('screen').hidden")
        await tab.page.screenshot(path=str(shots / f"{name}.png"))
        v, c, s = await box(tab, "#screen"), await box(tab, "#chat-form"), await box(tab, "#pinned")
        assert c["y"] + c["height"] <= viewport["height"], f"{name}: the chat input is on screen"
        assert v["x"] + v["width"] <= c["x"], f"{name}: chat beside the video"
        assert s["y"] < viewport["height"], f"{name}: products on screen"
        assert await cut_cards(tab) == [], f"{name}: no card cut in half"
        assert await tab.texts("#pinned li.newest .name") == ["Clay Mask"]
        newest = await box(tab, "#pinned li.newest")
        assert newest["x"] + newest["width"] <= viewport["width"] + 1, f"{name}: newest in view"
        if name == "desktop":
            assert s["x"] + s["width"] <= v["x"], "desktop: products beside the video"
        assert await tab.page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        assert [e for e in tab.errors if "404" not in e] == []  # the missing picture
    assert [e for e in phone.errors if "404" not in e] == []


async def test_ask_about_this_product(site: RunningHub, browser: Any, tmp_path: Path) -> None:
    """ "Ask" on a card opens the support chat with the product attached (a chip above the
    input); sending it gives staff the productId; the sent line shows the chip."""
    shots = Path(os.environ.get("WRENCOS_SHOTS") or tmp_path)
    admin = await site.admin()
    staff = await site.admin("sam", role="staff")
    await site.live(admin)
    await admin.send({"type": "pin_products", "pinnedProducts": PINS})
    tab = await open_page(browser, site, PHONE_TALL)
    await tab.until("document.querySelectorAll('#pinned li').length === 3")
    await tab.page.click("#pinned li:first-child .ask")
    await tab.until("!document.getElementById('help').hidden")
    assert await tab.texts("#help-product .chip-name") == ["Hydrating Serum"]
    assert await tab.page.evaluate("document.activeElement.id") == "help-text"
    await tab.page.fill("#help-text", "Is it fragrance free?")
    await tab.page.screenshot(path=str(shots / "phone-ask.png"))
    await tab.page.press("#help-text", "Enter")
    asked = await staff.expect("customer_message")
    assert asked["message"] == "Is it fragrance free?"
    assert asked["productId"] == "serum"
    await tab.until("document.getElementById('help-product').hidden")
    line = "#help-messages li.customer:not(.pending)"
    await tab.until(f"document.querySelectorAll('{line}').length === 1")
    assert await tab.texts(f"{line} .chip-name") == ["Hydrating Serum"]
    assert await tab.texts(f"{line} .text") == ["Is it fragrance free?"]
    assert await tab.page.locator("#help-messages li").count() == 1
    # Without a product (the chip taken off): a plain question.
    await tab.page.click("#pinned li:nth-child(3) .ask")
    await tab.until("!document.getElementById('help-product').hidden")
    await tab.page.click("#help-product-remove")
    await tab.page.fill("#help-text", "And shipping?")
    await tab.page.press("#help-text", "Enter")
    plain = await staff.expect("customer_message")
    assert "productId" not in plain
    await tab.until(f"document.querySelectorAll('{line}').length === 2")
    assert await tab.page.locator("#help-messages li .product-chip").count() == 1
    await tab.page.screenshot(path=str(shots / "phone-asked.png"))
    assert [e for e in tab.errors if "404" not in e] == []


async def test_the_customers_other_tab_shows_their_question(site: RunningHub, browser: Any) -> None:
    """Two tabs of one customer: a question asked in one (with a product) shows in the
    other at once, with its chip, once — also after the other tab reloads its thread."""
    admin = await site.admin()
    staff = await site.admin("sam", role="staff")
    await site.live(admin)
    await admin.send({"type": "pin_products", "pinnedProducts": PINS})
    first = await open_page(browser, site, PHONE_TALL)
    second = await open_page(browser, site, context=first.page.context)
    assert await session_of(first) == await session_of(second)
    await second.page.click("#help-button")
    await first.until("document.querySelectorAll('#pinned li').length === 3")
    await first.page.click("#pinned li:nth-child(2) .ask")
    await first.page.fill("#help-text", "Is the cream vegan?")
    await first.page.press("#help-text", "Enter")
    asked = await staff.expect("customer_message")
    lines = "#help-messages li.customer"
    await second.until(f"document.querySelectorAll('{lines}').length === 1")
    assert await second.texts(f"{lines} .text") == ["Is the cream vegan?"]
    assert await second.texts(f"{lines} .chip-name") == ["Night Cream"]
    assert await second.page.get_attribute(lines, "data-id") == asked["id"]
    # The staff answer reaches both; the thread asked again shows each line once.
    await staff.send(
        {"type": "staff_message", "sessionId": asked["sessionId"], "content": "Yes, it is."}
    )
    for tab in (first, second):
        await tab.until("document.querySelectorAll('#help-messages li.staff').length === 1")
    await second.page.reload()
    await second.until("document.querySelectorAll('#help-messages li').length === 2")
    await second.page.wait_for_timeout(300)
    assert await second.page.locator("#help-messages li").count() == 2
    assert await first.page.locator("#help-messages li").count() == 2
    assert [e for e in first.errors + second.errors if "404" not in e] == []
