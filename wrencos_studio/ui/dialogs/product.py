"""Add or edit a catalog product: name, price, description, link, image file."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QWidget,
)

from wrencos_studio.catalog.money import DEFAULT_CURRENCY, is_currency

__all__ = ["ProductDialog"]


class ProductDialog(QDialog):
    """Add or edit a product: name, price, description, link, image file."""

    def __init__(
        self, parent: QWidget, product: dict[str, Any], shop_currency: str = DEFAULT_CURRENCY
    ) -> None:
        """``shop_currency``: what a new product is priced in (``WRENCOS_CURRENCY``)."""
        super().__init__(parent)
        self.setWindowTitle("Product")
        self.product = product
        self.name = QLineEdit(product.get("name", ""))
        self.name.setMaxLength(200)
        self.price = QDoubleSpinBox()
        self.price.setRange(0, 1_000_000)
        self.price.setDecimals(2)
        self.price.setValue(float(product.get("price", 0)))
        self.currency = QLineEdit(str(product.get("currency") or shop_currency))
        self.currency.setMaxLength(3)
        self.currency.setToolTip("ISO 4217 code, e.g. EUR, USD, GBP")
        self.description = QLineEdit(product.get("description", ""))
        self.url = QLineEdit(product.get("url", ""))
        self.image = QLineEdit()
        self.image.setPlaceholderText(product.get("image", "") or "No image")
        browse = QPushButton("Choose image…")
        browse.clicked.connect(self.on_browse_clicked)
        form = QFormLayout(self)
        form.addRow("Name", self.name)
        form.addRow("Price", self.price)
        form.addRow("Currency", self.currency)
        form.addRow("Description", self.description)
        form.addRow("Shop link", self.url)
        form.addRow("Image", self.image)
        form.addRow("", browse)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def on_browse_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Product image", "", "Images (*.png *.jpg *.jpeg *.webp *.gif *.svg)"
        )
        if path:
            self.image.setText(path)

    def accept(self) -> None:
        if not self.name.text().strip():
            QMessageBox.warning(self, "Product", "A product needs a name.")
            return
        if not is_currency(self.currency.text().strip().upper()):
            QMessageBox.warning(
                self, "Product", "The currency must be an ISO 4217 code, e.g. EUR, USD, GBP."
            )
            return
        super().accept()

    def result_product(self) -> tuple[dict[str, Any], str | None]:
        product = {
            "productId": self.product.get("productId", ""),
            "name": self.name.text().strip(),
            "price": self.price.value(),
            "currency": self.currency.text().strip().upper(),
            "description": self.description.text().strip(),
            "url": self.url.text().strip(),
            "image": self.product.get("image", ""),
        }
        return product, (self.image.text().strip() or None)
