"""The studio window, offscreen, driven like a presenter and support staff would: it hosts a
real hub and broadcaster, and real clients talk to it."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

qasync = pytest.importorskip("qasync")

from PySide6.QtGui import QColor, QImage  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from tests.helpers.serve import serving_sync  # noqa: E402
from tests.helpers.testutils import run_probe, token  # noqa: E402
from tests.ui.running import Running, join_as_customer, next_of_type  # noqa: E402

pytestmark = pytest.mark.slow
NETNS = os.environ.get("WRENCOS_NETNS") == "1"


@pytest.mark.skipif(not NETNS, reason="media runs only inside a private network namespace")
def test_go_live_while_a_real_viewer_receives_frames(studio: Running) -> None:
    """Go Live with the test pattern: customers get stream_started and an aiortc viewer
    in another process decodes frames at the source rate."""
    w = studio.window
    w.broadcast.title_edit.setText("Spring serums")
    w.broadcast.live_button.click()  # confirms through the (patched) dialog
    studio.until(lambda: w.live)
    assert w.broadcast.live_button.text() == "End"
    assert studio.studio.hub is not None and studio.studio.hub.stream is not None
    assert studio.studio.hub.stream.title == "Spring serums"

    [viewer] = studio.run(run_probe(studio.url, "--seconds", "2"), timeout=60)
    assert "error" not in viewer and viewer["fps"] >= 20
    w.broadcast.live_button.click()  # End
    studio.until(lambda: not w.live)
    assert studio.studio.hub.stream is None


def test_chat_round_trip_with_a_real_client(studio: Running) -> None:
    """A customer's chat line shows in the panel; the host's reply reaches the customer."""
    hub = studio.studio.hub
    assert hub is not None
    studio.run(studio.studio.bridge.request({"type": "start_stream", "title": "Chatty"}))

    async def talk() -> dict[str, Any]:
        ws = await join_as_customer(studio.url, "chatter")
        await next_of_type(ws, "chat_history")
        await ws.send(
            json.dumps({"type": "chat_message", "username": "Dana", "message": "Hello studio"})
        )
        await next_of_type(ws, "chat_message")
        while studio.window.chat.model.rowCount() < 1:
            await asyncio.sleep(0.05)
        studio.window.chat.input.setText("Welcome Dana!")
        studio.window.chat.on_send_clicked()
        reply = await next_of_type(ws, "chat_message")
        await ws.close()
        return reply

    reply = studio.run(talk())
    shown = studio.window.chat.model.index(0, 0).data()
    assert shown == "\u2068Dana\u2069: \u2068Hello studio\u2069"  # each part isolated
    assert reply["message"] == "Welcome Dana!" and reply["isAdmin"] is True
    assert reply["username"] == "Shop"


def test_pinning_a_product_reaches_customers(studio: Running) -> None:
    """Double-clicking a catalog product pins it for every customer; again unpins it."""
    bridge = studio.studio.bridge
    studio.run(
        bridge.request(
            {
                "type": "save_product",
                "product": {"productId": "serum", "name": "Hydrating Serum", "price": 49.99},
            }
        )
    )
    studio.window.products.refresh()
    studio.until(lambda: studio.window.products.catalog_model.rowCount() == 1)

    async def pin_and_unpin() -> tuple[dict[str, Any], dict[str, Any]]:
        ws = await join_as_customer(studio.url, "shopper")
        await next_of_type(ws, "registered")
        studio.window.products.on_product_double_clicked(0, 0)
        pinned = await next_of_type(ws, "pinned_products_updated")
        studio.window.products.on_product_double_clicked(0, 0)
        unpinned = await next_of_type(ws, "pinned_products_updated")
        await ws.close()
        return pinned, unpinned

    pinned, unpinned = studio.run(pin_and_unpin())
    assert [p["name"] for p in pinned["pinnedProducts"]] == ["Hydrating Serum"]
    assert unpinned["pinnedProducts"] == []


def test_answering_a_customer_from_the_inbox(studio: Running) -> None:
    """A customer's question shows in the inbox with an unread badge; the reply arrives."""
    w = studio.window

    async def ask_and_get_answer() -> dict[str, Any]:
        ws = await join_as_customer(studio.url, "asker-12345")
        await next_of_type(ws, "registered")
        await ws.send(
            json.dumps(
                {"type": "customer_message", "message": "Is it vegan?", "customerName": "Ann"}
            )
        )
        while w.inbox.filtered.rowCount() < 1:
            await asyncio.sleep(0.05)
        assert w.docks["inbox"].windowTitle() == "Inbox (1)"
        w.inbox.select_row(0)
        while w.inbox.thread_model.rowCount() < 1:
            await asyncio.sleep(0.05)
        w.inbox.reply.setPlainText("Yes, fully vegan.")
        w.inbox.on_reply_clicked()
        reply = await next_of_type(ws, "staff_reply")
        await ws.close()
        return reply

    reply = studio.run(ask_and_get_answer())
    assert reply["message"] == "Yes, fully vegan."
    assert "Ann" in w.inbox.filtered.index(0, 0).data()
    studio.until(lambda: w.inbox.thread_model.rowCount() == 2)
    studio.until(lambda: w.docks["inbox"].windowTitle() == "Inbox")


def test_settings_persist_across_restarts(tmp_path: Path) -> None:
    """What the presenter set is there after a restart (and a broken file is ignored)."""
    from wrencos_studio.ui.studio import StudioSettings

    s = StudioSettings(tmp_path)
    s["title"] = "Weekly serum show"
    s["port"] = 3456
    s.save()
    again = StudioSettings(tmp_path)
    assert again["title"] == "Weekly serum show" and again["port"] == 3456
    (tmp_path / "studio-settings.json").write_text("{not json")
    assert StudioSettings(tmp_path)["port"] == 3000


def test_quitting_tells_viewers_and_exits_0(tmp_path: Path) -> None:
    """The real program, offscreen: a customer sees the stream stop when the studio quits."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "studio-settings.json").write_text(json.dumps({"port": 0, "source": "none"}))
    with serving_sync(
        data, command=None, host=None, env={"QT_QPA_PLATFORM": "offscreen"}, log_level=None
    ) as served:
        proc, url = served.proc, served.url

        async def watch_it_end() -> dict[str, Any]:
            admin = await connect(url)
            await admin.send(json.dumps({"type": "register_admin", "token": token()}))
            await next_of_type(admin, "admin_registered")
            await admin.send(json.dumps({"type": "start_stream", "title": "Short one"}))
            customer = await join_as_customer(url, "watcher")
            await next_of_type(customer, "stream_started")
            proc.send_signal(signal.SIGTERM)
            stopped = await next_of_type(customer, "stream_stopped", timeout=15)
            return stopped

        stopped = asyncio.run(watch_it_end())
        assert stopped["type"] == "stream_stopped"
        assert proc.wait(20) == 0


def test_moderating_from_the_chat_panel(studio: Running) -> None:
    """Delete a line, then ban its author, from the panel: customers see both."""
    studio.run(studio.studio.bridge.request({"type": "start_stream", "title": "Moderated"}))

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        troll = await join_as_customer(studio.url, "troll")
        watcher = await join_as_customer(studio.url, "watcher")
        await next_of_type(watcher, "chat_history")
        await troll.send(json.dumps({"type": "chat_message", "message": "buy crypto"}))
        await next_of_type(watcher, "chat_message")
        while studio.window.chat.model.rowCount() < 1:
            await asyncio.sleep(0.05)
        studio.window.chat.moderate(0, "delete")
        deleted = await next_of_type(watcher, "chat_message_deleted")
        await troll.send(json.dumps({"type": "chat_message", "message": "again"}))
        await next_of_type(watcher, "chat_message")
        while studio.window.chat.model.rowCount() < 1:
            await asyncio.sleep(0.05)
        studio.window.chat.moderate(0, "ban")
        await next_of_type(watcher, "chat_message_deleted")
        await troll.send(json.dumps({"type": "chat_message", "message": "third"}))
        refused = await next_of_type(troll, "error")
        await troll.close()
        await watcher.close()
        return deleted, refused

    deleted, refused = studio.run(scenario())
    assert deleted["type"] == "chat_message_deleted"
    assert refused["message"] == "You cannot chat in this stream"
    studio.until(lambda: studio.window.chat.model.rowCount() == 0)


def test_resolving_in_the_inbox_and_the_filter(studio: Running) -> None:
    """Mark resolved moves the conversation to the Resolved filter."""
    w = studio.window

    async def ask() -> None:
        ws = await join_as_customer(studio.url, "solved-1")
        await next_of_type(ws, "registered")
        await ws.send(json.dumps({"type": "customer_message", "message": "Thanks!"}))
        while w.inbox.filtered.rowCount() < 1:
            await asyncio.sleep(0.05)
        await ws.close()

    studio.run(ask())
    w.inbox.select_row(0)
    studio.until(lambda: w.inbox.current == "solved-1")
    w.inbox.on_resolve_clicked()
    studio.until(lambda: w.inbox.filtered.rowCount() == 0)  # "Open" hides it now
    w.inbox.filter.setCurrentText("Resolved")
    studio.until(lambda: w.inbox.filtered.rowCount() == 1)
    w.inbox.search.setText("no such words")
    studio.until(lambda: w.inbox.filtered.rowCount() == 0)


def test_catalog_editing_with_an_image_and_csv_import(studio: Running, tmp_path: Path) -> None:
    """A product saved with an image is served from /uploads; CSV rows are imported,
    bad rows reported."""
    from PIL import Image

    png = tmp_path / "serum.png"
    Image.new("RGB", (40, 30), "pink").save(png)  # opaque: stored as a cleaned JPEG
    panel = studio.window.products
    panel.save({"productId": "", "name": "Rose Balm", "price": 12.0}, str(png))
    studio.until(lambda: panel.catalog_model.rowCount() == 1)
    image = panel.catalog[0]["image"]
    assert image.startswith("/uploads/products/") and image.endswith(".jpg")
    import urllib.request

    http = f"http://127.0.0.1:{studio.studio.port}{image}"
    body = studio.run(asyncio.to_thread(lambda: urllib.request.urlopen(http, timeout=5).read()))
    assert body.startswith(b"\xff\xd8")
    sheet = tmp_path / "products.csv"
    sheet.write_bytes(
        "name;price;description\r\nNight Cream;54,50 €;Peptides\r\n;3\r\nMask;free\r\n".encode(
            "cp1252"
        )
    )
    report = panel.import_csv(str(sheet))
    assert (report.created, len(report.errors)) == (1, 2)
    text = panel.report_text(report)
    assert "line 2: created — Night Cream" in text and "line 3: error" in text
    assert "line 4: error" in text
    assert panel.import_dialog is not None
    panel.import_dialog.import_button.click()  # the preview's Import
    studio.until(lambda: panel.catalog_model.rowCount() == 2)
    night = next(p for p in panel.catalog if p["name"] == "Night Cream")
    assert night["price"] == 54.5
    row = panel.catalog.index(night)
    assert panel.catalog_model.index(row, 1).data() == "€54.50"
    again = panel.import_csv(str(sheet))  # the same file again: nothing new
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)


def test_share_panel_shows_addresses_with_qr_codes(studio: Running) -> None:
    """Every customer address is shown with a QR code image."""
    from PySide6.QtWidgets import QLabel

    labels = studio.window.share.findChildren(QLabel)
    qr = [lbl for lbl in labels if lbl.pixmap() is not None and not lbl.pixmap().isNull()]
    urls = [lbl.text() for lbl in labels if lbl.text().startswith("http://")]
    assert urls and len(qr) == len(urls)
    assert all(f":{studio.studio.port}/" in u for u in urls)


def test_settings_dialog_saves(studio: Running) -> None:
    """The settings dialog validates ICE servers and saves what it may."""
    from wrencos_studio.ui.dialogs import SettingsDialog
    from wrencos_studio.ui.studio import StudioSettings

    dialog = SettingsDialog(studio.window, studio.studio)
    dialog.ice.setText("http://not-ice")
    warnings: list[str] = []
    original = QMessageBox.warning
    QMessageBox.warning = staticmethod(lambda *a, **k: warnings.append(a[2]))  # type: ignore[method-assign]
    try:
        dialog.accept()
    finally:
        QMessageBox.warning = original  # type: ignore[method-assign]
    assert warnings and "not an ICE server" in warnings[0]
    dialog.ice.setText("stun:stun.example.org:3478")
    dialog.port.setValue(3100)
    dialog.video_size.setCurrentText("960x540")
    dialog.accept()
    again = StudioSettings(studio.studio.data_dir)
    assert again["port"] == 3100 and again["video_size"] == "960x540"
    assert again["ice_servers"] == "stun:stun.example.org:3478"


def test_staff_station_answers_customers_of_a_studio_elsewhere(
    tmp_path: Path, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A station (another process in real life) connects with a staff token and answers."""
    from tests.conftest import RunningHub
    from wrencos_studio.ui.studio import Station
    from wrencos_studio.ui.window import MainWindow

    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    hub = RunningHub(tmp_path / "studio")
    loop.run_until_complete(hub.start())
    station = Station(hub.url, token("sam", "staff"), tmp_path / "station")
    window = MainWindow(station)
    try:
        loop.run_until_complete(station.start())
        window.started()
        assert window.broadcast is None  # no preview, no Go Live

        async def scenario() -> dict[str, Any]:
            customer = await join_as_customer(hub.url, "far-away")
            await next_of_type(customer, "registered")
            await customer.send(
                json.dumps({"type": "customer_message", "message": "Hello from afar"})
            )
            while window.inbox.filtered.rowCount() < 1:
                await asyncio.sleep(0.05)
            window.inbox.select_row(0)
            while window.inbox.thread_model.rowCount() < 1:
                await asyncio.sleep(0.05)
            window.inbox.reply.setPlainText("Hello back!")
            window.inbox.on_reply_clicked()
            reply = await next_of_type(customer, "staff_reply")
            await customer.close()
            return reply

        reply = loop.run_until_complete(asyncio.wait_for(scenario(), 20))
        assert reply["message"] == "Hello back!"
    finally:
        window.close()
        loop.run_until_complete(station.shutdown())
        loop.run_until_complete(hub.stop())
        loop.close()
        # Collect the old loop's and window's Qt objects here, on the GUI thread: left to
        # the garbage collector they may be freed on a capture thread, under Qt's feet.
        gc.collect()
        asyncio.set_event_loop(None)


def test_meter_moves_with_the_beep_and_the_chart_follows_viewers(studio: Running) -> None:
    """The microphone meter shows the test tone's beeps; the chart records viewers live."""
    w = studio.window
    seen: list[int] = []
    w.broadcast.meter.valueChanged.connect(seen.append)
    studio.run(asyncio.sleep(2.2))  # two beeps of the test source
    assert max(seen, default=0) > 10 and min(seen, default=100) == 0
    w.broadcast.go_live("Charted")
    studio.until(lambda: w.live)

    async def join() -> None:
        ws = await join_as_customer(studio.url, "counted")
        await next_of_type(ws, "stream_started")
        await asyncio.sleep(2.5)
        await ws.close()

    studio.run(join())
    assert max(w.audience.chart.points) >= 1
    img = w.audience.chart.grab().toImage()
    assert not img.isNull()


def test_audio_level_of_frames() -> None:
    """Peak level from s16 and float frames; silence is 0."""
    import av

    from wrencos_studio.media.sources import audio_level
    from wrencos_studio.media.testsrc import BeepGenerator

    beep = BeepGenerator()
    assert audio_level(beep.frame()) > 0.2  # the first 20 ms of a second beep
    for _ in range(10):
        beep.frame()
    assert audio_level(beep.frame()) == 0.0
    silent = av.AudioFrame(format="flt", layout="mono", samples=480)
    silent.planes[0].update(bytes(silent.planes[0].buffer_size))
    assert audio_level(silent) == 0.0


def test_reordering_pinned_products(studio: Running) -> None:
    """Dragging the pinned strip sends the new order; customers get it."""
    from PySide6.QtCore import QModelIndex

    panel = studio.window.products
    for pid, name in (("a", "Serum"), ("b", "Balm")):
        studio.run(
            studio.studio.bridge.request(
                {"type": "save_product", "product": {"productId": pid, "name": name, "price": 10}}
            )
        )
    panel.refresh()
    studio.until(lambda: panel.catalog_model.rowCount() == 2)
    hub = studio.studio.hub
    assert hub is not None
    panel.on_product_double_clicked(0, 0)
    studio.until(lambda: len(hub.pinned) == 1)  # the strip shows it at once; the hub after
    panel.on_product_double_clicked(1, 0)
    studio.until(lambda: len(hub.pinned) == 2)
    names = [panel.pinned_model.index(i).data() for i in range(2)]

    async def drag_and_watch() -> dict[str, Any]:
        ws = await join_as_customer(studio.url, "watcher")
        await next_of_type(ws, "registered")
        # What a drop in the list view does; the model's rowsMoved sends the order.
        assert panel.pinned_model.moveRows(QModelIndex(), 1, 1, QModelIndex(), 0)
        got = await next_of_type(ws, "pinned_products_updated")
        await ws.close()
        return got

    got = studio.run(drag_and_watch())
    assert [p["name"] for p in got["pinnedProducts"]] == names[::-1]
    assert [p["displayOrder"] for p in got["pinnedProducts"]] == [1, 2]


def test_data_folder_choice_is_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qtbot: Any
) -> None:
    """The data folder chosen in settings is used at the next start (env var still wins)."""
    from PySide6.QtCore import QSettings

    from wrencos_studio.ui.studio import chosen_data_dir, remember_data_dir

    QSettings.setPath(
        QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings")
    )
    monkeypatch.delenv("WRENCOS_DATA_DIR", raising=False)
    remember_data_dir(tmp_path / "shop-data")
    assert chosen_data_dir() == tmp_path / "shop-data"
    monkeypatch.setenv("WRENCOS_DATA_DIR", str(tmp_path / "env-wins"))
    assert chosen_data_dir() == tmp_path / "env-wins"


@pytest.fixture
def with_microphone(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine shows a microphone (whether or not it really does)."""
    from wrencos_studio.media import sources

    monkeypatch.setattr(sources, "microphone_present", lambda: True)


def test_resolution_and_microphone_pickers(with_microphone: None, studio: Running) -> None:
    """Picking a resolution restarts the source at that size and is remembered."""
    from wrencos_studio.ui.studio import StudioSettings

    w = studio.window
    w.broadcast.resolution.setCurrentText("640x360")
    # The source restarts: for a moment there is no broadcaster.
    studio.until(
        lambda: (
            getattr(getattr(studio.studio.broadcaster, "video_settings", None), "width", 0) == 640
        )
    )
    studio.until(lambda: studio.studio.broadcaster.pipeline.stats.video_frames > 3)
    w.broadcast.mic.setCurrentIndex(w.broadcast.mic.findData("none"))
    studio.until(lambda: getattr(studio.studio.broadcaster, "microphone", None) == "none")
    saved = StudioSettings(studio.studio.data_dir)
    assert saved["video_size"] == "640x360" and saved["microphone"] == "none"


def test_two_quick_pins_both_stay(studio: Running) -> None:
    """Two products pinned before the hub answers the first: both end up pinned."""
    panel = studio.window.products
    for pid, name in (("a", "Serum"), ("b", "Balm")):
        studio.run(studio.studio.bridge.save_product({"productId": pid, "name": name, "price": 1}))
    panel.refresh()
    studio.until(lambda: panel.catalog_model.rowCount() == 2)
    panel.on_product_double_clicked(0)
    panel.on_product_double_clicked(1)
    studio.until(lambda: len(studio.studio.hub.pinned) == 2)
    assert panel.pinned_model.rowCount() == 2


def test_preview_and_health_arrive_without_reading_the_hub(studio: Running) -> None:
    """The preview paints frames already scaled to it; the health line comes from
    media_stats answered through the bridge."""
    w = studio.window
    assert w.broadcast is not None
    preview = w.broadcast.preview
    stats: list[dict[str, Any]] = []
    studio.studio.bridge.media_stats.connect(stats.append)

    def fits() -> bool:  # one side fills the preview, the other fits in it (aspect kept)
        image = preview.image
        if image is None:
            return False
        dw, dh = preview.width() - image.width(), preview.height() - image.height()
        return dw >= 0 and dh >= 0 and min(dw, dh) <= 2

    studio.until(fits)  # the first frames may predate the window's first layout
    studio.until(lambda: "encode" in w.health_label.text(), timeout=5)
    assert stats and stats[-1]["source"] == "testsrc"


def test_the_preview_is_scaled_once_to_its_box_in_qt_s_own_layout(
    qapp: Any, tmp_path: Path
) -> None:
    """The studio's preview: one swscale pass on the capture thread from the captured YUV
    frame to the preview's box (aspect kept) in QImage's RGB32; the colours are the
    frame's; a frame arriving before the last was painted is dropped."""
    import av

    from wrencos_studio.ui.studio import Studio, fit_size

    assert fit_size(1280, 720, 700, 700) == (700, 394)
    assert fit_size(1280, 720, 400, 100) == (178, 100)
    assert fit_size(640, 480, 1, 1) == (1, 1)
    studio = Studio(tmp_path, port=0)
    ready: list[int] = []
    studio.preview_ready.connect(lambda: ready.append(1))
    studio.set_preview_size(200, 200)
    frame = av.VideoFrame(320, 180, "yuv420p")
    # BT.601 limited-range YUV of a strong orange: R ~ 255, G ~ 128, B ~ 0.
    for plane, value in zip(frame.planes, (151, 44, 201), strict=True):
        plane.update(bytes([value]) * plane.buffer_size)
    studio._on_preview(frame)
    studio._on_preview(frame)  # not painted yet: dropped
    assert ready == [1]
    image = studio.take_preview()
    assert image is not None and studio.take_preview() is None
    assert (image.width(), image.height()) == (200, 112)
    assert image.format() == QImage.Format.Format_RGB32
    colour = QColor(image.pixel(100, 56))
    assert colour.alpha() == 255
    assert colour.red() > 230 and 100 < colour.green() < 160 and colour.blue() < 30, colour.name()
