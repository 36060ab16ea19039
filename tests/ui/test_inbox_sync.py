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
from tests.ui.running import Running, join_as_customer, next_of_type  # noqa: E402
from wrencos_studio.ui.bridge import RemoteBridge  # noqa: E402
from wrencos_studio.ui.panels.inbox import InboxPanel  # noqa: E402

pytestmark = pytest.mark.slow


def _sent(bridge: Any, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    original = bridge.request

    async def counting(msg: dict[str, Any]) -> None:
        sent.append(msg)
        await original(msg)

    monkeypatch.setattr(bridge, "request", counting)
    return sent


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
        studio_sent = _sent(studio.studio.bridge, monkeypatch)
        station_sent = _sent(station, monkeypatch)
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
