"""The stream's chat, large and readable; the host writes as the shop and moderates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QMenu,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from wrencos_studio.ui.bridge import HubBridge
from wrencos_studio.ui.capabilities import Capabilities
from wrencos_studio.ui.models import ChatModel
from wrencos_studio.ui.tasks import spawn
from wrencos_studio.ui.widgets.chat_view import ChatView

__all__ = ["ChatPanel"]

#: New lines are shown in batches at most this often (a busy chat is one insert, not fifty):
#: about one batch per frame the screen shows, so lines are coalesced per paint.
BATCH_MS = 100


class ChatPanel(QWidget):
    """The stream's chat, large and readable; the host writes as the shop.

    ``model`` (a ``ChatModel``) holds the lines, ``list`` (a ``ChatView``) shows them: each
    line is laid out once, whatever the number shown, and the view follows the newest line
    unless the presenter scrolled up to read. A moderator right-clicks a line to delete it
    or to mute, ban or lift its author."""

    bridge: HubBridge  # from connect_bridge(), once the studio runs
    context_menu: QMenu | None = None  # the moderation menu open (or last opened)

    def __init__(self, capabilities: Capabilities, host_name: Callable[[], str]) -> None:
        super().__init__()
        self.host_name = host_name
        self.model = ChatModel()
        self._incoming: list[dict[str, Any]] = []
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(BATCH_MS)
        self._flush.timeout.connect(self.flush)
        self.list = ChatView()
        font = QFont()
        font.setPointSize(13)
        self.list.setFont(font)
        self.list.setModel(self.model)
        self.slow = QSpinBox()
        self.slow.setRange(0, 300)
        self.slow.setSuffix(" s between messages")
        self.slow.setSpecialValueText("Slow mode off")
        if capabilities.can_moderate:
            self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            self.list.customContextMenuRequested.connect(self.on_context_menu)
        else:
            self.slow.hide()
        self.input = QLineEdit()
        self.input.setPlaceholderText("Write to everyone as the shop…")
        self.input.setMaxLength(500)
        send = QPushButton("Send")
        send.clicked.connect(self.on_send_clicked)
        self.input.returnPressed.connect(self.on_send_clicked)
        row = QHBoxLayout()
        row.addWidget(self.input)
        row.addWidget(send)
        layout = QVBoxLayout(self)
        layout.addWidget(self.slow)
        layout.addWidget(self.list)
        layout.addLayout(row)

    def connect_bridge(self, bridge: HubBridge) -> None:
        self.bridge = bridge
        self.bridge.chat_message.connect(self.add)
        self.bridge.chat_history.connect(self.reset)  # replaces what is shown, no merge
        self.bridge.stream_stopped.connect(lambda _id: self.reset([]))  # that chat is over
        self.bridge.chat_message_deleted.connect(self.remove)
        # Only now: the spin box finishes editing whenever it loses focus, bridge or not.
        self.slow.editingFinished.connect(self.on_slow_mode_changed)

    def add(self, msg: dict[str, Any]) -> None:
        self._incoming.append(msg)
        if not self._flush.isActive():
            self._flush.start()

    def flush(self) -> None:
        """Show the lines that arrived since the last batch, and follow the newest."""
        self._flush.stop()
        if not self._incoming:
            return
        rows, self._incoming = self._incoming, []
        self.model.extend(rows)  # the view follows the newest line itself

    def remove(self, message_id: str) -> None:
        self.flush()
        self.model.remove(message_id)

    def reset(self, messages: list[dict[str, Any]]) -> None:
        self._incoming.clear()
        self._flush.stop()
        self.model.reset(messages)

    def moderate(self, row: int, action: str) -> None:
        """``delete`` the line in model row ``row``, or ``mute`` / ``ban`` / ``clear``
        (lift) its author for the stream."""
        self.moderate_line(self.model.row(row), action)

    def moderate_line(self, msg: dict[str, Any], action: str) -> None:
        """``delete`` this line (a ``chat_message`` dict), or ``mute`` / ``ban`` /
        ``clear`` its author for the stream (by ``publicId``; the shop's lines have none)."""
        if action == "delete":
            spawn(self.bridge.delete_chat_message(msg["id"]))
        elif msg.get("publicId"):
            spawn(self.bridge.moderate(msg["publicId"], action))

    def menu_for(self, row: int) -> QMenu:
        """The moderation menu of model row ``row``. Its actions hold the line itself, not
        its row: lines arriving (and the oldest going) while the menu is open shift rows."""
        msg = self.model.row(row)
        menu = QMenu(self)
        menu.addAction("Delete message", lambda: self.moderate_line(msg, "delete"))
        if not msg.get("isAdmin"):
            menu.addAction("Mute for this stream", lambda: self.moderate_line(msg, "mute"))
            menu.addAction("Ban for this stream", lambda: self.moderate_line(msg, "ban"))
            menu.addAction("Lift mute or ban", lambda: self.moderate_line(msg, "clear"))
        return menu

    def on_context_menu(self, pos: QPoint) -> None:
        """Right-click on a line: its moderation menu (``context_menu``), that line marked
        while the menu is open. A popup, not ``exec``: no nested event loop while the hub's
        loop runs, and lines keep arriving behind the menu."""
        row = self.list.row_at(pos)
        if row < 0:
            return
        self.context_menu = menu = self.menu_for(row)
        self.list.mark_row(row)
        menu.aboutToHide.connect(lambda: self.list.mark_row(-1))
        menu.popup(self.list.viewport().mapToGlobal(pos))

    def on_slow_mode_changed(self) -> None:
        """Sent when the value changed (leaving the box unchanged asks nothing)."""
        value = self.slow.value()
        if value != getattr(self, "_slow_sent", 0):
            self._slow_sent = value
            spawn(self.bridge.set_slow_mode(value))

    def on_send_clicked(self) -> None:
        text = self.input.text().strip()
        if not text or not self.bridge.online:
            return  # offline, the text stays in the box to be sent once back
        self.input.clear()
        spawn(self.bridge.send_chat(text, self.host_name()))
