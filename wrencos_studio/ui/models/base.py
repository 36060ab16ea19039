"""A list model over plain dicts (the hub's rows), the base of the panels' models."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)

__all__ = ["RowRole", "RowsModel", "RowsTableModel"]

#: The row's dict, as the hub sent it.
RowRole = Qt.ItemDataRole.UserRole

Index = QModelIndex | QPersistentModelIndex


class RowsModel(QAbstractListModel):
    """Rows of dicts; subclasses say how a row is shown (``display``, ``foreground``)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.display(row)
        if role == Qt.ItemDataRole.ForegroundRole:
            return self.foreground(row)
        if role == RowRole:
            return row
        return None

    def display(self, row: dict[str, Any]) -> str:
        raise NotImplementedError

    def foreground(self, row: dict[str, Any]) -> Any:
        return None

    def row(self, n: int) -> dict[str, Any]:
        return self.rows[n]

    def reset(self, rows: list[dict[str, Any]]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def append(self, row: dict[str, Any]) -> None:
        n = len(self.rows)
        self.beginInsertRows(QModelIndex(), n, n)
        self.rows.append(row)
        self.endInsertRows()

    def remove_where(self, key: str, value: Any) -> None:
        for n in range(len(self.rows) - 1, -1, -1):
            if self.rows[n].get(key) == value:
                self.beginRemoveRows(QModelIndex(), n, n)
                del self.rows[n]
                self.endRemoveRows()


class RowsTableModel(QAbstractTableModel):
    """Rows of dicts in columns named by ``HEADERS``; subclasses say what a row shows in
    each column (``cells``). ``RowRole`` gives the row's dict."""

    HEADERS: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []

    def cells(self, row: dict[str, Any]) -> tuple[str, ...]:
        raise NotImplementedError

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.cells(row)[index.column()]
        if role == RowRole:
            return row
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return super().headerData(section, orientation, role)
