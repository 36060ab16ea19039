"""The chat panel in a real studio, offscreen: customers chat over real WebSockets, the
presenter right-clicks a line and moderates it, after many lines came and went."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEvent, QObject, QPoint
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication, QMenu

from tests.ui.running import Running, join_as_customer, next_of_type

pytestmark = pytest.mark.slow


def _right_click(panel: Any, pos: QPoint) -> QMenu | None:
    """Right-click the chat's viewport at ``pos`` as a mouse does; the menu it opened."""
    panel.context_menu = None
    viewport = panel.list.viewport()
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, viewport.mapToGlobal(pos))
    QApplication.sendEvent(viewport, event)
    menu: QMenu | None = panel.context_menu
    return menu


def _act(menu: QMenu, text: str) -> None:
    [action] = [a for a in menu.actions() if a.text() == text]
    action.trigger()


def _ids(panel: Any) -> list[str]:
    return [panel.model.row(n)["id"] for n in range(panel.model.rowCount())]


async def _say(ws: Any, text: str) -> None:
    await ws.send(json.dumps({"type": "chat_message", "message": text}))


def test_moderating_the_right_line_after_many_came_and_went(studio: Running) -> None:
    """With the chat past its limit and lines deleted meanwhile, right-clicking a line
    deletes that very line, and its author's ban reaches that author only; the menu
    keeps its line while more arrive before the click."""
    panel = studio.window.chat
    panel.model.limit = 30  # the document follows the model's limit
    panel.list.setModel(panel.model)
    bridge = studio.studio.bridge
    studio.run(bridge.request({"type": "start_stream", "title": "Busy chat"}))
    names = ["ann", "bob", "cyd"]
    clients: dict[str, Any] = {}

    async def join() -> None:
        for name in names:
            ws = await join_as_customer(studio.url, f"sess-{name}")
            await next_of_type(ws, "chat_history")
            clients[name] = ws

    async def chat(rounds: int, tag: str) -> None:
        for n in range(rounds):
            for name in names:  # 3 lines a round: within every customer's rate limit
                await _say(clients[name], f"{tag} {n} from {name}")
            await asyncio.sleep(0.25)

    studio.run(join())
    studio.run(chat(14, "early"), timeout=30)  # 42 lines: the first 12 went past the limit
    studio.until(lambda: panel.model.rowCount() == 30 and "late" not in str(panel.model.rows))
    studio.until(lambda: panel.model.row(29)["message"] == "early 13 from cyd")
    gone_before = [panel.model.row(n)["id"] for n in (0, 5, 29)]
    for gone in gone_before:  # deleted meanwhile (by other staff, say)
        studio.run(bridge.delete_chat_message(gone))
    studio.until(lambda: panel.model.rowCount() == 27)
    assert [b.text() for b in _blocks(panel)] == [panel.model.index(n, 0).data() for n in range(27)]

    # Right-click the middle of the line that says "early 8 from bob".
    target = next(n for n, r in enumerate(panel.model.rows) if r["message"] == "early 8 from bob")
    panel.list.verticalScrollBar().setValue(0)
    panel.list.centerCursor()
    rect = panel.list.row_rect(target)
    assert 0 <= rect.center().y() < panel.list.viewport().height()
    menu = _right_click(panel, rect.center().toPoint())
    assert menu is not None and menu.isVisible()
    assert [a.text() for a in menu.actions()] == [
        "Delete message",
        "Mute for this stream",
        "Ban for this stream",
        "Lift mute or ban",
    ]
    target_id = panel.model.row(target)["id"]
    [marked] = panel.list.extraSelections()  # the line the menu is about, highlighted
    assert marked.cursor.block().text() == panel.model.index(target, 0).data()
    studio.run(chat(2, "late"), timeout=10)  # the menu is open: rows shift meanwhile
    studio.until(lambda: "late 1 from cyd" in [r["message"] for r in panel.model.rows])
    assert panel.model.row(target)["id"] != target_id  # the row number means another line

    async def delete_and_ban() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        _act(menu, "Delete message")
        menu.close()
        deleted = await next_of_type(clients["ann"], "chat_message_deleted")
        while deleted["id"] in gone_before:  # those deleted earlier, still unread
            deleted = await next_of_type(clients["ann"], "chat_message_deleted")
        _act(menu, "Ban for this stream")
        while any(r["message"].endswith("from bob") for r in panel.model.rows):
            await asyncio.sleep(0.05)  # the ban took bob's lines away
        await _say(clients["bob"], "still here?")
        refused = await next_of_type(clients["bob"], "error")
        await _say(clients["cyd"], "cyd can still talk")
        heard = await next_of_type(clients["ann"], "chat_message")
        return deleted, refused, heard

    deleted, refused, heard = studio.run(delete_and_ban())
    assert not panel.list.extraSelections()  # the menu closed: no line marked
    assert deleted["id"] == target_id
    assert refused["message"] == "You cannot chat in this stream"
    assert heard["message"] == "cyd can still talk"
    studio.until(lambda: target_id not in _ids(panel))
    studio.until(lambda: "cyd can still talk" in [r["message"] for r in panel.model.rows])
    # Banning removed bob's lines for everyone; the others' lines are all still there.
    assert not [r for r in panel.model.rows if r["message"].endswith("from bob")]
    assert [b.text() for b in _blocks(panel)] == [
        panel.model.index(n, 0).data() for n in range(panel.model.rowCount())
    ]
    for ws in clients.values():
        studio.run(ws.close())


def _blocks(panel: Any) -> list[Any]:
    doc = panel.list.document()
    return [doc.findBlockByNumber(n) for n in range(doc.blockCount())] if not doc.isEmpty() else []


def test_a_presenter_reading_back_is_not_pulled_down(studio: Running) -> None:
    """Scrolled up in a busy chat, the presenter keeps reading the same line while customers
    write; the "new messages" button brings them down, and from then on the chat follows."""
    panel = studio.window.chat
    bridge = studio.studio.bridge
    studio.run(bridge.request({"type": "start_stream", "title": "Reading back"}))

    async def talk(ws: Any, tag: str, lines: int) -> None:
        for n in range(lines):
            await _say(ws, f"{tag} {n} " + "words to wrap " * (n % 4))
            await asyncio.sleep(0.22)

    ws = studio.run(join_as_customer(studio.url, "reader-test"))
    studio.run(next_of_type(ws, "chat_history"))
    studio.run(talk(ws, "first", 40), timeout=30)
    studio.until(lambda: panel.model.rowCount() == 40)
    bar = panel.list.verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() == bar.maximum()  # followed the newest line
    bar.setValue(bar.maximum() // 3)
    top = panel.list.row_at(QPoint(4, 4))
    top_id = panel.model.row(top)["id"]
    studio.run(talk(ws, "second", 12), timeout=30)
    studio.until(lambda: panel.model.rowCount() == 52)
    assert panel.model.row(panel.list.row_at(QPoint(4, 4)))["id"] == top_id
    button = panel.list.new_lines
    assert button.isVisible() and button.text() == "12 new messages ↓"
    button.click()
    assert bar.value() == bar.maximum() and not button.isVisible()
    studio.run(talk(ws, "third", 3), timeout=10)
    studio.until(lambda: panel.model.rowCount() == 55)
    studio.until(lambda: bar.value() == bar.maximum() and bar.maximum() > 0)
    studio.run(ws.close())


class _LayoutRequests(QObject):
    """Counts the layout requests that reach the watched widgets."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False


def test_ticking_figures_do_not_lay_the_window_out(studio: Running) -> None:
    """Viewers and likes changing several times a second repaint their labels (show bar,
    status bar, audience) without laying out the main window and its docks again."""
    w = studio.window
    bridge = studio.studio.bridge
    bridge.figures_changed.emit(100, 1000)
    studio.until(lambda: w.figures_label.text() == "100 viewers · 1000 likes")
    studio.run(asyncio.sleep(0.3))  # grown once to these widths: one layout
    requests = _LayoutRequests()
    # Where the figures' layouts would go (the status bar also holds the encoder's
    # figures, which tick on their own, so it is left out).
    watched = [w.show_bar, w.audience, w.docks["audience"]]
    for widget in watched:
        widget.installEventFilter(requests)

    async def tick() -> None:
        for n in range(10):
            bridge.figures_changed.emit(500 + n, 1000 + 7 * n)
            await asyncio.sleep(0.15)  # past the window's 100 ms coalescing

    studio.run(tick())
    studio.until(lambda: w.figures_label.text() == "509 viewers · 1063 likes")
    assert w.show_figures_label.text() == w.audience.figures.text() == "509 viewers · 1063 likes"
    for label in (w.figures_label, w.show_figures_label, w.audience.figures):
        assert label.width() >= label.fontMetrics().horizontalAdvance(label.text())
    assert requests.count == 0
    for widget in watched:
        widget.removeEventFilter(requests)
