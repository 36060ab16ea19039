"""What the studio offers for one past show's replay: its link and QR code, "Export MP4"
(a progressive MP4 remuxed on a worker thread, with a progress bar) and "Delete replay"."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
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

from wrencos_studio.ui.widgets.qr import qr_pixmap

__all__ = ["ReplayActions"]


class ReplayActions(QWidget):
    """The replay of one past show (``replay_id``; None: the show was not recorded).

    ``replay_url`` is the customers' address of its page; ``recording`` the file (None
    when this machine does not have it: then there is nothing to export). The widget
    asks before deleting and then emits :attr:`delete_requested` with the replay id: the
    owner sends the hub's ``delete_recording`` and calls :meth:`mark_deleted` when
    ``recording_deleted`` comes back. It lives in the past shows dialog's
    ``actions_area``.
    """

    #: The presenter confirmed deleting this replay (its id).
    delete_requested = Signal(str)
    #: An export finished: the file and its length in seconds.
    export_finished = Signal(str, float)
    #: An export failed or was cancelled: why, for the presenter.
    export_failed = Signal(str)
    _progressed = Signal(float)

    def __init__(
        self,
        replay_id: str | None,
        replay_url: str = "",
        recording: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.replay_id = replay_id
        self.replay_url = replay_url
        self.recording = recording
        self._cancel: threading.Event | None = None
        self._worker: threading.Thread | None = None
        self.setObjectName("replay-actions")

        self.status = QLabel()
        self.status.setWordWrap(True)
        self.link = QLineEdit(replay_url)
        self.link.setReadOnly(True)
        self.link.setAccessibleName("Replay link")
        self.copy_button = QPushButton("Copy link")
        self.copy_button.clicked.connect(self.on_copy_clicked)
        self.qr = QLabel()
        self.qr.setAccessibleName("QR code of the replay link")
        self.qr.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.export_button = QPushButton("Export MP4…")
        self.export_button.clicked.connect(self.on_export_clicked)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setAccessibleName("Export progress")
        self.progress.hide()
        self.delete_button = QPushButton("Delete replay…")
        self.delete_button.clicked.connect(self.on_delete_clicked)

        link_row = QHBoxLayout()
        link_row.addWidget(self.link, 1)
        link_row.addWidget(self.copy_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.delete_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(link_row)
        layout.addWidget(self.qr)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)

        self._progressed.connect(self._show_progress)
        self.export_finished.connect(self._exported)
        self.export_failed.connect(self._export_failed)
        self._refresh()

    def _refresh(self) -> None:
        has_replay = self.replay_id is not None
        for w in (self.link, self.copy_button, self.qr, self.delete_button):
            w.setVisible(has_replay)
        self.export_button.setVisible(has_replay)
        self.export_button.setEnabled(self.recording is not None and self.recording.exists())
        if not has_replay:
            self.status.setText("This show was not recorded.")
            return
        if self.replay_url:
            self.qr.setPixmap(qr_pixmap(self.replay_url, scale=4))
        if not self.export_button.isEnabled():
            self.status.setText("The recording is not on this computer.")

    # -- link --------------------------------------------------------------------------------

    @Slot()
    def on_copy_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.replay_url)
        self.status.setText("Link copied.")

    # -- export ------------------------------------------------------------------------------

    @Slot()
    def on_export_clicked(self) -> None:
        if self._worker is not None:  # the button reads "Cancel export" meanwhile
            if self._cancel is not None:
                self._cancel.set()
            return
        suggested = str(Path.home() / f"replay-{self.replay_id}.mp4")
        path, _ = QFileDialog.getSaveFileName(self, "Export MP4", suggested, "MP4 video (*.mp4)")
        if path:
            self.export_to(Path(path))

    def export_to(self, target: Path) -> None:
        """Export the recording to ``target`` on a worker thread; :attr:`export_finished`
        or :attr:`export_failed` tells the end. No-op while one runs."""
        if self._worker is not None or self.recording is None:
            return
        from wrencos_studio.media.export import ExportError, export_mp4

        source = self.recording
        cancel = self._cancel = threading.Event()

        def work() -> None:
            try:
                result = export_mp4(source, target, self._progressed.emit, cancel)
            except ExportError as exc:
                self.export_failed.emit(str(exc))
            else:
                self.export_finished.emit(str(result.path), result.duration_s)

        self.progress.setValue(0)
        self.progress.show()
        self.export_button.setText("Cancel export")
        self.delete_button.setEnabled(False)
        self.status.setText("Exporting…")
        self._worker = threading.Thread(target=work, name="replay-export", daemon=True)
        self._worker.start()

    @property
    def exporting(self) -> bool:
        """True while an export runs."""
        return self._worker is not None

    @Slot(float)
    def _show_progress(self, fraction: float) -> None:
        self.progress.setValue(round(fraction * 100))

    def _export_done(self) -> None:
        if self._worker is not None:
            self._worker.join(timeout=5)
        self._worker = None
        self._cancel = None
        self.export_button.setText("Export MP4…")
        self.delete_button.setEnabled(True)
        self.progress.hide()

    @Slot(str, float)
    def _exported(self, path: str, duration_s: float) -> None:
        self._export_done()
        minutes, seconds = divmod(round(duration_s), 60)
        self.status.setText(f"Exported {minutes}:{seconds:02d} to {path}")

    @Slot(str)
    def _export_failed(self, text: str) -> None:
        self._export_done()
        self.status.setText(text[:1].upper() + text[1:] + ".")

    # -- delete ------------------------------------------------------------------------------

    @Slot()
    def on_delete_clicked(self) -> None:
        if self.replay_id is None:
            return
        answer = QMessageBox.question(
            self,
            "Delete replay",
            "Delete this show's replay? Its video and its timeline (pins, chat) are removed "
            "for good, and its link stops working. The show's figures are kept.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_button.setEnabled(False)
            self.status.setText("Deleting…")
            self.delete_requested.emit(self.replay_id)

    def mark_deleted(self) -> None:
        """The hub deleted the replay: nothing is left to act on."""
        self.replay_id = None
        self.recording = None
        self._refresh()
        self.status.setText("Replay deleted.")
