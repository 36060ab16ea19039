"""The main window: it assembles the panels its capabilities allow (preview and Go Live
on the left, the room on the right) and shows the broadcast's health in the status bar."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
)

from wrencos_studio.ui.alerts import Alerts
from wrencos_studio.ui.dialogs import SettingsDialog
from wrencos_studio.ui.panels import (
    AudiencePanel,
    BroadcastPanel,
    ChatPanel,
    InboxPanel,
    ProductsPanel,
    SharePanel,
)
from wrencos_studio.ui.studio import Studio
from wrencos_studio.ui.tasks import spawn

__all__ = ["MainWindow"]

#: Figures (viewers, likes) are shown at most this often: a burst of likes is one repaint.
FIGURES_MS = 100


class MainWindow(QMainWindow):
    """The presenter's screen, or a staff station's: the same window, other capabilities."""

    quit_requested = Signal()

    def __init__(self, studio: Studio) -> None:
        super().__init__()
        self.studio = studio
        self.capabilities = caps = studio.capabilities
        self.viewers = 0
        self.likes = 0
        self._cpu = (time.process_time(), time.monotonic())
        title = "Wrencos Studio" if caps.can_broadcast else "Wrencos Studio — staff station"
        self.setWindowTitle(title)
        self.resize(QSize(1280, 800))

        self.broadcast = BroadcastPanel(studio) if caps.can_broadcast else None
        self.chat = ChatPanel(caps, lambda: str(studio.settings["host_name"]))
        self.inbox = InboxPanel()
        self.products = ProductsPanel(caps, studio.store_image)
        self.audience = AudiencePanel()
        # "Share outside this network" runs a tunnel on this machine: the studio only.
        self.share = SharePanel(studio if caps.can_broadcast else None)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.chat, "Chat")
        self.tabs.addTab(self.inbox, "Inbox")
        self.tabs.addTab(self.products, "Products")
        self.tabs.addTab(self.audience, "Audience")
        self.tabs.addTab(self.share, "Share")
        if caps.can_edit_settings:
            settings_action = self.menuBar().addAction("Settings…")
            settings_action.triggered.connect(self.on_settings_clicked)
        else:  # a station mutes its own alerts (ui/alerts.py); the rest is the studio's
            alerts_action = self.menuBar().addAction("Alerts…")
            alerts_action.triggered.connect(
                lambda: SettingsDialog(self, studio, alerts_only=True).exec()
            )
        # Shop (issue 11): the Catalog menu (CSV import/export/template) and Past shows.
        self.products.add_menus(self.menuBar())
        splitter = QSplitter()
        if self.broadcast is not None:
            splitter.addWidget(self.broadcast)
        splitter.addWidget(self.tabs)
        splitter.setSizes([700, 580])
        self.setCentralWidget(splitter)

        self.url_label = QLabel()
        self.url_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.figures_label = QLabel()
        self.health_label = QLabel()
        self.connection_label = QLabel()  # "Reconnecting…" while a station's link is down
        self.connection_label.setStyleSheet("color: #b35c00; font-weight: bold")
        self.connection_label.hide()
        bar = self.statusBar()
        bar.addWidget(self.url_label, 1)
        bar.addPermanentWidget(self.connection_label)
        bar.addPermanentWidget(self.figures_label)
        bar.addPermanentWidget(self.health_label)
        # New customer messages: chime, tray notification or toast (ui/alerts.py).
        self.alerts = Alerts(self, studio.settings)

        studio.status.connect(self.statusBar().showMessage)
        self.inbox.unread_changed.connect(self.on_unread_changed)
        self.inbox.customer_wrote.connect(self.alerts.customer_wrote)
        self._figures = QTimer(self)
        self._figures.setSingleShot(True)
        self._figures.setInterval(FIGURES_MS)
        self._figures.timeout.connect(self.show_figures)
        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self.on_tick)

    @property
    def live(self) -> bool:
        return self.broadcast is not None and self.broadcast.live

    @live.setter
    def live(self, value: bool) -> None:
        if self.broadcast is not None:
            self.broadcast.live = value

    # -- start-up ----------------------------------------------------------------------

    def started(self) -> None:
        """The hub (or the connection to it) runs: wire the bridge and fill the panels."""
        b = self.studio.bridge
        for panel in (self.chat, self.inbox, self.products):
            panel.connect_bridge(b)  # the studio's bridge exists once it started
        b.figures_changed.connect(self.on_figures_changed)
        b.stream_started.connect(self.on_stream_started)
        b.media_stats.connect(self.on_media_stats)
        b.stream_summary.connect(self.on_stream_summary)
        b.stream_summaries.connect(self.on_stream_summaries)
        b.error.connect(lambda text: self.statusBar().showMessage(text, 5000))
        # Recording trouble (low disk, stopped) stays in view longer than a passing note.
        b.recording_status.connect(
            lambda m: self.statusBar().showMessage(
                m["message"], 30000 if m["state"] in ("low_disk", "stopped") else 5000
            )
        )
        b.reconnecting.connect(self.on_reconnecting)
        b.reconnected.connect(self.on_reconnected)
        if self.broadcast is not None:
            from wrencos_studio.addresses import customer_urls

            self.broadcast.started()
            urls = customer_urls("0.0.0.0", self.studio.port)
            self.url_label.setText("Customers: " + "  ".join(urls))
            self.share.show_urls(urls)
        else:
            page = self.studio.page_url
            self.url_label.setText(f"Staff station of {page}")
            self.share.show_urls([page])
        spawn(b.get_room())
        self.inbox.refresh()
        self.products.refresh()
        self.timer.start()

    def on_reconnecting(self, _why: str) -> None:
        self.connection_label.setText("Reconnecting…")
        self.connection_label.show()

    def on_reconnected(self) -> None:
        """Back: what the panels show is fetched again and replaces what they had."""
        self.connection_label.hide()
        spawn(self.studio.bridge.get_room())
        self.inbox.reload()
        self.products.refresh()

    def on_settings_clicked(self) -> None:
        dialog = SettingsDialog(self, self.studio)
        if dialog.exec():
            self.apply_settings()

    def apply_settings(self) -> None:
        """Video quality and microphone apply at once when not live; the port, origins,
        ICE servers and data folder at the next start."""
        if self.capabilities.can_broadcast and not self.live:
            spawn(self.studio.start_source(str(self.studio.settings["source"])))
            self.statusBar().showMessage(
                "Settings saved. Port, origins, ICE servers and folder apply at the next start.",
                8000,
            )
        else:
            self.statusBar().showMessage("Settings saved: they apply at the next start.", 8000)

    def fatal(self, text: str) -> None:
        QMessageBox.critical(self, "Wrencos Studio", text)

    # -- the room ----------------------------------------------------------------------

    def on_stream_started(self, data: dict[str, Any]) -> None:
        self.on_figures_changed(int(data.get("viewerCount", 0)), int(data.get("likes", 0)))

    def on_figures_changed(self, viewers: int, likes: int) -> None:
        self.viewers, self.likes = viewers, likes
        if not self._figures.isActive():
            self._figures.start()

    def show_figures(self) -> None:
        self.audience.show_figures(self.viewers, self.likes)

    def on_stream_summary(self, summary: dict[str, Any]) -> None:
        """End: the show's figures in a dialog, with the past shows."""
        from wrencos_studio.ui.dialogs.summary import ShowSummaryDialog
        from wrencos_studio.ui.tasks import spawn

        self.summary_dialog = ShowSummaryDialog(self, summary)
        self.summary_dialog.show()
        spawn(self.studio.bridge.get_stream_summaries(20))

    def on_stream_summaries(self, summaries: list[Any], more: bool, cursor: str) -> None:
        dialog = getattr(self, "summary_dialog", None)
        if dialog is not None:
            dialog.show_past(summaries, more, cursor)

    def on_unread_changed(self, unread: int) -> None:
        self.tabs.setTabText(1, f"Inbox ({unread})" if unread else "Inbox")

    def on_tick(self) -> None:
        uptime = ""
        if self.studio.live_since is not None:
            secs = int(time.monotonic() - self.studio.live_since)
            uptime = f" · live {secs // 3600:d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
        self.figures_label.setText(f"{self.viewers} watching · {self.likes} likes{uptime}")
        if self.live:
            self.audience.chart.add(self.viewers)
        if self.capabilities.can_broadcast:  # the answer comes as media_stats
            spawn(self.studio.bridge.get_media_stats())

    def on_media_stats(self, media: dict[str, Any]) -> None:
        cpu_now = (time.process_time(), time.monotonic())
        cpu = (cpu_now[0] - self._cpu[0]) / max(1e-6, cpu_now[1] - self._cpu[1]) * 100
        self._cpu = cpu_now
        if media.get("source", "none") == "none":
            return
        kbps = sum(v["bitrateKbps"] or 0 for v in media.get("viewers", []))
        problem = f" · {media['error']}" if media.get("error") else ""
        whip = media.get("whip") or {}  # WHIP egress (media/whip.py): how publishing goes
        if whip.get("message"):
            problem += f" · {whip['message']}"
        self.health_label.setText(
            f"encode {media.get('encodeFps', 0):.0f} fps · {kbps:.0f} kbit/s out · CPU {cpu:.0f}%"
            f"{problem}"
        )
        self.audience.show_viewers(media.get("viewers", []))

    def closeEvent(self, event: Any) -> None:
        if self.live:
            answer = QMessageBox.question(
                self, "Quit while live?", "Quitting ends the stream for every customer."
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        event.accept()
        self.timer.stop()  # no more requests to a hub that is shutting down
        self.quit_requested.emit()
