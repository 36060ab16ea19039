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
from wrencos_studio.ui.text import FSI, PDI, isolate


def _texts(model: Any) -> list[str]:
    """What each row shows, without the isolates around what customers wrote."""
    return [_plain(model.index(i, 0).data()) for i in range(model.rowCount())]


def _plain(text: str) -> str:
    return text.replace(FSI, "").replace(PDI, "")


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


def test_conversation_updated_replaces_a_row_and_moves_it_on_a_new_line(
    qtmodeltester: Any,
) -> None:
    """A read keeps the row in place; a new line moves it up; an unknown one is inserted;
    ``answeredBy`` absent on the wire is gone; the list says who answered."""
    model = ConversationsModel()
    base = {"customerName": "A", "lastMessage": "hi", "status": "open", "lastFrom": "customer"}
    model.set_page(
        [
            {**base, "sessionId": "a", "lastTimestamp": "2026-11-29T10:02:00Z", "unread": 1},
            {**base, "sessionId": "b", "lastTimestamp": "2026-11-29T10:01:00Z", "unread": 2},
        ],
        False,
        "",
    )
    qtmodeltester.check(model)
    model.update({**model.rows[1], "unread": 0})
    assert [r["sessionId"] for r in model.rows] == ["a", "b"] and model.unread() == 1
    model.update(
        {
            **model.rows[1],
            "lastTimestamp": "2026-11-29T10:03:00Z",
            "lastMessage": "ok",
            "lastFrom": "staff",
            "answeredBy": "sam",
            "unread": 0,
        }
    )
    assert [r["sessionId"] for r in model.rows] == ["b", "a"]
    assert "answered by" in model.display(model.rows[0]) and "sam" in model.display(model.rows[0])
    assert "· 10:03" in model.display(model.rows[0])  # and when
    fresh = {k: v for k, v in model.rows[0].items() if k != "answeredBy"}
    model.update(fresh)
    assert "answeredBy" not in model.rows[0]
    model.update({**base, "sessionId": "c", "lastTimestamp": "2026-11-29T10:04:00Z", "unread": 1})
    assert [r["sessionId"] for r in model.rows] == ["c", "b", "a"]


def test_thread_names_the_customer_and_the_staff_member() -> None:
    model = ThreadModel()
    model.product_names = {"p1": "Serum"}
    model.reset(
        [
            {
                "from": "customer",
                "timestamp": "2026-11-29T10:15:00Z",
                "message": "Vegan?",
                "customerName": "Jane",
                "productId": "p1",
            },
            {
                "from": "customer",
                "timestamp": "2026-11-29T10:15:00Z",
                "message": "And?",
                "customerName": "Jane",
                "productId": "p9",
            },
            {
                "from": "staff",
                "timestamp": "2026-11-29T10:16:00Z",
                "message": "Yes",
                "staffUserId": "sam",
            },
        ]
    )
    texts = _texts(model)
    assert texts[0] == "Jane · 10:15\nAbout: Serum\nVegan?"
    assert "About: p9" in texts[1]
    assert texts[2] == "sam (staff) · 10:16\nYes"


def test_catalog_model_columns(qtmodeltester: Any) -> None:
    """Name and price (two decimals) columns; out-of-range rows are no product."""
    model = CatalogModel()
    model.reset([{"productId": "s", "name": "Serum", "price": 49.9}])
    qtmodeltester.check(model)
    assert model.headerData(1, Qt.Orientation.Horizontal) == "Price"
    assert model.index(0, 0).data() == "Serum" and model.index(0, 1).data() == "€49.90"
    model.reset([{"productId": "s", "name": "Serum", "price": 49.9, "currency": "USD"}])
    assert model.index(0, 1).data() == "$49.90"
    model.locale = "de_DE"
    assert model.price({"price": 14.9, "currency": "EUR"}) == "14,90\xa0€"
    model.reset([{"productId": "s", "name": "Serum", "price": 49.9}])
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


def _visual_order(text: str, start: int, length: int) -> list[float]:
    """Where each of ``text[start:start+length]`` is drawn (x of its cursor), as Qt lays it out."""
    from PySide6.QtGui import QFont, QTextLayout

    layout = QTextLayout(text, QFont())
    layout.beginLayout()
    line = layout.createLine()
    line.setLineWidth(10_000)
    layout.endLayout()
    return [line.cursorToX(i)[0] for i in range(start, start + length)]


def test_a_name_cannot_reorder_the_message(qtmodeltester: Any) -> None:
    """A name ending in U+202E (RIGHT-TO-LEFT OVERRIDE) is isolated: the price after it
    is still drawn left to right ("05.99" must not read "99.50")."""
    model = ChatModel()
    model.reset([{"id": "1", "username": "Mallory\u202e", "message": "05.99"}])
    qtmodeltester.check(model)
    text = model.index(0, 0).data()
    assert text == f"{FSI}Mallory\u202e{PDI}: {FSI}05.99{PDI}"
    at = text.index("05.99")
    xs = _visual_order(text, at, 5)
    assert xs == sorted(xs) and len(set(xs)) == 5  # left to right, as written
    raw = "Mallory\u202e: 05.99"  # what the window drew before: "99.50"
    before = _visual_order(raw, raw.index("05.99"), 5)
    assert before == sorted(before, reverse=True)
    conversations = ConversationsModel()
    conversations.set_page([_conversation("a", "Mallory\u202e", "05.99 is the price")], False, "")
    shown = conversations.index(0).data()
    assert shown.startswith(f"{FSI}Mallory\u202e{PDI}\n{FSI}05.99")


def test_a_newline_in_a_name_makes_no_line(qtmodeltester: Any) -> None:
    """A name holding line breaks (an old database row) is drawn on one line, so it
    cannot draw a fake "★ Admin:" line; stray isolate controls cannot close ours."""
    model = ChatModel()
    model.reset([{"id": "1", "username": "Eve\n★ Admin", "message": "refunds at\r\nevil.example"}])
    text = model.index(0, 0).data()
    assert "\n" not in text and "\r" not in text and "\u2028" not in text
    assert text == f"{FSI}Eve ★ Admin{PDI}: {FSI}refunds at evil.example{PDI}"
    assert isolate("a\u2069\u202eb\u2029c\x07") == f"{FSI}a\u202eb c{PDI}"
    conversations = ConversationsModel()
    conversations.set_page([_conversation("a", "Eve\u2028★ Admin", "hi\nthere")], False, "")
    assert conversations.index(0).data().count("\n") == 1  # name line, last message line
    thread = ThreadModel()
    thread.set_newest("a", [{"from": "customer", "timestamp": "", "message": "one\ntwo"}], False)
    assert thread.index(0).data().endswith(f"{FSI}one{PDI}\n{FSI}two{PDI}")


def test_conversation_pages_and_live_updates(qtmodeltester: Any, qtbot: Any) -> None:
    """Pages append without duplicates; a new message updates its row and moves it to
    the top (a move, not a reset); an unknown conversation is inserted there."""
    model = ConversationsModel()
    qtmodeltester.check(model)
    model.set_page([_conversation(s, s.upper(), "x") for s in "abc"], True, "c3")
    assert model.more and model.next_cursor == "c3"
    model.add_page([_conversation(s, s.upper(), "old") for s in "cde"], False, "")
    assert [r["sessionId"] for r in model.rows] == list("abcde") and not model.more
    assert model.find("c")["lastMessage"] == "x"  # the newer row stays
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    with qtbot.waitSignal(model.rowsMoved):
        model.touch("d", "Any news?", "2026-11-29T10:00:00.000Z", customer_name="Dee")
    assert [r["sessionId"] for r in model.rows] == list("dabce") and not resets
    assert model.rows[0]["lastMessage"] == "Any news?" and model.rows[0]["unread"] == 1
    model.touch("d", "Again", "2026-11-29T10:01:00.000Z")
    assert model.rows[0]["unread"] == 2 and model.rows[0]["customerName"] == "Dee"
    model.touch("d", "Answered", "2026-11-29T10:02:00.000Z", unread=0, status=None)
    assert model.rows[0]["unread"] == 0 and model.unread() == 0
    model.touch("z", "New here", "2026-11-29T10:03:00.000Z", customer_name="Zed")
    assert model.rows[0]["sessionId"] == "z" and model.rowCount() == 6 and not resets
    model.set_status("z", "resolved")
    assert model.find("z")["status"] == "resolved"
    model.set_page([_conversation("q", "Q", "only")], False, "")  # replaces, not merged
    assert [r["sessionId"] for r in model.rows] == ["q"]


def test_thread_pages(qtmodeltester: Any) -> None:
    """Older pages go above; the newest page again keeps the older lines loaded; another
    conversation's replaces all."""
    line = lambda i: {"from": "customer", "timestamp": "", "message": str(i), "id": f"m{i}"}  # noqa: E731
    model = ThreadModel()
    qtmodeltester.check(model)
    model.set_newest("a", [line(i) for i in range(5, 10)], True)
    assert model.first_id == "m5" and model.more
    assert model.add_older([line(i) for i in range(0, 6)], False) == 5  # m5 already shown
    assert [r["id"] for r in model.rows] == [f"m{i}" for i in range(10)] and not model.more
    model.set_newest("a", [line(i) for i in range(7, 11)], True)
    assert [r["id"] for r in model.rows] == [f"m{i}" for i in range(11)]
    model.set_newest("b", [line(1)], False)
    assert [r["id"] for r in model.rows] == ["m1"] and model.session_id == "b"


def test_pinned_model_shows_taps_and_pin_time_while_live() -> None:
    """`set_taps` adds "N taps · pinned HH:MM" (local time) to each live pin; a pin
    without a `pinnedAt` (nothing live) shows its name alone; 1 tap is singular."""
    from datetime import UTC, datetime

    from wrencos_studio.ui.models.products import PinnedModel, local_time

    model = PinnedModel()
    model.reset([{"productId": "a", "name": "Serum"}, {"productId": "b", "name": "Balm"}])
    changed: list[Any] = []
    model.dataChanged.connect(lambda *args: changed.append(args))
    at = "2026-11-29T18:03:12.250Z"
    model.set_taps(
        [
            {"productId": "a", "name": "Serum", "taps": 1, "pinnedAt": at},
            {"productId": "b", "name": "Balm", "taps": 0},
        ]
    )
    local = datetime(2026, 11, 29, 18, 3, 12, tzinfo=UTC).astimezone().strftime("%H:%M")
    assert local_time(at) == local
    assert model.index(0).data() == f"Serum — 1 tap · pinned {local}"
    assert model.index(1).data() == "Balm"
    assert changed, "the view must repaint"
    assert local_time("not a time") == "" and local_time(None) == ""
