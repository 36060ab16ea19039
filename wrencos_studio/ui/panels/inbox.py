"""Support conversations, newest first with unread counts; the thread; a reply box."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPersistentModelIndex, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from wrencos_studio.ui.bridge import HubBridge
from wrencos_studio.ui.models import ConversationFilter, ConversationsModel, ThreadModel
from wrencos_studio.ui.models.base import RowRole
from wrencos_studio.ui.tasks import spawn
from wrencos_studio.ui.widgets import ReplyBox

__all__ = ["InboxPanel"]


class InboxPanel(QWidget):
    """Support conversations, newest first, with unread counts; the thread; a reply box."""

    unread_changed = Signal(int)
    #: A customer wrote (the window rings and notifies).
    customer_wrote = Signal(dict)

    bridge: HubBridge  # from connect_bridge(), once the studio runs

    def __init__(self) -> None:
        super().__init__()
        self.current: str | None = None
        self.conversations_model = ConversationsModel()
        self.filtered = ConversationFilter(self.conversations_model)
        self.thread_model = ThreadModel()
        self.filter = QComboBox()
        self.filter.addItems(["Open", "Resolved", "All"])
        self.filter.currentIndexChanged.connect(self.on_filter_changed)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search name or message…")
        self.search.textChanged.connect(self.on_filter_changed)
        self.conversations = QListView()
        self.conversations.setModel(self.filtered)
        self.conversations.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        self.conversations.selectionModel().currentChanged.connect(self.on_conversation_selected)
        self.resolve_button = QPushButton("Mark resolved")
        self.resolve_button.clicked.connect(self.on_resolve_clicked)
        self.thread_view = QListView()
        self.thread_view.setModel(self.thread_model)
        self.thread_view.setWordWrap(True)
        self.thread_view.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        self.reply = ReplyBox()
        self.reply.setPlaceholderText("Reply… (Enter sends, Shift+Enter new line)")
        self.reply.setMaximumHeight(90)
        self.reply.submitted.connect(self.on_reply_clicked)
        send = QPushButton("Send reply")
        send.clicked.connect(self.on_reply_clicked)
        left = QVBoxLayout()
        left.addWidget(self.filter)
        left.addWidget(self.search)
        left.addWidget(self.conversations)
        right = QVBoxLayout()
        right.addWidget(self.resolve_button)
        right.addWidget(self.thread_view)
        right.addWidget(self.reply)
        right.addWidget(send)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 2)
        layout.addLayout(right, 3)

    def connect_bridge(self, bridge: HubBridge) -> None:
        self.bridge = b = bridge
        b.conversations.connect(self.show_conversations)
        b.conversation.connect(self.show_thread)
        b.conversation_status.connect(lambda _m: self.refresh())
        b.customer_message.connect(self.on_customer_message)

    def refresh(self) -> None:
        spawn(self.bridge.get_conversations())

    def select_row(self, row: int) -> None:
        """Open the conversation shown at ``row`` (as a click would)."""
        self.conversations.setCurrentIndex(self.filtered.index(row, 0))

    def show_conversations(self, rows: list[dict[str, Any]]) -> None:
        self.conversations_model.reset(rows)
        self._reselect()
        self.unread_changed.emit(self.conversations_model.unread())

    def on_filter_changed(self, *_args: Any) -> None:
        self.filtered.set_filter(self.filter.currentText(), self.search.text())
        self._reselect()

    def _reselect(self) -> None:
        # Keep the open conversation selected across refreshes without re-fetching it.
        row = self.conversations_model.find(self.current)
        selection = self.conversations.selectionModel()
        selection.blockSignals(True)
        try:
            if row is None:
                selection.clearCurrentIndex()
                return
            source = self.conversations_model.index(self.conversations_model.rows.index(row))
            index = self.filtered.mapFromSource(source)
            selection.setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            resolved = row.get("status") == "resolved"
            self.resolve_button.setText("Reopen" if resolved else "Mark resolved")
        finally:
            selection.blockSignals(False)

    def on_conversation_selected(
        self, index: QModelIndex | QPersistentModelIndex, _old: Any = None
    ) -> None:
        if not index.isValid():
            return
        row = index.data(RowRole)
        self.current = row["sessionId"]
        resolved = row.get("status") == "resolved"
        self.resolve_button.setText("Reopen" if resolved else "Mark resolved")
        spawn(self.bridge.get_conversation(row["sessionId"]))

    def show_thread(self, session_id: str, messages: list[dict[str, Any]]) -> None:
        if session_id != self.current:
            return
        self.thread_model.session_id = session_id
        self.thread_model.reset(messages)
        self.thread_view.scrollToBottom()

    def on_customer_message(self, msg: dict[str, Any]) -> None:
        self.customer_wrote.emit(msg)
        self.refresh()
        if self.current is not None and self.current == msg.get("sessionId"):
            spawn(self.bridge.get_conversation(self.current))

    def on_resolve_clicked(self) -> None:
        if self.current is None:
            return
        row = self.conversations_model.find(self.current)
        spawn(self.bridge.resolve(self.current, row is None or row.get("status") != "resolved"))

    def on_reply_clicked(self) -> None:
        text = self.reply.toPlainText().strip()
        if not text or self.current is None:
            return
        self.reply.clear()
        spawn(self.bridge.reply(self.current, text))
