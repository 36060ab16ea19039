"""The show is over: its figures (``stream_summary``) in a dialog that closes the show,
and the past shows (``stream_summaries``) below them."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QListWidget, QVBoxLayout, QWidget

from wrencos_studio.ui.text import isolate

__all__ = ["ShowSummaryDialog", "duration", "summary_lines"]


def duration(seconds: int) -> str:
    h, m, s = seconds // 3600, seconds // 60 % 60, seconds % 60
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:d}:{s:02d}"


def summary_lines(summary: dict[str, Any]) -> list[str]:
    return [
        f"Duration: {duration(int(summary.get('durationSeconds', 0)))}",
        f"Peak viewers: {summary.get('peakViewers', 0)}",
        f"Likes: {summary.get('likes', 0)}",
        f"Chat lines: {summary.get('chatLines', 0)}",
        f"Chatters: {summary.get('chatters', 0)}",
        f"Products pinned: {summary.get('productsPinned', 0)}",
    ]


class ShowSummaryDialog(QDialog):
    """ "The show has ended": its figures; "Past shows" fills from ``show_past``."""

    def __init__(self, parent: QWidget | None, summary: dict[str, Any]) -> None:
        super().__init__(parent)
        self.setWindowTitle("The show has ended")
        title = QLabel(f"“{isolate(summary.get('title') or 'Untitled')}” has ended")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        title.setFont(font)
        self.figures = QLabel("\n".join(summary_lines(summary)))
        self.past = QListWidget()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.figures)
        layout.addWidget(QLabel("Past shows"))
        layout.addWidget(self.past)
        layout.addWidget(buttons)

    def show_past(self, summaries: list[dict[str, Any]], _more: bool = False, _c: str = "") -> None:
        self.past.clear()
        for s in summaries:
            self.past.addItem(
                f"{str(s.get('startedAt', ''))[:16].replace('T', ' ')}  "
                f"{isolate(s.get('title') or 'Untitled')} — "
                f"{duration(int(s.get('durationSeconds', 0)))}, "
                f"peak {s.get('peakViewers', 0)}, {s.get('likes', 0)} likes"
            )
