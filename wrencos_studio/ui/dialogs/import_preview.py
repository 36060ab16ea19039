"""The catalog import's preview: every row of the CSV file and what importing it would do,
before anything is saved (issue 11)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from wrencos_studio.catalog.csv_import import ImportReport, ImportRow
from wrencos_studio.catalog.money import format_price

__all__ = ["OUTCOME_TEXT", "ImportPreviewDialog"]

#: How each outcome reads in the preview's "Outcome" column.
OUTCOME_TEXT = {"created": "new", "updated": "update", "unchanged": "unchanged", "error": "error"}
_DELIMITERS = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "bars"}
_ERROR_BRUSH = QBrush(QColor("#b00020"))


class ImportPreviewDialog(QDialog):
    """A table of every data row of an :class:`ImportReport` — its line in the file, its
    outcome (new / update / unchanged / error), the product's name and price, and for an
    error the reason (broken quoting included) — with **Import** and **Cancel**.

    Nothing is saved by the dialog: ``accepted`` means the presenter chose Import, and
    the caller then sends ``report.to_save``. Import is disabled when there is nothing
    to save or the file as a whole cannot be read (``report.file_error``, shown above
    the table in red)."""

    COLUMNS = ("Line", "Outcome", "Name", "Price", "Details")

    def __init__(
        self,
        parent: QWidget | None,
        report: ImportReport,
        file_name: str = "",
        locale: str = "en_US",
    ) -> None:
        super().__init__(parent)
        self.report = report
        self.locale = locale
        self.setWindowTitle(f"Import products — {file_name}" if file_name else "Import products")
        self.resize(760, 480)
        self.summary = QLabel(report.summary())
        font = self.summary.font()
        font.setBold(True)
        self.summary.setFont(font)
        self.summary.setWordWrap(True)
        if report.file_error:
            self.summary.setStyleSheet("color: #b00020")
        how = _DELIMITERS.get(report.delimiter, repr(report.delimiter))
        self.dialect = QLabel(f"Read as {report.encoding}, columns separated by {how}.")
        self.table = QTableWidget(len(report.rows), len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        for n, row in enumerate(report.rows):
            for col, text in enumerate(self.cells(row)):
                item = QTableWidgetItem(text)
                if col == 0:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                if row.outcome == "error":
                    item.setForeground(_ERROR_BRUSH)
                self.table.setItem(n, col, item)
        buttons = QDialogButtonBox()
        count = len(report.to_save)
        self.import_button: QPushButton = buttons.addButton(
            f"Import {count} product{'' if count == 1 else 's'}",
            QDialogButtonBox.ButtonRole.AcceptRole,
        )
        self.import_button.setEnabled(count > 0)
        self.cancel_button: QPushButton = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.dialect)
        layout.addWidget(self.table)
        layout.addWidget(buttons)

    def cells(self, row: ImportRow) -> tuple[str, str, str, str, str]:
        """The table's texts for one row: line, outcome, name, price, details."""
        outcome = OUTCOME_TEXT.get(row.outcome, row.outcome)
        if row.outcome == "error" or row.product is None:
            return (str(row.line), outcome, "", "", row.error or "")
        product: dict[str, Any] = row.product
        price = format_price(float(product["price"]), str(product["currency"]), self.locale)
        details = f"id {product['productId']}" if product.get("productId") else "a new id"
        return (str(row.line), outcome, str(product["name"]), price, details)

    def row_texts(self) -> list[list[str]]:
        """What the table shows, row by row (for tests and accessibility checks)."""
        return [
            [
                (self.table.item(r, c).text() if self.table.item(r, c) else "")
                for c in range(self.table.columnCount())
            ]
            for r in range(self.table.rowCount())
        ]
