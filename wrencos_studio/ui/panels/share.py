"""The customer page's addresses, each with a QR code to scan from a phone, and "Share
outside this network": a public tunnel started in one click (``wrencos_studio.tunnel``)."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QFrame, QLabel, QPushButton, QVBoxLayout, QWidget

from wrencos_studio.tunnel import NoTunnelClient, TunnelError, find_client, install_advice
from wrencos_studio.ui.tasks import spawn
from wrencos_studio.ui.widgets.qr import qr_pixmap

__all__ = ["SharePanel"]

log = logging.getLogger(__name__)

START_TEXT = "Share outside this network"
STOP_TEXT = "Stop sharing outside this network"
RUNNING_NOTE = (
    "Anyone with this address can watch, from any network. It ends when you stop "
    "sharing or close the studio."
)


def _url_label(url: str) -> QLabel:
    label = QLabel(url)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    font = QFont()
    font.setPointSize(14)
    label.setFont(font)
    return label


class SharePanel(QWidget):
    """The customer page's addresses with QR codes; with a ``studio`` (this machine runs
    the hub), also "Share outside this network".

    That button starts the first installed tunnel client for the studio's port
    (``App.start_tunnel``, which also allows the tunnel's origin), shows its public
    address with a QR code, and stops it on a second click; the studio's shutdown stops
    it too. With no client installed it says which to install and how. Emits
    ``public_url_changed(url)`` ("" when the public address is gone).
    """

    public_url_changed = Signal(str)

    def __init__(self, studio: Any | None = None) -> None:
        super().__init__()
        self.studio = studio
        self.layout_ = QVBoxLayout(self)
        self.lan = QVBoxLayout()
        self.layout_.addLayout(self.lan)
        #: The public address while a tunnel runs ("" otherwise).
        self.public_url_text = ""
        self._starting = False
        if studio is not None:
            self._build_public()
        self.layout_.addStretch(1)

    def _build_public(self) -> None:
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        self.layout_.addWidget(line)
        self.public_button = QPushButton(START_TEXT)
        self.public_button.setToolTip(
            "Start a tunnel (cloudflared, ngrok or tailscale funnel) so that customers "
            "on any network can open the page"
        )
        self.public_button.clicked.connect(self.on_public_clicked)
        self.public_status = QLabel()
        self.public_status.setWordWrap(True)
        self.public_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.public_status.setTextFormat(Qt.TextFormat.PlainText)  # links as text, selectable
        self.public_url = _url_label("")
        self.public_qr = QLabel()
        self.public_url.hide()
        self.public_qr.hide()
        for widget in (self.public_button, self.public_status, self.public_url, self.public_qr):
            self.layout_.addWidget(widget)
        self._show_idle()

    # -- the addresses on this network ------------------------------------------------------

    def show_urls(self, urls: list[str]) -> None:
        """Show the customer page's addresses on this network, each with its QR code."""
        self.lan.addWidget(QLabel("Customers open this page (or scan it):"))
        for url in urls:
            qr = QLabel()
            qr.setPixmap(qr_pixmap(url))
            qr.setAccessibleName(f"QR code for {url}")
            self.lan.addWidget(_url_label(url))
            self.lan.addWidget(qr)

    # -- outside this network ---------------------------------------------------------------

    @property
    def sharing(self) -> bool:
        """True while a public tunnel runs."""
        return bool(self.public_url_text)

    def on_public_clicked(self) -> None:
        if self._starting:
            return
        spawn(self.stop_public() if self.sharing else self.start_public())

    async def start_public(self) -> None:
        """Start a tunnel and show its address (or say why not, and what to install)."""
        app = getattr(self.studio, "app", None)
        if app is None or app.server is None:
            self._show_idle("The studio's server is not running.")
            return
        found = find_client()
        if found is None:
            self._show_idle(install_advice())
            return
        self._starting = True
        self.public_button.setEnabled(False)
        self.public_button.setText("Starting…")
        self.public_status.setText(
            f"Starting {found[0].name} ({found[1]}); this can take a few seconds…"
        )
        try:
            tunnel = await self.studio.start_tunnel(found[0], self._on_tunnel_exit)
        except NoTunnelClient as exc:
            self._show_idle(str(exc))
            return
        except TunnelError as exc:
            self._show_idle(f"Could not share outside this network: {exc}")
            return
        except Exception as exc:  # a tunnel failing must never take the window down
            log.exception("starting a tunnel failed")
            self._show_idle(f"Could not share outside this network: {exc}")
            return
        finally:
            self._starting = False
            self.public_button.setEnabled(True)
        self._show_running(tunnel.url + "/", tunnel.client.name)

    async def stop_public(self) -> None:
        """Stop the tunnel: its address stops working and its origin is no longer allowed."""
        app = getattr(self.studio, "app", None)
        self.public_button.setEnabled(False)
        try:
            if app is not None:
                await self.studio.stop_tunnel()
        finally:
            self.public_button.setEnabled(True)
        self._show_idle("Stopped: the public address no longer works.")

    def _on_tunnel_exit(self, why: str) -> None:
        # The client ended by itself (network lost, account limits): say so, offer again.
        self._show_idle(f"The public address stopped working: {why}")

    def _show_running(self, url: str, client_name: str) -> None:
        self.public_url_text = url
        self.public_button.setText(STOP_TEXT)
        self.public_status.setText(f"Shared through {client_name}. {RUNNING_NOTE}")
        self.public_url.setText(url)
        self.public_qr.setPixmap(qr_pixmap(url))
        self.public_qr.setAccessibleName(f"QR code for {url}")
        self.public_url.show()
        self.public_qr.show()
        self.public_url_changed.emit(url)

    def _show_idle(self, message: str | None = None) -> None:
        was_sharing = self.sharing
        self.public_url_text = ""
        self.public_button.setText(START_TEXT)
        self.public_url.hide()
        self.public_qr.hide()
        self.public_qr.clear()
        if message is None:
            found = find_client()
            message = (
                f"Customers outside your network can watch through {found[0].name} "
                "(installed here)."
                if found is not None
                else install_advice()
            )
        self.public_status.setText(message)
        if was_sharing:
            self.public_url_changed.emit("")
