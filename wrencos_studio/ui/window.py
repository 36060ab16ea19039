"""The main window: the panels its capabilities allow, each in a dock (OBS-style: all in
view at once, moved and closed as the presenter likes, the layout kept), the LIVE state
with its clock in the show bar, keyboard shortcuts, and the broadcast's health in the
status bar."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QFont, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QToolBar,
    QWidget,
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
from wrencos_studio.ui.panels.audience import figures_text
from wrencos_studio.ui.studio import Studio
from wrencos_studio.ui.tasks import spawn
from wrencos_studio.ui.widgets import SteadyLabel

__all__ = ["LAYOUT_VERSION", "SHORTCUTS", "MainWindow", "Shortcut"]

#: Figures (viewers, likes) are shown at most this often: a burst of likes is one repaint.
FIGURES_MS = 100
#: Bumped when the docks change, so an older saved layout is not applied to new docks.
LAYOUT_VERSION = 1
#: A refused token's dialog closes by itself after this many seconds, so that a station
#: started by a script, with nobody to click, still ends (exit code 3).
REFUSED_DIALOG_S = 120
#: The window's own layout file in the data dir (QSettings, INI): per studio, not per user.
LAYOUT_FILE = "window.ini"

LIVE_STYLE = (
    "QLabel { background: #d11f3c; color: white; font-weight: bold; border-radius: 6px;"
    " padding: 4px 14px; }"
)
OFF_AIR_STYLE = (
    "QLabel { background: #5c5c66; color: #f0f0f0; font-weight: bold; border-radius: 6px;"
    " padding: 4px 14px; }"
)


@dataclass(frozen=True)
class Shortcut:
    """One keyboard shortcut as Help lists it; ``needs`` is the capability it requires."""

    keys: str
    what: str
    needs: str = ""


#: Every shortcut of the window, in the order Help → Keyboard shortcuts lists them.
SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut("Ctrl+L", "Go Live, or End the show (asks first)", "can_broadcast"),
    Shortcut("Ctrl+1 … Ctrl+9", "Pin or unpin the 1st … 9th product of the catalog", "can_pin"),
    Shortcut("Ctrl+T", "Write in the chat"),
    Shortcut("Ctrl+I", "Answer in the inbox"),
    Shortcut("Ctrl+Shift+R", "Reset the layout of the panels"),
    Shortcut("F1", "This list"),
    Shortcut("Ctrl+Q", "Quit (asks first while live)"),
)


def _clock(seconds: float) -> str:
    secs = max(0, int(seconds))
    return f"{secs // 3600:d}:{secs // 60 % 60:02d}:{secs % 60:02d}"


class MainWindow(QMainWindow):
    """The presenter's screen, or a staff station's: the same window, other capabilities.

    Panels live in ``docks`` (keys ``preview``, ``chat``, ``products``, ``inbox``,
    ``audience``, ``share``; a station has no ``preview``). Menus are built in
    ``_build_menus``: other features add their actions to ``menus`` (``file``, ``view``,
    ``show``, ``help``)."""

    quit_requested = Signal()

    def __init__(self, studio: Studio) -> None:
        super().__init__()
        self.studio = studio
        self.capabilities = caps = studio.capabilities
        self.viewers = 0
        self.likes = 0
        #: Non-zero when the window closed because of a failure (a refused token: 3).
        self.exit_code = 0
        #: When the current show started (wall clock, from ``stream_started``), or None.
        self.live_started_at: datetime | None = None
        self._cpu = (time.process_time(), time.monotonic())
        title = "Wrencos Studio" if caps.can_broadcast else "Wrencos Studio — staff station"
        self.setWindowTitle(title)
        self.resize(QSize(1440, 900))
        self.setDockNestingEnabled(True)
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks
            | QMainWindow.DockOption.AllowNestedDocks
            | QMainWindow.DockOption.AllowTabbedDocks
        )

        self.broadcast = BroadcastPanel(studio) if caps.can_broadcast else None
        self.chat = ChatPanel(caps, lambda: str(studio.settings["host_name"]))
        self.inbox = InboxPanel()
        self.products = ProductsPanel(caps, studio.store_image)
        if caps.can_pin:  # the numbers Ctrl+1…9 pin by; one click on a number pins too
            numbers = self.products.table.verticalHeader()
            numbers.show()
            numbers.setSectionsClickable(True)
            numbers.setToolTip("Click a number (or press Ctrl+number) to pin or unpin")
            numbers.sectionClicked.connect(lambda row: self.pin_nth(row + 1))
        self.audience = AudiencePanel()
        # "Share outside this network" runs a tunnel on this machine: the studio only.
        self.share = SharePanel(studio if caps.can_broadcast else None)
        self.products.replay_location = studio.replay_location  # Past shows: replays
        self.docks: dict[str, QDockWidget] = {}
        self.menus: dict[str, Any] = {}
        self.actions_: dict[str, QAction] = {}
        self._build_show_bar()
        self._build_docks()
        self._build_menus()
        self._build_status_bar()
        #: The layout as built, for View → Reset layout (sized once first shown).
        self.default_state = self.saveState(LAYOUT_VERSION)
        self._restored = self.restore_layout()

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
        self.show_live_state()

    # -- building ----------------------------------------------------------------------

    def _build_show_bar(self) -> None:
        """The bar over everything: LIVE (or OFF AIR) with the show's clock, the figures."""
        bar = QToolBar("Show")
        bar.setObjectName("show-bar")
        bar.setMovable(False)
        self.live_badge = QLabel()
        self.live_badge.setObjectName("live-badge")
        font = QFont()
        font.setPointSize(20)
        font.setBold(True)
        self.live_badge.setFont(font)
        self.live_badge.setAccessibleName("Live state")
        self.show_figures_label = SteadyLabel(figures_text(0, 0))
        figures_font = QFont()
        figures_font.setPointSize(16)
        self.show_figures_label.setFont(figures_font)
        self.show_figures_label.setContentsMargins(16, 0, 0, 0)
        bar.addWidget(self.live_badge)
        bar.addWidget(self.show_figures_label)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        self.show_bar = bar

    def _dock(self, key: str, title: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{key}")  # saveState/restoreState find docks by name
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.docks[key] = dock
        return dock

    def _build_docks(self) -> None:
        """The default layout: preview over products on the left, chat beside them, the
        inbox on the right, the audience (with Share as a tab) under the chat."""
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        vertical, horizontal = Qt.Orientation.Vertical, Qt.Orientation.Horizontal
        chat = self._dock("chat", "Chat", self.chat)
        products = self._dock("products", "Products", self.products)
        inbox = self._dock("inbox", "Inbox", self.inbox)
        audience = self._dock("audience", "Audience", self.audience)
        # QR codes are tall: scrolled, so they never push the audience's tab group open.
        share_scroll = QScrollArea()
        share_scroll.setWidgetResizable(True)
        share_scroll.setWidget(self.share)
        share = self._dock("share", "Share", share_scroll)
        if self.broadcast is not None:
            preview = self._dock("preview", "Preview", self.broadcast)
            self.addDockWidget(left, preview)
            self.splitDockWidget(preview, chat, horizontal)
            self.splitDockWidget(preview, products, vertical)
            self.splitDockWidget(chat, audience, vertical)
            self.addDockWidget(right, inbox)
            self.tabifyDockWidget(audience, share)
            audience.raise_()
            self._sizes = [
                ([preview, chat, inbox], [600, 380, 460], horizontal),
                ([preview, products], [560, 300], vertical),
                ([chat, audience], [600, 260], vertical),
            ]
        else:  # a station: chat, inbox and products side by side
            self.addDockWidget(left, chat)
            self.splitDockWidget(chat, audience, vertical)
            self.addDockWidget(right, inbox)
            self.splitDockWidget(inbox, products, horizontal)
            self.tabifyDockWidget(audience, share)
            audience.raise_()
            self._sizes = [
                ([chat, inbox, products], [440, 520, 480], horizontal),
                ([chat, audience], [600, 260], vertical),
            ]
        # No central widget: the docks share the whole window, as OBS's do.
        self.setCentralWidget(None)  # type: ignore[arg-type]

    def apply_default_sizes(self) -> None:
        """The built layout's proportions (docks get sizes only once the window has one)."""
        for docks, sizes, orientation in self._sizes:
            self.resizeDocks(docks, sizes, orientation)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not getattr(self, "_sized", False):
            self._sized = True
            # After this event: the docks are laid out in the window's real size by then.
            QTimer.singleShot(0, self._size_docks_once)

    def _size_docks_once(self) -> None:
        if not self._restored:  # a saved layout keeps its own sizes
            self.apply_default_sizes()
        self.default_state = self.saveState(LAYOUT_VERSION)

    def _action(
        self, key: str, text: str, slot: Any, shortcut: str | QKeySequence | None = None
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        self.addAction(action)  # the shortcut works even with the menu bar hidden
        self.actions_[key] = action
        return action

    def _build_menus(self) -> None:
        """File, Show, View and Help. Other features add their actions to ``self.menus``."""
        caps = self.capabilities
        bar = self.menuBar()
        file_menu = self.menus["file"] = bar.addMenu("&File")
        if caps.can_edit_settings:
            file_menu.addAction(self._action("settings", "Settings…", self.on_settings_clicked))
            file_menu.addSeparator()
        else:  # a station mutes its own alerts (ui/alerts.py); the rest is the studio's
            file_menu.addAction(
                self._action(
                    "alerts",
                    "Alerts…",
                    lambda: SettingsDialog(self, self.studio, alerts_only=True).exec(),
                )
            )
            file_menu.addSeparator()
        file_menu.addAction(self._action("quit", "Quit", self.close, QKeySequence.StandardKey.Quit))

        show_menu = self.menus["show"] = bar.addMenu("&Show")
        if caps.can_broadcast:
            show_menu.addAction(self._action("live", "Go Live / End", self.on_live_key, "Ctrl+L"))
        if caps.can_pin:
            pins = show_menu.addMenu("Pin or unpin product")
            for n in range(1, 10):
                pins.addAction(
                    self._action(
                        f"pin{n}",
                        f"Product {n}",
                        lambda _checked=False, n=n: self.pin_nth(n),
                        f"Ctrl+{n}",
                    )
                )
        show_menu.addAction(self._action("chat", "Write in the chat", self.focus_chat, "Ctrl+T"))
        show_menu.addAction(
            self._action("inbox", "Answer in the inbox", self.focus_inbox, "Ctrl+I")
        )

        # Shop (issue 11): the Catalog menu (CSV import/export/template) and Past shows.
        self.products.add_menus(bar)

        view_menu = self.menus["view"] = bar.addMenu("&View")
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addSeparator()
        view_menu.addAction(
            self._action("reset_layout", "Reset layout", self.reset_layout, "Ctrl+Shift+R")
        )

        help_menu = self.menus["help"] = bar.addMenu("&Help")
        help_menu.addAction(
            self._action("shortcuts", "Keyboard shortcuts", self.show_shortcuts, "F1")
        )

    def _build_status_bar(self) -> None:
        self.url_label = QLabel()
        self.url_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.figures_label = SteadyLabel()  # figures tick: repainted, not laid out
        self.health_label = SteadyLabel()
        self.connection_label = QLabel()  # "Reconnecting…" while a station's link is down
        self.connection_label.setStyleSheet("color: #b35c00; font-weight: bold")
        self.connection_label.hide()
        bar = self.statusBar()
        bar.addWidget(self.url_label, 1)
        bar.addPermanentWidget(self.connection_label)
        bar.addPermanentWidget(self.figures_label)
        bar.addPermanentWidget(self.health_label)

    # -- the layout --------------------------------------------------------------------

    def _layout_settings(self) -> QSettings:
        path = self.studio.data_dir / LAYOUT_FILE
        return QSettings(str(path), QSettings.Format.IniFormat)

    @property
    def _layout_key(self) -> str:
        return "studio" if self.capabilities.can_broadcast else "station"

    def save_layout(self) -> None:
        """Keep where the docks are and the window's size, for the next start."""
        settings = self._layout_settings()
        settings.setValue(f"{self._layout_key}/geometry", self.saveGeometry())
        settings.setValue(f"{self._layout_key}/state", self.saveState(LAYOUT_VERSION))
        settings.sync()

    def restore_layout(self) -> bool:
        """The layout saved last time, if any (and made by this version's docks)."""
        settings = self._layout_settings()
        geometry = settings.value(f"{self._layout_key}/geometry")
        state = settings.value(f"{self._layout_key}/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            return bool(self.restoreState(state, LAYOUT_VERSION))
        return False

    def reset_layout(self) -> None:
        """Every dock back where it started, shown and docked."""
        for dock in self.docks.values():
            dock.setFloating(False)
            dock.show()
        self.restoreState(self.default_state, LAYOUT_VERSION)
        self.apply_default_sizes()
        self.docks["audience"].raise_()

    def show_panel(self, key: str) -> QDockWidget:
        """Bring one dock into view (shown, and in front of its tab group)."""
        dock = self.docks[key]
        dock.show()
        dock.raise_()
        return dock

    # -- shortcuts ---------------------------------------------------------------------

    def on_live_key(self) -> None:
        if self.broadcast is not None and self.broadcast.live_button.isEnabled():
            self.broadcast.on_live_clicked()

    def pin_nth(self, n: int) -> bool:
        """Pin (or unpin) the catalog's ``n``-th product (1-based, as the table numbers
        them); False when there is none."""
        if not self.capabilities.can_pin:
            return False
        product = self.products.catalog_model.product(n - 1)
        if product is None:
            self.statusBar().showMessage(f"There is no product {n} in the catalog.", 4000)
            return False
        self.products.toggle(product)
        return True

    def focus_chat(self) -> None:
        self.show_panel("chat")
        self.chat.input.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def focus_inbox(self) -> None:
        self.show_panel("inbox")
        self.inbox.reply.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def shortcuts_text(self) -> str:
        """The shortcuts this window has (a station lists no Go Live or pinning)."""
        rows = [s for s in SHORTCUTS if not s.needs or getattr(self.capabilities, s.needs)]
        return "\n".join(f"{s.keys}\t{s.what}" for s in rows)

    def show_shortcuts(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("Keyboard shortcuts")
        box.setText(self.shortcuts_text())
        box.setStandardButtons(QMessageBox.StandardButton.Close)
        box.open()
        self.shortcuts_box = box

    # -- start-up ----------------------------------------------------------------------

    def started(self) -> None:
        """The hub (or the connection to it) runs: wire the bridge and fill the panels."""
        b = self.studio.bridge
        for panel in (self.chat, self.inbox, self.products):
            panel.connect_bridge(b)  # the studio's bridge exists once it started
        b.figures_changed.connect(self.on_figures_changed)
        b.stream_started.connect(self.on_stream_started)
        b.stream_stopped.connect(self.on_stream_stopped)
        b.media_stats.connect(self.on_media_stats)
        b.stream_summary.connect(self.on_stream_summary)
        b.stream_summaries.connect(self.on_stream_summaries)
        b.error.connect(lambda text: self.statusBar().showMessage(text, 5000))
        b.reconnecting.connect(self.on_reconnecting)
        b.reconnected.connect(self.on_reconnected)
        b.token_refused.connect(self.on_token_refused)
        # Recording trouble (low disk, stopped) stays in view longer than a passing note.
        b.recording_status.connect(
            lambda m: self.statusBar().showMessage(
                m["message"], 30000 if m["state"] in ("low_disk", "stopped") else 5000
            )
        )
        if self.broadcast is not None:
            from wrencos_studio.addresses import customer_urls

            self.broadcast.started()
            b.media_stats.connect(self.broadcast.on_media_stats)
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

    def on_token_refused(self, why: str) -> None:
        """The token expired while the station was away: say so, and quit non-zero."""
        self.exit_code = 3
        self.token_refused(why)
        self.close()

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

    def port_in_use_box(self, port: int, free: int | None) -> QMessageBox:
        """The question when ``port`` is taken: the next ``free`` port, Settings, or Quit."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Port in use")
        box.setText(f"Port {port} is already in use on this machine.")
        box.setInformativeText(
            "Another Wrencos Studio, or another program, listens there. Customers' links "
            "use the port, so pick one and keep it."
        )
        if free is not None:
            use = box.addButton(f"Use port {free}", QMessageBox.ButtonRole.AcceptRole)
            box.setDefaultButton(use)
        box.addButton("Settings…", QMessageBox.ButtonRole.ActionRole)
        box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
        return box

    def ask_port_in_use(self, port: int, free: int | None) -> int | None:
        """Ask what to do about a taken ``port``: the port to use (``free``), 0 after the
        Settings dialog was saved (its port is tried), None to quit."""
        box = self.port_in_use_box(port, free)
        self.port_box = box
        box.exec()
        clicked = box.clickedButton()
        text = clicked.text() if clicked is not None else "Quit"
        if text.startswith("Use port") and free is not None:
            return free
        if text == "Settings…":
            return 0 if SettingsDialog(self, self.studio).exec() else None
        return None

    def token_refused(self, why: str) -> None:
        """A station's token was refused: say so, with what to do (the caller exits). Said
        on stderr as well, for whoever started the station from a script."""
        import sys

        print(f"wrencos-studio station: the token was refused: {why}", file=sys.stderr)
        title = "Staff token refused"

        def close_unattended() -> None:
            # Nobody is there to click (a script started the station): it still exits.
            box = QApplication.activeModalWidget()
            if box is not None and box.windowTitle() == title:
                box.close()

        QTimer.singleShot(REFUSED_DIALOG_S * 1000, close_unattended)
        QMessageBox.critical(
            self,
            title,
            f"The studio refused this station's token: {why}\n\n"
            "Ask the presenter for a new token (on the studio's machine: "
            "`wrencos-studio token --user-id YOU --role staff`) and start the station "
            f"again with it.\n\n(This closes by itself after {REFUSED_DIALOG_S} seconds.)",
        )

    @property
    def live(self) -> bool:
        return self.broadcast is not None and self.broadcast.live

    @live.setter
    def live(self, value: bool) -> None:
        if self.broadcast is not None:
            self.broadcast.live = value

    # -- the room ----------------------------------------------------------------------

    def on_stream_started(self, data: dict[str, Any]) -> None:
        try:
            started = datetime.fromisoformat(str(data.get("startTime", "")))
            if started.tzinfo is None:
                started = started.replace(tzinfo=UTC)
        except ValueError:
            started = datetime.now(UTC)
        self.live_started_at = started
        self.on_figures_changed(int(data.get("viewerCount", 0)), int(data.get("likes", 0)))
        self.show_live_state()

    def on_stream_stopped(self, _stream_id: str) -> None:
        """The show ended: the figures start again from zero (its summary is kept)."""
        self.live_started_at = None
        self.viewers = self.likes = 0
        self._figures.stop()
        self.show_figures()
        self.audience.reset()
        self.show_live_state()

    def show_live_state(self) -> None:
        """The badge: red LIVE with the show's running time, or grey OFF AIR."""
        if self.live_started_at is not None:
            elapsed = (datetime.now(UTC) - self.live_started_at).total_seconds()
            self.live_badge.setText(f"● LIVE  {_clock(elapsed)}")
            style = LIVE_STYLE
        else:
            self.live_badge.setText("OFF AIR")
            style = OFF_AIR_STYLE
        if self.live_badge.styleSheet() != style:  # each new style sheet re-polishes
            self.live_badge.setStyleSheet(style)

    def on_figures_changed(self, viewers: int, likes: int) -> None:
        self.viewers, self.likes = viewers, likes
        if not self._figures.isActive():
            self._figures.start()

    def show_figures(self) -> None:
        text = figures_text(self.viewers, self.likes)
        self.audience.show_figures(self.viewers, self.likes)
        self.show_figures_label.setText(text)
        self.figures_label.setText(text)

    def on_stream_summary(self, summary: dict[str, Any]) -> None:
        """End: the show's figures in a dialog, with the past shows."""
        from wrencos_studio.ui.dialogs.summary import ShowSummaryDialog

        self.summary_dialog = ShowSummaryDialog(self, summary)
        self.summary_dialog.show()
        spawn(self.studio.bridge.get_stream_summaries(20))

    def on_stream_summaries(self, summaries: list[Any], more: bool, cursor: str) -> None:
        dialog = getattr(self, "summary_dialog", None)
        if dialog is not None:
            dialog.show_past(summaries, more, cursor)

    def on_unread_changed(self, unread: int) -> None:
        self.docks["inbox"].setWindowTitle(f"Inbox ({unread})" if unread else "Inbox")

    def on_tick(self) -> None:
        self.show_live_state()
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
                self,
                "Quit while live?",
                "Quitting ends the stream for every customer. Quit and end the show?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        event.accept()
        self.save_layout()
        self.timer.stop()  # no more requests to a hub that is shutting down
        self.quit_requested.emit()
