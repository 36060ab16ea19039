"""Viewers and likes, the viewers chart, and each viewer's delivery."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QAbstractItemView, QLabel, QTableView, QVBoxLayout, QWidget

from wrencos_studio.ui.models import ViewersModel
from wrencos_studio.ui.widgets import Sparkline, SteadyLabel

__all__ = ["AudiencePanel", "figures_text", "plural"]


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``"1 like"``, ``"0 likes"``, ``"2 viewers"`` (``nouns`` for an irregular plural)."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


def figures_text(viewers: int, likes: int) -> str:
    """The room's figures as the window words them: ``"1 viewer · 2 likes"``."""
    return f"{plural(viewers, 'viewer')} · {plural(likes, 'like')}"


class AudiencePanel(QWidget):
    """Viewers and likes, and each viewer's delivery (WebRTC or fallback, RTT, loss)."""

    def __init__(self) -> None:
        super().__init__()
        self.figures = SteadyLabel(figures_text(0, 0))
        font = QFont()
        font.setPointSize(16)
        self.figures.setFont(font)
        self.viewers_model = ViewersModel()
        self.table = QTableView()
        self.table.setModel(self.viewers_model)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().hide()
        self.chart = Sparkline()
        layout = QVBoxLayout(self)
        layout.addWidget(self.figures)
        layout.addWidget(QLabel("Viewers over the stream"))
        layout.addWidget(self.chart)
        layout.addWidget(self.table)

    def show_figures(self, viewers: int, likes: int) -> None:
        self.figures.setText(figures_text(viewers, likes))

    def reset(self) -> None:
        """The show ended: zero figures, an empty chart and no viewers listed."""
        self.show_figures(0, 0)
        self.chart.points.clear()  # the next show draws its own line
        self.chart.update()
        self.viewers_model.set_viewers([])

    def show_viewers(self, viewers: list[dict[str, Any]]) -> None:
        self.viewers_model.set_viewers(viewers)
