"""The catalog and the pinned strip: a click pins or unpins, a drag reorders; the
catalog's CSV import (with its preview), export and template, and the Past shows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QMenuBar,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from wrencos_studio.catalog.csv_import import (
    TEMPLATE_CSV,
    ImportReport,
    export_products,
    import_products,
)
from wrencos_studio.catalog.money import (
    DEFAULT_CURRENCY,
    DEFAULT_LOCALE,
    shop_currency,
    shop_locale,
)
from wrencos_studio.ui.bridge import HubBridge
from wrencos_studio.ui.capabilities import Capabilities
from wrencos_studio.ui.dialogs import ProductDialog
from wrencos_studio.ui.dialogs.import_preview import ImportPreviewDialog
from wrencos_studio.ui.models import CatalogModel, PinnedModel
from wrencos_studio.ui.tasks import spawn

__all__ = ["ProductsPanel", "studio_money"]


def studio_money() -> tuple[str, str]:
    """The shop's currency and price locale (``WRENCOS_CURRENCY``, ``WRENCOS_LOCALE``;
    :mod:`wrencos_studio.catalog.money`), for everything the studio writes or defaults
    a price with. A bad value gives the defaults here: the studio's start refuses it
    with the setting's name (``Settings.from_env``) before anyone sees a price."""
    try:
        currency = shop_currency()
    except ValueError:
        currency = DEFAULT_CURRENCY
    try:
        locale = shop_locale()
    except ValueError:
        locale = DEFAULT_LOCALE
    return currency, locale


class ProductsPanel(QWidget):
    """The catalog; a click pins or unpins; the pinned strip reorders by drag and drop.

    Without ``can_pin`` the strip is only shown; without ``can_manage_catalog`` the catalog
    is read-only (a staff station). Prices are written in the shop's currency and
    locale (:func:`studio_money`)."""

    bridge: HubBridge  # from connect_bridge(), once the studio runs

    def __init__(self, capabilities: Capabilities, store_image: Callable[[str], str]) -> None:
        super().__init__()
        self.capabilities = capabilities
        self.store_image = store_image
        self.currency, self.locale = studio_money()
        self.import_dialog: ImportPreviewDialog | None = None
        self.past_shows: Any = None  # the Past shows dialog, once opened
        #: ``replay_id -> (replay page address, recording file or None)``, set by the
        #: window (the studio or station knows where replays are); None: none offered.
        self.replay_location: Any = None
        self.catalog_model = CatalogModel(self.currency, self.locale)
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
            hint = "Catalog (click a row number, press Ctrl+number or double-click to pin or unpin)"
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
        export = QPushButton("Export CSV…")
        export.clicked.connect(self.on_export_clicked)
        buttons.addWidget(export)
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
        b.product_taps.connect(self.pinned_model.set_taps)  # live taps and pin times

    def refresh(self) -> None:
        """Fetch the catalog and the pins' taps (the hub then keeps sending those)."""
        spawn(self.bridge.get_products())
        spawn(self.bridge.get_product_taps())

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
        dialog = ProductDialog(self, current, self.currency)
        if dialog.exec():
            product, image = dialog.result_product()
            self.save(product, image)

    def on_delete_clicked(self) -> None:
        product = self.catalog_model.product(self.current_row())
        if product is not None:
            spawn(self.bridge.delete_product(product["productId"]))

    def read_csv(self, path: str) -> ImportReport:
        """What importing ``path`` would do, row by row (nothing is saved)."""
        return import_products(path, currency=self.currency, existing=list(self.catalog))

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
        """Read ``path`` and show every row's outcome in the preview
        (``self.import_dialog``, window-modal); nothing is saved unless the presenter
        clicks Import there, which sends what is new or changed through the hub.
        Returns the report."""
        report = self.read_csv(path)
        dialog = ImportPreviewDialog(self.window(), report, Path(path).name, self.locale)
        dialog.accepted.connect(lambda: self.save_imported(report))
        self.import_dialog = dialog
        dialog.open()
        return report

    def save_imported(self, report: ImportReport) -> None:
        """Import clicked: each new or changed product goes to the hub as ``save_product``."""
        for product in report.to_save:
            spawn(self.bridge.save_product(product))

    def export_csv(self, path: str) -> int:
        """Write the catalog as the panel has it to ``path`` (CSV, UTF-8 with a BOM so
        spreadsheets read accents right; what the import reads back unchanged). Returns
        the number of products written; OSError when the file cannot be written."""
        products = list(self.catalog)
        Path(path).write_text("\ufeff" + export_products(products), "utf-8", newline="")
        return len(products)

    @staticmethod
    def save_template(path: str) -> None:
        """Write the CSV template (its columns documented in docs/catalog.md)."""
        Path(path).write_text(TEMPLATE_CSV, "utf-8", newline="")

    def on_export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export catalog to CSV", "catalog.csv", "CSV files (*.csv)"
        )
        if path:
            try:
                n = self.export_csv(path)
            except OSError as exc:
                QMessageBox.warning(self, "Export catalog", f"Nothing was written: {exc}")
                return
            QMessageBox.information(self, "Export catalog", f"{n} products written to {path}")

    def on_template_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save CSV template", "catalog-template.csv", "CSV files (*.csv)"
        )
        if path:
            try:
                self.save_template(path)
            except OSError as exc:
                QMessageBox.warning(self, "CSV template", f"Nothing was written: {exc}")

    def open_past_shows(self) -> Any:
        """The Past shows dialog (one at a time; it asks the hub for its pages)."""
        from wrencos_studio.ui.dialogs.past_shows import PastShowsDialog

        if self.past_shows is None or not self.past_shows.isVisible():
            self.past_shows = PastShowsDialog(
                self.window(),
                self.bridge,
                self.replay_location,
                can_delete_replays=self.capabilities.can_broadcast,
            )
        self.past_shows.show()
        self.past_shows.raise_()
        return self.past_shows

    def add_menus(self, menu_bar: QMenuBar) -> None:
        """The window's Catalog menu (import, export, template) and Shows menu (Past
        shows): one call from the window, whatever its layout."""
        catalog = menu_bar.addMenu("Catalog")
        if self.capabilities.can_manage_catalog:
            catalog.addAction("Import CSV…").triggered.connect(self.on_import_clicked)
        catalog.addAction("Export catalog to CSV…").triggered.connect(self.on_export_clicked)
        catalog.addAction("Save CSV template…").triggered.connect(self.on_template_clicked)
        shows = menu_bar.addMenu("Shows")
        shows.addAction("Past shows…").triggered.connect(self.open_past_shows)

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
