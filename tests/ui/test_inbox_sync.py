"""Staff in sync: the studio window and a staff station show the same conversations,
read state and who answered, from ``conversation_updated`` (pytest-qt, offscreen)."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

qasync = pytest.importorskip("qasync")

from tests.helpers.testutils import token  # noqa: E402
from tests.ui.running import (  # noqa: E402
    Running,
    join_as_customer,
    next_of_type,
    record_requests,
)
from wrencos_studio.store import repositories as repo  # noqa: E402
from wrencos_studio.ui.bridge import RemoteBridge  # noqa: E402
from wrencos_studio.ui.panels.inbox import InboxPanel  # noqa: E402

pytestmark = pytest.mark.slow


def test_two_stations_show_the_same_state(
    studio: Running, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A customer writes: both stations show the row with its unread count. Staff "sam"
    on a station opens the thread: it is marked read, and the studio shows 0 unread too.
    Sam answers: the studio's row says "answered by sam" without asking the list again;
    the studio's thread names the customer and sam."""
    w = studio.window
    station = RemoteBridge(studio.url, token("sam", "staff"))
    panel = InboxPanel()
    qtbot.addWidget(panel)
    panel.connect_bridge(station)
    studio.run(station.start())
    try:
        w.inbox.refresh()
        panel.refresh()
        studio.run(asyncio.sleep(0.3))  # both first (empty) pages asked and answered
        studio_sent = record_requests(studio.studio.bridge, monkeypatch)
        station_sent = record_requests(station, monkeypatch)
        customer: Any = None

        async def write(text: str) -> None:
            nonlocal customer
            if customer is None:
                customer = await join_as_customer(studio.url, "sess-sync-1")
                await next_of_type(customer, "registered")
            await customer.send(
                json.dumps({"type": "customer_message", "message": text, "customerName": "Jane"})
            )

        studio.run(write("Where is order 1042?"))
        studio.run(write("Hello?"))
        for m in (w.inbox.conversations_model, panel.conversations_model):
            studio.until(lambda m=m: (m.find("sess-sync-1") or {}).get("unread") == 2)
        assert w.inbox.conversations_model.unread() == 2

        panel.select_row(0)  # sam opens the thread: read for everyone
        studio.until(lambda: panel.thread_model.rowCount() == 2)
        assert {"type": "mark_conversation_read", "sessionId": "sess-sync-1"} in station_sent
        studio.until(lambda: w.inbox.conversations_model.find("sess-sync-1")["unread"] == 0)

        panel.reply.setPlainText("It ships today")
        panel.on_reply_clicked()
        studio.until(
            lambda: w.inbox.conversations_model.find("sess-sync-1").get("answeredBy") == "sam"
        )
        row = w.inbox.conversations_model.find("sess-sync-1")
        assert row["lastFrom"] == "staff" and row["lastMessage"] == "It ships today"
        text = w.inbox.conversations_model.display(row)
        assert "answered by" in text and "sam" in text
        assert not [m for m in studio_sent if m["type"] == "get_conversations"]

        # A customer line arriving in a thread on screen is read at once.
        studio.run(write("Thanks!"))
        studio.until(lambda: panel.thread_model.rowCount() == 4)
        studio.until(
            lambda: panel.conversations_model.find("sess-sync-1")["lastMessage"] == "Thanks!"
        )
        studio.until(lambda: w.inbox.conversations_model.find("sess-sync-1")["unread"] == 0)
        studio.until(lambda: panel.conversations_model.find("sess-sync-1")["unread"] == 0)

        w.inbox.select_row(0)  # the studio's thread names both people
        studio.until(lambda: w.inbox.thread_model.rowCount() == 4)
        lines = [w.inbox.thread_model.display(r) for r in w.inbox.thread_model.rows]
        assert "Jane" in lines[0] and "Customer" not in lines[0]
        assert "sam" in lines[2] and "Shop" not in lines[2]
        studio.run(customer.close())
    finally:
        studio.run(station.stop_async())
        studio.run(asyncio.sleep(0.05))


def _seed(studio: Running, n: int) -> None:
    """``n`` conversations at minute ``i``; every 3rd mentions order 1042 in its first
    line (then writes again), every 5th answered by staff, every 7th resolved."""
    store = studio.studio.app.store

    async def seed() -> None:
        for i in range(n):
            sid = f"sess-{i:04d}"
            at = f"2026-11-29T{i // 60:02d}:{i % 60:02d}:00.000Z"
            first = f"Where is order 1042, item {i}?" if i % 3 == 0 else f"Hi, it is {i}"
            await store.run(repo.add_customer_message, f"m{i}", sid, f"Cust {i}", "C", first, at)
            await store.run(repo.add_customer_message, f"n{i}", sid, f"Cust {i}", "C", "And?", at)
            if i % 5 == 0:
                await store.run(repo.add_staff_message, f"s{i}", sid, "sam", "C", "Answered", at)
            if i % 7 == 0:
                await store.run(repo.set_conversation_status, sid, "resolved")

    studio.run(seed())


def test_search_and_filter_are_asked_of_the_hub_and_kept_when_paging(
    studio: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Typing in the search box sends one get_conversations (after a pause) with
    ``search``; it finds a word of a customer's *first* message; the filter combo sends
    ``filter``; the next page asks with the same search and filter."""
    _seed(studio, 300)
    w = studio.window
    inbox = w.inbox
    w.show_panel("inbox")
    inbox.refresh()
    studio.until(lambda: inbox.conversations_model.rowCount() == 50)
    every = record_requests(studio.studio.bridge, monkeypatch)

    def asked() -> list[dict[str, Any]]:
        return [m for m in every if m["type"] == "get_conversations"]

    for typed in ("1", "10", "104", "1042"):  # typing: one request once it pauses
        inbox.search.setText(typed)
    studio.run(asyncio.sleep(0.1))
    assert not asked()
    studio.until(lambda: len(asked()) == 1)
    assert asked()[0] == {
        "type": "get_conversations",
        "limit": 50,
        "search": "1042",
        "filter": "open",
    }
    expected = [i for i in range(299, -1, -1) if i % 3 == 0 and i % 7 != 0]
    studio.until(
        lambda: (
            [r["sessionId"] for r in inbox.conversations_model.rows]
            == [f"sess-{i:04d}" for i in expected[:50]]
        )
    )
    assert inbox.conversations_model.more

    inbox.filter.setCurrentText("Unanswered")
    # Unanswered: the last line is the customer's, resolved or not.
    want = [i for i in range(299, -1, -1) if i % 3 == 0 and i % 5 != 0]
    studio.until(
        lambda: (
            [r["sessionId"] for r in inbox.conversations_model.rows][:3]
            == [f"sess-{i:04d}" for i in want[:3]]
        )
    )
    assert asked()[-1]["filter"] == "unanswered" and asked()[-1]["search"] == "1042"
    before = len(asked())
    inbox.load_more()
    studio.until(lambda: inbox.conversations_model.rowCount() == len(want))
    page = asked()[before]
    assert page["search"] == "1042" and page["filter"] == "unanswered" and page["before"]
    ids = [r["sessionId"] for r in inbox.conversations_model.rows]
    assert ids == [f"sess-{i:04d}" for i in want]
    assert inbox.filtered.rowCount() == len(want)

    inbox.filter.setCurrentText("Resolved")
    studio.until(lambda: asked()[-1].get("filter") == "resolved")
    studio.until(
        lambda: (
            bool(inbox.conversations_model.rows)
            and all(r["status"] == "resolved" for r in inbox.conversations_model.rows)
        )
    )
    inbox.search.setText("")
    inbox.filter.setCurrentText("All")
    studio.until(lambda: asked()[-1] == {"type": "get_conversations", "limit": 50})


def test_the_context_panel_shows_the_customer_as_a_person(
    studio: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scripted customer watches, chats, likes, taps a card twice and an unknown one
    once, then asks about a product: opening the thread asks for the context; the panel
    shows watching since, the chat lines, the like and the taps by catalog name (the id
    when unknown); the thread shows the product asked about by name."""
    w = studio.window
    bridge = studio.studio.bridge
    studio.run(bridge.save_product({"productId": "p1", "name": "Serum", "price": 12.5}))
    studio.run(bridge.request({"type": "start_stream", "title": "Context"}))
    studio.until(lambda: any(p["productId"] == "p1" for p in w.products.catalog))
    sent = record_requests(bridge, monkeypatch)

    async def script() -> Any:
        ws = await join_as_customer(studio.url, "sess-ctx-1")
        await next_of_type(ws, "registered")
        await ws.send(json.dumps({"type": "chat_message", "username": "Jane", "message": "Wow"}))
        await next_of_type(ws, "chat_message")
        await ws.send(json.dumps({"type": "toggle_like"}))
        await next_of_type(ws, "stream_update")
        for pid in ("p1", "p1", "p-gone"):
            await ws.send(json.dumps({"type": "product_tapped", "productId": pid}))
        await asyncio.sleep(0.2)
        await ws.send(
            json.dumps(
                {
                    "type": "customer_message",
                    "message": "Is it vegan?",
                    "customerName": "Jane",
                    "productId": "p1",
                }
            )
        )
        return ws

    ws = studio.run(script())
    studio.until(lambda: w.inbox.conversations_model.find("sess-ctx-1") is not None)
    w.inbox.select_row(0)
    panel = w.inbox.context
    studio.until(lambda: panel.name_label.text() != "Loading…")
    assert {"type": "get_customer_context", "sessionId": "sess-ctx-1"} in sent
    texts = panel.texts()
    assert "Jane" in texts[0]
    assert texts[1].startswith("Watching now, since ")
    assert texts[2] == "Likes this show"
    assert any("Wow" in t for t in texts)
    tapped = [panel.tapped_list.item(i).text() for i in range(panel.tapped_list.count())]
    assert "Serum" in tapped[0] and "2 times" in tapped[0]
    assert "p-gone" in tapped[1] and "once" in tapped[1]
    studio.until(lambda: w.inbox.thread_model.rowCount() == 1)
    assert "About: \u2068Serum\u2069" in w.inbox.thread_model.index(0).data()
    studio.run(ws.close())


def test_end_shows_the_summary_and_past_shows(studio: Running) -> None:
    """End: a dialog with the show's figures, and the past shows from the hub."""
    w = studio.window
    bridge = studio.studio.bridge
    studio.run(bridge.request({"type": "start_stream", "title": "Spring serums"}))
    studio.run(asyncio.sleep(0.2))
    studio.run(bridge.request({"type": "stop_stream"}))
    studio.until(lambda: getattr(w, "summary_dialog", None) is not None)
    dialog = w.summary_dialog
    assert dialog.isVisible() and "has ended" in dialog.windowTitle()
    text = dialog.figures.text()
    for what in ("Duration", "Peak viewers", "Likes", "Chat lines", "Chatters", "Products"):
        assert what in text
    studio.until(lambda: dialog.past.count() == 1)
    assert "Spring serums" in dialog.past.item(0).text()
    dialog.close()
