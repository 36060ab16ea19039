"""The stream's chat lines: one row per message, the shop's own in its colour."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QBrush

from wrencos_studio.ui.models.base import RowsModel
from wrencos_studio.ui.text import isolate

__all__ = ["ChatModel"]

_SHOP = QBrush(Qt.GlobalColor.darkMagenta)


class ChatModel(RowsModel):
    """``chat_message`` dicts in arrival order; ``remove`` follows ``chat_message_deleted``.

    Only the newest ``limit`` lines are kept. ``extend`` inserts a batch at the end in one
    ``rowsInserted`` and *then* drops the oldest rows past ``limit`` in one
    ``rowsRemoved(0, k)``: a view that trims its own top as it appends (``ChatView``, a
    text document with a maximum block count) meets the same rows already gone. Rows never
    change once added (a deleted line is removed, not edited): no ``dataChanged``."""

    def __init__(self, limit: int = 500) -> None:
        super().__init__()
        self.limit = limit

    @staticmethod
    def text(msg: dict[str, Any]) -> str:
        """``"★ name: message"`` (the star for the shop's lines), on one line; name and
        message each isolated (ui/text.py): neither can reorder the other, nor make a line."""
        prefix = "★ " if msg.get("isAdmin") else ""
        return f"{prefix}{isolate(msg.get('username', ''))}: {isolate(msg.get('message', ''))}"

    def display(self, row: dict[str, Any]) -> str:
        return self.text(row)

    def foreground(self, row: dict[str, Any]) -> QBrush | None:
        return _SHOP if row.get("isAdmin") else None

    def reset(self, messages: list[dict[str, Any]]) -> None:
        """Replace every line (a ``chat_history``, or nothing when the stream stopped)."""
        super().reset(messages[-self.limit :] if self.limit else [])

    def extend(self, messages: list[dict[str, Any]]) -> None:
        """Append lines in one insert; past ``limit`` the oldest go, in one removal."""
        messages = messages[-self.limit :]
        if not messages:
            return
        n = len(self.rows)
        self.beginInsertRows(QModelIndex(), n, n + len(messages) - 1)
        self.rows.extend(messages)
        self.endInsertRows()
        drop = len(self.rows) - self.limit
        if drop > 0:
            self.beginRemoveRows(QModelIndex(), 0, drop - 1)
            del self.rows[:drop]
            self.endRemoveRows()

    def remove(self, message_id: str) -> None:
        """Remove the line with this ``id`` (``chat_message_deleted``), if shown."""
        self.remove_where("id", message_id)
