"""The camera preview: paints the latest frame, already scaled by the capture thread."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QResizeEvent
from PySide6.QtWidgets import QWidget

__all__ = ["PreviewView"]


class PreviewView(QWidget):
    """Draws one QImage centred on black, as it is: no scaling or conversion here.

    ``resized`` tells the frame's producer the size to scale to (in device pixels), off
    the GUI thread; a frame that does not fit yet (the window was just resized) is drawn
    centred, cropped."""

    resized = Signal(int, int)

    def __init__(self, placeholder: str = "Starting the camera…") -> None:
        super().__init__()
        self.placeholder = placeholder
        self.image: QImage | None = None
        self.setMinimumSize(480, 270)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # we paint every pixel

    def show_image(self, image: QImage) -> None:
        image.setDevicePixelRatio(self.devicePixelRatioF())  # scaled in device pixels
        self.image = image
        self.update()  # Qt paints once per frame however many updates arrive

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        ratio = self.devicePixelRatioF()
        self.resized.emit(round(self.width() * ratio), round(self.height() * ratio))

    def paintEvent(self, _event: Any) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#111"))
        image = self.image
        if image is None or image.isNull():
            painter.setPen(QColor("#ccc"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            return
        size = image.deviceIndependentSize()
        x = (self.width() - size.width()) / 2
        y = (self.height() - size.height()) / 2
        painter.drawImage(QPointF(x, y), image)
