"""Viewers over the stream: a small line chart drawn with QPainter."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

__all__ = ["Sparkline"]


class Sparkline(QWidget):
    """Viewers over the stream: a small line chart drawn with QPainter."""

    def __init__(self) -> None:
        super().__init__()
        self.points: list[int] = []
        self.setMinimumHeight(80)

    def add(self, value: int) -> None:
        self.points.append(value)
        del self.points[:-600]  # ten minutes at one point a second
        self.update()

    def paintEvent(self, _event: Any) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#faf6f8"))
        if len(self.points) < 2:
            return
        top = max(1, max(self.points))
        w, h = self.width(), self.height() - 4
        step = w / (len(self.points) - 1)
        painter.setPen(QPen(QColor("#b0275d"), 2))
        for i in range(1, len(self.points)):
            a = QPointF((i - 1) * step, 2 + h - self.points[i - 1] / top * h)
            b = QPointF(i * step, 2 + h - self.points[i] / top * h)
            painter.drawLine(a, b)
        painter.drawText(4, 14, f"peak {top}")
