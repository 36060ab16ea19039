"""Support's live feel in the window (pytest-qt, offscreen): typing both ways and "Seen"
on the studio and a staff station at once, the shared canned replies with their manager
and the ``/shortcut`` completer, and the alerts (tray or toast, mute settings)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

qasync = pytest.importorskip("qasync")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QSystemTrayIcon, QWidget  # noqa: E402

from tests.helpers.testutils import token  # noqa: E402
from tests.ui.running import Running, join_as_customer, next_of_type  # noqa: E402
from wrencos_studio.ui.alerts import Alerts  # noqa: E402
from wrencos_studio.ui.bridge import RemoteBridge  # noqa: E402
from wrencos_studio.ui.models import ConversationsModel, ThreadModel  # noqa: E402
from wrencos_studio.ui.panels.inbox import InboxPanel  # noqa: E402

pytestmark = pytest.mark.slow


def _plain(text: str) -> str:
    """Shown text without the bidi isolates people's names are wrapped in."""
    return text.translate({c: None for c in range(0x2066, 0x206A)})


def _station(studio: Running, qtbot: Any, user: str = "sam") -> tuple[RemoteBridge, InboxPanel]:
    bridge = RemoteBridge(studio.url, token(user, "staff"))
    panel = InboxPanel()
    qtbot.addWidget(panel)
    panel.connect_bridge(bridge)
    studio.run(bridge.start())
    panel.refresh()
    return bridge, panel


def test_typing_and_seen_reach_the_studio_and_two_stations(studio: Running, qtbot: Any) -> None:
    """A customer types: the studio's and both stations' rows and open threads say "Jane
    is typing…", gone about 5 s later. Sam's station types a reply: the customer's tab
    gets `shop_typing` (one for a burst of keys), the studio's and Kim's threads say "sam
    (staff) is typing…". Sam's reply shows in the other open threads without a click;
    the customer's page reports it seen: every thread says "Seen", also after opening the
    thread again."""
    w = studio.window
    station, panel = _station(studio, qtbot)
    station2, panel2 = _station(studio, qtbot, "kim")
    inboxes = (w.inbox, panel, panel2)
    try:
        w.inbox.refresh()
        customer: Any = studio.run(join_as_customer(studio.url, "sess-feel-1"))
        studio.run(next_of_type(customer, "registered"))
        studio.run(
            customer.send(
                json.dumps({"type": "customer_message", "message": "Hi", "customerName": "Jane"})
            )
        )
        for inbox in inboxes:
            studio.until(lambda inbox=inbox: inbox.conversations_model.find("sess-feel-1"))
            inbox.select_row(0)
            studio.until(lambda inbox=inbox: inbox.thread_model.rowCount() == 1)

        studio.run(customer.send(json.dumps({"type": "typing"})))
        for inbox in inboxes:
            model = inbox.conversations_model
            studio.until(lambda model=model: model.typing_now("sess-feel-1") == "Jane")
            assert "Jane is typing…" in _plain(model.display(model.find("sess-feel-1")))
            studio.until(lambda inbox=inbox: "Jane is typing…" in _plain(inbox.typing_label.text()))
        started = time.monotonic()
        studio.until(lambda: w.inbox.typing_label.text() == "", timeout=8)
        assert 3.0 < time.monotonic() - started < 7.0  # expires ~5 s after the last one
        assert "is typing" not in w.inbox.conversations_model.display(
            w.inbox.conversations_model.find("sess-feel-1")
        )

        for key in "Yes it ships":  # a burst of keys: one staff_typing goes out
            qtbot.keyClick(panel.reply, key)
        got = studio.run(next_of_type(customer, "shop_typing"))
        assert got == {"type": "shop_typing", "expiresInMs": 5000}
        for inbox in (w.inbox, panel2):
            studio.until(
                lambda inbox=inbox: "sam (staff) is typing…" in _plain(inbox.typing_label.text())
            )
        assert panel.typing_label.text() == ""  # not told about itself

        async def extra_typing() -> list[str]:
            seen = []
            try:
                while True:
                    raw = await asyncio.wait_for(customer.recv(), 0.5)
                    seen.append(json.loads(raw)["type"])
            except TimeoutError:
                return seen

        assert "shop_typing" not in studio.run(extra_typing())

        panel.on_reply_clicked()
        reply = studio.run(next_of_type(customer, "staff_reply"))
        for inbox in (w.inbox, panel2):
            thread = inbox.thread_model
            studio.until(lambda thread=thread: thread.rowCount() == 2)  # without a click
            assert "sam" in thread.display(thread.rows[-1])
            studio.until(lambda inbox=inbox: inbox.typing_label.text() == "")

        studio.run(customer.send(json.dumps({"type": "reply_seen", "id": reply["id"]})))
        for inbox in inboxes:
            thread = inbox.thread_model
            studio.until(lambda thread=thread: "\nSeen " in thread.display(thread.rows[-1]))
        w.inbox.thread_model.reset([])
        w.inbox.select_row(0)
        w.inbox.reload()  # as after a reconnect: the thread is fetched again
        studio.until(lambda: w.inbox.thread_model.rowCount() == 2)
        assert "\nSeen " in w.inbox.thread_model.display(w.inbox.thread_model.rows[-1])
        studio.run(customer.close())
    finally:
        studio.run(station.stop_async())
        studio.run(station2.stop_async())
        studio.run(asyncio.sleep(0.05))


def test_canned_replies_are_managed_and_completed(studio: Running, qtbot: Any) -> None:
    """The studio's manager adds, edits and deletes a canned reply; a station's list
    follows each change; typing "/sh" there offers "/ship" and Enter inserts its text
    instead of sending."""
    w = studio.window
    station, panel = _station(studio, qtbot)
    try:
        w.inbox.refresh()
        w.inbox.on_canned_clicked()
        dialog = w.inbox.canned_dialog
        dialog.shortcut.setText("/bad shortcut")
        dialog.text.setPlainText("x")
        dialog.on_save_clicked()
        assert "letters, digits" in dialog.problem.text()

        dialog.on_new_clicked()
        dialog.shortcut.setText("/Ship")
        dialog.text.setPlainText("Your order ships today.")
        dialog.on_save_clicked()
        dialog.on_new_clicked()
        dialog.shortcut.setText("/hello")
        dialog.text.setPlainText("Hello! How can I help?")
        dialog.on_save_clicked()
        studio.until(lambda: [r["shortcut"] for r in panel.canned] == ["hello", "ship"])
        studio.until(lambda: dialog.shortcuts() == ["hello", "ship"])

        dialog.list.setCurrentRow(1)  # edit /ship
        assert dialog.shortcut.text() == "/ship"
        dialog.text.setPlainText("Your order ships within 24 hours.")
        dialog.on_save_clicked()
        studio.until(lambda: "24 hours" in {r["shortcut"]: r["text"] for r in panel.canned}["ship"])

        panel.select_row(0) if panel.conversations_model.rowCount() else None
        panel.current = "sess-canned"  # a thread is open (the text never leaves the box)
        panel.reply.setFocus()
        qtbot.keyClicks(panel.reply, "Hi! /sh")
        assert panel.reply.matches() == ["/ship"]
        assert panel.reply.completer.popup().isVisible()
        sent: list[str] = []
        panel.reply.submitted.connect(lambda: sent.append("sent"))
        qtbot.keyClick(panel.reply, Qt.Key.Key_Return)
        assert panel.reply.toPlainText() == "Hi! Your order ships within 24 hours."
        assert sent == [] and not panel.reply.completer.popup().isVisible()
        qtbot.keyClicks(panel.reply, " /zz")
        assert panel.reply.matches() == [] and not panel.reply.completer.popup().isVisible()
        panel.reply.clear()

        dialog.list.setCurrentRow(0)
        dialog.on_delete_clicked()
        studio.until(lambda: [r["shortcut"] for r in panel.canned] == ["ship"])
        studio.until(lambda: dialog.shortcuts() == ["ship"])
        dialog.close()
    finally:
        studio.run(station.stop_async())
        studio.run(asyncio.sleep(0.05))


def test_alerts_use_the_tray_or_a_toast_and_respect_mute(qtbot: Any) -> None:
    """With a tray: the app icon is shown and a notification goes through it. Without:
    an in-window toast. Muted sound or notifications give none of that kind."""
    window = QWidget()
    qtbot.addWidget(window)
    window.resize(800, 600)
    window.show()
    settings: dict[str, Any] = {"alert_sound": True, "alert_notifications": True}
    given: list[tuple[str, str, str]] = []

    with_tray = Alerts(window, settings, tray_available=True)
    with_tray.alerted.connect(lambda *a: given.append(a))
    assert with_tray.tray is not None and with_tray.tray.isVisible()
    assert not with_tray.tray.icon().isNull()
    with_tray.customer_wrote({"customerName": "Anna", "message": "Where is #1042?"})
    kinds = [g[0] for g in given]
    assert kinds[0] in ("sound", "beep") and kinds[1] == "tray"
    assert "Anna" in given[1][1] and "1042" in given[1][2]
    assert not with_tray.toast.isVisible()

    given.clear()
    no_tray = Alerts(window, settings, tray_available=False)
    no_tray.alerted.connect(lambda *a: given.append(a))
    assert no_tray.tray is None
    no_tray.customer_wrote({"customerName": "Ben", "message": "x" * 500})
    assert [g[0] for g in given][1] == "toast"
    assert no_tray.toast.isVisible() and "Ben writes" in _plain(no_tray.toast.text())
    assert len(no_tray.toast.text()) < 200  # a long message is cut

    given.clear()
    settings["alert_sound"] = False
    no_tray.customer_wrote({"message": "hi"})
    assert [g[0] for g in given] == ["toast"]
    settings["alert_notifications"] = False
    settings["alert_sound"] = True
    given.clear()
    with_tray.customer_wrote({"message": "hi"})
    assert [g[0] for g in given] in (["sound"], ["beep"])


def test_the_window_alerts_and_the_settings_mute_it(studio: Running) -> None:
    """A customer message makes the window alert (tray where a tray exists, else the
    toast); the settings dialog's mute switches (also a station's alerts-only dialog)
    are saved and obeyed at once."""
    from wrencos_studio.ui.dialogs import SettingsDialog
    from wrencos_studio.ui.studio import StudioSettings

    w = studio.window
    alerts = w.alerts
    assert (alerts.tray is not None) == QSystemTrayIcon.isSystemTrayAvailable()
    given: list[str] = []
    alerts.alerted.connect(lambda how, *_: given.append(how))
    w.inbox.refresh()

    async def write(sid: str, text: str) -> None:
        ws = await join_as_customer(studio.url, sid)
        await next_of_type(ws, "registered")
        await ws.send(json.dumps({"type": "customer_message", "message": text}))
        await ws.close()

    studio.run(write("sess-alert-1", "Is this in stock?"))
    studio.until(lambda: len(given) == 2)
    assert given[1] == ("tray" if alerts.tray is not None else "toast")
    if alerts.tray is None:
        assert "Is this in stock?" in alerts.toast.text()

    dialog = SettingsDialog(w, studio.studio)
    dialog.alert_sound.setChecked(False)
    dialog.alert_notifications.setChecked(False)
    dialog.accept()
    saved = StudioSettings(Path(studio.studio.data_dir))
    assert saved["alert_sound"] is False and saved["alert_notifications"] is False
    given.clear()
    studio.run(write("sess-alert-2", "Hello?"))
    studio.until(lambda: w.inbox.conversations_model.find("sess-alert-2") is not None)
    studio.run(asyncio.sleep(0.2))
    assert given == []

    # A station's "Alerts…": only the two switches, saved the same way.
    only = SettingsDialog(w, studio.studio, alerts_only=True)
    assert not only.alert_sound.isChecked() and not hasattr(only, "port")
    only.alert_notifications.setChecked(True)
    only.accept()
    saved = StudioSettings(Path(studio.studio.data_dir))
    assert saved["alert_sound"] is False and saved["alert_notifications"] is True
    studio.run(write("sess-alert-3", "Anyone?"))
    studio.until(lambda: given == [("tray" if alerts.tray is not None else "toast")])


def test_typing_expires_and_seen_marks_earlier_replies() -> None:
    """The models alone: an indicator is gone once its time is up; "Seen" marks the
    reply and the earlier ones and is said under the last staff line only."""
    conversations = ConversationsModel()
    conversations.set_page(
        [{"sessionId": "s1", "customerName": "Ana", "lastMessage": "hi", "unread": 1}], False, ""
    )
    conversations.set_typing("s1", "Ana", 100)
    assert conversations.typing_now("s1") == "Ana"
    time.sleep(0.15)
    assert conversations.typing_now("s1") is None
    assert conversations.expire_typing() and not conversations.typing

    thread = ThreadModel()
    rows = [
        {"from": "staff", "message": "a", "timestamp": "2026-11-29T10:00:00.000Z", "id": "1"},
        {"from": "staff", "message": "b", "timestamp": "2026-11-29T10:01:00.000Z", "id": "2"},
        {"from": "customer", "message": "c", "timestamp": "2026-11-29T10:02:00.000Z", "id": "3"},
        {"from": "staff", "message": "d", "timestamp": "2026-11-29T10:03:00.000Z", "id": "4"},
    ]
    thread.set_newest("s1", rows, False)
    assert not thread.mark_seen("nope", "2026-11-29T10:05:00.000Z")
    assert thread.mark_seen("2", "2026-11-29T10:05:00.000Z")
    assert [r.get("seenAt") is not None for r in thread.rows] == [True, True, False, False]
    assert all("Seen" not in thread.display(r) for r in thread.rows)  # 4 is not seen yet
    assert thread.mark_seen("4", "2026-11-29T10:06:00.000Z")
    assert "\nSeen " in thread.display(thread.rows[3])
    assert "Seen" not in thread.display(thread.rows[1])
