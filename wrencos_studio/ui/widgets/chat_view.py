"""The chat as a word-wrapped text that grows at its end: each line laid out once.

A word-wrapped ``QListView`` lays out *every* row again whenever one is inserted or
removed (``QListModeViewBase::doStaticLayout`` asks every row's size, and a wrapped row's
size is a text layout), so with 500 lines shown each new line cost 500 text layouts. A
``QPlainTextEdit`` document is laid out block by block, lazily: appending a line lays out
that line (and only when it is in view), dropping the oldest one is a block removed, and
a new width re-wraps the blocks in view only. ``ChatView`` shows a ``ChatModel`` this way:
block ``n`` of the document is row ``n`` of the model.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QResizeEvent,
    QShowEvent,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextFormat,
)
from PySide6.QtWidgets import QPlainTextEdit, QTextEdit, QToolButton, QWidget

from wrencos_studio.ui.models.chat import ChatModel

__all__ = ["ChatView"]

Index = QModelIndex | QPersistentModelIndex


class ChatView(QPlainTextEdit):
    """A read-only, word-wrapped view of a ``ChatModel``; follows the newest line.

    It follows the newest line while the reader is at the bottom; scrolled up to read, it
    stays put (the lines in view do not move when the oldest one is dropped) and a
    "new messages ↓" button says how many arrived, which brings the reader back down.
    ``row_at(pos)`` is the model row under a viewport position (for moderation menus).

    Rows are shown as the model has them; the model must only append at its end, remove,
    or reset (``ChatModel`` does): an insert elsewhere rebuilds the whole text."""

    following_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setUndoRedoEnabled(False)  # a growing log, no undo history to keep
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.model_: ChatModel | None = None
        #: Rows the document dropped from its top (maximum block count) that the model
        #: has not removed yet: model row ``r`` is block ``r - _trimmed``.
        self._trimmed = 0
        self._lines = 0  # blocks holding a row (an empty document still has one block)
        self._following = True
        self._unseen = 0
        self.new_lines = QToolButton(self)
        self.new_lines.setObjectName("chat-new-messages")
        self.new_lines.setCursor(Qt.CursorShape.PointingHandCursor)
        self.new_lines.setStyleSheet(
            "QToolButton { background: #b0275d; color: white; font-weight: bold;"
            " border-radius: 12px; padding: 4px 12px; }"
        )
        self.new_lines.clicked.connect(self.scroll_to_newest)
        self.new_lines.hide()
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        # A re-wrap (a new width) or a removal changes the range: a follower stays down.
        self.verticalScrollBar().rangeChanged.connect(self._on_range_changed)

    # -- the model ---------------------------------------------------------------------

    def setModel(self, model: ChatModel) -> None:
        """Show ``model``, from its first row (again, if it was shown already: after its
        ``limit`` changed, say)."""
        if self.model_ is not None:
            for signal, slot in self._connections():
                signal.disconnect(slot)
        self.model_ = model
        # The document trims its own top past the model's limit, keeping the lines in
        # view where they are (QPlainTextEdit's append does that, not a cursor's removal).
        self.document().setMaximumBlockCount(model.limit)
        for signal, slot in self._connections():
            signal.connect(slot)
        self.rebuild()

    def _connections(self) -> list[tuple[Any, Any]]:
        m = self.model_
        assert m is not None
        return [
            (m.rowsInserted, self._on_rows_inserted),
            (m.rowsRemoved, self._on_rows_removed),
            (m.modelReset, self.rebuild),
            (m.layoutChanged, self.rebuild),
        ]

    @property
    def following(self) -> bool:
        """Whether the view is at the newest line and stays there as lines arrive."""
        return self._following

    def _line_html(self, row: dict[str, Any]) -> str:
        assert self.model_ is not None
        text = html.escape(self.model_.text(row), quote=False)
        brush = self.model_.foreground(row)
        if brush is None:
            return text
        return f'<span style="color:{brush.color().name()}">{text}</span>'

    def rebuild(self) -> None:
        """Show every row of the model again (a reset: a ``chat_history`` replaced it)."""
        self.clear()
        self._trimmed = 0
        self._lines = 0
        self._unseen = 0
        rows = self.model_.rows if self.model_ is not None else []
        if rows:
            cursor = QTextCursor(self.document())
            cursor.beginEditBlock()
            for n, row in enumerate(rows):
                if n:
                    cursor.insertBlock()
                cursor.insertText(self.model_.text(row), self._format(row))  # type: ignore[union-attr]
            cursor.endEditBlock()
            self._lines = len(rows)
        self.scroll_to_newest()

    def _format(self, row: dict[str, Any]) -> QTextCharFormat:
        assert self.model_ is not None
        fmt = QTextCharFormat()
        brush = self.model_.foreground(row)
        if brush is not None:
            fmt.setForeground(brush)
        return fmt

    def _on_rows_inserted(self, parent: Index, first: int, last: int) -> None:
        if parent.isValid() or self.model_ is None:
            return
        if first != self._lines + self._trimmed:  # not at the end: rare, start again
            self.rebuild()
            return
        rows = self.model_.rows[first : last + 1]
        limit = self.document().maximumBlockCount()
        if self._following:
            # At the newest line nobody's place is kept: the whole batch is one edit (one
            # layout of the new blocks, one scroll-bar update), the document drops what
            # goes past its limit from the top, and the view scrolls once.
            cursor = QTextCursor(self.document())
            cursor.movePosition(QTextCursor.MoveOperation.End)
            cursor.beginEditBlock()
            for row in rows:
                if self._lines:
                    cursor.insertBlock(QTextBlockFormat(), self._format(row))
                cursor.insertText(self.model_.text(row), self._format(row))
                self._lines += 1
            cursor.endEditBlock()
            if self._lines > limit:
                self._trimmed += self._lines - limit
                self._lines = limit
            self.scroll_to_newest()
            return
        for row in rows:
            # Scrolled up: one block at a time, so that the document drops its oldest
            # block through QPlainTextEdit's append, which keeps the reader's place.
            self.appendHtml(self._line_html(row))
            if self._lines == limit:
                self._trimmed += 1
            else:
                self._lines += 1
        self._unseen += len(rows)
        self._show_new_lines()

    def _on_rows_removed(self, parent: Index, first: int, last: int) -> None:
        if parent.isValid():
            return
        # Model rows [0, t) are already gone from the document (its maximum block count).
        t = self._trimmed
        self._trimmed = t - max(0, min(last + 1, t) - first)
        # The rest, [max(first, t), last], are blocks [max(first, t) - t, last - t]: removed
        # with their line breaks (the one after the last block, or the one before the first).
        first, last = max(first, t) - t, last - t
        if last < first:
            return
        doc = self.document()
        start = doc.findBlockByNumber(first)
        end = doc.findBlockByNumber(last)
        cursor = QTextCursor(doc)
        if end.next().isValid():
            cursor.setPosition(start.position())
            cursor.setPosition(end.next().position(), QTextCursor.MoveMode.KeepAnchor)
        elif start.previous().isValid():
            cursor.setPosition(start.previous().position() + start.previous().length() - 1)
            cursor.setPosition(end.position() + end.length() - 1, QTextCursor.MoveMode.KeepAnchor)
        else:  # every line
            cursor.select(QTextCursor.SelectionType.Document)
        cursor.removeSelectedText()
        self._lines -= last - first + 1

    # -- where the rows are ------------------------------------------------------------

    def row_at(self, pos: QPoint) -> int:
        """The model row drawn at ``pos`` (viewport coordinates), or -1 for none."""
        block = self.cursorForPosition(pos).block()
        if not block.isValid() or self._lines == 0:
            return -1
        rect = self.blockBoundingGeometry(block).translated(self.contentOffset())
        if not rect.contains(pos.toPointF()):
            return -1
        return block.blockNumber() + self._trimmed

    def row_rect(self, row: int) -> Any:
        """Where model row ``row`` is drawn (a ``QRectF`` in viewport coordinates)."""
        block = self.document().findBlockByNumber(row - self._trimmed)
        return self.blockBoundingGeometry(block).translated(self.contentOffset())

    def mark_row(self, row: int) -> None:
        """Highlight model row ``row`` (the line a menu acts on); -1 clears it."""
        if row < 0:
            self.setExtraSelections([])
            return
        selection = QTextEdit.ExtraSelection()
        selection.format.setBackground(QColor("#f3d9e3"))
        selection.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
        cursor = QTextCursor(self.document().findBlockByNumber(row - self._trimmed))
        cursor.clearSelection()
        selection.cursor = cursor
        self.setExtraSelections([selection])

    # -- following the newest line -----------------------------------------------------

    def scroll_to_newest(self) -> None:
        """Show the newest line and follow from now on."""
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())
        self._set_following(True)

    def _on_range_changed(self, _low: int, high: int) -> None:
        if self._following:
            self.verticalScrollBar().setValue(high)

    def _on_scrolled(self, value: int) -> None:
        self._set_following(value >= self.verticalScrollBar().maximum())

    def _set_following(self, following: bool) -> None:
        if following:
            self._unseen = 0
            self.new_lines.hide()
        if following != self._following:
            self._following = following
            self.following_changed.emit(following)

    def _show_new_lines(self) -> None:
        n = self._unseen
        self.new_lines.setText(f"{n} new message{'' if n == 1 else 's'} ↓")
        self.new_lines.adjustSize()
        self._place_new_lines()
        self.new_lines.show()

    def _place_new_lines(self) -> None:
        area = self.viewport().geometry()
        size = self.new_lines.sizeHint()
        self.new_lines.move(
            area.center().x() - size.width() // 2, area.bottom() - size.height() - 8
        )

    def resizeEvent(self, event: QResizeEvent) -> None:
        following = self._following  # a re-wrap moves the scroll bar: decided before
        super().resizeEvent(event)
        self._place_new_lines()
        if following:
            self.scroll_to_newest()

    def showEvent(self, event: QShowEvent) -> None:
        # Lines that arrived while hidden (a closed or tabbed dock) were not scrolled to.
        following = self._following
        super().showEvent(event)
        if following:
            self.scroll_to_newest()
