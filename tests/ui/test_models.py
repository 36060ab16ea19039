"""The window's item models alone, without a window or a hub (pytest-qt, offscreen)."""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QModelIndex, Qt

from wrencos_studio.ui.models import (
    CatalogModel,
    ChatModel,
    ConversationFilter,
    ConversationsModel,
    PinnedModel,
    ThreadModel,
    ViewersModel,
)
from wrencos_studio.ui.models.base import RowRole


def _texts(model: Any) -> list[str]:
    return [model.index(i, 0).data() for i in range(model.rowCount())]


def test_chat_model_shows_lines_and_removes_deleted(qtmodeltester: Any) -> None:
    """Lines read "name: message", the shop's starred and coloured; a deleted id goes."""
    model = ChatModel()
    model.reset([{"id": "1", "username": "Dana", "message": "Hi"}])
    model.extend(
        [
            {"id": "2", "username": "Shop", "message": "Welcome", "isAdmin": True},
            {"id": "3", "username": "Lee", "message": "Nice"},
        ]
    )
    assert _texts(model) == ["Dana: Hi", "★ Shop: Welcome", "Lee: Nice"]
    shop = model.index(1, 0).data(Qt.ItemDataRole.ForegroundRole)
    assert shop.color() == Qt.GlobalColor.darkMagenta
    assert model.index(0, 0).data(RowRole)["id"] == "1" and model.row(2)["username"] == "Lee"
    qtmodeltester.check(model)
    model.remove("2")
    assert _texts(model) == ["Dana: Hi", "Lee: Nice"]


def test_chat_model_keeps_the_newest_lines(qtmodeltester: Any) -> None:
    """Past its limit the oldest lines go, whether they come one batch or a history."""
    model = ChatModel(limit=3)
    model.reset([{"id": str(i), "username": "u", "message": str(i)} for i in range(5)])
    assert _texts(model) == ["u: 2", "u: 3", "u: 4"]
    model.extend([{"id": "5", "username": "u", "message": "5"}])
    assert _texts(model) == ["u: 3", "u: 4", "u: 5"]
    model.extend([{"id": str(i), "username": "u", "message": str(i)} for i in range(6, 10)])
    assert _texts(model) == ["u: 7", "u: 8", "u: 9"]
    qtmodeltester.check(model)


def _conversation(sid: str, name: str, last: str, status: str = "open", unread: int = 0) -> dict:
    return {
        "sessionId": sid,
        "customerName": name,
        "lastMessage": last,
        "status": status,
        "unread": unread,
    }


def test_conversations_filter_by_status_and_search(qtmodeltester: Any) -> None:
    """Open by default; Resolved and All; a search matches name or last message."""
    model = ConversationsModel()
    model.reset(
        [
            _conversation("a", "Ann", "Is it vegan?", unread=2),
            _conversation("b", "Bo", "Thanks!", status="resolved"),
            _conversation("c", "Cy", "Shipping to Oslo?", unread=1),
        ]
    )
    shown = ConversationFilter(model)
    qtmodeltester.check(model)
    assert model.unread() == 3
    assert _texts(shown) == ["Ann  (2 new)\nIs it vegan?", "Cy  (1 new)\nShipping to Oslo?"]
    shown.set_filter("Resolved", "")
    assert [shown.index(i, 0).data(RowRole)["sessionId"] for i in range(1)] == ["b"]
    shown.set_filter("All", "oslo")
    assert shown.rowCount() == 1 and shown.index(0, 0).data(RowRole)["customerName"] == "Cy"
    assert model.find("b") is not None and model.find("zz") is None


def test_thread_model_says_who_wrote(qtmodeltester: Any) -> None:
    """Customer and shop lines carry their time; the shop's are coloured."""
    model = ThreadModel()
    model.reset(
        [
            {"from": "customer", "timestamp": "2026-11-29T10:15:00Z", "message": "Hello?"},
            {"from": "staff", "timestamp": "2026-11-29T10:16:00Z", "message": "Hi!"},
        ]
    )
    qtmodeltester.check(model)
    assert _texts(model) == ["Customer · 10:15\nHello?", "Shop · 10:16\nHi!"]
    assert model.index(1).data(Qt.ItemDataRole.ForegroundRole) == Qt.GlobalColor.darkMagenta


def test_catalog_model_columns(qtmodeltester: Any) -> None:
    """Name and price (two decimals) columns; out-of-range rows are no product."""
    model = CatalogModel()
    model.reset([{"productId": "s", "name": "Serum", "price": 49.9}])
    qtmodeltester.check(model)
    assert model.headerData(1, Qt.Orientation.Horizontal) == "Price"
    assert model.index(0, 0).data() == "Serum" and model.index(0, 1).data() == "49.90"
    assert model.product(0) == {"productId": "s", "name": "Serum", "price": 49.9}
    assert model.product(1) is None and model.product(-1) is None


def test_pinned_model_toggles_and_moves(qtmodeltester: Any, qtbot: Any) -> None:
    """Toggling adds at the end or removes; a move (what a drag does) reorders and says so."""
    model = PinnedModel()
    serum = {"productId": "s", "name": "Serum", "price": 10, "image": "/s.png", "url": "x"}
    balm = {"productId": "b", "name": "Balm", "price": 5}
    model.reset(model.toggled(serum))
    model.reset(model.toggled(balm))
    assert _texts(model) == ["Serum", "Balm"]
    assert model.items()[0] == {"productId": "s", "name": "Serum", "price": 10, "image": "/s.png"}
    assert [p["productId"] for p in model.toggled(serum)] == ["b"]
    qtmodeltester.check(model)
    with qtbot.waitSignal(model.rowsMoved):
        assert model.moveRows(QModelIndex(), 1, 1, QModelIndex(), 0)
    assert _texts(model) == ["Balm", "Serum"]
    assert model.moveRows(QModelIndex(), 0, 1, QModelIndex(), 2)
    assert _texts(model) == ["Serum", "Balm"]
    assert not model.moveRows(QModelIndex(), 0, 1, QModelIndex(), 1)  # onto itself
    assert not model.moveRows(QModelIndex(), 5, 1, QModelIndex(), 0)
    assert model.flags(model.index(0)) & Qt.ItemFlag.ItemIsDragEnabled


def test_viewers_model_updates_cells_in_place(qtmodeltester: Any, qtbot: Any) -> None:
    """The same viewers refreshed change cells only (no reset); a new viewer resets."""
    model = ViewersModel()
    a = {"peerId": "p1", "transport": "webrtc", "rttMs": 1.5, "packetsLost": 0, "bitrateKbps": 9}
    model.set_viewers([a])
    qtmodeltester.check(model)
    assert [model.index(0, c).data() for c in range(5)] == ["p1", "webrtc", "1.5", "0", "9"]
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    with qtbot.waitSignal(model.dataChanged):
        model.set_viewers([{**a, "bitrateKbps": 12}])
    assert model.index(0, 4).data() == "12" and not resets
    model.set_viewers([a, {**a, "peerId": "1.2.3.4:5", "transport": "fallback", "rttMs": None}])
    assert resets and model.rowCount() == 2 and model.index(1, 2).data() == ""
