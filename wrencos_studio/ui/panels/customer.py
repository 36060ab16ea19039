"""The customer behind a support conversation, beside the thread: watching now and since
when, their live-chat lines of this stream, whether they like it, the product cards they
tapped (``customer_context``, asked when a thread opens)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QLabel, QListWidget, QVBoxLayout, QWidget

from wrencos_studio.ui.text import isolate

__all__ = ["CustomerContextPanel"]


def _hhmm(timestamp: object) -> str:
    return str(timestamp or "")[11:16]


class CustomerContextPanel(QWidget):
    """What a staff member knows about the customer of the open thread."""

    def __init__(self, product_name: Callable[[str], str] = lambda pid: pid) -> None:
        super().__init__()
        #: productId -> what to show (the catalog's name when known, else the id).
        self.product_name = product_name
        self.session_id: str | None = None
        self.name_label = QLabel("No conversation open")
        self.name_label.setWordWrap(True)
        font = self.name_label.font()
        font.setBold(True)
        self.name_label.setFont(font)
        self.watching_label = QLabel("")
        self.liked_label = QLabel("")
        self.chat_list = QListWidget()
        self.chat_list.setWordWrap(True)
        self.tapped_list = QListWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.name_label)
        layout.addWidget(self.watching_label)
        layout.addWidget(self.liked_label)
        layout.addWidget(QLabel("In the live chat"))
        layout.addWidget(self.chat_list, 2)
        layout.addWidget(QLabel("Products tapped"))
        layout.addWidget(self.tapped_list, 1)

    def clear(self, session_id: str | None = None) -> None:
        """A thread opened (its context is on its way) or none is."""
        self.session_id = session_id
        self.name_label.setText("Loading…" if session_id else "No conversation open")
        for label in (self.watching_label, self.liked_label):
            label.setText("")
        self.chat_list.clear()
        self.tapped_list.clear()

    def show_context(self, ctx: dict[str, Any]) -> None:
        """``customer_context`` for the open thread (another session's is ignored)."""
        if ctx.get("sessionId") != self.session_id:
            return
        self.name_label.setText(isolate(ctx.get("customerName") or "A customer"))
        if ctx.get("watching"):
            self.watching_label.setText(f"Watching now, since {_hhmm(ctx.get('since'))}")
        else:
            self.watching_label.setText("Not watching now")
        live = ctx.get("streamId") is not None
        if not live:
            self.liked_label.setText("Nothing is live")
        else:
            self.liked_label.setText("Likes this show" if ctx.get("liked") else "Has not liked")
        self.chat_list.clear()
        for line in ctx.get("chat") or []:
            self.chat_list.addItem(f"{_hhmm(line.get('timestamp'))}  {isolate(line['message'])}")
        if not ctx.get("chat"):
            self.chat_list.addItem("Nothing said in this show's chat")
        self.tapped_list.clear()
        for tap in ctx.get("tapped") or []:
            name = self.product_name(str(tap.get("productId", "")))
            taps = int(tap.get("taps", 0))
            times = "once" if taps == 1 else f"{taps} times"
            last = _hhmm(tap.get("lastTappedAt"))
            self.tapped_list.addItem(f"{isolate(name)} — {times}, last at {last}")
        if not ctx.get("tapped"):
            self.tapped_list.addItem("No product tapped")

    def texts(self) -> list[str]:
        """Everything shown, in order (for tests and screen readers)."""
        lists = [self.chat_list, self.tapped_list]
        items = [lst.item(i).text() for lst in lists for i in range(lst.count())]
        labels = [self.name_label, self.watching_label, self.liked_label]
        return [lab.text() for lab in labels] + items
