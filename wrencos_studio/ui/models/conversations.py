"""Support conversations (the inbox list, with its open/resolved filter and search) and
one conversation's thread."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt

from wrencos_studio.ui.models.base import RowRole, RowsModel

__all__ = ["ConversationFilter", "ConversationsModel", "ThreadModel"]


class ConversationsModel(RowsModel):
    """``conversations`` rows, newest first as the hub sends them."""

    def display(self, row: dict[str, Any]) -> str:
        badge = f"  ({row['unread']} new)" if row.get("unread") else ""
        return f"{row['customerName']}{badge}\n{row['lastMessage'][:80]}"

    def unread(self) -> int:
        return sum(int(r.get("unread", 0)) for r in self.rows)

    def find(self, session_id: str | None) -> dict[str, Any] | None:
        return next((r for r in self.rows if r["sessionId"] == session_id), None)


class ConversationFilter(QSortFilterProxyModel):
    """Only ``status`` (``open``, ``resolved`` or ``all``) rows matching ``needle``."""

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
        if self.status != "all" and row.get("status", "open") != self.status:
            return False
        text = (row["customerName"] + " " + row["lastMessage"]).lower()
        return not self.needle or self.needle in text


class ThreadModel(RowsModel):
    """One conversation's messages, oldest first; ``session_id`` says whose."""

    def __init__(self) -> None:
        super().__init__()
        self.session_id: str | None = None

    def display(self, row: dict[str, Any]) -> str:
        who = "Customer" if row["from"] == "customer" else "Shop"
        return f"{who} · {row['timestamp'][11:16]}\n{row['message']}"

    def foreground(self, row: dict[str, Any]) -> Any:
        return Qt.GlobalColor.darkMagenta if row["from"] == "staff" else None
