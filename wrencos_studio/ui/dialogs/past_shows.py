"""Past shows: every ended show, newest first, and the chosen one's figures (issue 11)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from wrencos_studio.ui.bridge import HubBridge
from wrencos_studio.ui.dialogs.summary import duration, summary_figures
from wrencos_studio.ui.models.products import local_time
from wrencos_studio.ui.tasks import spawn
from wrencos_studio.ui.text import isolate
from wrencos_studio.ui.widgets.replay_actions import ReplayActions

__all__ = ["PAGE_SIZE", "PastShowsDialog", "ReplayLocation"]

#: ``replay_id -> (the replay page's address, the recording file here or None)``.
ReplayLocation = Callable[[str], tuple[str, Path | None]]

#: Shows asked for at a time (``get_stream_summaries``'s ``limit``).
PAGE_SIZE = 50


def _when(iso: Any) -> str:
    """``2026-11-29 19:00`` in this computer's time zone, from an ISO 8601 UTC time."""
    text = str(iso or "")
    day = text[:10]
    return f"{day} {local_time(text)}".strip()


class PastShowsDialog(QDialog):
    """The shows that ended, newest first, paged through ``get_stream_summaries``
    ("Load more" while the hub says ``more``); choosing one shows every figure of its
    summary and its taps per product.

    ``actions_area`` is an empty layout under the figures for what can be done with the
    chosen show (a replay link, export, delete); ``selected`` is its summary (None:
    nothing chosen). The dialog asks for pages itself and takes only the pages it asked
    for (the End dialog asks for its own)."""

    def __init__(
        self,
        parent: QWidget | None,
        bridge: HubBridge,
        replay_location: ReplayLocation | None = None,
        can_delete_replays: bool = False,
    ) -> None:
        super().__init__(parent)
        #: Where a show's replay is (None: replays are not offered here).
        self.replay_location = replay_location
        self.can_delete_replays = can_delete_replays
        #: The chosen show's replay actions (link, QR, export, delete), if any.
        self.replay_actions: ReplayActions | None = None
        self.setWindowTitle("Past shows")
        self.resize(820, 520)
        self.bridge = bridge
        self.summaries: list[dict[str, Any]] = []
        self.selected: dict[str, Any] | None = None
        self.next_cursor = ""
        self._asked = 0  # pages asked for and not yet come

        self.list = QListWidget()
        self.list.currentRowChanged.connect(self.on_show_chosen)
        self.more_button = QPushButton("Load more")
        self.more_button.setEnabled(False)
        self.more_button.clicked.connect(self.on_more_clicked)
        self.empty_label = QLabel("Loading…")
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.empty_label)
        left_layout.addWidget(self.list)
        left_layout.addWidget(self.more_button)

        # The details pane: title, times, every figure, taps per product, actions.
        self.title_label = QLabel()
        font = self.title_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title_label.setFont(font)
        self.title_label.setWordWrap(True)
        self.when_label = QLabel()
        self.figure_labels: dict[str, QLabel] = {}
        form = QFormLayout()
        for label, _value in summary_figures({}):
            value = QLabel()
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.figure_labels[label] = value
            form.addRow(f"{label}:", value)
        self.taps_table = QTableWidget(0, 2)
        self.taps_table.setHorizontalHeaderLabels(["Product", "Taps"])
        self.taps_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.taps_table.verticalHeader().hide()
        header = self.taps_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        #: Where actions on the chosen show go (replay link, QR, export, delete): empty here.
        self.actions_area = QVBoxLayout()
        self.details = QWidget()
        details_layout = QVBoxLayout(self.details)
        details_layout.addWidget(self.title_label)
        details_layout.addWidget(self.when_label)
        details_layout.addLayout(form)
        details_layout.addWidget(QLabel("Taps per product"))
        details_layout.addWidget(self.taps_table)
        details_layout.addLayout(self.actions_area)
        self.details.setEnabled(False)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(self.details)
        splitter.setSizes([360, 460])
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(buttons)
        layout.addLayout(row)

        bridge.stream_summaries.connect(self.add_page)
        bridge.stream_summary.connect(self.on_show_ended)
        bridge.recording_deleted.connect(self.on_recording_deleted)
        self.load()

    # -- pages ------------------------------------------------------------------------

    def load(self) -> None:
        """Ask for the first page again (the list is replaced when it comes)."""
        self.summaries, self.next_cursor = [], ""
        self.list.clear()
        self._ask(None)

    def on_more_clicked(self) -> None:
        if self.next_cursor:
            self.more_button.setEnabled(False)
            self._ask(self.next_cursor)

    def _ask(self, before: str | None) -> None:
        self._asked += 1
        spawn(self.bridge.get_stream_summaries(PAGE_SIZE, before))

    def add_page(self, summaries: list[dict[str, Any]], more: bool, cursor: str) -> None:
        """A page from the hub (``stream_summaries``): appended, newest first, each show
        once. Pages this dialog did not ask for are ignored."""
        if self._asked <= 0:
            return
        self._asked -= 1
        known = {s.get("streamId") for s in self.summaries}
        for summary in summaries:
            if summary.get("streamId") in known:
                continue
            self.summaries.append(summary)
            item = QListWidgetItem(self.item_text(summary))
            item.setData(Qt.ItemDataRole.UserRole, summary.get("streamId"))
            self.list.addItem(item)
        self.next_cursor = cursor if more else ""
        self.more_button.setEnabled(bool(self.next_cursor))
        self.empty_label.setVisible(not self.summaries)
        self.empty_label.setText("No show has ended yet.")
        if self.list.currentRow() < 0 and self.summaries:
            self.list.setCurrentRow(0)

    def on_show_ended(self, _summary: dict[str, Any]) -> None:
        """A show just ended while the dialog is open: it goes on top."""
        self.load()

    @staticmethod
    def item_text(summary: dict[str, Any]) -> str:
        """One line of the list: when, title, duration, peak viewers."""
        return (
            f"{_when(summary.get('startedAt'))}  {isolate(summary.get('title') or 'Untitled')}"
            f" — {duration(int(summary.get('durationSeconds', 0)))},"
            f" peak {summary.get('peakViewers', 0)}"
        )

    # -- the details pane ---------------------------------------------------------------

    def on_show_chosen(self, row: int) -> None:
        self.show_details(self.summaries[row] if 0 <= row < len(self.summaries) else None)

    def show_details(self, summary: dict[str, Any] | None) -> None:
        """Fill the details pane with ``summary`` (None: empty it)."""
        self.selected = summary
        self.details.setEnabled(summary is not None)
        summary = summary or {}
        self.title_label.setText(isolate(summary.get("title") or "") if summary else "")
        self.when_label.setText(
            f"{_when(summary.get('startedAt'))} – {local_time(summary.get('endedAt'))}"
            if summary
            else ""
        )
        for label, value in summary_figures(summary):
            self.figure_labels[label].setText(value if self.selected is not None else "")
        taps = summary.get("productTaps") or []
        self.taps_table.setRowCount(len(taps))
        for n, item in enumerate(taps):
            name = QTableWidgetItem(str(item.get("name") or item.get("productId", "")))
            count = QTableWidgetItem(str(int(item.get("taps", 0))))
            count.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.taps_table.setItem(n, 0, name)
            self.taps_table.setItem(n, 1, count)
        self._show_replay(self.selected)

    def _show_replay(self, summary: dict[str, Any] | None) -> None:
        """The chosen show's replay actions in ``actions_area`` (replaced per show)."""
        if self.replay_actions is not None:
            self.actions_area.removeWidget(self.replay_actions)
            self.replay_actions.deleteLater()
            self.replay_actions = None
        if summary is None or self.replay_location is None:
            return
        replay_id = summary.get("replayId") or None
        url, file = self.replay_location(replay_id) if replay_id else ("", None)
        actions = ReplayActions(replay_id, url, file)
        if replay_id and self.can_delete_replays:
            actions.delete_requested.connect(lambda rid: spawn(self.bridge.delete_recording(rid)))
        else:  # a staff token may not delete (delete_recording is admin only)
            actions.delete_button.setVisible(False)
        self.replay_actions = actions
        self.actions_area.addWidget(actions)

    def on_recording_deleted(self, replay_id: str, deleted: bool) -> None:
        """The hub deleted a replay (``recording_deleted``): the shown one says so."""
        actions = self.replay_actions
        if actions is not None and actions.replay_id == replay_id:
            actions.mark_deleted()

    def figure(self, label: str) -> str:
        """The shown value of one figure (``"Average viewers"`` -> ``"1.5"``)."""
        return self.figure_labels[label].text()

    def done(self, result: int) -> None:
        # The bridge outlives the dialog: no page may reach a closed one.
        for signal, slot in (
            (self.bridge.stream_summaries, self.add_page),
            (self.bridge.stream_summary, self.on_show_ended),
            (self.bridge.recording_deleted, self.on_recording_deleted),
        ):
            with contextlib.suppress(RuntimeError, TypeError):
                signal.disconnect(slot)
        super().done(result)
