"""The canned replies every staff member shares: a small manager to add, edit and delete
them (``/shortcut`` + text; the hub keeps them and tells every station)."""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from wrencos_studio.ui.bridge import HubBridge
from wrencos_studio.ui.tasks import spawn
from wrencos_studio.ui.text import isolate

__all__ = ["CannedRepliesDialog", "check_shortcut"]

#: What the hub accepts (docs/protocol.md `save_canned_reply`): an optional "/", then
#: ASCII letters, digits, "-" and "_", starting with a letter or digit; 32 at most.
SHORTCUT = re.compile(r"/?[A-Za-z0-9][A-Za-z0-9_-]*")
SHORTCUT_MAX_CHARS = 32
TEXT_MAX_CHARS = 2000
#: A list row's shortcut.
SHORTCUT_ROLE = Qt.ItemDataRole.UserRole


def check_shortcut(text: str) -> str:
    """The shortcut as the hub keeps it (no "/", lower case); raises ValueError with a
    sentence for the person when the hub would refuse it."""
    text = text.strip()
    if not text or len(text) > SHORTCUT_MAX_CHARS or not SHORTCUT.fullmatch(text):
        raise ValueError(
            "A shortcut is letters, digits, - or _, starting with a letter or digit"
            f" ({SHORTCUT_MAX_CHARS} characters at most)."
        )
    return text.removeprefix("/").lower()


class CannedRepliesDialog(QDialog):
    """Add, edit and delete the shared canned replies; the list follows the hub's
    ``canned_replies`` (another station's change shows here at once)."""

    def __init__(self, parent: QWidget | None, bridge: HubBridge) -> None:
        super().__init__(parent)
        self.setWindowTitle("Canned replies")
        self.bridge = bridge
        self.replies: list[dict[str, Any]] = []
        self.editing = ""  # the shortcut of the reply being edited ("" : a new one)
        self.list = QListWidget()
        self.list.currentItemChanged.connect(self.on_reply_selected)
        self.shortcut = QLineEdit()
        self.shortcut.setPlaceholderText("/shipping")
        self.text = QPlainTextEdit()
        self.text.setPlaceholderText("The text the shortcut inserts")
        self.problem = QLabel("")
        self.problem.setStyleSheet("color: #b00020")
        self.problem.setWordWrap(True)
        self.new_button = QPushButton("New")
        self.new_button.clicked.connect(self.on_new_clicked)
        self.save_button = QPushButton("Save")
        self.save_button.clicked.connect(self.on_save_clicked)
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(self.on_delete_clicked)
        form = QFormLayout()
        form.addRow("Shortcut", self.shortcut)
        form.addRow("Text", self.text)
        buttons = QHBoxLayout()
        for button in (self.new_button, self.save_button, self.delete_button):
            buttons.addWidget(button)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        right = QVBoxLayout()
        right.addLayout(form)
        right.addWidget(self.problem)
        right.addLayout(buttons)
        top = QHBoxLayout()
        top.addWidget(self.list, 1)
        top.addLayout(right, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(close)
        bridge.canned_replies.connect(self.show_replies)
        bridge.error.connect(self.on_error)
        self.on_new_clicked()

    def show_replies(self, replies: list[dict[str, Any]]) -> None:
        """The hub's list (by shortcut); the reply being edited stays selected."""
        self.replies = list(replies)
        self.list.blockSignals(True)
        try:
            self.list.clear()
            for reply in replies:
                preview = " ".join(str(reply["text"]).split())[:60]
                item = QListWidgetItem(f"/{reply['shortcut']}  {isolate(preview)}")
                item.setData(SHORTCUT_ROLE, reply["shortcut"])
                self.list.addItem(item)
                if reply["shortcut"] == self.editing:
                    self.list.setCurrentItem(item)
        finally:
            self.list.blockSignals(False)

    def shortcuts(self) -> list[str]:
        """The shortcuts listed, in order (for tests and screen readers)."""
        return [str(self.list.item(i).data(SHORTCUT_ROLE)) for i in range(self.list.count())]

    def on_reply_selected(self, item: QListWidgetItem | None, _old: Any = None) -> None:
        """A reply picked in the list: its shortcut and text are edited."""
        if item is None:
            return
        shortcut = str(item.data(SHORTCUT_ROLE))
        reply = next((r for r in self.replies if r["shortcut"] == shortcut), None)
        if reply is None:
            return
        self.editing = shortcut
        self.shortcut.setText(f"/{shortcut}")
        self.text.setPlainText(str(reply["text"]))
        self.problem.setText("")
        self.delete_button.setEnabled(True)

    def on_new_clicked(self) -> None:
        """Empty fields for a new reply."""
        self.editing = ""
        self.list.clearSelection()
        self.shortcut.clear()
        self.text.clear()
        self.problem.setText("")
        self.delete_button.setEnabled(False)
        self.shortcut.setFocus()

    def on_save_clicked(self) -> None:
        """Checked here as the hub checks it, so a refusal says why before sending."""
        try:
            shortcut = check_shortcut(self.shortcut.text())
        except ValueError as exc:
            self.problem.setText(str(exc))
            return
        text = self.text.toPlainText().strip()
        if not text:
            self.problem.setText("Write the text the shortcut inserts.")
            return
        if len(text) > TEXT_MAX_CHARS:
            self.problem.setText(f"At most {TEXT_MAX_CHARS} characters ({len(text)} now).")
            return
        taken = shortcut != self.editing and any(r["shortcut"] == shortcut for r in self.replies)
        if taken:
            self.problem.setText(f"/{shortcut} exists already: select it to change it.")
            return
        self.problem.setText("")
        previous, self.editing = self.editing, shortcut
        spawn(self.bridge.save_canned_reply(shortcut, text, previous))

    def on_delete_clicked(self) -> None:
        """Delete the reply being edited (every station's list follows)."""
        if not self.editing:
            return
        spawn(self.bridge.delete_canned_reply(self.editing))
        self.on_new_clicked()

    def on_error(self, text: str) -> None:
        """The hub refused a change (e.g. "Too many canned replies"): say it here."""
        if self.isVisible():
            self.problem.setText(text)
