"""Each viewer's delivery (from ``media_stats``): path, round trip, loss, bitrate."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt

from wrencos_studio.ui.models.base import Index, RowRole

__all__ = ["ViewersModel"]


class ViewersModel(QAbstractTableModel):
    """One row per viewer. Refreshed every second: when the same viewers are there only
    their cells change (``dataChanged``), so the view neither resets nor relays out."""

    HEADERS = ("Viewer", "Path", "RTT ms", "Lost", "kbit/s")

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    @staticmethod
    def cells(viewer: dict[str, Any]) -> tuple[str, ...]:
        return (
            str(viewer["peerId"]),
            str(viewer["transport"]),
            str(viewer.get("rttMs") or ""),
            str(viewer.get("packetsLost", 0)),
            str(viewer.get("bitrateKbps", 0)),
        )

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        viewer = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.cells(viewer)[index.column()]
        if role == RowRole:
            return viewer
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return super().headerData(section, orientation, role)

    def set_viewers(self, viewers: list[dict[str, Any]]) -> None:
        same = [v["peerId"] for v in viewers] == [v["peerId"] for v in self.rows]
        if not same:
            self.beginResetModel()
            self.rows = list(viewers)
            self.endResetModel()
            return
        changed = [i for i, v in enumerate(viewers) if self.cells(v) != self.cells(self.rows[i])]
        self.rows = list(viewers)
        if changed:
            last = self.columnCount() - 1
            self.dataChanged.emit(self.index(min(changed), 0), self.index(max(changed), last))
