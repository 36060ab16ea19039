"""The customer page in a real headless Chromium against a real hub: chat between two
browsers, likes across a reload, live pins, the support chat, recovery after a server
restart, and a hostile chat message that must stay text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningHub
from tests.helpers.browser import DESKTOP, PHONE, open_tab
from tests.helpers.browser import Tab as Page
from tests.helpers.testutils import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[RunningHub]:
    running = RunningHub(
        tmp_path / "data",
        port=free_port(),
        shop_url_pattern=("https://shop.example/p/{productId}"),
    )
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def open_page(browser: Any, site: RunningHub, viewport: dict[str, int] = DESKTOP) -> Page:
    return await open_tab(browser, site.http_url + "/", viewport)


async def test_chat_between_two_browsers_with_the_name_remembered(
    site: RunningHub, browser: Any
) -> None:
    """Two customers chat; the presenter's line stands out; the name is asked once."""
    admin = await site.admin()
    await site.live(admin, "Serum night")
    ann = await open_page(browser, site)
    ben = await open_page(browser, site, PHONE)
    await ann.until("document.getElementById('title').textContent === 'Serum night'")
    await ann.page.fill("#name", "Ann")
    await ann.page.fill("#text", "Is it vegan?")
    await ann.page.press("#text", "Enter")
    await ben.until("document.querySelectorAll('#messages li').length === 1")
    assert await ben.texts("#messages li") == ["Ann: Is it vegan?"]
    assert await ann.page.is_visible("#name-shown") and not await ann.page.is_visible("#name")
    await admin.send({"type": "chat_message", "username": "Shop", "message": "Yes, 100%"})
    await ann.until("document.querySelectorAll('#messages li.staff').length === 1")
    await ann.page.reload()
    await ann.until("document.querySelectorAll('#messages li').length === 2")
    assert await ann.texts("#name-value") == ["Ann"]
    assert ann.errors == [] and ben.errors == []


async def test_like_state_survives_a_reload(site: RunningHub, browser: Any) -> None:
    """The heart counts, shows liked, and is still liked after a reload (publicId)."""
    admin = await site.admin()
    await site.live(admin)
    tab = await open_page(browser, site)
    await tab.until("!document.getElementById('info').hidden")
    await tab.page.click("#like")
    await tab.until("document.getElementById('like').getAttribute('aria-pressed') === 'true'")
    assert await tab.texts("#likes") == ["1"]
    await tab.page.reload()
    await tab.until("document.getElementById('like').getAttribute('aria-pressed') === 'true'")
    await tab.page.click("#like")
    await tab.until("document.getElementById('likes').textContent === '0'")
    assert tab.errors == []


async def test_pinned_cards_follow_the_presenter(site: RunningHub, browser: Any) -> None:
    """Cards appear, reorder and disappear live, and link to the shop."""
    admin = await site.admin()
    await site.live(admin)
    tab = await open_page(browser, site, PHONE)
    items = [
        {
            "productId": "p1",
            "name": "Hydrating Serum",
            "price": 49.99,
            "displayOrder": 1,
            "image": "/uploads/none.png",
        },
        {"productId": "p2", "name": "Night Cream", "price": 54.5, "displayOrder": 2},
    ]
    await admin.send({"type": "pin_products", "pinnedProducts": items})
    await tab.until("document.querySelectorAll('#pinned li').length === 2")
    assert await tab.texts("#pinned .name") == ["Hydrating Serum", "Night Cream"]
    assert await tab.texts("#pinned .price") == ["49.99", "54.50"]
    href = await tab.page.get_attribute("#pinned a", "href")
    assert href == "https://shop.example/p/p1"
    items[0]["displayOrder"], items[1]["displayOrder"] = 2, 1
    await admin.send({"type": "pin_products", "pinnedProducts": items})
    await tab.until("document.querySelector('#pinned .name').textContent === 'Night Cream'")
    await admin.send({"type": "pin_products", "pinnedProducts": []})
    await tab.until("document.querySelectorAll('#pinned li').length === 0")


async def test_support_round_trip_and_it_survives_a_reload(site: RunningHub, browser: Any) -> None:
    """Help opens a private chat; staff answer live; away and back, the thread is there."""
    staff = await site.admin("sam", role="staff")
    tab = await open_page(browser, site, PHONE)
    await tab.page.click("#help-button")
    await tab.page.fill("#help-text", "Where is my parcel?")
    await tab.page.press("#help-text", "Enter")
    asked = await staff.expect("customer_message")
    assert asked["message"] == "Where is my parcel?"
    await staff.send(
        {"type": "staff_message", "sessionId": asked["sessionId"], "content": "It ships today!"}
    )
    await tab.until("document.querySelectorAll('#help-messages li.staff').length === 1")
    await tab.page.close()
    # Away: the reply waits for the customer's return, in the same browser.
    await staff.send(
        {"type": "staff_message", "sessionId": asked["sessionId"], "content": "Tracking: WX123"}
    )
    page = await tab.page.context.new_page()
    back = Page(page)
    await page.goto(site.http_url + "/")
    await back.until(
        "document.getElementById('help-badge').textContent === '1'"
        " || document.querySelectorAll('#help-messages li').length === 3"
    )
    await page.click("#help-button")
    await back.until("document.querySelectorAll('#help-messages li').length === 3")
    texts = [t.split("\n")[0] for t in await back.texts("#help-messages li")]
    assert texts == ["Where is my parcel?", "It ships today!", "Tracking: WX123"]
    assert back.errors == []


async def test_recovers_after_a_server_restart_without_lost_or_doubled_lines(
    site: RunningHub, browser: Any
) -> None:
    """The page shows "Reconnecting…", comes back, and the chat has each line once."""
    admin = await site.admin()
    await site.live(admin)
    tab = await open_page(browser, site)
    await admin.send({"type": "chat_message", "message": "before"})
    await tab.until("document.querySelectorAll('#messages li').length === 1")
    assert site.server is not None
    await site.server.stop()
    await tab.until("document.getElementById('status').textContent === 'Reconnecting…'")
    await site.restart()
    admin = await site.admin()
    await admin.send({"type": "chat_message", "message": "after"})
    await tab.until("document.getElementById('status').textContent === 'LIVE'", timeout=20)
    await tab.until("document.querySelectorAll('#messages li').length === 2", timeout=10)
    assert await tab.texts("#messages li") == ["SHOP Admin: before", "SHOP Admin: after"]
    assert [e for e in tab.errors if "WebSocket" not in e] == []


async def test_hostile_chat_is_shown_as_text_and_never_runs(site: RunningHub, browser: Any) -> None:
    """HTML and script in a chat line are displayed literally; nothing executes."""
    admin = await site.admin()
    await site.live(admin)
    tab = await open_page(browser, site)
    evil = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    attacker = await site.customer("attacker")
    await attacker.send({"type": "chat_message", "username": "<b>Mallory</b>", "message": evil})
    await tab.until("document.querySelectorAll('#messages li').length === 1")
    assert await tab.texts("#messages li") == [f"<b>Mallory</b>: {evil}"]
    assert await tab.page.evaluate("window.__pwned === undefined")
    assert (
        await tab.page.evaluate(
            "document.querySelectorAll('#messages img, #messages script').length"
        )
        == 0
    )
    # The presenter deletes it: it disappears from the page at once.
    line = await admin.expect("chat_message")
    await admin.send({"type": "delete_chat_message", "id": line["id"]})
    await tab.until("document.querySelectorAll('#messages li').length === 0")
    await admin.send({"type": "set_slow_mode", "seconds": 30})
    await tab.until("!document.getElementById('slow-mode').hidden")
    assert "30 s" in (await tab.texts("#slow-mode"))[0]


async def test_phone_and_desktop_layouts(site: RunningHub, browser: Any, tmp_path: Path) -> None:
    """A live page at 375 px and at desktop width: no sideways scroll, nothing hidden under
    the Help button, no console errors (screenshots kept in the test's folder)."""
    admin = await site.admin()
    await site.live(admin, "Spring serum launch")
    await admin.send(
        {
            "type": "pin_products",
            "pinnedProducts": [
                {"productId": "p1", "name": "Hydrating Serum", "price": 49.99, "displayOrder": 1},
                {"productId": "p2", "name": "Vitamin C Glow", "price": 39.0, "displayOrder": 2},
            ],
        }
    )
    for user, text in (("Dana", "Is the serum fragrance free?"), ("Lee", "Love the packaging")):
        c = await site.customer(f"shot-{user}")
        await c.send({"type": "chat_message", "username": user, "message": text})
    await admin.send({"type": "chat_message", "username": "Shop", "message": "Yes, fully!"})
    for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        tab = await open_page(browser, site, viewport)
        await tab.until("document.querySelectorAll('#messages li').length === 3")
        width = await tab.page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], "no sideways scrolling"
        send_box = await tab.page.locator("#chat-form").bounding_box()
        help_box = await tab.page.locator("#help-button").bounding_box()
        await tab.page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        send_box = await tab.page.locator("#chat-form").bounding_box()
        help_box = await tab.page.locator("#help-button").bounding_box()
        assert send_box and help_box
        overlap = not (
            send_box["y"] + send_box["height"] <= help_box["y"]
            or help_box["y"] + help_box["height"] <= send_box["y"]
            or help_box["x"] + help_box["width"] <= send_box["x"]
            or send_box["x"] + send_box["width"] <= help_box["x"]
        )
        assert not overlap, "the Help button covers the chat box"
        await tab.page.screenshot(path=str(tmp_path / f"customer-page-{name}.png"))
        assert tab.errors == []
