"""A label whose changing text does not lay the window out again each time it changes."""

from __future__ import annotations

from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QLabel, QWidget

__all__ = ["SteadyLabel"]

#: The width grows in steps of this many pixels (a figure gaining a digit, say).
STEP_PX = 40


class SteadyLabel(QLabel):
    """A one-line label of a fixed size that only grows (in ``STEP_PX`` steps).

    ``QLabel.setText`` asks for a new layout whenever its text changes (``updateGeometry``),
    and in a toolbar, a status bar or a dock that lays out the whole main window again:
    every dock, with their animations. Figures that tick several times a second (viewers,
    likes, the encoder's frame rate) change the text, rarely the width they need; a widget
    whose minimum and maximum size are equal does not ask for a layout (Qt:
    ``QWidgetPrivate::updateGeometry_helper``), so this one is repainted, not laid out,
    until its text no longer fits."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setText(text)

    def setText(self, text: str) -> None:
        if text == self.text():
            return
        self._fit(text, grow_only=True)
        super().setText(text)

    def _fit(self, text: str, grow_only: bool) -> None:
        margins = self.contentsMargins()
        metrics = self.fontMetrics()
        need = metrics.horizontalAdvance(text) + margins.left() + margins.right()
        height = metrics.height() + margins.top() + margins.bottom()
        if not grow_only or need > self.maximumWidth() or self.maximumHeight() != height:
            self.setFixedSize(-(-need // STEP_PX) * STEP_PX, height)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:  # another font: another size
            self._fit(self.text(), grow_only=False)
