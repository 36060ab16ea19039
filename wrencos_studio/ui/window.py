"""The studio's main window: preview and Go Live on the left, the room on the right (chat,
support inbox, products, audience), the health of the broadcast in the status bar."""

from __future__ import annotations

import asyncio
import csv
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QImage, QKeyEvent, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QSystemTrayIcon,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from wrencos_studio.ui.app import Studio, remember_data_dir

__all__ = ["MainWindow"]


def _spawn(coro: Any) -> None:
    task = asyncio.ensure_future(coro)
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


_TASKS: set[asyncio.Future[Any]] = set()


class ChatPanel(QWidget):
    """The stream's chat, large and readable; the host writes as the shop."""

    def __init__(self, studio: Studio) -> None:
        super().__init__()
        self.studio = studio
        self.list = QListWidget()
        font = QFont()
        font.setPointSize(13)
        self.list.setFont(font)
        self.list.setWordWrap(True)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self.on_context_menu)
        self.slow = QSpinBox()
        self.slow.setRange(0, 300)
        self.slow.setSuffix(" s between messages")
        self.slow.setSpecialValueText("Slow mode off")
        self.slow.editingFinished.connect(self.on_slow_mode_changed)
        self.input = QLineEdit()
        self.input.setPlaceholderText("Write to everyone as the shop…")
        self.input.setMaxLength(500)
        send = QPushButton("Send")
        send.clicked.connect(self.on_send_clicked)
        self.input.returnPressed.connect(self.on_send_clicked)
        row = QHBoxLayout()
        row.addWidget(self.input)
        row.addWidget(send)
        layout = QVBoxLayout(self)
        layout.addWidget(self.slow)
        layout.addWidget(self.list)
        layout.addLayout(row)

    def add(self, msg: dict[str, Any]) -> None:
        prefix = "★ " if msg.get("isAdmin") else ""
        item = QListWidgetItem(f"{prefix}{msg.get('username', '')}: {msg.get('message', '')}")
        item.setData(Qt.ItemDataRole.UserRole, msg)
        if msg.get("isAdmin"):
            item.setForeground(Qt.GlobalColor.darkMagenta)
        self.list.addItem(item)
        self.list.scrollToBottom()

    def remove(self, message_id: str) -> None:
        for i in range(self.list.count() - 1, -1, -1):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole).get("id") == message_id:
                self.list.takeItem(i)

    def moderate(self, row: int, action: str) -> None:
        """``delete`` this line, or ``mute`` / ``ban`` its author for the stream."""
        msg = self.list.item(row).data(Qt.ItemDataRole.UserRole)
        if action == "delete":
            _spawn(self.studio.bridge.request({"type": "delete_chat_message", "id": msg["id"]}))
        elif msg.get("publicId"):
            _spawn(
                self.studio.bridge.request(
                    {"type": "moderate_customer", "publicId": msg["publicId"], "action": action}
                )
            )

    def on_context_menu(self, pos: Any) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        row = self.list.row(item)
        menu = QMenu(self)
        menu.addAction("Delete message", lambda: self.moderate(row, "delete"))
        if not item.data(Qt.ItemDataRole.UserRole).get("isAdmin"):
            menu.addAction("Mute for this stream", lambda: self.moderate(row, "mute"))
            menu.addAction("Ban for this stream", lambda: self.moderate(row, "ban"))
            menu.addAction("Lift mute or ban", lambda: self.moderate(row, "clear"))
        menu.exec(self.list.mapToGlobal(pos))

    def on_slow_mode_changed(self) -> None:
        _spawn(self.studio.bridge.request({"type": "set_slow_mode", "seconds": self.slow.value()}))

    def reset(self, messages: list[dict[str, Any]]) -> None:
        self.list.clear()
        for m in messages:
            self.add(m)

    def on_send_clicked(self) -> None:
        text = self.input.text().strip()
        if not text:
            return
        self.input.clear()
        _spawn(
            self.studio.bridge.request(
                {
                    "type": "chat_message",
                    "message": text,
                    "username": self.studio.settings["host_name"],
                }
            )
        )


class ReplyBox(QPlainTextEdit):
    """Enter sends, Shift+Enter makes a new line."""

    submitted = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class InboxPanel(QWidget):
    """Support conversations, newest first, with unread counts; the thread; a reply box."""

    unread_changed = Signal(int)

    def __init__(self, studio: Studio) -> None:
        super().__init__()
        self.studio = studio
        self.current: str | None = None
        self.rows: list[dict[str, Any]] = []
        self.filter = QComboBox()
        self.filter.addItems(["Open", "Resolved", "All"])
        self.filter.currentIndexChanged.connect(lambda _i: self.show_conversations(self.rows))
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search name or message…")
        self.search.textChanged.connect(lambda _t: self.show_conversations(self.rows))
        self.conversations = QListWidget()
        self.conversations.currentItemChanged.connect(self.on_conversation_selected)
        self.resolve_button = QPushButton("Mark resolved")
        self.resolve_button.clicked.connect(self.on_resolve_clicked)
        self.thread = QListWidget()
        self.thread.setWordWrap(True)
        self.reply = ReplyBox()
        self.reply.setPlaceholderText("Reply… (Enter sends, Shift+Enter new line)")
        self.reply.setMaximumHeight(90)
        self.reply.submitted.connect(self.on_reply_clicked)
        send = QPushButton("Send reply")
        send.clicked.connect(self.on_reply_clicked)
        left = QVBoxLayout()
        left.addWidget(self.filter)
        left.addWidget(self.search)
        left.addWidget(self.conversations)
        right = QVBoxLayout()
        right.addWidget(self.resolve_button)
        right.addWidget(self.thread)
        right.addWidget(self.reply)
        right.addWidget(send)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 2)
        layout.addLayout(right, 3)

    def refresh(self) -> None:
        _spawn(self.studio.bridge.request({"type": "get_conversations"}))

    def show_conversations(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        wanted = self.filter.currentText().lower()
        needle = self.search.text().strip().lower()
        self.conversations.blockSignals(True)
        self.conversations.clear()
        unread = sum(int(r.get("unread", 0)) for r in rows)
        for row in rows:
            status = row.get("status", "open")
            if wanted != "all" and status != wanted:
                continue
            if needle and needle not in (row["customerName"] + " " + row["lastMessage"]).lower():
                continue
            badge = f"  ({row['unread']} new)" if row.get("unread") else ""
            text = f"{row['customerName']}{badge}\n{row['lastMessage'][:80]}"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, row["sessionId"])
            self.conversations.addItem(item)
            if row["sessionId"] == self.current:
                self.conversations.setCurrentItem(item)
                self.resolve_button.setText("Reopen" if status == "resolved" else "Mark resolved")
        self.conversations.blockSignals(False)
        self.unread_changed.emit(unread)

    def on_conversation_selected(self, item: QListWidgetItem | None, _old: Any = None) -> None:
        if item is None:
            return
        self.current = item.data(Qt.ItemDataRole.UserRole)
        _spawn(self.studio.bridge.request({"type": "get_conversation", "sessionId": self.current}))

    def show_thread(self, session_id: str, messages: list[dict[str, Any]]) -> None:
        if session_id != self.current:
            return
        self.thread.clear()
        for m in messages:
            who = "Customer" if m["from"] == "customer" else "Shop"
            item = QListWidgetItem(f"{who} · {m['timestamp'][11:16]}\n{m['message']}")
            if m["from"] == "staff":
                item.setForeground(Qt.GlobalColor.darkMagenta)
            self.thread.addItem(item)
        self.thread.scrollToBottom()

    def on_resolve_clicked(self) -> None:
        if self.current is None:
            return
        row = next((r for r in self.rows if r["sessionId"] == self.current), None)
        resolved = row is None or row.get("status") != "resolved"

        async def send() -> None:
            await self.studio.bridge.request(
                {"type": "resolve_conversation", "sessionId": self.current, "resolved": resolved}
            )
            await self.studio.bridge.request({"type": "get_conversations"})

        _spawn(send())

    def on_reply_clicked(self) -> None:
        text = self.reply.toPlainText().strip()
        if not text or self.current is None:
            return
        self.reply.clear()
        sid = self.current

        async def send() -> None:
            await self.studio.bridge.request(
                {"type": "staff_message", "sessionId": sid, "content": text}
            )
            await self.studio.bridge.request({"type": "get_conversation", "sessionId": sid})
            await self.studio.bridge.request({"type": "get_conversations"})

        _spawn(send())


class ProductsPanel(QWidget):
    """The catalog; a click pins or unpins; the pinned strip reorders by drag and drop."""

    def __init__(self, studio: Studio) -> None:
        super().__init__()
        self.studio = studio
        self.catalog: list[dict[str, Any]] = []
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Product", "Price"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.cellDoubleClicked.connect(self.on_product_double_clicked)
        self.pinned = QListWidget()
        self.pinned.setDragDropMode(QListWidget.DragDropMode.InternalMove)
        self.pinned.model().rowsMoved.connect(self.on_pins_reordered)
        pin = QPushButton("Pin / unpin")
        pin.clicked.connect(self.on_pin_clicked)
        add = QPushButton("Add…")
        add.clicked.connect(lambda: self.edit_product(None))
        edit = QPushButton("Edit…")
        edit.clicked.connect(lambda: self.edit_product(self.table.currentRow()))
        delete = QPushButton("Delete")
        delete.clicked.connect(self.on_delete_clicked)
        csv_button = QPushButton("Import CSV…")
        csv_button.clicked.connect(self.on_import_clicked)
        buttons = QHBoxLayout()
        for b in (pin, add, edit, delete, csv_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Catalog (double-click to pin or unpin)"))
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        layout.addWidget(QLabel("Pinned now (drag to reorder)"))
        layout.addWidget(self.pinned)

    def refresh(self) -> None:
        _spawn(self.studio.bridge.request({"type": "get_products"}))

    def save(self, product: dict[str, Any], image_file: str | None = None) -> None:
        """Save a product; an image file is copied into the data dir's uploads first."""
        if image_file:
            try:
                product = {**product, "image": self.studio.store_image(image_file)}
            except (OSError, ValueError) as exc:
                QMessageBox.warning(self, "Product image", f"The image was not used: {exc}")
        _spawn(self.studio.bridge.request({"type": "save_product", "product": product}))

    def edit_product(self, row: int | None) -> None:
        current = self.catalog[row] if row is not None and 0 <= row < len(self.catalog) else {}
        dialog = ProductDialog(self, current)
        if dialog.exec():
            product, image = dialog.result_product()
            self.save(product, image)

    def on_delete_clicked(self) -> None:
        row = self.table.currentRow()
        if 0 <= row < len(self.catalog):
            _spawn(
                self.studio.bridge.request(
                    {"type": "delete_product", "productId": self.catalog[row]["productId"]}
                )
            )

    def import_csv(self, path: str) -> tuple[int, list[str]]:
        """Columns name, price[, image, description, url, productId]; returns (saved, errors)."""
        saved, errors = 0, []
        try:
            with open(path, newline="", encoding="utf-8-sig") as fh:
                for n, row in enumerate(csv.DictReader(fh), start=2):
                    try:
                        name = (row.get("name") or "").strip()
                        price = float((row.get("price") or "0").replace(",", "."))
                        if not name or price < 0:
                            raise ValueError("needs a name and a price of 0 or more")
                    except ValueError as exc:
                        errors.append(f"line {n}: {exc}")
                        continue
                    self.save(
                        {
                            "productId": (row.get("productId") or "").strip(),
                            "name": name,
                            "price": price,
                            "image": (row.get("image") or "").strip(),
                            "description": (row.get("description") or "").strip(),
                            "url": (row.get("url") or "").strip(),
                        }
                    )
                    saved += 1
        except (OSError, csv.Error, UnicodeDecodeError) as exc:
            errors.append(str(exc))
        return saved, errors

    def on_import_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import products", "", "CSV files (*.csv)")
        if not path:
            return
        saved, errors = self.import_csv(path)
        text = f"{saved} products imported."
        if errors:
            text += "\n\nSkipped:\n" + "\n".join(errors[:20])
        QMessageBox.information(self, "Import", text)

    def show_products(self, rows: list[dict[str, Any]]) -> None:
        self.catalog = rows
        self.table.setRowCount(len(rows))
        for i, p in enumerate(rows):
            self.table.setItem(i, 0, QTableWidgetItem(p["name"]))
            self.table.setItem(i, 1, QTableWidgetItem(f"{p['price']:.2f}"))

    def show_pinned(self, items: list[dict[str, Any]]) -> None:
        self.pinned.clear()
        for p in items:
            item = QListWidgetItem(f"{p.get('name', p.get('productId'))}")
            item.setData(Qt.ItemDataRole.UserRole, p)
            self.pinned.addItem(item)

    def _pinned_items(self) -> list[dict[str, Any]]:
        return [
            self.pinned.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.pinned.count())
        ]

    def _send_pins(self, items: list[dict[str, Any]]) -> None:
        ordered = [{**p, "displayOrder": i + 1} for i, p in enumerate(items)]
        _spawn(self.studio.bridge.request({"type": "pin_products", "pinnedProducts": ordered}))

    def toggle(self, product: dict[str, Any]) -> None:
        items = self._pinned_items()
        if any(p.get("productId") == product["productId"] for p in items):
            items = [p for p in items if p.get("productId") != product["productId"]]
        else:
            items.append(
                {
                    "productId": product["productId"],
                    "name": product["name"],
                    "price": product["price"],
                    "image": product.get("image", ""),
                }
            )
        self._send_pins(items)

    def on_product_double_clicked(self, row: int, _col: int) -> None:
        if 0 <= row < len(self.catalog):
            self.toggle(self.catalog[row])

    def on_pin_clicked(self) -> None:
        self.on_product_double_clicked(self.table.currentRow(), 0)

    def on_pins_reordered(self, *_args: Any) -> None:
        self._send_pins(self._pinned_items())


class ProductDialog(QDialog):
    """Add or edit a product: name, price, description, link, image file."""

    def __init__(self, parent: QWidget, product: dict[str, Any]) -> None:
        super().__init__(parent)
        self.setWindowTitle("Product")
        self.product = product
        self.name = QLineEdit(product.get("name", ""))
        self.name.setMaxLength(200)
        self.price = QDoubleSpinBox()
        self.price.setRange(0, 1_000_000)
        self.price.setDecimals(2)
        self.price.setValue(float(product.get("price", 0)))
        self.description = QLineEdit(product.get("description", ""))
        self.url = QLineEdit(product.get("url", ""))
        self.image = QLineEdit()
        self.image.setPlaceholderText(product.get("image", "") or "No image")
        browse = QPushButton("Choose image…")
        browse.clicked.connect(self.on_browse_clicked)
        form = QFormLayout(self)
        form.addRow("Name", self.name)
        form.addRow("Price", self.price)
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
        super().accept()

    def result_product(self) -> tuple[dict[str, Any], str | None]:
        product = {
            "productId": self.product.get("productId", ""),
            "name": self.name.text().strip(),
            "price": self.price.value(),
            "description": self.description.text().strip(),
            "url": self.url.text().strip(),
            "image": self.product.get("image", ""),
        }
        return product, (self.image.text().strip() or None)


class SharePanel(QWidget):
    """The customer page's addresses, each with a QR code to scan from a phone."""

    def __init__(self, studio: Studio) -> None:
        super().__init__()
        self.studio = studio
        self.layout_ = QVBoxLayout(self)

    def show_urls(self, urls: list[str]) -> None:
        import io

        import segno

        self.layout_.addWidget(QLabel("Customers open this page (or scan it):"))
        for url in urls:
            label = QLabel(url)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            font = QFont()
            font.setPointSize(14)
            label.setFont(font)
            buf = io.BytesIO()
            segno.make(url, error="m").save(buf, kind="png", scale=6, border=2)
            qr = QLabel()
            pix = QPixmap()
            pix.loadFromData(buf.getvalue(), "PNG")
            qr.setPixmap(pix)
            qr.setAccessibleName(f"QR code for {url}")
            self.layout_.addWidget(label)
            self.layout_.addWidget(qr)
        self.layout_.addStretch(1)


class SettingsDialog(QDialog):
    """Port, ICE servers, allowed origins, video quality: saved, used at the next start."""

    def __init__(self, parent: QWidget, studio: Studio) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        s = studio.settings
        self.studio = studio
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(int(s["port"]) or 3000)
        self.ice = QLineEdit(str(s["ice_servers"]))
        self.ice.setPlaceholderText("stun:host:3478,turn:user:pass@host:3478 (none by default)")
        self.origins = QLineEdit(str(s["allowed_origins"]))
        self.origins.setPlaceholderText("https://shop.example.com, …")
        self.size = QComboBox()
        for size in ("640x360", "960x540", "1280x720", "1920x1080"):
            self.size.addItem(size)
        if self.size.findText(str(s["video_size"])) < 0:
            self.size.addItem(str(s["video_size"]))
        self.size.setCurrentText(str(s["video_size"]))
        self.fps = QSpinBox()
        self.fps.setRange(10, 60)
        self.fps.setValue(int(s["fps"]))
        self.bitrate = QSpinBox()
        self.bitrate.setRange(300, 8000)
        self.bitrate.setSuffix(" kbit/s")
        self.bitrate.setValue(int(s["bitrate"]) // 1000)
        self.microphone = QComboBox()
        self.microphone.setEditable(True)
        self.microphone.addItem("Default microphone", "")
        self.microphone.addItem("No microphone", "none")
        current = str(s["microphone"])
        index = self.microphone.findData(current)
        if index >= 0:
            self.microphone.setCurrentIndex(index)
        else:
            self.microphone.setEditText(current)
        self.data_dir = QLineEdit(str(studio.data_dir))
        self.data_dir.setToolTip("Where the database, uploads and settings live (next start)")
        form = QFormLayout(self)
        form.addRow("Port", self.port)
        form.addRow("ICE servers", self.ice)
        form.addRow("Allowed origins", self.origins)
        form.addRow("Resolution", self.size)
        form.addRow("Frame rate", self.fps)
        form.addRow("Video bitrate", self.bitrate)
        form.addRow("Microphone (camera sources)", self.microphone)
        form.addRow("Data folder (WRENCOS_DATA_DIR)", self.data_dir)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def accept(self) -> None:
        from wrencos_studio.media.broadcaster import parse_ice_servers

        try:
            parse_ice_servers(self.ice.text())
        except ValueError as exc:
            QMessageBox.warning(self, "Settings", str(exc))
            return
        s = self.studio.settings
        s["port"] = self.port.value()
        s["ice_servers"] = self.ice.text().strip()
        s["allowed_origins"] = self.origins.text().strip()
        s["video_size"] = self.size.currentText()
        s["fps"] = self.fps.value()
        s["bitrate"] = self.bitrate.value() * 1000
        text = self.microphone.currentText().strip()
        index = self.microphone.findText(text)
        s["microphone"] = self.microphone.itemData(index) if index >= 0 else text
        s.save()
        folder = self.data_dir.text().strip()
        if folder and Path(folder).expanduser() != self.studio.data_dir:
            remember_data_dir(Path(folder).expanduser())
        super().accept()


class Sparkline(QWidget):
    """Viewers over the stream: a small line chart drawn with QPainter."""

    def __init__(self) -> None:
        super().__init__()
        self.points: list[int] = []
        self.setMinimumHeight(80)

    def add(self, value: int) -> None:
        self.points.append(value)
        del self.points[:-600]  # ten minutes at one point a second
        self.update()

    def paintEvent(self, _event: Any) -> None:
        from PySide6.QtCore import QPointF
        from PySide6.QtGui import QColor, QPainter, QPen

        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#faf6f8"))
        if len(self.points) < 2:
            return
        top = max(1, max(self.points))
        w, h = self.width(), self.height() - 4
        step = w / (len(self.points) - 1)
        painter.setPen(QPen(QColor("#b0275d"), 2))
        for i in range(1, len(self.points)):
            a = QPointF((i - 1) * step, 2 + h - self.points[i - 1] / top * h)
            b = QPointF(i * step, 2 + h - self.points[i] / top * h)
            painter.drawLine(a, b)
        painter.drawText(4, 14, f"peak {top}")


class AudiencePanel(QWidget):
    """Viewers and likes, and each viewer's delivery (WebRTC or fallback, RTT, loss)."""

    def __init__(self, studio: Studio) -> None:
        super().__init__()
        self.studio = studio
        self.figures = QLabel("0 watching · 0 likes")
        font = QFont()
        font.setPointSize(16)
        self.figures.setFont(font)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Viewer", "Path", "RTT ms", "Lost", "kbit/s"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.chart = Sparkline()
        layout = QVBoxLayout(self)
        layout.addWidget(self.figures)
        layout.addWidget(QLabel("Viewers over the stream"))
        layout.addWidget(self.chart)
        layout.addWidget(self.table)

    def show_figures(self, viewers: int, likes: int) -> None:
        self.figures.setText(f"{viewers} watching · {likes} likes")

    def show_viewers(self, viewers: list[dict[str, Any]]) -> None:
        self.table.setRowCount(len(viewers))
        for i, v in enumerate(viewers):
            cells = [
                v["peerId"],
                v["transport"],
                v.get("rttMs") or "",
                v.get("packetsLost", 0),
                v.get("bitrateKbps", 0),
            ]
            for j, value in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(str(value)))


class MainWindow(QMainWindow):
    """The presenter's screen."""

    quit_requested = Signal()

    def __init__(self, studio: Studio) -> None:
        super().__init__()
        self.studio = studio
        self.live = False
        self.viewers = 0
        self.likes = 0
        self._cpu = (time.process_time(), time.monotonic())
        self.setWindowTitle("Wrencos Studio")
        self.resize(QSize(1280, 800))

        self.preview = QLabel("Starting the camera…")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(480, 270)
        self.preview.setStyleSheet("background: #111; color: #ccc;")
        self.source = QComboBox()
        self.source.setToolTip("What you broadcast")
        self.resolution = QComboBox()
        self.resolution.setToolTip("Broadcast resolution")
        for size in ("640x360", "960x540", "1280x720", "1920x1080"):
            self.resolution.addItem(size)
        if self.resolution.findText(str(studio.settings["video_size"])) < 0:
            self.resolution.addItem(str(studio.settings["video_size"]))
        self.resolution.setCurrentText(str(studio.settings["video_size"]))
        self.mic = QComboBox()
        self.mic.setToolTip("Microphone (camera sources)")
        self.mic.addItem("Default microphone", "")
        self.mic.addItem("No microphone", "none")
        mic_index = self.mic.findData(str(studio.settings["microphone"]))
        self.mic.setCurrentIndex(max(0, mic_index))
        self.title_edit = QLineEdit(str(studio.settings["title"]))
        self.title_edit.setPlaceholderText("Stream title, e.g. Spring serum launch")
        self.title_edit.setMaxLength(200)
        self.description_edit = QLineEdit(str(studio.settings["description"]))
        self.description_edit.setPlaceholderText("Description (optional)")
        self.live_button = QPushButton("Go Live")
        self.live_button.setMinimumHeight(44)
        self.live_button.clicked.connect(self.on_live_clicked)
        self.state_label = QLabel("Not live")
        self.meter = QProgressBar()
        self.meter.setRange(0, 100)
        self.meter.setTextVisible(False)
        self.meter.setMaximumHeight(10)
        self.meter.setToolTip("Microphone level")
        left = QVBoxLayout()
        left.addWidget(self.preview, 1)
        left.addWidget(self.meter)
        pickers = QHBoxLayout()
        pickers.addWidget(self.source, 2)
        pickers.addWidget(self.resolution, 1)
        pickers.addWidget(self.mic, 1)
        left.addLayout(pickers)
        left.addWidget(self.title_edit)
        left.addWidget(self.description_edit)
        left.addWidget(self.live_button)
        left.addWidget(self.state_label)
        left_widget = QWidget()
        left_widget.setLayout(left)

        self.chat = ChatPanel(studio)
        self.inbox = InboxPanel(studio)
        self.products = ProductsPanel(studio)
        self.audience = AudiencePanel(studio)
        self.share = SharePanel(studio)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.chat, "Chat")
        self.tabs.addTab(self.inbox, "Inbox")
        self.tabs.addTab(self.products, "Products")
        self.tabs.addTab(self.audience, "Audience")
        self.tabs.addTab(self.share, "Share")
        settings_action = self.menuBar().addAction("Settings…")
        settings_action.triggered.connect(self.on_settings_clicked)
        splitter = QSplitter()
        self.left_widget = left_widget
        splitter.addWidget(left_widget)
        splitter.addWidget(self.tabs)
        splitter.setSizes([700, 580])
        self.setCentralWidget(splitter)

        self.url_label = QLabel()
        self.url_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.figures_label = QLabel()
        self.health_label = QLabel()
        bar = self.statusBar()
        bar.addWidget(self.url_label, 1)
        bar.addPermanentWidget(self.figures_label)
        bar.addPermanentWidget(self.health_label)
        self.tray = QSystemTrayIcon(self) if QSystemTrayIcon.isSystemTrayAvailable() else None

        studio.preview_frame.connect(self.on_preview_frame)
        studio.audio_level.connect(lambda level: self.meter.setValue(int(level * 100)))
        studio.live_changed.connect(self.on_live_changed)
        studio.status.connect(self.statusBar().showMessage)
        self.inbox.unread_changed.connect(self.on_unread_changed)
        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self.on_tick)

    # -- start-up ----------------------------------------------------------------------

    def started(self) -> None:
        """The hub and the source run: wire the bridge and fill the panels."""
        b = self.studio.bridge
        b.chat_message.connect(self.chat.add)
        b.chat_history.connect(self.chat.reset)
        b.chat_message_deleted.connect(self.chat.remove)
        b.conversation_status.connect(lambda _m: self.inbox.refresh())
        b.figures_changed.connect(self.on_figures_changed)
        b.customer_message.connect(self.on_customer_message)
        b.conversations.connect(self.inbox.show_conversations)
        b.conversation.connect(self.inbox.show_thread)
        b.products.connect(self.products.show_products)
        b.product_saved.connect(lambda _p: self.products.refresh())
        b.pinned_changed.connect(self.products.show_pinned)
        b.stream_started.connect(self.on_stream_started)
        b.error.connect(lambda text: self.statusBar().showMessage(text, 5000))
        from wrencos_studio.addresses import customer_urls
        from wrencos_studio.media.sources import list_cameras

        if self.studio.hub is None:  # a staff station: no camera, no Go Live
            self.left_widget.hide()
            page = self.studio.page_url
            self.url_label.setText(f"Staff station of {page}")
            self.share.show_urls([page])
            self.setWindowTitle("Wrencos Studio — staff station")
            self.inbox.refresh()
            self.products.refresh()
            self.timer.start()
            return

        self.source.addItem("Test pattern", "testsrc")
        for cam in list_cameras():
            self.source.addItem(f"Camera {cam}", f"camera:{cam}")
        current = self.source.findData(self.studio.settings["source"])
        self.source.setCurrentIndex(max(0, current))
        self.source.currentIndexChanged.connect(self.on_source_changed)
        self.resolution.currentTextChanged.connect(self.on_quality_changed)
        self.mic.currentIndexChanged.connect(self.on_quality_changed)
        urls = customer_urls("0.0.0.0", self.studio.port)
        self.url_label.setText("Customers: " + "  ".join(urls))
        self.share.show_urls(urls)
        hub = self.studio.hub
        if hub is not None:
            self.products.show_pinned(hub.pinned)
            self.chat.reset(list(hub.chat_history))
            self.on_live_changed(hub.stream is not None)
        self.inbox.refresh()
        self.products.refresh()
        self.timer.start()

    def on_settings_clicked(self) -> None:
        dialog = SettingsDialog(self, self.studio)
        if dialog.exec():
            self.apply_settings()

    def apply_settings(self) -> None:
        """Video quality and microphone apply at once when not live; the port, origins,
        ICE servers and data folder at the next start."""
        if self.studio.hub is not None and not self.live:
            _spawn(self.studio.start_source(str(self.studio.settings["source"])))
            self.statusBar().showMessage(
                "Settings saved. Port, origins, ICE servers and folder apply at the next start.",
                8000,
            )
        else:
            self.statusBar().showMessage("Settings saved: they apply at the next start.", 8000)

    def fatal(self, text: str) -> None:
        QMessageBox.critical(self, "Wrencos Studio", text)

    # -- going live --------------------------------------------------------------------

    def on_live_clicked(self) -> None:
        if self.live:
            answer = QMessageBox.question(
                self, "End the stream?", "Customers will see that the stream has ended."
            )
            if answer == QMessageBox.StandardButton.Yes:
                _spawn(self.studio.end())
            return
        title = self.title_edit.text().strip() or "Live now"
        answer = QMessageBox.question(self, "Go live?", f"Go live as “{title}”?")
        if answer == QMessageBox.StandardButton.Yes:
            self.go_live(title)

    def go_live(self, title: str) -> None:
        self.live_button.setEnabled(False)
        self.state_label.setText("Going live…")
        _spawn(self.studio.go_live(title, self.description_edit.text().strip()))

    def on_live_changed(self, live: bool) -> None:
        self.live = live
        self.live_button.setEnabled(True)
        self.live_button.setText("End" if live else "Go Live")
        self.live_button.setStyleSheet(
            "background: #b0275d; color: white; font-weight: bold;" if not live else ""
        )
        self.state_label.setText("● LIVE" if live else "Not live")

    def on_stream_started(self, data: dict[str, Any]) -> None:
        self.on_figures_changed(int(data.get("viewerCount", 0)), int(data.get("likes", 0)))

    def on_source_changed(self, _index: int) -> None:
        source = self.source.currentData()
        self.studio.settings["source"] = source
        self.studio.settings.save()
        _spawn(self.studio.start_source(source))

    def on_quality_changed(self, *_args: Any) -> None:
        """Resolution or microphone picked: the source restarts with it (the broadcast
        carries on if live; viewers get a keyframe at the new size)."""
        s = self.studio.settings
        s["video_size"] = self.resolution.currentText()
        s["microphone"] = self.mic.currentData()
        s.save()
        _spawn(self.studio.start_source(str(s["source"])))

    def on_preview_frame(self, image: QImage) -> None:
        pix = QPixmap.fromImage(image).scaled(
            self.preview.size(),
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        self.preview.setPixmap(pix)

    # -- the room ----------------------------------------------------------------------

    def on_figures_changed(self, viewers: int, likes: int) -> None:
        self.viewers, self.likes = viewers, likes
        self.audience.show_figures(viewers, likes)

    def on_customer_message(self, msg: dict[str, Any]) -> None:
        # A sound and a notification even while the window has focus: staff must notice.
        QApplication.beep()
        if self.tray is not None:
            self.tray.showMessage(
                f"{msg.get('customerName', 'A customer')} writes", str(msg.get("message", ""))[:120]
            )
        self.inbox.refresh()
        if self.inbox.current == msg.get("sessionId"):
            _spawn(
                self.studio.bridge.request(
                    {"type": "get_conversation", "sessionId": msg["sessionId"]}
                )
            )

    def on_unread_changed(self, unread: int) -> None:
        self.tabs.setTabText(1, f"Inbox ({unread})" if unread else "Inbox")

    def on_tick(self) -> None:
        uptime = ""
        if self.studio.live_since is not None:
            secs = int(time.monotonic() - self.studio.live_since)
            uptime = f" · live {secs // 3600:d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
        self.figures_label.setText(f"{self.viewers} watching · {self.likes} likes{uptime}")
        if self.live:
            self.audience.chart.add(self.viewers)
        cpu_now = (time.process_time(), time.monotonic())
        cpu = (cpu_now[0] - self._cpu[0]) / max(1e-6, cpu_now[1] - self._cpu[1]) * 100
        self._cpu = cpu_now
        media = self.studio.broadcaster.stats() if self.studio.broadcaster else None
        if self.studio.hub is None:
            return
        if media:
            kbps = sum(v["bitrateKbps"] or 0 for v in media["viewers"])
            problem = f" · {media['error']}" if media.get("error") else ""
            self.health_label.setText(
                f"encode {media['encodeFps']:.0f} fps · {kbps:.0f} kbit/s out · CPU {cpu:.0f}%"
                f"{problem}"
            )
            self.audience.show_viewers(media["viewers"])

    def closeEvent(self, event: Any) -> None:
        if self.live:
            answer = QMessageBox.question(
                self, "Quit while live?", "Quitting ends the stream for every customer."
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        event.accept()
        self.quit_requested.emit()
