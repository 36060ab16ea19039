"""The product catalog (a table) and the pinned strip (a list the presenter reorders)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)

from wrencos_studio.catalog import DEFAULT_CURRENCY, format_price
from wrencos_studio.ui.models.base import Index, RowsModel, RowsTableModel

__all__ = ["CatalogModel", "PinnedModel", "local_time"]


def local_time(iso: Any) -> str:
    """``2026-11-29T18:03:12.250Z`` -> ``18:03`` in this computer's time zone ("" for
    anything that is not an ISO 8601 time)."""
    if not isinstance(iso, str) or not iso:
        return ""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return ""
    return moment.astimezone().strftime("%H:%M")


class CatalogModel(RowsTableModel):
    """``products`` rows: name and price columns; the row's dict under ``RowRole``."""

    HEADERS = ("Product", "Price")

    def __init__(self, currency: str = DEFAULT_CURRENCY, locale: str = "en_US") -> None:
        super().__init__()
        #: The shop's currency (a product naming none has it) and how prices are written.
        self.currency = currency
        self.locale = locale

    def price(self, product: dict[str, Any]) -> str:
        currency = str(product.get("currency") or self.currency)
        return format_price(float(product.get("price", 0)), currency, self.locale)

    def cells(self, product: dict[str, Any]) -> tuple[str, ...]:
        return (str(product["name"]), self.price(product))

    def reset(self, rows: list[dict[str, Any]]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def product(self, row: int) -> dict[str, Any] | None:
        return self.rows[row] if 0 <= row < len(self.rows) else None


class PinnedModel(RowsModel):
    """What customers see pinned, in order. A drag in the view is a ``moveRows`` here
    (``rowsMoved`` tells the panel to send the new order); the hub's update resets it.

    While a stream is live each row also shows its figures (``set_taps``, from
    ``product_taps_updated``): ``Serum — 12 taps · pinned 18:03`` (the local time it
    was pinned); with nothing live, the name alone."""

    def __init__(self) -> None:
        super().__init__()
        #: productId -> ``{"taps", "pinnedAt"?}`` as the hub last counted them.
        self.taps: dict[str, dict[str, Any]] = {}

    def display(self, row: dict[str, Any]) -> str:
        name = f"{row.get('name', row.get('productId'))}"
        figures = self.taps.get(str(row.get("productId")))
        pinned_at = local_time(figures.get("pinnedAt")) if figures is not None else ""
        if figures is None or not pinned_at:
            return name  # nothing live: no taps to count
        taps = int(figures.get("taps", 0))
        return f"{name} — {taps} tap{'' if taps == 1 else 's'} · pinned {pinned_at}"

    def set_taps(self, pins: list[dict[str, Any]]) -> None:
        """The hub's latest counts (``product_taps_updated``'s ``pins``) replace the old."""
        self.taps = {str(p.get("productId")): p for p in pins}
        if self.rows:
            self.dataChanged.emit(self.index(0), self.index(len(self.rows) - 1))

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = super().flags(index)
        if index.isValid():
            return base | Qt.ItemFlag.ItemIsDragEnabled
        return base | Qt.ItemFlag.ItemIsDropEnabled  # drops between rows, not onto one

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def moveRows(
        self,
        source_parent: QModelIndex | QPersistentModelIndex,
        source_row: int,
        count: int,
        destination_parent: QModelIndex | QPersistentModelIndex,
        destination_child: int,
    ) -> bool:
        last = source_row + count - 1
        if (
            source_parent.isValid()
            or destination_parent.isValid()
            or count < 1
            or source_row < 0
            or last >= len(self.rows)
            or not 0 <= destination_child <= len(self.rows)
            or source_row <= destination_child <= last + 1
        ):
            return False
        self.beginMoveRows(QModelIndex(), source_row, last, QModelIndex(), destination_child)
        moving = self.rows[source_row : last + 1]
        del self.rows[source_row : last + 1]
        at = destination_child - count if destination_child > last else destination_child
        self.rows[at:at] = moving
        self.endMoveRows()
        return True

    def items(self) -> list[dict[str, Any]]:
        return list(self.rows)

    def toggled(self, product: dict[str, Any]) -> list[dict[str, Any]]:
        """The strip with ``product`` unpinned if it is pinned, else added at the end."""
        pid = product["productId"]
        if any(p.get("productId") == pid for p in self.rows):
            return [p for p in self.rows if p.get("productId") != pid]
        return [
            *self.rows,
            {
                "productId": pid,
                "name": product["name"],
                "price": product["price"],
                "image": product.get("image", ""),
            },
        ]
