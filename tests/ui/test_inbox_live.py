"""The window keeps no stale state: inbox pages, rows updated from live messages, chat and
pins cleared when a stream stops, a staff station that reconnects (pytest-qt, offscreen)."""

from __future__ import annotations

import asyncio
import gc
import json
import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

qasync = pytest.importorskip("qasync")

from PySide6.QtWidgets import QApplication  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from tests.helpers.serve import serving_sync  # noqa: E402
from tests.helpers.testutils import free_port, token  # noqa: E402
from tests.ui.running import (  # noqa: E402
    Running,
    join_as_customer,
    next_of_type,
    record_requests,
)
from wrencos_studio.store import repositories as repo  # noqa: E402

pytestmark = pytest.mark.slow


def _seed(studio: Running, n: int) -> None:
    """``n`` conversations, conversation ``i`` written at minute ``i`` (the last newest)."""
    store = studio.studio.app.store

    async def seed() -> None:
        for i in range(n):
            at = f"2026-11-29T{i // 60:02d}:{i % 60:02d}:00.000Z"
            await store.run(
                repo.add_customer_message, f"u{i}", f"sess-{i:04d}", f"Cust {i}", "C", "hi", at
            )

    studio.run(seed())


def _session_ids(studio: Running) -> list[str]:
    return [r["sessionId"] for r in studio.window.inbox.conversations_model.rows]


def test_a_long_inbox_loads_a_page_at_a_time(
    studio: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """120 conversations: 50 at first, 50 more each time the list is scrolled to its end,
    newest first, none twice; the last page hides "Load older conversations"."""
    _seed(studio, 120)
    w = studio.window
    w.show_panel("inbox")
    sent = record_requests(studio.studio.bridge, monkeypatch)
    w.inbox.refresh()
    studio.until(lambda: w.inbox.conversations_model.rowCount() == 50)
    assert sent == [{"type": "get_conversations", "limit": 50, "filter": "open"}]
    assert _session_ids(studio)[:2] == ["sess-0119", "sess-0118"]
    assert w.inbox.more_button.isVisibleTo(w)
    bar = w.inbox.conversations.verticalScrollBar()
    for rows in (100, 120):
        studio.until(lambda: bar.maximum() > 0)
        bar.setValue(bar.maximum())  # the presenter scrolls to the end of the list
        studio.until(lambda rows=rows: w.inbox.conversations_model.rowCount() == rows)
    ids = _session_ids(studio)
    assert ids == [f"sess-{i:04d}" for i in range(119, -1, -1)]
    assert [m["type"] for m in sent] == ["get_conversations"] * 3
    assert sent[1]["before"] and sent[2]["before"] != sent[1]["before"]
    assert not w.inbox.conversations_model.more and not w.inbox.more_button.isVisibleTo(w)
    bar.setValue(bar.maximum())
    studio.run(asyncio.sleep(0.2))
    assert len(sent) == 3  # nothing left to load: nothing asked


def test_a_customer_message_updates_one_row_without_a_refetch(
    studio: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A customer writing again: their row shows the message, one more unread, at the top;
    a new customer's row appears on top; a reply zeroes the count; no get_conversations."""
    _seed(studio, 5)
    w = studio.window
    w.inbox.refresh()
    studio.until(lambda: w.inbox.conversations_model.rowCount() == 5)
    sent = record_requests(studio.studio.bridge, monkeypatch)

    async def write() -> None:
        again = await join_as_customer(studio.url, "sess-0002")
        new = await join_as_customer(studio.url, "sess-new-1")
        await next_of_type(again, "registered")
        await next_of_type(new, "registered")
        await again.send(json.dumps({"type": "customer_message", "message": "Any news?"}))
        while _session_ids(studio)[0] != "sess-0002":
            await asyncio.sleep(0.05)
        await new.send(
            json.dumps({"type": "customer_message", "message": "Hello", "customerName": "Neo"})
        )
        while w.inbox.conversations_model.rowCount() < 6:
            await asyncio.sleep(0.05)
        await again.close()
        await new.close()

    studio.run(write())
    model = w.inbox.conversations_model
    assert _session_ids(studio)[:3] == ["sess-new-1", "sess-0002", "sess-0004"]
    row = model.find("sess-0002")
    assert row["lastMessage"] == "Any news?" and row["unread"] == 2
    assert model.find("sess-new-1")["customerName"] == "Neo"
    assert "Neo" in w.inbox.filtered.index(0, 0).data()
    assert w.docks["inbox"].windowTitle() == f"Inbox ({model.unread()})"
    w.inbox.select_row(1)
    studio.until(lambda: w.inbox.thread_model.rowCount() == 2)
    w.inbox.reply.setPlainText("Shipped today.")
    w.inbox.on_reply_clicked()
    assert row["unread"] == 0 and row["lastMessage"] == "Shipped today."
    studio.until(lambda: w.inbox.thread_model.rowCount() == 3)
    assert not [m for m in sent if m["type"] == "get_conversations"]


def test_stream_stopped_clears_chat_and_pins(studio: Running) -> None:
    """When the stream ends its chat lines and pinned strip go from the window; a
    chat_history replaces the chat shown (a line gone from the hub is gone here)."""
    bridge = studio.studio.bridge
    w = studio.window
    studio.run(bridge.start_stream("Short"))
    studio.run(bridge.save_product({"productId": "s", "name": "Serum", "price": 10}))
    studio.run(bridge.pin_products([{"productId": "s", "name": "Serum", "price": 10}]))
    studio.run(bridge.send_chat("Welcome", "Shop"))
    studio.until(lambda: w.chat.model.rowCount() == 1 and w.products.pinned_model.rowCount() == 1)
    w.chat.model.extend([{"id": "stale", "username": "Ghost", "message": "deleted long ago"}])
    studio.run(bridge.get_room())
    studio.until(lambda: w.chat.model.rowCount() == 1)
    assert w.chat.model.row(0)["message"] == "Welcome"
    studio.run(bridge.stop_stream())
    studio.until(lambda: w.chat.model.rowCount() == 0)
    assert w.products.pinned_model.rowCount() == 0


def test_a_station_reconnects_after_the_studio_restarts(
    tmp_path: Path, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The studio (`serve`) stops: the station says "Reconnecting…"; it starts again on the
    same port: the station registers again and the chat, the inbox and the open thread it
    shows are fetched again and replace what it had."""
    from wrencos_studio.ui.studio import Station
    from wrencos_studio.ui.window import MainWindow

    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    data = tmp_path / "studio"
    data.mkdir()
    port = free_port()

    def run(aw: Any, timeout: float = 20) -> Any:
        return loop.run_until_complete(asyncio.wait_for(aw, timeout))

    def until(predicate: Any, timeout: float = 15) -> None:
        async def wait() -> None:
            while not predicate():
                await asyncio.sleep(0.05)

        run(wait(), timeout)

    async def go_live(url: str) -> None:
        presenter = await connect(url)
        await presenter.send(json.dumps({"type": "register_admin", "token": token()}))
        await next_of_type(presenter, "admin_registered")
        await presenter.send(json.dumps({"type": "start_stream", "title": "Live"}))
        await presenter.send(json.dumps({"type": "chat_message", "message": "Welcome"}))
        await next_of_type(presenter, "chat_message")
        await presenter.close()

    async def ask(url: str) -> None:
        customer = await join_as_customer(url, "far-away-1")
        await next_of_type(customer, "registered")
        await customer.send(json.dumps({"type": "customer_message", "message": "Still there?"}))
        await customer.close()

    window: Any = None
    station: Any = None
    try:
        with serving_sync(data, "--port", str(port)) as served:
            run(go_live(served.url))
            station = Station(served.url, token("sam", "staff"), tmp_path / "station")
            window = MainWindow(station)
            run(station.start())
            window.started()
            window.show()
            until(lambda: window.chat.model.rowCount() == 1)  # the room, asked for at start
            run(ask(served.url))
            until(lambda: window.inbox.conversations_model.rowCount() == 1)
            window.inbox.select_row(0)
            until(lambda: window.inbox.thread_model.rowCount() == 1)
        until(lambda: window.connection_label.isVisible())
        assert window.connection_label.text() == "Reconnecting…"
        window.inbox.reply.setPlainText("Yes!")
        window.inbox.on_reply_clicked()  # offline: nothing is shown as sent, the text stays
        assert window.inbox.reply.toPlainText() == "Yes!"
        assert window.inbox.conversations_model.rows[0]["lastMessage"] == "Still there?"
        # What the station shows now is stale: the hub never had this row.
        window.inbox.conversations_model.touch("ghost", "stale", "", customer_name="Ghost")
        window.chat.model.extend([{"id": "stale", "username": "Ghost", "message": "gone"}])
        sent = record_requests(station.bridge, monkeypatch)
        with serving_sync(data, "--port", str(port)):
            until(lambda: not window.connection_label.isVisible())
            until(lambda: window.chat.model.rowCount() == 1)  # the room again, replaced
            assert window.chat.model.row(0)["message"] == "Welcome"
            until(lambda: window.inbox.conversations_model.rowCount() == 1)
            assert window.inbox.conversations_model.rows[0]["sessionId"] == "far-away-1"
            until(lambda: window.inbox.thread_model.rowCount() == 1)
            types = [m["type"] for m in sent]
            assert "get_conversations" in types and "get_conversation" in types
            assert window.inbox.thread_model.row(0)["message"] == "Still there?"
            window.inbox.on_reply_clicked()  # back: the kept text is sent
            until(lambda: window.inbox.thread_model.rowCount() == 2)
            assert window.inbox.thread_model.row(1)["message"] == "Yes!"
    finally:
        if window is not None:
            window.close()
        if station is not None:
            loop.run_until_complete(station.shutdown())
        loop.close()
        # Collect the old loop's and window's Qt objects here, on the GUI thread: left to
        # the garbage collector they may be freed on a capture thread, under Qt's feet.
        gc.collect()
        asyncio.set_event_loop(None)


def test_a_long_thread_loads_older_messages_on_scrolling_up(
    studio: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 150-message thread opens on its newest 100; scrolling to the top loads the 50
    before them (``before`` = the first shown message's id), above, none twice."""
    store = studio.studio.app.store

    async def seed() -> None:
        for i in range(150):
            at = f"2026-11-29T{i // 60:02d}:{i % 60:02d}:00.000Z"
            await store.run(
                repo.add_customer_message, f"t{i}", "sess-long", "Talker", "C", f"line {i}", at
            )

    studio.run(seed())
    w = studio.window
    w.show_panel("inbox")
    w.inbox.refresh()
    studio.until(lambda: w.inbox.conversations_model.rowCount() == 1)
    sent = record_requests(studio.studio.bridge, monkeypatch)
    w.inbox.select_row(0)
    thread = w.inbox.thread_model
    studio.until(lambda: thread.rowCount() == 100)
    assert thread.row(0)["message"] == "line 50" and thread.more
    first_id = thread.first_id
    bar = w.inbox.thread_view.verticalScrollBar()
    studio.until(lambda: bar.maximum() > 0 and bar.value() == bar.maximum())
    bar.setValue(bar.minimum())  # staff scroll up to the beginning
    studio.until(lambda: thread.rowCount() == 150)
    assert [r["message"] for r in thread.rows] == [f"line {i}" for i in range(150)]
    assert not thread.more and bar.value() > 0  # still on the line that was on top
    assert [m.get("before") for m in sent if m["type"] == "get_conversation"] == [None, first_id]
