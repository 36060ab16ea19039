"""The presenter's side: the preview, the microphone meter, source and quality pickers,
title and Go Live / End."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from wrencos_studio.ui.studio import Studio
from wrencos_studio.ui.tasks import spawn
from wrencos_studio.ui.widgets import PreviewView

__all__ = ["BroadcastPanel"]

SIZES = ("640x360", "960x540", "1280x720", "1920x1080")


class BroadcastPanel(QWidget):
    """Preview and Go Live. Frames come from the studio already scaled to the preview's
    size (on the capture thread); this panel only paints the latest one."""

    def __init__(self, studio: Studio) -> None:
        super().__init__()
        self.studio = studio
        self.live = False
        settings = studio.settings
        self.preview = PreviewView()
        self.preview.resized.connect(studio.set_preview_size)
        self.source = QComboBox()
        self.source.setToolTip("What you broadcast")
        self.resolution = QComboBox()
        self.resolution.setToolTip("Broadcast resolution")
        self.resolution.addItems(list(SIZES))
        if self.resolution.findText(str(settings["video_size"])) < 0:
            self.resolution.addItem(str(settings["video_size"]))
        self.resolution.setCurrentText(str(settings["video_size"]))
        self.mic = QComboBox()
        self.mic.setToolTip("Microphone (camera sources)")
        self.mic.addItem("Default microphone", "")
        self.mic.addItem("No microphone", "none")
        self.mic.setCurrentIndex(max(0, self.mic.findData(str(settings["microphone"]))))
        self.title_edit = QLineEdit(str(settings["title"]))
        self.title_edit.setPlaceholderText("Stream title, e.g. Spring serum launch")
        self.title_edit.setMaxLength(200)
        self.description_edit = QLineEdit(str(settings["description"]))
        self.description_edit.setPlaceholderText("Description (optional)")
        self.live_button = QPushButton("Go Live")
        self.live_button.setMinimumHeight(44)
        self.live_button.clicked.connect(self.on_live_clicked)
        self.state_label = QLabel("Not live")
        self.meter = QProgressBar()
        self.meter.setRange(0, 100)
        self.meter.setTextVisible(False)
        self.meter.setMaximumHeight(10)
        self.meter.setToolTip("Microphone level")
        layout = QVBoxLayout(self)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.meter)
        pickers = QHBoxLayout()
        pickers.addWidget(self.source, 2)
        pickers.addWidget(self.resolution, 1)
        pickers.addWidget(self.mic, 1)
        layout.addLayout(pickers)
        layout.addWidget(self.title_edit)
        layout.addWidget(self.description_edit)
        layout.addWidget(self.live_button)
        layout.addWidget(self.state_label)
        self.on_live_changed(False)
        studio.preview_ready.connect(self.on_preview_ready)
        studio.audio_level.connect(self.on_audio_level)
        studio.live_changed.connect(self.on_live_changed)

    def started(self) -> None:
        """The source runs: offer the cameras, and restart it when a picker changes."""
        from wrencos_studio.media.sources import list_cameras

        self.source.addItem("Test pattern", "testsrc")
        for cam in list_cameras():
            self.source.addItem(f"Camera {cam}", f"camera:{cam}")
        self.source.setCurrentIndex(max(0, self.source.findData(self.studio.settings["source"])))
        self.source.currentIndexChanged.connect(self.on_source_changed)
        self.resolution.currentTextChanged.connect(self.on_quality_changed)
        self.mic.currentIndexChanged.connect(self.on_quality_changed)
        self.on_live_changed(self.studio.live_since is not None)

    def on_preview_ready(self) -> None:
        image = self.studio.take_preview()
        if image is not None:
            self.preview.show_image(image)

    def on_audio_level(self, level: float) -> None:
        value = int(level * 100)
        if value != self.meter.value():
            self.meter.setValue(value)

    # -- going live ----------------------------------------------------------------------

    def on_live_clicked(self) -> None:
        if self.live:
            answer = QMessageBox.question(
                self,
                "End the show?",
                "End the show now? Customers will see that the stream has ended, and its "
                "figures are kept in the show summary.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer == QMessageBox.StandardButton.Yes:
                spawn(self.studio.end())
            return
        title = self.title_edit.text().strip() or "Live now"
        answer = QMessageBox.question(
            self,
            "Go live?",
            f"Go live as “{title}”?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.go_live(title)

    def go_live(self, title: str) -> None:
        self.live_button.setEnabled(False)
        self.state_label.setText("Going live…")
        spawn(self.studio.go_live(title, self.description_edit.text().strip()))

    def on_live_changed(self, live: bool) -> None:
        self.live = live
        self.live_button.setEnabled(True)
        self.live_button.setText("End" if live else "Go Live")
        self.live_button.setStyleSheet(
            "background: #b0275d; color: white; font-weight: bold;" if not live else ""
        )
        self.state_label.setText("● LIVE" if live else "Not live")

    def on_source_changed(self, _index: int) -> None:
        source = self.source.currentData()
        self.studio.settings["source"] = source
        self.studio.settings.save()
        spawn(self.studio.start_source(source))

    def on_quality_changed(self, *_args: Any) -> None:
        """Resolution or microphone picked: the source restarts with it (the broadcast
        carries on if live; viewers get a keyframe at the new size)."""
        s = self.studio.settings
        s["video_size"] = self.resolution.currentText()
        s["microphone"] = self.mic.currentData()
        s.save()
        spawn(self.studio.start_source(str(s["source"])))
