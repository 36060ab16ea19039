"""Support conversations, newest first with unread counts; the thread; a reply box.

The list and the thread load a page at a time (more on scrolling to the list's end or
the thread's top); a new message updates its row in place instead of a refetch."""

from __future__ import annotations

import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QTimer,
    Signal,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from wrencos_studio.ui.bridge import HubBridge
from wrencos_studio.ui.models import ConversationFilter, ConversationsModel, ThreadModel
from wrencos_studio.ui.models.base import RowRole
from wrencos_studio.ui.panels.customer import CustomerContextPanel
from wrencos_studio.ui.tasks import spawn
from wrencos_studio.ui.text import isolate
from wrencos_studio.ui.widgets import ReplyBox

__all__ = ["InboxPanel"]

#: Conversations per inbox page, messages per thread page (the hub's defaults).
CONVERSATIONS_PAGE = 50
THREAD_PAGE = 100
#: The search is sent once typing pauses this long (ms).
SEARCH_DEBOUNCE_MS = 300
#: While staff type a reply, one ``staff_typing`` goes out at most this often (s).
TYPING_SEND_S = 3.0
#: How often expired typing indicators are cleared (ms).
TYPING_CHECK_MS = 500
#: The filter combo's entries and what ``get_conversations`` gets as ``filter``.
FILTERS = {"Open": "open", "Unanswered": "unanswered", "Resolved": "resolved", "All": ""}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class InboxPanel(QWidget):
    """Support conversations, newest first, with unread counts; the thread; a reply box."""

    unread_changed = Signal(int)
    #: A customer wrote (the window rings and notifies).
    customer_wrote = Signal(dict)

    bridge: HubBridge  # from connect_bridge(), once the studio runs

    def __init__(self) -> None:
        super().__init__()
        self.current: str | None = None
        # What each page asked for is ("first" | "more") for the list and (sessionId,
        # "newest" | "older" | "replace") for threads: answers come back in the order asked.
        self._lists: deque[str] = deque()
        self._threads: deque[tuple[str, str]] = deque()
        self.conversations_model = ConversationsModel()
        self.filtered = ConversationFilter(self.conversations_model)
        self.thread_model = ThreadModel()
        names = self.thread_model.product_names
        self.context = CustomerContextPanel(lambda pid: names.get(pid, pid))
        #: The search and filter the shown pages were asked with (paging keeps them).
        self.query: tuple[str, str] = ("", "open")
        self.filter = QComboBox()
        self.filter.addItems(list(FILTERS))
        self.filter.currentIndexChanged.connect(self.on_filter_changed)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search every message or a name…")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(self.refresh)
        self.search.textChanged.connect(self.on_search_edited)
        self.conversations = QListView()
        self.conversations.setModel(self.filtered)
        self.conversations.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        self.conversations.selectionModel().currentChanged.connect(self.on_conversation_selected)
        self.conversations.verticalScrollBar().valueChanged.connect(self.on_list_scrolled)
        self.more_button = QPushButton("Load older conversations")
        self.more_button.clicked.connect(self.load_more)
        self.more_button.hide()
        self.resolve_button = QPushButton("Mark resolved")
        self.resolve_button.clicked.connect(self.on_resolve_clicked)
        self.thread_view = QListView()
        self.thread_view.setModel(self.thread_model)
        self.thread_view.setWordWrap(True)
        self.thread_view.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        self.thread_view.verticalScrollBar().valueChanged.connect(self.on_thread_scrolled)
        self.reply = ReplyBox()
        self.reply.setPlaceholderText("Reply… (Enter sends, Shift+Enter new line)")
        self.reply.setMaximumHeight(90)
        self.reply.submitted.connect(self.on_reply_clicked)
        self.reply.textChanged.connect(self.on_reply_edited)
        send = QPushButton("Send reply")
        send.clicked.connect(self.on_reply_clicked)
        # Typing indicators (customer_typing / staff_typing), gone when their time is up.
        self.typing_label = QLabel("")
        self.typing_label.setStyleSheet("color: #666; font-style: italic")
        self._typing_sent = ("", 0.0)  # the last staff_typing: (sessionId, monotonic time)
        self._other_staff: dict[str, tuple[str, float]] = {}  # sid -> (userId, until)
        self._typing_timer = QTimer(self)
        self._typing_timer.setInterval(TYPING_CHECK_MS)
        self._typing_timer.timeout.connect(self.expire_typing)
        #: The shared canned replies (``/shortcut`` in the reply box); asked once.
        self.canned: list[dict[str, Any]] = []
        self._canned_asked = False
        self.canned_button = QPushButton("Canned replies…")
        self.canned_button.clicked.connect(self.on_canned_clicked)
        left = QVBoxLayout()
        left.addWidget(self.filter)
        left.addWidget(self.search)
        left.addWidget(self.conversations)
        left.addWidget(self.more_button)
        right = QVBoxLayout()
        right.addWidget(self.resolve_button)
        right.addWidget(self.thread_view)
        right.addWidget(self.typing_label)
        right.addWidget(self.reply)
        sending = QHBoxLayout()
        sending.addWidget(self.canned_button)
        sending.addStretch(1)
        sending.addWidget(send)
        right.addLayout(sending)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 2)
        layout.addLayout(right, 3)
        layout.addWidget(self.context, 2)

    def connect_bridge(self, bridge: HubBridge) -> None:
        self.bridge = b = bridge
        b.conversations.connect(self.show_conversations)
        b.conversation.connect(self.show_thread)
        b.conversation_status.connect(self.on_conversation_status)
        b.customer_message.connect(self.on_customer_message)
        b.conversation_updated.connect(self.on_conversation_updated)
        b.customer_context.connect(self.context.show_context)
        b.products.connect(self.set_catalog)
        b.customer_typing.connect(self.on_customer_typing)
        b.staff_typing.connect(self.on_staff_typing)
        b.replies_seen.connect(self.on_replies_seen)
        b.canned_replies.connect(self.set_canned)

    def set_catalog(self, products: list[dict[str, Any]]) -> None:
        """Products asked about (thread) and tapped (context) show their catalog name."""
        names = self.thread_model.product_names
        names.clear()
        names.update({str(p["productId"]): str(p.get("name", "")) for p in products})
        rows = self.thread_model.rowCount()
        if rows:
            self.thread_model.dataChanged.emit(
                self.thread_model.index(0), self.thread_model.index(rows - 1)
            )

    # -- the list, a page at a time ------------------------------------------------------

    def refresh(self) -> None:
        """Load the first page again, with the search and filter shown; it replaces what
        the list shows."""
        self._search_timer.stop()
        if not self._canned_asked:
            self._canned_asked = True
            spawn(self.bridge.get_canned_replies())
        self.query = (self.search.text().strip(), FILTERS.get(self.filter.currentText(), ""))
        search, filter_ = self.query
        self._lists.append("first")
        spawn(self.bridge.get_conversations(CONVERSATIONS_PAGE, search=search, filter=filter_))

    def reload(self) -> None:
        """Connected again: the first page and the open thread replace what is shown (what
        was asked before the connection dropped is not answered)."""
        self._lists.clear()
        self._threads.clear()
        self._canned_asked = False  # another station may have changed them meanwhile
        self.refresh()
        if self.current is not None:
            self._ask_thread(self.current, "replace")
            spawn(self.bridge.get_customer_context(self.current))

    def load_more(self) -> None:
        """The next (older) page, unless none is left or one is on its way."""
        model = self.conversations_model
        if not model.more or "more" in self._lists:
            return
        self._lists.append("more")
        search, filter_ = self.query
        spawn(
            self.bridge.get_conversations(
                CONVERSATIONS_PAGE, model.next_cursor, search=search, filter=filter_
            )
        )

    def on_list_scrolled(self, value: int) -> None:
        bar = self.conversations.verticalScrollBar()
        if bar.maximum() > 0 and value >= bar.maximum():
            self.load_more()

    def select_row(self, row: int) -> None:
        """Open the conversation shown at ``row`` (as a click would)."""
        self.conversations.setCurrentIndex(self.filtered.index(row, 0))

    def show_conversations(self, rows: list[dict[str, Any]], more: bool, cursor: str) -> None:
        kind = self._lists.popleft() if self._lists else "first"
        if kind == "more":
            self.conversations_model.add_page(rows, more, cursor)
        else:
            self.conversations_model.set_page(rows, more, cursor)
        self.more_button.setVisible(more)
        self._reselect()
        self.unread_changed.emit(self.conversations_model.unread())

    def on_filter_changed(self, *_args: Any) -> None:
        """The hub narrows the list (a page at a time); rows changed live since are kept
        in step with the filter here."""
        self.filtered.set_filter(self.filter.currentText(), "")
        self._reselect()
        if hasattr(self, "bridge"):
            self.refresh()

    def on_search_edited(self, _text: str) -> None:
        """Asked once typing pauses (``SEARCH_DEBOUNCE_MS``)."""
        self._search_timer.start()

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

    # -- live updates of the list ----------------------------------------------------------

    def on_customer_message(self, msg: dict[str, Any]) -> None:
        """The customer's row shows the message and moves to the top; no list is fetched."""
        self.customer_wrote.emit(msg)
        sid = str(msg.get("sessionId", ""))
        self.conversations_model.clear_typing(sid)
        self._show_typing()
        open_now = sid == self.current
        row = self.conversations_model.find(sid)
        self.conversations_model.touch(
            sid,
            str(msg.get("message", "")),
            str(msg.get("timestamp", "")),
            customer_name=str(msg.get("customerName", "")),
            unread=int(row.get("unread", 0)) if open_now and row is not None else None,
        )
        self._reselect()
        self.unread_changed.emit(self.conversations_model.unread())
        if open_now:
            self._ask_thread(sid, "newest")

    def on_conversation_updated(self, conversation: dict[str, Any]) -> None:
        """What the hub stored, sent to every station: the row shows it; a thread on
        screen counts as read (a customer line in it is marked read at once)."""
        self.conversations_model.update(conversation)
        self._reselect()
        self.unread_changed.emit(self.conversations_model.unread())
        sid = conversation.get("sessionId")
        if sid == self.current and int(conversation.get("unread", 0)) > 0:
            spawn(self.bridge.mark_read(str(sid)))
        if sid == self.current and conversation.get("lastFrom") == "staff":
            # Another station answered (or ours did): the thread on screen shows it too.
            self._other_staff.pop(str(sid), None)
            self._show_typing()
            newest = self.thread_model.rows[-1] if self.thread_model.rows else {}
            if str(conversation.get("lastTimestamp", "")) > str(newest.get("timestamp", "")):
                self._ask_thread(str(sid), "newest")

    def on_conversation_status(self, msg: dict[str, Any]) -> None:
        if msg.get("status"):
            self.conversations_model.set_status(str(msg["sessionId"]), str(msg["status"]))
            self._reselect()

    # -- the thread, newest first, older on scrolling up -----------------------------------

    def _ask_thread(self, session_id: str, kind: str) -> None:
        before = self.thread_model.first_id if kind == "older" else None
        self._threads.append((session_id, kind))
        spawn(self.bridge.get_conversation(session_id, THREAD_PAGE, before))

    def on_conversation_selected(
        self, index: QModelIndex | QPersistentModelIndex, _old: Any = None
    ) -> None:
        if not index.isValid():
            return
        row = index.data(RowRole)
        self.current = row["sessionId"]
        resolved = row.get("status") == "resolved"
        self.resolve_button.setText("Reopen" if resolved else "Mark resolved")
        self._ask_thread(row["sessionId"], "replace")
        spawn(self.bridge.mark_read(row["sessionId"]))
        self.context.clear(row["sessionId"])
        spawn(self.bridge.get_customer_context(row["sessionId"]))
        self._show_typing()

    def load_older(self) -> None:
        """The thread's previous page, unless none is left or one is on its way."""
        model = self.thread_model
        sid = self.current
        if sid is None or sid != model.session_id or not model.more or not model.rows:
            return
        if (sid, "older") not in self._threads:
            self._ask_thread(sid, "older")

    def on_thread_scrolled(self, value: int) -> None:
        bar = self.thread_view.verticalScrollBar()
        if bar.maximum() > 0 and value <= bar.minimum():
            self.load_older()

    def show_thread(self, session_id: str, messages: list[dict[str, Any]], more: bool) -> None:
        kind = "replace"
        while self._threads:  # answers come in the order asked; a refused ask has none
            asked, kind = self._threads.popleft()
            if asked == session_id:
                break
        if session_id != self.current:
            return
        model = self.thread_model
        if kind == "older":
            if model.session_id == session_id:
                added = model.add_older(messages, more)
                # Stay on the line that was at the top: the older ones are above it now.
                self.thread_view.scrollTo(
                    model.index(added), QAbstractItemView.ScrollHint.PositionAtTop
                )
            return
        if kind == "replace":
            model.session_id = None
        model.set_newest(session_id, messages, more)
        self.thread_view.scrollToBottom()

    # -- what staff do ---------------------------------------------------------------------

    def on_resolve_clicked(self) -> None:
        if self.current is None:
            return
        row = self.conversations_model.find(self.current)
        spawn(self.bridge.resolve(self.current, row is None or row.get("status") != "resolved"))

    def on_reply_clicked(self) -> None:
        text = self.reply.toPlainText().strip()
        if not text or self.current is None or not self.bridge.online:
            return  # offline, the text stays in the box to be sent once back
        self.reply.clear()
        sid = self.current
        # Shown at once: a reply marks the customer's messages read (docs/protocol.md §9).
        self.conversations_model.touch(sid, text, _now(), unread=0, status=None)
        self._reselect()
        self.unread_changed.emit(self.conversations_model.unread())
        spawn(self._send_reply(sid, text))

    # -- typing, "seen", canned replies (issue 12) -----------------------------------------

    def on_customer_typing(self, msg: dict[str, Any]) -> None:
        """``customer_typing``: the row and, when open, the thread say who types."""
        sid = str(msg.get("sessionId", ""))
        row = self.conversations_model.find(sid)
        name = (row or {}).get("customerName") or msg.get("customerName") or "The customer"
        self.conversations_model.set_typing(sid, str(name), int(msg.get("expiresInMs", 5000)))
        self._show_typing()

    def on_staff_typing(self, msg: dict[str, Any]) -> None:
        """Another station types a reply: the thread says who, so two do not answer."""
        until = time.monotonic() + int(msg.get("expiresInMs", 5000)) / 1000
        self._other_staff[str(msg.get("sessionId", ""))] = (str(msg.get("userId", "")), until)
        self._show_typing()

    def typing_text(self) -> str:
        """What the line under the thread says now ("" : nobody types)."""
        if self.current is None:
            return ""
        who = []
        customer = self.conversations_model.typing_now(self.current)
        if customer is not None:
            who.append(customer)
        staff = self._other_staff.get(self.current)
        if staff is not None and staff[1] > time.monotonic():
            who.append(f"{staff[0] or 'Another station'} (staff)")
        if not who:
            return ""
        return " and ".join(who) + (" are typing…" if len(who) > 1 else " is typing…")

    def _show_typing(self) -> None:
        self.typing_label.setText(isolate(self.typing_text()) if self.typing_text() else "")
        active = bool(self.conversations_model.typing or self._other_staff)
        if active and not self._typing_timer.isActive():
            self._typing_timer.start()

    def expire_typing(self) -> None:
        """Indicators disappear ~5 s after their last refresh."""
        self.conversations_model.expire_typing()
        now = time.monotonic()
        for sid in [s for s, (_u, until) in self._other_staff.items() if until <= now]:
            del self._other_staff[sid]
        self._show_typing()
        if not (self.conversations_model.typing or self._other_staff):
            self._typing_timer.stop()

    def on_reply_edited(self) -> None:
        """Staff type: the customer sees "Shop is typing…" (one ``staff_typing`` every
        ``TYPING_SEND_S`` at most; none for an emptied box)."""
        if self.current is None or not self.reply.toPlainText().strip():
            return
        if not hasattr(self, "bridge") or not self.bridge.online:
            return
        now = time.monotonic()
        last_sid, last_at = self._typing_sent
        if last_sid == self.current and now - last_at < TYPING_SEND_S:
            return
        self._typing_sent = (self.current, now)
        spawn(self.bridge.typing(self.current))

    def on_replies_seen(self, msg: dict[str, Any]) -> None:
        """``replies_seen``: "Seen HH:MM" under the last reply of the thread on screen."""
        if msg.get("sessionId") == self.current:
            self.thread_model.mark_seen(str(msg.get("id", "")), str(msg.get("seenAt", "")))

    def set_canned(self, replies: list[dict[str, Any]]) -> None:
        """The hub's canned replies: the reply box offers them after ``/``."""
        self.canned = list(replies)
        self.reply.set_canned(self.canned)

    def on_canned_clicked(self) -> None:
        """The manager of the shared canned replies (add, edit, delete)."""
        from wrencos_studio.ui.dialogs.canned import CannedRepliesDialog

        if getattr(self, "canned_dialog", None) is None:  # one manager, shown again
            self.canned_dialog = CannedRepliesDialog(self, self.bridge)
        self.canned_dialog.show_replies(self.canned)
        self.canned_dialog.show()
        self.canned_dialog.raise_()

    async def _send_reply(self, session_id: str, text: str) -> None:
        await self.bridge.reply(session_id, text)
        if session_id == self.current:  # the thread's newest page, with the reply's id
            self._ask_thread(session_id, "newest")
