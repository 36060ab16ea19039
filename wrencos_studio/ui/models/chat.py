"""The stream's chat lines: one row per message, the shop's own in its colour."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt

from wrencos_studio.ui.models.base import RowsModel

__all__ = ["ChatModel"]


class ChatModel(RowsModel):
    """``chat_message`` dicts in arrival order; ``remove`` follows ``chat_message_deleted``.

    Only the newest ``limit`` lines are kept: a word-wrapped list lays out every row it
    holds, and a busy stream's whole chat would make each new line cost more."""

    def __init__(self, limit: int = 500) -> None:
        super().__init__()
        self.limit = limit

    def reset(self, rows: list[dict[str, Any]]) -> None:
        super().reset(rows[-self.limit :])

    def extend(self, rows: list[dict[str, Any]]) -> None:
        rows = rows[-self.limit :]
        drop = len(self.rows) + len(rows) - self.limit
        if drop > 0:
            self.beginRemoveRows(QModelIndex(), 0, drop - 1)
            del self.rows[:drop]
            self.endRemoveRows()
        super().extend(rows)

    def display(self, row: dict[str, Any]) -> str:
        prefix = "★ " if row.get("isAdmin") else ""
        return f"{prefix}{row.get('username', '')}: {row.get('message', '')}"

    def foreground(self, row: dict[str, Any]) -> Any:
        return Qt.GlobalColor.darkMagenta if row.get("isAdmin") else None

    def remove(self, message_id: str) -> None:
        self.remove_where("id", message_id)
