"""Alerts staff notice: a bundled chime (Qt Multimedia), a tray icon that is really shown
with a notification per new customer message (also while the window has focus: Chatwoot's
#5403 pitfall), and an in-window toast where no system tray exists; both can be muted."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QLabel, QSystemTrayIcon, QWidget

from wrencos_studio.ui.text import isolate

__all__ = ["ICON_PATH", "SOUND_PATH", "Alerts", "Toast"]

log = logging.getLogger(__name__)

_RESOURCES = Path(__file__).resolve().parent.parent.parent / "resources"
#: The app icon the tray shows (and the notifications carry).
ICON_PATH = _RESOURCES / "icons" / "wrencos-studio.svg"
#: The chime (made by ``scripts/make_alert_sound.py``).
SOUND_PATH = _RESOURCES / "sounds" / "new-message.wav"
#: How long a tray notification asks to stay, and a toast stays (ms).
NOTIFY_MS = 8000
TOAST_MS = 6000
#: Characters of the customer's message shown in a notification.
PREVIEW_CHARS = 120


class _Settings(Protocol):
    def __getitem__(self, key: str) -> Any: ...


def _sound_effect(path: Path, parent: QObject) -> Any | None:
    """A loaded ``QSoundEffect`` for ``path``; None when Qt Multimedia (PySide6-Addons)
    is not installed or there is no audio output: the alert then beeps, quietly."""
    try:
        from PySide6.QtMultimedia import QMediaDevices, QSoundEffect
    except ImportError:
        log.info("Qt Multimedia is not installed (PySide6-Addons): alerts beep instead")
        return None
    if not QMediaDevices.audioOutputs():
        log.info("no audio output: alerts beep instead of playing %s", path.name)
        return None
    effect = QSoundEffect(parent)
    effect.setSource(QUrl.fromLocalFile(str(path)))
    effect.setVolume(0.8)
    return effect


class Toast(QLabel):
    """A short message over the bottom-right corner of the window, gone after
    ``TOAST_MS`` or when clicked (for desktops without a system tray)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setMaximumWidth(360)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setStyleSheet(
            "background: #2b2b2b; color: white; border-radius: 8px; padding: 10px 14px;"
        )
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, False)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(TOAST_MS)
        self.timer.timeout.connect(self.hide)
        self.hide()

    def show_message(self, title: str, body: str) -> None:
        """Show ``title`` over ``body`` (plain text) for ``TOAST_MS``."""
        self.setText(f"{title}\n{body}" if body else title)
        self.adjustSize()
        parent = self.parentWidget()
        if parent is not None:
            margin = 16
            self.move(
                max(0, parent.width() - self.width() - margin),
                max(0, parent.height() - self.height() - margin - 24),  # above the status bar
            )
        self.show()
        self.raise_()
        self.timer.start()

    def mousePressEvent(self, _event: Any) -> None:
        self.hide()


class Alerts(QObject):
    """What the window does when a customer writes: a chime and a notification.

    The tray icon (the app icon) is shown whenever the desktop has a system tray;
    notifications go through it even while the window has focus. Without a tray an
    in-window :class:`Toast` says the same. ``settings["alert_sound"]`` and
    ``settings["alert_notifications"]`` (the studio settings, Settings dialog) mute
    each. ``tray_available`` None asks Qt (tests pass True or False)."""

    #: Every alert given: (how, title, body); how is "sound", "beep", "tray" or "toast".
    alerted = Signal(str, str, str)

    def __init__(
        self,
        window: QWidget,
        settings: _Settings,
        *,
        tray_available: bool | None = None,
        sound_path: Path = SOUND_PATH,
        icon_path: Path = ICON_PATH,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.settings = settings
        self.icon = QIcon(str(icon_path))
        if tray_available is None:
            tray_available = QSystemTrayIcon.isSystemTrayAvailable()
        self.tray: QSystemTrayIcon | None = None
        if tray_available:
            self.tray = QSystemTrayIcon(self.icon, window)
            self.tray.setToolTip("Wrencos Studio")
            self.tray.activated.connect(self.on_tray_activated)
            self.tray.messageClicked.connect(self.bring_window_forward)
            self.tray.show()
        self.toast = Toast(window)
        self.sound = _sound_effect(sound_path, self)

    def customer_wrote(self, msg: dict[str, Any]) -> None:
        """``customer_message`` reached the inbox: chime, then notify (each unless muted)."""
        name = str(msg.get("customerName") or "A customer")
        text = str(msg.get("message", ""))
        if len(text) > PREVIEW_CHARS:
            text = text[: PREVIEW_CHARS - 1] + "…"
        self.alert(f"{isolate(name)} writes", isolate(text))

    def alert(self, title: str, body: str) -> None:
        """Play the chime and show ``title``/``body`` as the settings allow."""
        if self._enabled("alert_sound"):
            self.play_sound()
        if self._enabled("alert_notifications"):
            self.notify(title, body)

    def play_sound(self) -> str:
        """The chime, or the system beep without an audio output; which one it was."""
        if self.sound is not None:
            self.sound.play()
            how = "sound"
        else:
            QApplication.beep()
            how = "beep"
        self.alerted.emit(how, "", "")
        return how

    def notify(self, title: str, body: str) -> str:
        """A tray notification (even while the window has focus), else a toast."""
        if self.tray is not None:
            self.tray.showMessage(title, body, self.icon, NOTIFY_MS)
            how = "tray"
        else:
            self.toast.show_message(title, body)
            how = "toast"
        self.alerted.emit(how, title, body)
        return how

    def _enabled(self, key: str) -> bool:
        try:
            return bool(self.settings[key])
        except KeyError:
            return True

    def on_tray_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        """A click on the tray icon brings the window forward."""
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.bring_window_forward()

    def bring_window_forward(self) -> None:
        """The window on top and focused (a notification or the tray icon clicked)."""
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()

    def close(self) -> None:
        """Take the tray icon away (the window closes)."""
        if self.tray is not None:
            self.tray.hide()
