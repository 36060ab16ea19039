"""The studio's settings: port, ICE servers, origins, video quality, microphone, data folder,
and whether new support messages chime and notify."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QMessageBox,
    QSpinBox,
    QWidget,
)

from wrencos_studio.ui.studio import Studio, remember_data_dir

__all__ = ["SettingsDialog"]


class SettingsDialog(QDialog):
    """Port, ICE servers, allowed origins, video quality: saved, used at the next start;
    the alerts for new support messages (sound, notifications): saved, used at once.

    ``alerts_only``: just the alert switches (a staff station's "Alerts…": the rest of
    the settings are the studio machine's)."""

    def __init__(self, parent: QWidget, studio: Studio, *, alerts_only: bool = False) -> None:
        super().__init__(parent)
        self.setWindowTitle("Alerts" if alerts_only else "Settings")
        s = studio.settings
        self.studio = studio
        self.alerts_only = alerts_only
        self.alert_sound = QCheckBox("Play a sound")
        self.alert_sound.setChecked(bool(s["alert_sound"]))
        self.alert_notifications = QCheckBox("Show a notification (tray, or in the window)")
        self.alert_notifications.setChecked(bool(s["alert_notifications"]))
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        if alerts_only:
            form = QFormLayout(self)
            form.addRow("New support message", self.alert_sound)
            form.addRow("", self.alert_notifications)
            form.addRow(buttons)
            return
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(int(s["port"]) or 3000)
        self.ice = QLineEdit(str(s["ice_servers"]))
        self.ice.setPlaceholderText("stun:host:3478,turn:user:pass@host:3478 (none by default)")
        self.origins = QLineEdit(str(s["allowed_origins"]))
        self.origins.setPlaceholderText("https://shop.example.com, …")
        self.video_size = QComboBox()
        for size in ("640x360", "960x540", "1280x720", "1920x1080"):
            self.video_size.addItem(size)
        if self.video_size.findText(str(s["video_size"])) < 0:
            self.video_size.addItem(str(s["video_size"]))
        self.video_size.setCurrentText(str(s["video_size"]))
        self.fps = QSpinBox()
        self.fps.setRange(10, 60)
        self.fps.setValue(int(s["fps"]))
        self.bitrate = QSpinBox()
        self.bitrate.setRange(300, 8000)
        self.bitrate.setSuffix(" kbit/s")
        self.bitrate.setValue(int(s["bitrate"]) // 1000)
        self.microphone = QComboBox()
        self.microphone.setEditable(True)
        self.microphone.addItem("Default microphone", "")
        self.microphone.addItem("No microphone", "none")
        current = str(s["microphone"])
        index = self.microphone.findData(current)
        if index >= 0:
            self.microphone.setCurrentIndex(index)
        else:
            self.microphone.setEditText(current)
        self.record_shows = QCheckBox("Record every show (for its replay page)")
        self.record_shows.setChecked(bool(s["record_shows"]))
        self.list_replays = QCheckBox("List past shows' replays at /replays")
        self.list_replays.setChecked(bool(s["list_replays"]))
        # Issue 15: publish by WHIP; where customers play from first (WHEP, public HLS).
        self.whip_url = QLineEdit(str(s["whip_url"]))
        self.whip_url.setPlaceholderText("https://sfu.example.com/whip/endpoint/shop (off)")
        self.whip_token = QLineEdit(str(s["whip_token"]))
        self.whip_token.setEchoMode(QLineEdit.EchoMode.Password)
        self.whep_url = QLineEdit(str(s["whep_url"]))
        self.whep_url.setPlaceholderText("https://sfu.example.com/whep/shop (none)")
        self.public_hls_url = QLineEdit(str(s["public_hls_url"]))
        self.public_hls_url.setPlaceholderText("https://cdn.example.com/live/index.m3u8 (none)")
        self.data_dir = QLineEdit(str(studio.data_dir))
        self.data_dir.setToolTip("Where the database, uploads and settings live (next start)")
        form = QFormLayout(self)
        form.addRow("Port", self.port)
        form.addRow("ICE servers", self.ice)
        form.addRow("Allowed origins", self.origins)
        form.addRow("Resolution", self.video_size)
        form.addRow("Frame rate", self.fps)
        form.addRow("Video bitrate", self.bitrate)
        form.addRow("Microphone (camera sources)", self.microphone)
        form.addRow("Replays", self.record_shows)
        form.addRow("", self.list_replays)
        form.addRow("Publish to WHIP URL", self.whip_url)
        form.addRow("WHIP token", self.whip_token)
        form.addRow("Customers play from WHEP URL", self.whep_url)
        form.addRow("… or public HLS URL", self.public_hls_url)
        form.addRow("Data folder (WRENCOS_DATA_DIR)", self.data_dir)
        form.addRow("New support message", self.alert_sound)
        form.addRow("", self.alert_notifications)
        form.addRow(buttons)

    def accept(self) -> None:
        from wrencos_studio.media.broadcaster import parse_ice_servers

        if self.alerts_only:
            s = self.studio.settings
            s["alert_sound"] = self.alert_sound.isChecked()
            s["alert_notifications"] = self.alert_notifications.isChecked()
            s.save()
            super().accept()
            return

        from wrencos_studio.config import check_http_url

        try:
            parse_ice_servers(self.ice.text())
            urls = {
                "whip_url": check_http_url(self.whip_url.text(), "Publish to WHIP URL"),
                "whep_url": check_http_url(self.whep_url.text(), "WHEP URL"),
                "public_hls_url": check_http_url(self.public_hls_url.text(), "Public HLS URL"),
            }
            if self.whip_token.text().strip() and not urls["whip_url"]:
                raise ValueError("A WHIP token needs a WHIP URL")
        except ValueError as exc:
            QMessageBox.warning(self, "Settings", str(exc))
            return
        s = self.studio.settings
        s["port"] = self.port.value()
        s["ice_servers"] = self.ice.text().strip()
        s["allowed_origins"] = self.origins.text().strip()
        s["video_size"] = self.video_size.currentText()
        s["fps"] = self.fps.value()
        s["bitrate"] = self.bitrate.value() * 1000
        text = self.microphone.currentText().strip()
        index = self.microphone.findText(text)
        s["microphone"] = self.microphone.itemData(index) if index >= 0 else text
        s["alert_sound"] = self.alert_sound.isChecked()  # applies at once
        s["alert_notifications"] = self.alert_notifications.isChecked()
        s["record_shows"] = self.record_shows.isChecked()
        s["list_replays"] = self.list_replays.isChecked()
        for key, value in urls.items():
            s[key] = value
        s["whip_token"] = self.whip_token.text().strip()
        s.save()
        folder = self.data_dir.text().strip()
        if folder and Path(folder).expanduser() != self.studio.data_dir:
            remember_data_dir(Path(folder).expanduser())
        super().accept()
