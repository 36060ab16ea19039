"""The stream's chat lines: one row per message, the shop's own in its colour."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from wrencos_studio.ui.models.base import RowsModel

__all__ = ["ChatModel"]


class ChatModel(RowsModel):
    """``chat_message`` dicts in arrival order; ``remove`` follows ``chat_message_deleted``."""

    def display(self, row: dict[str, Any]) -> str:
        prefix = "★ " if row.get("isAdmin") else ""
        return f"{prefix}{row.get('username', '')}: {row.get('message', '')}"

    def foreground(self, row: dict[str, Any]) -> Any:
        return Qt.GlobalColor.darkMagenta if row.get("isAdmin") else None

    def remove(self, message_id: str) -> None:
        self.remove_where("id", message_id)
