"""The studio window as a presenter lives in it: every panel a dock in view at once, the
layout kept and reset, keyboard shortcuts, the LIVE badge, and the end of a show
(a question, figures back to zero, the summary, the chat again after a relaunch)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractItemView, QMessageBox

from tests.ui.running import Running, join_as_customer, next_of_type
from wrencos_studio.ui.panels.audience import figures_text, plural
from wrencos_studio.ui.window import MainWindow

pytestmark = pytest.mark.slow

PANELS = ("preview", "chat", "products", "inbox", "audience")


def _on_screen(window: MainWindow, key: str) -> QRect:
    dock = window.docks[key]
    assert dock.isVisible() and not dock.isFloating(), key
    assert not dock.visibleRegion().isEmpty(), f"{key} is hidden behind a tab"
    return dock.geometry()


def _save_products(studio: Running, *names: str) -> None:
    for i, name in enumerate(names):
        product = {"productId": f"p{i + 1}", "name": name, "price": 10 + i}
        studio.run(studio.studio.bridge.save_product(product))
    studio.window.products.refresh()
    studio.until(lambda: studio.window.products.catalog_model.rowCount() == len(names))


def test_every_panel_is_a_dock_in_view_at_once(studio: Running) -> None:
    """Preview, chat, products, inbox and audience are docks, all visible, none overlapping."""
    w = studio.window
    assert set(PANELS) <= set(w.docks)
    rects = {key: _on_screen(w, key) for key in PANELS}
    for a in PANELS:
        for b in PANELS:
            if a < b:
                assert not rects[a].intersects(rects[b]), (a, b)
    assert w.docks["chat"].widget() is w.chat and w.docks["inbox"].widget() is w.inbox
    view = [a.text() for a in w.menus["view"].actions()]
    assert {"Preview", "Chat", "Products", "Inbox", "Audience", "Share"} <= set(view)
    assert "Reset layout" in view


def test_layout_is_kept_across_restarts_and_reset(studio: Running, qtbot: Any) -> None:
    """A closed chat dock and a floating products dock come back so; Reset layout restores
    the built layout with every panel in view."""
    w = studio.window
    w.docks["chat"].close()
    w.docks["products"].setFloating(True)
    w.save_layout()

    again = MainWindow(studio.studio)
    qtbot.addWidget(again)
    again.show()
    assert again.docks["chat"].isHidden()
    assert again.docks["products"].isFloating()
    again.actions_["reset_layout"].trigger()
    for key in PANELS:
        _on_screen(again, key)

    (studio.studio.data_dir / "window.ini").write_text("[studio]\nstate=@ByteArray(junk)\n")
    third = MainWindow(studio.studio)  # an unreadable layout: the built one, no error
    qtbot.addWidget(third)
    third.show()
    for key in PANELS:
        _on_screen(third, key)


def test_hotkeys_pin_focus_and_go_live(studio: Running, qtbot: Any) -> None:
    """Ctrl+2 pins the 2nd product for customers and again unpins it; Ctrl+T puts the
    cursor in the chat, even from a line edit; Ctrl+L goes live (after the question); all
    are listed under Help."""
    w = studio.window
    _save_products(studio, "Serum", "Cream", "Mask")
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    hub = studio.studio.hub
    assert hub is not None

    async def pin_by_key() -> list[dict[str, Any]]:
        ws = await join_as_customer(studio.url, "keys")
        await next_of_type(ws, "registered")
        QTest.keyClick(w, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
        pinned = await next_of_type(ws, "pinned_products_updated")
        QTest.keyClick(w, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
        unpinned = await next_of_type(ws, "pinned_products_updated")
        await ws.close()
        return [pinned, unpinned]

    second = w.products.catalog_model.index(1, 0).data()  # as the table shows row 2
    pinned, unpinned = studio.run(pin_by_key())
    assert [p["name"] for p in pinned["pinnedProducts"]] == [second]
    assert unpinned["pinnedProducts"] == []
    QTest.keyClick(w, Qt.Key.Key_9, Qt.KeyboardModifier.ControlModifier)  # no 9th product
    assert "no product 9" in w.statusBar().currentMessage()
    assert hub.pinned == []

    title = w.broadcast.title_edit
    title.setFocus()
    qtbot.waitUntil(title.hasFocus)
    QTest.keyClick(title, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(w.chat.input.hasFocus)

    assert w.live_badge.text() == "OFF AIR"
    QTest.keyClick(w, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    studio.until(lambda: w.live and w.live_started_at is not None)
    w.on_tick()
    assert w.live_badge.text().startswith("● LIVE  0:00:0")
    assert "#d11f3c" in w.live_badge.styleSheet() and w.live_badge.font().pointSize() >= 20

    listed = w.shortcuts_text()
    for keys in ("Ctrl+L", "Ctrl+1 … Ctrl+9", "Ctrl+T", "Ctrl+I", "F1"):
        assert keys in listed
    w.actions_["shortcuts"].trigger()
    assert "Ctrl+L" in w.shortcuts_box.text()
    w.shortcuts_box.close()


def test_double_click_pins_without_opening_an_editor(studio: Running) -> None:
    """The catalog never edits in place: a double-click pins, and no cell editor opens."""
    _save_products(studio, "Serum")
    table = studio.window.products.table
    assert table.editTriggers() == QAbstractItemView.EditTrigger.NoEditTriggers
    rect = table.visualRect(table.model().index(0, 0))
    # A real double click: Qt's test API sends the second click only.
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    QTest.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    studio.until(lambda: studio.window.products.pinned_model.rowCount() == 1)
    assert table.state() != QAbstractItemView.State.EditingState


def test_one_click_on_a_row_number_pins(studio: Running) -> None:
    """The catalog's row numbers are pin buttons: one click pins, another unpins."""
    _save_products(studio, "Serum", "Cream")
    table = studio.window.products.table
    numbers = table.verticalHeader()
    assert numbers.isVisible()
    y = numbers.sectionViewportPosition(1) + numbers.sectionSize(1) // 2
    where = QPoint(numbers.width() // 2, y)
    QTest.mouseClick(numbers.viewport(), Qt.MouseButton.LeftButton, pos=where)
    hub = studio.studio.hub
    assert hub is not None
    second = studio.window.products.catalog_model.index(1, 0).data()
    studio.until(lambda: [p["name"] for p in hub.pinned] == [second])
    QTest.mouseClick(numbers.viewport(), Qt.MouseButton.LeftButton, pos=where)
    studio.until(lambda: hub.pinned == [])


def test_plurals() -> None:
    """One like, one viewer; otherwise plural."""
    assert plural(1, "like") == "1 like" and plural(0, "like") == "0 likes"
    assert figures_text(1, 1) == "1 viewer · 1 like"
    assert figures_text(2, 0) == "2 viewers · 0 likes"


def test_end_asks_then_figures_reset_and_the_summary_shows(
    studio: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End is a question with Cancel (Cancel keeps the show); after End the figures are 0,
    the badge says OFF AIR and the show summary opens."""
    w = studio.window
    asked: list[tuple[Any, ...]] = []
    answer = [QMessageBox.StandardButton.Yes]

    def question(*args: Any, **_kw: Any) -> QMessageBox.StandardButton:
        asked.append(args)
        return answer[0]

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    w.broadcast.title_edit.setText("Closing time")
    w.broadcast.live_button.click()
    studio.until(lambda: w.live)

    async def watch() -> Any:
        ws = await join_as_customer(studio.url, "watcher")
        await next_of_type(ws, "stream_started")
        await ws.send(json.dumps({"type": "toggle_like"}))
        return ws

    ws = studio.run(watch())
    studio.until(lambda: w.viewers == 1 and w.likes == 1)
    studio.until(lambda: w.audience.figures.text() == "1 viewer · 1 like")

    answer[0] = QMessageBox.StandardButton.Cancel
    w.broadcast.live_button.click()
    title, text, buttons = asked[-1][1], asked[-1][2], asked[-1][3]
    assert title.endswith("?") and text.startswith("End the show now?")
    assert buttons & QMessageBox.StandardButton.Cancel
    studio.run(asyncio.sleep(0.3))
    assert w.live  # Cancel: still live

    answer[0] = QMessageBox.StandardButton.Yes
    w.broadcast.live_button.click()
    studio.until(lambda: not w.live and getattr(w, "summary_dialog", None) is not None)
    assert w.viewers == 0 and w.likes == 0
    assert w.audience.figures.text() == "0 viewers · 0 likes"
    assert w.show_figures_label.text() == "0 viewers · 0 likes"
    assert w.live_badge.text() == "OFF AIR"
    assert w.summary_dialog.isVisible()
    studio.run(ws.close())


def test_relaunch_while_live_shows_the_current_chat(tmp_path: Path, monkeypatch: Any) -> None:
    """The studio stopped without ending the show (a crash): at the next start the window
    shows LIVE and the chat customers still see."""
    from tests.helpers.testutils import SECRET

    monkeypatch.setenv("WRENCOS_JWT_SECRET", SECRET)
    data = tmp_path / "data"
    data.mkdir()
    (data / "studio-settings.json").write_text(json.dumps({"video_size": "320x180"}))
    first = Running(data)
    first.run(first.studio.go_live("Still on", ""))

    async def chat() -> None:
        ws = await join_as_customer(first.url, "stays")
        await next_of_type(ws, "stream_started")
        await ws.send(json.dumps({"type": "chat_message", "username": "Ana", "message": "hi"}))
        await next_of_type(ws, "chat_message")
        await ws.close()

    first.run(chat())
    # A crash: nothing ended, the database closed as the process died.
    first.window.timer.stop()
    first.studio.bridge.stop()
    first.run(first.studio.on_program(first.studio.app.stop()))
    first.studio.program.stop()
    first.window.deleteLater()
    first.loop.close()

    second = Running(data)
    try:
        w = second.window
        second.until(lambda: w.chat.model.rowCount() == 1 and w.live_started_at is not None)
        assert "hi" in w.chat.model.index(0, 0).data()
        assert w.live and w.live_badge.text().startswith("● LIVE")
    finally:
        second.close()
