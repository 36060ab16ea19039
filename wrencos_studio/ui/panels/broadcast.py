"""The presenter's side: the preview, the sound meter, source and quality pickers, what is
wrong with a device (in words, with what to do), title and Go Live / End."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
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

__all__ = ["BroadcastPanel", "device_advice"]

SIZES = ("640x360", "960x540", "1280x720", "1920x1080")
#: The source picker's "Video file…" entry: picking it asks for a file.
FILE_PICK = "\x00file"


#: What a device problem means for the presenter, by what the media layer said (lower case).
_VIDEO_ADVICE = (
    ("not found", "No {what} found. Connect one and pick it under Source."),
    (
        "busy",
        "The {what} is used by another program (a video call, OBS…). Close it, then pick "
        "the {what} again under Source.",
    ),
    (
        "permission denied",
        "Wrencos Studio may not use the {what}. Allow it in the system's privacy settings "
        "(Linux: add yourself to the “video” group and log in again), then pick it again.",
    ),
    (
        "was lost",
        "The {what} was lost (unplugged, or the system took it away). Plug it back in and "
        "pick it again under Source.",
    ),
)


def device_advice(
    source: str, media_error: str | None, audio_error: str | None, *, cameras: int, mic: bool
) -> list[str]:
    """What the presenter should read about the devices, in words, with what to do.

    ``source`` is the kind (``testsrc``, ``camera``, ``screen``, ``file``), ``media_error``
    and ``audio_error`` what ``media_stats`` says (``error``, ``audioError``), ``cameras``
    how many this machine shows and ``mic`` whether it shows a microphone."""
    lines: list[str] = []
    if media_error:
        lowered = media_error.lower()
        what = "screen" if source == "screen" else "camera" if source == "camera" else ""
        advice = next((a for key, a in _VIDEO_ADVICE if key in lowered), None) if what else None
        if advice is not None:
            lines.append(
                advice.format(what=what) + " Customers see a still picture meanwhile; "
                "the stream goes on."
            )
        else:
            lines.append(f"The video source stopped: {media_error}. Pick a source again.")
    elif source == "testsrc" and cameras == 0:
        lines.append(
            "No camera found on this machine: customers see the test pattern. Connect a "
            "camera and pick it under Source (or pick the screen or a video file)."
        )
    if source in ("camera", "screen"):
        if not mic:
            lines.append(
                "No microphone found: customers hear no sound. Plug one in, then pick the "
                "source again."
            )
        elif audio_error:
            lines.append(
                "The microphone could not be opened, so customers hear no sound. Check it "
                "is plugged in and not used by another program, then pick the source again."
            )
    return lines


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
        from wrencos_studio.media.sources import microphone_present

        self.has_microphone = microphone_present()
        self.mic = QComboBox()
        self.mic.setToolTip("Microphone (camera and screen sources)")
        if self.has_microphone:
            self.mic.addItem("Default microphone", "")
            self.mic.addItem("No microphone", "none")
            self.mic.setCurrentIndex(max(0, self.mic.findData(str(settings["microphone"]))))
        else:  # nothing to pick: said in words, no meter for a sound that cannot come
            self.mic.addItem("No microphone found", str(settings["microphone"]))
            self.mic.setEnabled(False)
        self.device_label = QLabel()
        self.device_label.setObjectName("device-problem")
        self.device_label.setWordWrap(True)
        self.device_label.setStyleSheet(
            "QLabel { background: #fff3cd; color: #5c3c00; border: 1px solid #e0b84c;"
            " border-radius: 4px; padding: 6px; }"
        )
        self.device_label.hide()
        self.media_error: str | None = None
        self.audio_error: str | None = None
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
        self.meter.setToolTip("Sound level")
        layout = QVBoxLayout(self)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.meter)
        layout.addWidget(self.device_label)
        pickers = QHBoxLayout()
        pickers.addWidget(self.source, 2)
        pickers.addWidget(self.resolution, 1)
        pickers.addWidget(self.mic, 1)
        layout.addLayout(pickers)
        layout.addWidget(self.title_edit)
        layout.addWidget(self.description_edit)
        layout.addWidget(self.live_button)
        # The window's show bar has the big LIVE badge; this one is for screen readers.
        self.state_label.setAccessibleName("Live state")
        self.state_label.hide()
        layout.addWidget(self.state_label)
        self.on_live_changed(False)
        studio.preview_ready.connect(self.on_preview_ready)
        studio.audio_level.connect(self.on_audio_level)
        studio.live_changed.connect(self.on_live_changed)

    def started(self) -> None:
        """The source runs: offer the cameras, the screen, a video file and the test
        pattern, and restart the source when a picker changes."""
        from wrencos_studio.media.sources import describe_camera, list_cameras, screen_available

        self.cameras = list_cameras()
        for cam in self.cameras:
            name = describe_camera(cam)
            self.source.addItem(
                f"Camera: {name} ({cam})" if name else f"Camera {cam}", f"camera:{cam}"
            )
        if screen_available():
            self.source.addItem("Screen", "screen")
        self.source.addItem("Test pattern", "testsrc")
        current = str(self.studio.settings["source"])
        if self.source_kind() == "file" and self.source.findData(current) < 0:
            self.source.addItem(f"File: {Path(current).name}", current)
        elif self.source_kind() == "camera" and self.source.findData(current) < 0:
            # The camera last used is not here now: shown as chosen, and said so.
            self.source.insertItem(0, f"Camera {current.partition(':')[2]} (not found)", current)
        self.source.addItem("Video file…", FILE_PICK)
        self.source.setCurrentIndex(max(0, self.source.findData(current)))
        self._source_index = self.source.currentIndex()
        self.source.currentIndexChanged.connect(self.on_source_changed)
        self.resolution.currentTextChanged.connect(self.on_quality_changed)
        self.mic.currentIndexChanged.connect(self.on_quality_changed)
        self.on_live_changed(self.studio.live_since is not None)
        self.show_devices()

    def source_kind(self) -> str:
        """The kind of the chosen source: testsrc, camera, screen, file or none."""
        source = str(self.studio.settings["source"])
        if source in ("testsrc", "none") or source.startswith("testsrc:"):
            return source.partition(":")[0]
        if source.startswith(("camera", "screen")):
            return source.partition(":")[0]
        return "file"

    def on_media_stats(self, media: dict[str, Any]) -> None:
        """The broadcaster's figures: what it says about the devices is shown in words."""
        self.media_error = media.get("error") or None
        self.audio_error = media.get("audioError") or None
        self.show_devices()

    def show_devices(self) -> None:
        """The device problems in words (hidden when there are none); the sound meter only
        when a microphone exists (and is picked)."""
        kind = self.source_kind()
        lines = device_advice(
            kind,
            self.media_error,
            self.audio_error,
            cameras=len(getattr(self, "cameras", [])),
            mic=self.has_microphone and self.mic.currentData() != "none",
        )
        text = "\n".join(lines)
        if text != self.device_label.text():
            self.device_label.setText(text)
        self.device_label.setVisible(bool(lines))
        # The meter is the microphone's: none on this machine (or none picked, or it
        # failed) means no meter, rather than a bar that never moves.
        no_microphone = (
            not self.has_microphone or self.mic.currentData() == "none" or bool(self.audio_error)
        )
        self.meter.setVisible(not no_microphone and kind != "none")

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

    def on_source_changed(self, index: int) -> None:
        source = self.source.currentData()
        if source == FILE_PICK:
            path, _ = QFileDialog.getOpenFileName(
                self,
                "Broadcast a video file",
                "",
                "Videos (*.mp4 *.mkv *.mov *.webm);;All files (*)",
            )
            if not path:  # cancelled: back to what was chosen
                self.source.blockSignals(True)
                self.source.setCurrentIndex(self._source_index)
                self.source.blockSignals(False)
                return
            self.source.blockSignals(True)
            existing = self.source.findData(path)
            if existing < 0:
                self.source.insertItem(index, f"File: {Path(path).name}", path)
                existing = index
            self.source.setCurrentIndex(existing)
            self.source.blockSignals(False)
            source = path
        self._source_index = self.source.currentIndex()
        self.media_error = self.audio_error = None  # the new source is judged afresh
        self.studio.settings["source"] = source
        self.studio.settings.save()
        spawn(self.studio.start_source(source))
        self.show_devices()

    def on_quality_changed(self, *_args: Any) -> None:
        """Resolution or microphone picked: the source restarts with it (the broadcast
        carries on if live; viewers get a keyframe at the new size)."""
        s = self.studio.settings
        s["video_size"] = self.resolution.currentText()
        s["microphone"] = self.mic.currentData()
        s.save()
        self.audio_error = None  # judged afresh once the source runs again
        spawn(self.studio.start_source(str(s["source"])))
        self.show_devices()
