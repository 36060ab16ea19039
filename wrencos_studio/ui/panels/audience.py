"""Viewers and likes, the viewers chart, and each viewer's delivery."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QAbstractItemView, QLabel, QTableView, QVBoxLayout, QWidget

from wrencos_studio.ui.models import ViewersModel
from wrencos_studio.ui.widgets import Sparkline

__all__ = ["AudiencePanel"]


class AudiencePanel(QWidget):
    """Viewers and likes, and each viewer's delivery (WebRTC or fallback, RTT, loss)."""

    def __init__(self) -> None:
        super().__init__()
        self.figures = QLabel("0 watching · 0 likes")
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
        self.figures.setText(f"{viewers} watching · {likes} likes")

    def show_viewers(self, viewers: list[dict[str, Any]]) -> None:
        self.viewers_model.set_viewers(viewers)
