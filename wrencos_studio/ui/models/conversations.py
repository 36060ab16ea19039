"""Support conversations (the inbox list, with its open/resolved filter and search) and
one conversation's thread, each loaded a page at a time and kept up to date in place."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt

from wrencos_studio.ui.models.base import RowRole, RowsModel
from wrencos_studio.ui.text import isolate, isolate_lines

__all__ = ["ConversationFilter", "ConversationsModel", "ThreadModel"]


class ConversationsModel(RowsModel):
    """``conversations`` rows, newest first as the hub sends them, a page at a time.

    ``more``/``next_cursor`` say whether and from where the next (older) page loads; new
    messages update their row and move it to the top (``touch``) instead of a refetch."""

    def __init__(self) -> None:
        super().__init__()
        self.more = False
        self.next_cursor = ""
        #: sessionId -> (who is typing, until when: ``time.monotonic()`` seconds).
        self.typing: dict[str, tuple[str, float]] = {}

    def typing_now(self, session_id: str | None) -> str | None:
        """Who is typing in ``session_id`` now (None: nobody, or it expired)."""
        entry = self.typing.get(session_id or "")
        return entry[0] if entry is not None and entry[1] > time.monotonic() else None

    def set_typing(self, session_id: str, who: str, expires_in_ms: int) -> None:
        """``who`` types in ``session_id`` for the next ``expires_in_ms`` (the hub's
        ``customer_typing``): its row says so until then."""
        self.typing[session_id] = (who, time.monotonic() + max(0, expires_in_ms) / 1000)
        self._row_changed(session_id)

    def clear_typing(self, session_id: str) -> None:
        """A message from the typist ends it at once."""
        if self.typing.pop(session_id, None) is not None:
            self._row_changed(session_id)

    def expire_typing(self) -> bool:
        """Forget indicators whose time is up; True if any row changed."""
        now = time.monotonic()
        gone = [sid for sid, (_who, until) in self.typing.items() if until <= now]
        for sid in gone:
            del self.typing[sid]
            self._row_changed(sid)
        return bool(gone)

    def _row_changed(self, session_id: str) -> None:
        n = self._position(session_id)
        if n >= 0:
            self.dataChanged.emit(self.index(n), self.index(n))

    def display(self, row: dict[str, Any]) -> str:
        badge = f"  ({row['unread']} new)" if row.get("unread") else ""
        last = str(row.get("lastMessage", ""))[:80]
        by = row.get("answeredBy")
        answered = f"  · answered by {isolate(str(by))}" if by else ""
        done = "  · resolved" if row.get("status") == "resolved" else ""
        # When the last line was written (UTC, as the thread's times): who answered when.
        at = str(row.get("lastTimestamp", ""))[11:16]
        when = f"  · {at}" if at else ""
        head = f"{isolate(row.get('customerName', ''))}{badge}{answered}{when}{done}"
        who = self.typing_now(row.get("sessionId"))
        if who is not None:
            return f"{head}\n{isolate(who)} is typing…"
        return f"{head}\n{isolate(last)}"

    def unread(self) -> int:
        return sum(int(r.get("unread", 0)) for r in self.rows)

    def find(self, session_id: str | None) -> dict[str, Any] | None:
        return next((r for r in self.rows if r["sessionId"] == session_id), None)

    def _position(self, session_id: str) -> int:
        return next((n for n, r in enumerate(self.rows) if r["sessionId"] == session_id), -1)

    def set_page(self, rows: list[dict[str, Any]], more: bool, next_cursor: str) -> None:
        """The first page: what the list shows is replaced, not merged."""
        self.more, self.next_cursor = more, next_cursor
        self.reset(rows)

    def add_page(self, rows: list[dict[str, Any]], more: bool, next_cursor: str) -> None:
        """An older page, appended; a conversation already shown keeps its (newer) row."""
        self.more, self.next_cursor = more, next_cursor
        known = {r["sessionId"] for r in self.rows}
        new = [r for r in rows if r["sessionId"] not in known]
        if new:
            n = len(self.rows)
            self.beginInsertRows(QModelIndex(), n, n + len(new) - 1)
            self.rows.extend(new)
            self.endInsertRows()

    def touch(
        self,
        session_id: str,
        message: str,
        timestamp: str,
        *,
        customer_name: str = "",
        unread: int | None = None,
        status: str | None = "open",
    ) -> None:
        """A new message in ``session_id``: its row shows it and moves to the top (a
        conversation not loaded yet is inserted there). ``unread`` None counts one more;
        ``status`` None keeps the row's."""
        n = self._position(session_id)
        if n < 0:
            row: dict[str, Any] = {"sessionId": session_id, "unread": 0, "status": "open"}
        else:
            row = self.rows[n]
        row["lastMessage"] = message[:200]
        row["lastTimestamp"] = timestamp
        if customer_name or "customerName" not in row:
            row["customerName"] = customer_name
        row["unread"] = int(row.get("unread", 0)) + 1 if unread is None else unread
        if status is not None:
            row["status"] = status
        if n < 0:
            self.beginInsertRows(QModelIndex(), 0, 0)
            self.rows.insert(0, row)
            self.endInsertRows()
            return
        if n > 0:  # a move, not a remove and insert: the selection stays on the row
            self.beginMoveRows(QModelIndex(), n, n, QModelIndex(), 0)
            self.rows.insert(0, self.rows.pop(n))
            self.endMoveRows()
        self.dataChanged.emit(self.index(0), self.index(0))

    def update(self, conversation: dict[str, Any]) -> None:
        """``conversation_updated``: the row becomes what the hub stored (inserted when
        not loaded); a new last line moves it to the top, a read or a status does not."""
        sid = str(conversation.get("sessionId", ""))
        if not sid:
            return
        fresh = {k: v for k, v in conversation.items() if k != "type"}
        n = self._position(sid)
        if n < 0:
            self.beginInsertRows(QModelIndex(), 0, 0)
            self.rows.insert(0, fresh)
            self.endInsertRows()
            return
        row = self.rows[n]
        moved = str(fresh.get("lastTimestamp", "")) > str(row.get("lastTimestamp", ""))
        for key in ("answeredBy", "productId"):  # absent on the wire: none now
            if key not in fresh:
                row.pop(key, None)
        row.update(fresh)
        if moved and n > 0:
            self.beginMoveRows(QModelIndex(), n, n, QModelIndex(), 0)
            self.rows.insert(0, self.rows.pop(n))
            self.endMoveRows()
            n = 0
        self.dataChanged.emit(self.index(n), self.index(n))

    def set_status(self, session_id: str, status: str) -> None:
        n = self._position(session_id)
        if n >= 0 and self.rows[n].get("status") != status:
            self.rows[n]["status"] = status
            self.dataChanged.emit(self.index(n), self.index(n))


class ConversationFilter(QSortFilterProxyModel):
    """Only ``status`` (``open``, ``resolved``, ``unanswered`` or ``all``) rows matching
    ``needle`` (the hub narrows each page by search and filter; this keeps rows changed
    live since then in step with the chosen filter)."""

    def __init__(self, source: ConversationsModel) -> None:
        super().__init__()
        self.setSourceModel(source)
        self.status = "open"
        self.needle = ""

    def set_filter(self, status: str, needle: str) -> None:
        if not hasattr(self, "beginFilterChange"):  # Qt < 6.10
            self.status, self.needle = status.lower(), needle.strip().lower()
            self.invalidateFilter()
            return
        self.beginFilterChange()
        self.status, self.needle = status.lower(), needle.strip().lower()
        self.endFilterChange()

    def filterAcceptsRow(
        self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex
    ) -> bool:
        model = self.sourceModel()
        row = model.data(model.index(source_row, 0, source_parent), RowRole)
        if self.status == "unanswered":
            if row.get("lastFrom") == "staff":  # as the hub: resolved or not
                return False
        elif self.status != "all" and row.get("status", "open") != self.status:
            return False
        text = (row["customerName"] + " " + row["lastMessage"]).lower()
        return not self.needle or self.needle in text


class ThreadModel(RowsModel):
    """One conversation's messages, oldest first; ``session_id`` says whose. The newest
    page first; ``more``: older messages exist (loaded with ``before`` = ``first_id``)."""

    def __init__(self) -> None:
        super().__init__()
        self.session_id: str | None = None
        self.more = False
        #: productId -> name, from the catalog (a product asked about shows its name).
        self.product_names: dict[str, str] = {}

    def display(self, row: dict[str, Any]) -> str:
        if row["from"] == "customer":
            who = isolate(str(row.get("customerName") or "Customer"))
        else:
            staff = row.get("staffUserId")
            who = f"{isolate(str(staff))} (staff)" if staff else "Shop"
        about = ""
        if row.get("productId"):
            pid = str(row["productId"])
            about = f"\nAbout: {isolate(self.product_names.get(pid, pid))}"
        text = isolate_lines(row["message"])
        seen = ""
        if row.get("seenAt") and row is self.last_staff_row():
            seen = f"\nSeen {str(row['seenAt'])[11:16]}"  # UTC, as the lines' own times
        return f"{who} · {str(row['timestamp'])[11:16]}{about}\n{text}{seen}"

    def last_staff_row(self) -> dict[str, Any] | None:
        """The newest staff line shown ("Seen" is said under it only)."""
        return next((r for r in reversed(self.rows) if r.get("from") == "staff"), None)

    def mark_seen(self, message_id: str, seen_at: str) -> bool:
        """``replies_seen``: staff line ``message_id`` and the earlier staff lines not
        seen yet were seen at ``seen_at``. False when that line is not shown."""
        ids = [r.get("id") for r in self.rows]
        if message_id not in ids:
            return False
        last = ids.index(message_id)
        for row in self.rows[: last + 1]:
            if row.get("from") == "staff" and not row.get("seenAt"):
                row["seenAt"] = seen_at
        self.dataChanged.emit(self.index(0), self.index(len(self.rows) - 1))
        return True

    def foreground(self, row: dict[str, Any]) -> Any:
        return Qt.GlobalColor.darkMagenta if row["from"] == "staff" else None

    @property
    def first_id(self) -> str:
        return str(self.rows[0].get("id", "")) if self.rows else ""

    def set_newest(self, session_id: str, messages: list[dict[str, Any]], more: bool) -> None:
        """The newest page. Another conversation's, or one not overlapping what is shown,
        replaces it; otherwise the older lines already loaded stay above it."""
        first = messages[0].get("id") if messages else None
        ids = [r.get("id") for r in self.rows]
        if session_id == self.session_id and first and first in ids:
            self.session_id = session_id
            self.reset(self.rows[: ids.index(first)] + messages)
            return
        self.session_id, self.more = session_id, more
        self.reset(messages)

    def add_older(self, messages: list[dict[str, Any]], more: bool) -> int:
        """An older page, put above; returns how many lines were added."""
        self.more = more
        known = {r.get("id") for r in self.rows}
        older = [m for m in messages if m.get("id") not in known]
        if older:
            self.beginInsertRows(QModelIndex(), 0, len(older) - 1)
            self.rows[0:0] = older
            self.endInsertRows()
        return len(older)
