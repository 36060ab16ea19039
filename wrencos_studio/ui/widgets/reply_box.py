"""A multi-line reply box where Enter sends and Shift+Enter makes a new line; typing
``/shortcut`` offers the canned replies whose shortcut starts so (a completer popup)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, Qt, Signal
from PySide6.QtGui import QKeyEvent, QStandardItem, QStandardItemModel, QTextCursor
from PySide6.QtWidgets import QCompleter, QPlainTextEdit, QWidget

__all__ = ["CANNED_TEXT_ROLE", "SHORTCUT_ROLE", "ReplyBox"]

#: A completer row's ``/shortcut`` (what is matched) and the text it inserts.
SHORTCUT_ROLE = Qt.ItemDataRole.UserRole + 1
CANNED_TEXT_ROLE = Qt.ItemDataRole.UserRole + 2
#: Characters of a canned text shown beside its shortcut in the popup.
PREVIEW_CHARS = 60


class ReplyBox(QPlainTextEdit):
    """Enter sends, Shift+Enter makes a new line; ``/shortcut`` completes a canned reply.

    ``set_canned`` gives the replies (the hub's ``canned_replies`` rows). While the word
    before the cursor starts with ``/``, a popup lists the replies whose shortcut starts
    with it (case-insensitive); Enter, Tab or a click puts that reply's text in place of
    the word. Enter never sends while the popup is open."""

    submitted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canned_model = QStandardItemModel(self)
        self.completer = QCompleter(self.canned_model, self)
        self.completer.setWidget(self)
        self.completer.setCompletionRole(SHORTCUT_ROLE)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.completer.activated[QModelIndex].connect(self.insert_canned)

    def set_canned(self, replies: list[dict[str, Any]]) -> None:
        """The canned replies offered (each ``{shortcut, text, …}``), by shortcut."""
        self.canned_model.clear()
        for reply in sorted(replies, key=lambda r: str(r.get("shortcut", ""))):
            shortcut, text = f"/{reply['shortcut']}", str(reply.get("text", ""))
            preview = " ".join(text.split())
            if len(preview) > PREVIEW_CHARS:
                preview = preview[: PREVIEW_CHARS - 1] + "…"
            item = QStandardItem(f"{shortcut} — {preview}")
            item.setData(shortcut, SHORTCUT_ROLE)
            item.setData(text, CANNED_TEXT_ROLE)
            item.setEditable(False)
            self.canned_model.appendRow(item)

    def shortcut_prefix(self) -> str:
        """The ``/word`` that ends right at the cursor ("" when there is none)."""
        cursor = self.textCursor()
        block = cursor.block().text()[: cursor.positionInBlock()]
        word = block.split(" ")[-1] if block else ""
        return word if word.startswith("/") else ""

    def matches(self) -> list[str]:
        """The shortcuts the popup offers now (for tests and screen readers)."""
        model = self.completer.completionModel()
        return [str(model.index(i, 0).data(SHORTCUT_ROLE)) for i in range(model.rowCount())]

    def insert_canned(self, index: QModelIndex | QPersistentModelIndex) -> None:
        """Put the chosen reply's text in place of the ``/word`` before the cursor."""
        text = index.data(CANNED_TEXT_ROLE)
        if text is None:
            return
        prefix = self.shortcut_prefix()
        cursor = self.textCursor()
        cursor.movePosition(
            QTextCursor.MoveOperation.Left, QTextCursor.MoveMode.KeepAnchor, len(prefix)
        )
        cursor.insertText(str(text))
        self.setTextCursor(cursor)
        self.completer.popup().hide()

    def _update_popup(self) -> None:
        prefix = self.shortcut_prefix()
        popup = self.completer.popup()
        if not prefix or self.canned_model.rowCount() == 0:
            popup.hide()
            return
        self.completer.setCompletionPrefix(prefix)
        if self.completer.completionCount() == 0:
            popup.hide()
            return
        popup.setCurrentIndex(self.completer.completionModel().index(0, 0))
        rect = QRect(self.cursorRect())
        rect.setWidth(popup.sizeHintForColumn(0) + popup.verticalScrollBar().sizeHint().width() + 8)
        self.completer.complete(rect)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        popup = self.completer.popup()
        if popup.isVisible():
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Tab):
                index = popup.currentIndex()
                if index.isValid():
                    self.insert_canned(index)
                    return
            if event.key() == Qt.Key.Key_Escape:
                popup.hide()
                return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            self.submitted.emit()
            return
        super().keyPressEvent(event)
        self._update_popup()
