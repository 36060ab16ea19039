"""The show is over: its figures (``stream_summary``) in a dialog that closes the show,
and the past shows (``stream_summaries``) below them."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QListWidget, QVBoxLayout, QWidget

from wrencos_studio.ui.text import isolate

__all__ = ["ShowSummaryDialog", "duration", "summary_figures", "summary_lines", "tap_lines"]


def duration(seconds: int) -> str:
    h, m, s = seconds // 3600, seconds // 60 % 60, seconds % 60
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:d}:{s:02d}"


def summary_figures(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """Every figure of a ``stream_summary`` as (label, value), in the order people read
    them (docs/protocol.md ``stream_summary``); taps per product are apart
    (:func:`tap_lines`)."""
    return [
        ("Duration", duration(int(summary.get("durationSeconds", 0)))),
        ("Peak viewers", str(summary.get("peakViewers", 0))),
        ("Average viewers", f"{float(summary.get('averageViewers', 0)):.1f}"),
        ("Likes", str(summary.get("likes", 0))),
        ("Chat lines", str(summary.get("chatLines", 0))),
        ("Chatters", str(summary.get("chatters", 0))),
        ("Support conversations", str(summary.get("supportConversations", 0))),
        ("Products pinned", str(summary.get("productsPinned", 0))),
    ]


def tap_lines(summary: dict[str, Any]) -> list[str]:
    """``Serum: 12 taps`` per product of the show, most tapped first (as the hub sends)."""
    lines = []
    for item in summary.get("productTaps") or []:
        taps = int(item.get("taps", 0))
        name = isolate(str(item.get("name") or item.get("productId", "")))
        lines.append(f"{name}: {taps} tap{'' if taps == 1 else 's'}")
    return lines


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The figures as ``Label: value`` lines, then the taps per product (if any)."""
    lines = [f"{label}: {value}" for label, value in summary_figures(summary)]
    taps = tap_lines(summary)
    if taps:
        lines += ["", "Taps per product:", *(f"  {line}" for line in taps)]
    return lines


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
