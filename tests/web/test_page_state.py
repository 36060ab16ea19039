"""The customer page keeps no state the server no longer has, and shows names isolated: a
real `serve` process, Chromium behind a TCP proxy the test cuts, staff on the WebSocket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.helpers.browser import PHONE, Tab, open_tab
from tests.helpers.clients import WsClient
from tests.helpers.proxy import TcpProxy, proxying
from tests.helpers.serve import AsyncServe, serving
from tests.helpers.testutils import token

pytestmark = pytest.mark.slow

LINES = "[...document.querySelectorAll('#messages li')].map((li) => li.innerText)"
STATUS = "document.getElementById('status').textContent"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[AsyncServe]:
    async with serving(tmp_path / "data") as running:
        yield running


@pytest.fixture
async def proxy(served: AsyncServe) -> AsyncIterator[TcpProxy]:
    async with proxying("127.0.0.1", served.port) as running:
        yield running


@pytest.fixture
async def clients(served: AsyncServe) -> AsyncIterator[list[WsClient]]:
    opened: list[WsClient] = []
    yield opened
    for c in opened:
        await c.close()


@pytest.fixture
async def staff(served: AsyncServe, clients: list[WsClient]) -> WsClient:
    """An admin connection (straight to the server, not through the proxy)."""
    c = WsClient(await connect(served.url))
    clients.append(c)
    await c.send({"type": "register_admin", "token": token("alice", "admin")})
    assert (await c.recv())["type"] == "admin_registered"
    return c


async def customer(served: AsyncServe, clients: list[WsClient], session_id: str) -> WsClient:
    """A registered customer connection (its ``registered`` reply kept in ``joined``)."""
    c = WsClient(await connect(served.url))
    clients.append(c)
    await c.send({"type": "register", "sessionId": session_id})
    c.joined = await c.sync()
    assert c.joined[0]["type"] == "registered", c.joined
    return c


async def say(c: WsClient, username: str, message: str) -> None:
    await c.send({"type": "chat_message", "username": username, "message": message})


async def lines(tab: Tab) -> list[str]:
    return list(await tab.page.evaluate(LINES))


async def test_lines_deleted_or_banned_while_away_are_gone_after_reconnecting(
    served: AsyncServe,
    proxy: TcpProxy,
    staff: WsClient,
    clients: list[WsClient],
    browser: Any,
) -> None:
    """The connection is cut; meanwhile staff delete a line and ban a customer and others
    chat on; back, the page shows exactly the server's lines, each once."""
    await staff.send({"type": "start_stream", "title": "Serum night"})
    await staff.expect("stream_started")
    dana = await customer(served, clients, "dana-session")
    troll = await customer(served, clients, "troll-session")
    tab = await open_tab(browser, proxy.http_url + "/", PHONE)
    await tab.until(f"{STATUS} === 'LIVE'")
    await say(dana, "Dana", "Is it vegan?")
    await say(troll, "Troll", "spam one")
    await say(dana, "Dana", "oops, wrong shade")
    await say(troll, "Troll", "spam two")
    await tab.until(f"{LINES}.length === 4")
    oops = await staff.expect("chat_message", message="oops, wrong shade")

    await proxy.cut()
    await tab.until(f"{STATUS} === 'Reconnecting…'")
    await staff.send({"type": "delete_chat_message", "id": oops["id"]})
    troll_id = troll.joined[0]["publicId"]
    await staff.send({"type": "moderate_customer", "publicId": troll_id, "action": "ban"})
    await say(dana, "Dana", "said while you were away")
    await staff.expect("chat_message", message="said while you were away")
    proxy.allow()

    await tab.until(f"{STATUS} === 'LIVE'", timeout=30)
    expected = ["Dana: Is it vegan?", "Dana: said while you were away"]
    await tab.until(
        f"JSON.stringify({LINES}) === {json.dumps(json.dumps(expected, separators=(',', ':')))}",
        timeout=5,
    )
    await say(dana, "Dana", "after")
    await tab.until(f"{LINES}.length === 3")
    assert await lines(tab) == [*expected, "Dana: after"]
    # Cut again mid-stream with nothing changed: nothing is lost or doubled.
    await proxy.cut()
    await tab.until(f"{STATUS} === 'Reconnecting…'")
    proxy.allow()
    await tab.until(f"{STATUS} === 'LIVE'", timeout=30)
    await say(dana, "Dana", "and again")
    await tab.until(f"{LINES}.length === 4")
    assert await lines(tab) == [*expected, "Dana: after", "Dana: and again"]
    assert [e for e in tab.errors if "WebSocket" not in e] == []


PINS = [{"productId": "p1", "name": "Hydrating Serum", "price": 49.99, "displayOrder": 1}]


async def test_a_stopped_stream_leaves_no_chat_or_cards_and_the_next_starts_empty(
    served: AsyncServe,
    proxy: TcpProxy,
    staff: WsClient,
    clients: list[WsClient],
    browser: Any,
    tmp_path: Path,
) -> None:
    """`stream_stopped` clears chat and product cards; a new stream starts empty, also when
    the page was away while one stream ended and the next began."""
    await staff.send({"type": "start_stream", "title": "First show"})
    await staff.expect("stream_started")
    await staff.send({"type": "pin_products", "pinnedProducts": PINS})
    dana = await customer(served, clients, "dana-session")
    tab = await open_tab(browser, proxy.http_url + "/", PHONE)
    await say(dana, "Dana", "first show line")
    await tab.until(f"{LINES}.length === 1 && document.querySelectorAll('#pinned li').length")
    await tab.page.screenshot(path=str(tmp_path / "phone-live.png"), full_page=True)

    await staff.send({"type": "stop_stream"})
    await tab.until(f"{STATUS} === 'Offline'")
    await tab.until(f"{LINES}.length === 0 && !document.querySelector('#pinned li')")
    await tab.page.screenshot(path=str(tmp_path / "phone-ended.png"), full_page=True)

    await staff.send({"type": "start_stream", "title": "Second show"})
    await tab.until(f"{STATUS} === 'LIVE'")
    assert await lines(tab) == []
    assert await tab.page.locator("#pinned li").count() == 0
    await say(dana, "Dana", "second show line")
    await staff.send({"type": "pin_products", "pinnedProducts": PINS})
    await tab.until(f"{LINES}.length === 1 && document.querySelectorAll('#pinned li').length")

    # Away while the second show ends and a third begins: back, nothing of the second.
    await proxy.cut()
    await tab.until(f"{STATUS} === 'Reconnecting…'")
    await staff.send({"type": "stop_stream"})
    await staff.send({"type": "start_stream", "title": "Third show"})
    await staff.expect("stream_started")
    proxy.allow()
    await tab.until("document.getElementById('title').textContent === 'Third show'", timeout=30)
    await tab.until(f"{LINES}.length === 0 && !document.querySelector('#pinned li')")

    # Away while the show ends: back, the Offline page shows no old line or card.
    await say(dana, "Dana", "third show line")
    await tab.until(f"{LINES}.length === 1")
    await proxy.cut()
    await tab.until(f"{STATUS} === 'Reconnecting…'")
    await staff.send({"type": "stop_stream"})
    await staff.expect("stream_stopped")
    proxy.allow()
    await tab.until(f"{STATUS} === 'Offline'", timeout=30)
    await tab.until(f"{LINES}.length === 0 && !document.querySelector('#pinned li')")
    assert [e for e in tab.errors if "WebSocket" not in e] == []


# Each character's left edge, in logical order: increasing means shown left to right.
X_OF_EACH_CHARACTER = """(el) => {
  const node = el.firstChild;
  const xs = [];
  for (let i = 0; i < node.length; i++) {
    const range = document.createRange();
    range.setStart(node, i);
    range.setEnd(node, i + 1);
    xs.push(range.getBoundingClientRect().left);
  }
  return xs;
}"""


async def test_a_name_with_a_direction_override_cannot_reverse_the_message(
    served: AsyncServe,
    proxy: TcpProxy,
    staff: WsClient,
    clients: list[WsClient],
    browser: Any,
    tmp_path: Path,
) -> None:
    """A username ending in U+202E (right-to-left override) before "05.99": the name is
    isolated and the message still reads "05.99", left to right, as written."""
    await staff.send({"type": "start_stream", "title": "Prices"})
    await staff.expect("stream_started")
    await staff.send(
        {
            "type": "pin_products",
            "pinnedProducts": [
                {"productId": "p1", "name": "Serum \u202e", "price": 5.99, "displayOrder": 1}
            ],
        }
    )
    mallory = await customer(served, clients, "mallory-session")
    tab = await open_tab(browser, proxy.http_url + "/", PHONE)
    await say(mallory, "Mallory\u202e", "05.99")
    await tab.until(f"{LINES}.length === 1 && document.querySelector('#pinned li')")

    line = tab.page.locator("#messages li").first
    name = line.locator(".who bdi, .who [dir=auto]")
    assert await name.count() == 1, "the name is in an isolate of its own"
    assert (await name.inner_text()).startswith("Mallory")
    text = line.locator(".text")
    assert await text.get_attribute("dir") == "auto"
    assert await text.inner_text() == "05.99"
    xs = await text.evaluate(X_OF_EACH_CHARACTER)
    assert xs == sorted(xs) and len(set(xs)) == 5, f"shown left to right: {xs}"

    card_name = tab.page.locator("#pinned .name")
    assert await card_name.get_attribute("dir") == "auto"
    price = tab.page.locator("#pinned .price")
    assert await price.inner_text() == "5.99"
    xs = await price.evaluate(X_OF_EACH_CHARACTER)
    assert xs == sorted(xs), f"the price reads left to right: {xs}"
    await tab.page.screenshot(path=str(tmp_path / "phone-bidi.png"), full_page=True)
    assert tab.errors == []


async def test_a_refused_message_keeps_what_the_customer_typed(
    served: AsyncServe,
    proxy: TcpProxy,
    staff: WsClient,
    browser: Any,
) -> None:
    """The hub refuses a chat line (no stream live): the error shows and the text stays in
    the box; once it is taken, the box empties."""
    tab = await open_tab(browser, proxy.http_url + "/", PHONE)
    await tab.until(f"{STATUS} === 'Offline'")
    await tab.page.fill("#name", "Dana")
    await tab.page.fill("#text", "Is the serum back in stock?")
    await tab.page.press("#text", "Enter")
    await tab.until("document.getElementById('chat-error').textContent !== ''")
    assert await tab.texts("#chat-error") == ["No active stream"]
    assert await tab.page.input_value("#text") == "Is the serum back in stock?"

    await staff.send({"type": "start_stream", "title": "Back in stock"})
    await tab.until(f"{STATUS} === 'LIVE'")
    await tab.page.press("#text", "Enter")
    await tab.until(f"{LINES}.length === 1")
    await tab.until("document.getElementById('text').value === ''")
    assert await lines(tab) == ["Dana: Is the serum back in stock?"]
    assert await tab.texts("#chat-error") == [""]
    assert tab.errors == []


SEND_QUESTIONS = """(n) => {
  for (let i = 1; i <= n; i++) {
    document.getElementById('help-text').value = `question ${i}`;
    document.getElementById('help-form').requestSubmit();
  }
}"""


async def test_a_refused_support_message_keeps_what_the_customer_typed(
    proxy: TcpProxy, staff: WsClient, browser: Any
) -> None:
    """40 support messages at once: beyond the rate limit they are refused, and the last
    one stays in the box with the error beside it; the first ones reach the shop, each
    shown once."""
    tab = await open_tab(browser, proxy.http_url + "/", PHONE)
    await tab.page.click("#help-button")
    await tab.page.evaluate(SEND_QUESTIONS, 40)
    await tab.until("document.getElementById('help-error').textContent !== ''")
    assert await tab.texts("#help-error") == ["Rate limit exceeded"]
    assert await tab.page.input_value("#help-text") == "question 40"
    taken = [(await staff.expect("customer_message"))["message"] for _ in range(10)]
    assert taken == [f"question {i}" for i in range(1, 11)]
    await tab.until("document.querySelectorAll('#help-messages li').length >= 10")
    shown = [t.split("\n")[0] for t in await tab.texts("#help-messages li")]
    assert len(shown) == len(set(shown)), "each message shown once"
    assert tab.errors == []
