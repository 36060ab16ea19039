"""The customer page's addresses, each with a QR code to scan from a phone."""

from __future__ import annotations

import io

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QPixmap
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

__all__ = ["SharePanel"]


class SharePanel(QWidget):
    """The customer page's addresses, each with a QR code to scan from a phone."""

    def __init__(self) -> None:
        super().__init__()
        self.layout_ = QVBoxLayout(self)

    def show_urls(self, urls: list[str]) -> None:
        import segno

        self.layout_.addWidget(QLabel("Customers open this page (or scan it):"))
        for url in urls:
            label = QLabel(url)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            font = QFont()
            font.setPointSize(14)
            label.setFont(font)
            buf = io.BytesIO()
            segno.make(url, error="m").save(buf, kind="png", scale=6, border=2)
            qr = QLabel()
            pix = QPixmap()
            pix.loadFromData(buf.getvalue(), "PNG")
            qr.setPixmap(pix)
            qr.setAccessibleName(f"QR code for {url}")
            self.layout_.addWidget(label)
            self.layout_.addWidget(qr)
        self.layout_.addStretch(1)
