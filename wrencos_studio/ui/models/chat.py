"""The stream's chat lines: one row per message, the shop's own in its colour."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QStandardItem, QStandardItemModel

from wrencos_studio.ui.models.base import RowRole
from wrencos_studio.ui.text import isolate

__all__ = ["ChatModel"]

_SHOP = QBrush(Qt.GlobalColor.darkMagenta)


class ChatModel(QStandardItemModel):
    """``chat_message`` dicts in arrival order; ``remove`` follows ``chat_message_deleted``.

    A standard item model: a word-wrapped list asks every row's text, font and colour
    whenever it lays out, and here those answers come from C++, not a Python ``data()``.
    Only the newest ``limit`` lines are kept, so each new line costs the same."""

    def __init__(self, limit: int = 500) -> None:
        super().__init__()
        self.limit = limit

    @staticmethod
    def text(msg: dict[str, Any]) -> str:
        # Name and message each isolated: neither can reorder the other, nor make a line.
        prefix = "★ " if msg.get("isAdmin") else ""
        return f"{prefix}{isolate(msg.get('username', ''))}: {isolate(msg.get('message', ''))}"

    def _item(self, msg: dict[str, Any]) -> QStandardItem:
        item = QStandardItem(self.text(msg))
        item.setEditable(False)
        item.setDropEnabled(False)
        item.setData(msg, RowRole)
        if msg.get("isAdmin"):
            item.setForeground(_SHOP)
        return item

    def row(self, n: int) -> dict[str, Any]:
        return dict(self.item(n).data(RowRole))

    def reset(self, messages: list[dict[str, Any]]) -> None:
        self.clear()
        self.extend(messages)

    def extend(self, messages: list[dict[str, Any]]) -> None:
        """Append lines (the oldest go past ``limit``)."""
        messages = messages[-self.limit :]
        drop = self.rowCount() + len(messages) - self.limit
        if drop > 0:
            self.removeRows(0, drop)
        for msg in messages:
            self.appendRow(self._item(msg))

    def remove(self, message_id: str) -> None:
        for n in range(self.rowCount() - 1, -1, -1):
            if self.item(n).data(RowRole).get("id") == message_id:
                self.removeRow(n)
