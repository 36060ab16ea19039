"""Each viewer's delivery (from ``media_stats``): path, round trip, loss, bitrate."""

from __future__ import annotations

from typing import Any

from wrencos_studio.ui.models.base import RowsTableModel

__all__ = ["ViewersModel"]


class ViewersModel(RowsTableModel):
    """One row per viewer. Refreshed every second: when the same viewers are there only
    their cells change (``dataChanged``), so the view neither resets nor relays out."""

    HEADERS = ("Viewer", "Path", "RTT ms", "Lost", "kbit/s")

    def cells(self, viewer: dict[str, Any]) -> tuple[str, ...]:
        return (
            str(viewer["peerId"]),
            str(viewer["transport"]),
            str(viewer.get("rttMs") or ""),
            str(viewer.get("packetsLost", 0)),
            str(viewer.get("bitrateKbps", 0)),
        )

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
