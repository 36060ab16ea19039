"""The catalog and the pinned strip: a click pins or unpins, a drag reorders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from wrencos_studio.catalog.csv_import import ImportReport, import_products
from wrencos_studio.ui.bridge import HubBridge
from wrencos_studio.ui.capabilities import Capabilities
from wrencos_studio.ui.dialogs import ProductDialog
from wrencos_studio.ui.models import CatalogModel, PinnedModel
from wrencos_studio.ui.tasks import spawn

__all__ = ["ProductsPanel"]


class ProductsPanel(QWidget):
    """The catalog; a click pins or unpins; the pinned strip reorders by drag and drop.

    Without ``can_pin`` the strip is only shown; without ``can_manage_catalog`` the catalog
    is read-only (a staff station)."""

    bridge: HubBridge  # from connect_bridge(), once the studio runs

    def __init__(self, capabilities: Capabilities, store_image: Callable[[str], str]) -> None:
        super().__init__()
        self.capabilities = capabilities
        self.store_image = store_image
        self.catalog_model = CatalogModel()
        self.pinned_model = PinnedModel()
        self.table = QTableView()
        self.table.setModel(self.catalog_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().hide()
        self.pinned = QListView()
        self.pinned.setModel(self.pinned_model)
        self.pinned.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        buttons = QHBoxLayout()
        hint = "Catalog"
        if capabilities.can_pin:
            hint = "Catalog (double-click to pin or unpin)"
            self.table.doubleClicked.connect(
                lambda index: self.on_product_double_clicked(index.row(), index.column())
            )
            self.pinned.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
            self.pinned.setDefaultDropAction(Qt.DropAction.MoveAction)
            self.pinned_model.rowsMoved.connect(self.on_pins_reordered)
            pin = QPushButton("Pin / unpin")
            pin.clicked.connect(self.on_pin_clicked)
            buttons.addWidget(pin)
        if capabilities.can_manage_catalog:
            add = QPushButton("Add…")
            add.clicked.connect(lambda: self.edit_product(None))
            edit = QPushButton("Edit…")
            edit.clicked.connect(lambda: self.edit_product(self.current_row()))
            delete = QPushButton("Delete")
            delete.clicked.connect(self.on_delete_clicked)
            csv_button = QPushButton("Import CSV…")
            csv_button.clicked.connect(self.on_import_clicked)
            for b in (add, edit, delete, csv_button):
                buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(hint))
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        pinned_hint = "Pinned now (drag to reorder)" if capabilities.can_pin else "Pinned now"
        layout.addWidget(QLabel(pinned_hint))
        layout.addWidget(self.pinned)

    @property
    def catalog(self) -> list[dict[str, Any]]:
        return self.catalog_model.rows

    def connect_bridge(self, bridge: HubBridge) -> None:
        self.bridge = b = bridge
        b.products.connect(self.catalog_model.reset)
        b.product_saved.connect(lambda _p: self.refresh())
        b.product_deleted.connect(lambda _p: self.refresh())
        b.pinned_changed.connect(self.pinned_model.reset)  # replaces the strip, no merge
        b.stream_stopped.connect(lambda _id: self.pinned_model.reset([]))  # pins end with it

    def refresh(self) -> None:
        spawn(self.bridge.get_products())

    def current_row(self) -> int:
        return self.table.currentIndex().row()

    def save(self, product: dict[str, Any], image_file: str | None = None) -> None:
        """Save a product; an image file is copied into the data dir's uploads first."""
        if image_file:
            try:
                product = {**product, "image": self.store_image(image_file)}
            except (OSError, ValueError) as exc:
                QMessageBox.warning(self, "Product image", f"The image was not used: {exc}")
        spawn(self.bridge.save_product(product))

    def edit_product(self, row: int | None) -> None:
        current = (self.catalog_model.product(row) if row is not None else None) or {}
        dialog = ProductDialog(self, current)
        if dialog.exec():
            product, image = dialog.result_product()
            self.save(product, image)

    def on_delete_clicked(self) -> None:
        product = self.catalog_model.product(self.current_row())
        if product is not None:
            spawn(self.bridge.delete_product(product["productId"]))

    def read_csv(self, path: str) -> ImportReport:
        """What importing ``path`` would do, row by row (nothing is saved)."""
        return import_products(
            path, currency=self.catalog_model.currency, existing=list(self.catalog)
        )

    @staticmethod
    def report_text(report: ImportReport) -> str:
        """The report for a person: the totals, then every row's outcome by line."""
        lines = [report.summary()]
        if not report.file_error:
            lines.append("")
            for row in report.rows:
                if row.outcome == "error":
                    lines.append(f"line {row.line}: error — {row.error}")
                else:
                    name = (row.product or {}).get("name", "")
                    lines.append(f"line {row.line}: {row.outcome} — {name}")
        return "\n".join(lines)

    def import_csv(self, path: str) -> ImportReport:
        """Read ``path``, show what it would do; on the presenter's yes, save what is new
        or changed through the hub. Returns the report."""
        report = self.read_csv(path)
        text = self.report_text(report)
        if not report.to_save:
            QMessageBox.information(self, "Import products", text)
            return report
        shown = text if len(report.rows) <= 40 else "\n".join([*text.splitlines()[:42], "…"])
        answer = QMessageBox.question(
            self, "Import products", f"{shown}\n\nSave {len(report.to_save)} products?"
        )
        if answer == QMessageBox.StandardButton.Yes:
            for product in report.to_save:
                spawn(self.bridge.save_product(product))
        return report

    def on_import_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import products", "", "CSV files (*.csv *.txt);;All files (*)"
        )
        if path:
            self.import_csv(path)

    def toggle(self, product: dict[str, Any]) -> None:
        items = self.pinned_model.toggled(product)
        # Shown at once, so a second click before the hub's answer builds on this one;
        # the hub's pinned_products_updated then replaces it with what customers see.
        self.pinned_model.reset(items)
        spawn(self.bridge.pin_products(items))

    def on_product_double_clicked(self, row: int, _col: int = 0) -> None:
        product = self.catalog_model.product(row)
        if product is not None:
            self.toggle(product)

    def on_pin_clicked(self) -> None:
        self.on_product_double_clicked(self.current_row())

    def on_pins_reordered(self, *_args: Any) -> None:
        spawn(self.bridge.pin_products(self.pinned_model.items()))
