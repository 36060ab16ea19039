"""The camera preview: paints the latest frame, already scaled by the capture thread."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QResizeEvent
from PySide6.QtWidgets import QWidget

__all__ = ["PreviewView"]


class PreviewView(QWidget):
    """Draws one QImage centred on black, as it is: no scaling or conversion here.

    ``resized`` tells the frame's producer the size to scale to, off the GUI thread; a
    frame that does not fit yet (the window was just resized) is drawn centred, cropped."""

    resized = Signal(int, int)

    def __init__(self, placeholder: str = "Starting the camera…") -> None:
        super().__init__()
        self.placeholder = placeholder
        self.image: QImage | None = None
        self.setMinimumSize(480, 270)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # we paint every pixel

    def show_image(self, image: QImage) -> None:
        self.image = image
        self.update()  # Qt paints once per frame however many updates arrive

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.resized.emit(self.width(), self.height())

    def paintEvent(self, _event: Any) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#111"))
        image = self.image
        if image is None or image.isNull():
            painter.setPen(QColor("#ccc"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            return
        x = (self.width() - image.width()) // 2
        y = (self.height() - image.height()) // 2
        painter.drawImage(QPoint(x, y), image)
