"""The customer's side of support's live feel in headless Chromium against a real hub:
typing reported (throttled) and "Shop is typing…" shown, "seen" sent only while the page
is visible with the reply on screen, and a second tab showing the whole thread."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import RunningHub
from tests.helpers.browser import DESKTOP, Tab, open_tab
from tests.helpers.clients import WsClient

pytestmark = pytest.mark.slow

TYPING_SHOWN = "!document.getElementById('help-typing').hidden"
# Headless pages are always visible: the test stands in for a tab in the background.
SET_VISIBILITY = """(state) => {
  Object.defineProperty(document, 'visibilityState', { get: () => state, configurable: true });
  document.dispatchEvent(new Event('visibilitychange'));
}"""


async def count(staff: WsClient, type_: str, wait: float) -> int:
    """How many ``type_`` messages staff get within ``wait`` seconds."""
    return sum(1 for m in await staff.quiet(wait) if m["type"] == type_)


async def test_typing_both_ways(site: RunningHub, browser: Any) -> None:
    """Typing in the help box reaches staff as `customer_typing`, at most one per 3 s;
    staff typing shows "Shop is typing…", which goes 5 s later, or at once with a reply."""
    staff = await site.admin("sam", role="staff")
    tab = await open_tab(browser, site.http_url + "/", DESKTOP)
    await tab.page.click("#help-button")
    await tab.page.fill("#help-text", "Where")
    got = await staff.expect("customer_typing", timeout=2.0)
    sid = got["sessionId"]
    await asyncio.sleep(1.2)  # past the hub's 1 s: only the page's 3 s holds the next back
    await tab.page.type("#help-text", " is my")
    assert await count(staff, "customer_typing", 1.0) == 0
    await asyncio.sleep(1.0)  # 3 s since the first
    await tab.page.type("#help-text", " parcel?")
    assert (await staff.expect("customer_typing", timeout=2.0))["sessionId"] == sid
    await tab.page.press("#help-text", "Enter")
    await staff.expect("customer_message", timeout=2.0, sessionId=sid)

    assert not await tab.page.evaluate(TYPING_SHOWN)
    await staff.send({"type": "staff_typing", "sessionId": sid})
    await tab.until(TYPING_SHOWN)
    assert await tab.page.inner_text("#help-typing") == "Shop is typing…"
    started = asyncio.get_running_loop().time()
    await tab.until("document.getElementById('help-typing').hidden", timeout=8)
    assert 3.5 < asyncio.get_running_loop().time() - started < 7.0

    await staff.send({"type": "staff_typing", "sessionId": sid})
    await tab.until(TYPING_SHOWN)
    await staff.send({"type": "staff_message", "sessionId": sid, "content": "Today!"})
    await tab.until("document.querySelectorAll('#help-messages li.staff').length === 1")
    assert not await tab.page.evaluate(TYPING_SHOWN)
    assert tab.errors == []


async def test_seen_only_while_visible_and_other_tabs_show_the_thread(
    site: RunningHub, browser: Any
) -> None:
    """A reply reaching a hidden page is not reported seen; once the page is visible with
    the help panel open it is, once. A second tab of the same customer shows the
    question the first asked and the reply, and reports nothing while its panel is closed."""
    staff = await site.admin("sam", role="staff")
    tab = await open_tab(browser, site.http_url + "/", DESKTOP)
    await tab.page.click("#help-button")
    await tab.page.fill("#help-text", "Is the serum vegan?")
    await tab.page.press("#help-text", "Enter")
    sid = (await staff.expect("customer_message", timeout=2.0))["sessionId"]
    second = Tab(await tab.page.context.new_page())  # the same browser: the same customer
    await second.page.goto(site.http_url + "/")
    await second.until("document.getElementById('status').textContent !== 'Connecting…'")

    await tab.page.evaluate(SET_VISIBILITY, "hidden")
    await staff.send({"type": "staff_message", "sessionId": sid, "content": "Yes, fully."})
    await tab.until("document.querySelectorAll('#help-messages li.staff').length === 1")
    assert await count(staff, "replies_seen", 1.0) == 0

    await tab.page.evaluate(SET_VISIBILITY, "visible")
    seen = await staff.expect("replies_seen", timeout=2.0, sessionId=sid)
    thread = await staff.request({"type": "get_conversation", "sessionId": sid}, "conversation")
    [reply] = [m for m in thread["messages"] if m["from"] == "staff"]
    assert (reply["id"], reply["seenAt"]) == (seen["id"], seen["seenAt"])
    await tab.page.evaluate(SET_VISIBILITY, "visible")  # again: nothing new to report
    assert await count(staff, "replies_seen", 0.8) == 0

    await second.until("document.querySelectorAll('#help-messages li').length === 2")
    texts = await second.page.evaluate(
        "[...document.querySelectorAll('#help-messages li .text')].map((e) => e.textContent)"
    )
    assert texts == ["Is the serum vegan?", "Yes, fully."]
    assert tab.errors == [] and second.errors == []
