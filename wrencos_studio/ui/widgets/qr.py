"""QR codes of customer addresses (the Share panel's, a replay's), drawn with segno."""

from __future__ import annotations

import io

from PySide6.QtGui import QPixmap

__all__ = ["qr_pixmap"]


def qr_pixmap(url: str, scale: int = 6) -> QPixmap:
    """The QR code of ``url`` (error correction M, a 2-module quiet zone) as a pixmap of
    ``scale`` pixels a module."""
    import segno

    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=scale, border=2)
    pix = QPixmap()
    pix.loadFromData(buf.getvalue(), "PNG")
    return pix
