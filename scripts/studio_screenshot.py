"""Screenshot of the real studio window, under Xvfb or offscreen:

    scripts/netns-run xvfb-run -s "-screen 0 1400x900x24" \
        .venv/bin/python scripts/studio_screenshot.py
    QT_QPA_PLATFORM=offscreen scripts/netns-run .venv/bin/python scripts/studio_screenshot.py

Starts the studio (test pattern), goes live, lets a few customers chat, ask for help and
like, pins two products, then renders into docs/screenshots/: the live layout
(studio.png, every dock in view), the inbox dock with a thread open (studio-inbox.png), a
staff station connected beside it (station.png), and the studio after its camera went
missing (studio-device-error.png: the still picture and the words saying what to do).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

import qasync
from PySide6.QtWidgets import QApplication
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def customers(url: str) -> None:
    for name, chat, question in (
        ("Dana", "Is the serum fragrance free?", None),
        ("Lee", "Love the packaging!", "Do you ship to Oslo?"),
        ("Ann", "Hi from Bergen", "Is the cream vegan?"),
    ):
        ws = await connect(url)
        await ws.send(json.dumps({"type": "register", "sessionId": f"shot-{name}-0001"}))
        await asyncio.sleep(0.1)
        await ws.send(json.dumps({"type": "chat_message", "username": name, "message": chat}))
        await ws.send(json.dumps({"type": "toggle_like"}))
        if question:
            await ws.send(
                json.dumps({"type": "customer_message", "message": question, "customerName": name})
            )
        await asyncio.sleep(0.2)


async def main(app: QApplication) -> None:
    from wrencos_studio.ui.studio import Studio
    from wrencos_studio.ui.window import MainWindow

    data = Path(tempfile.mkdtemp())
    (data / "studio-settings.json").write_text(json.dumps({"port": 0, "source": "testsrc"}))
    studio = Studio(data)
    window = MainWindow(studio)
    await studio.start()
    window.started()
    window.resize(1380, 860)
    window.show()
    for pid, name, price in (
        ("serum", "Hydrating Serum", 49.99),
        ("glow", "Vitamin C Glow", 39.0),
        ("cream", "Night Repair Cream", 54.5),
    ):
        await studio.bridge.request(
            {"type": "save_product", "product": {"productId": pid, "name": name, "price": price}}
        )
    window.broadcast.title_edit.setText("Spring serum launch")
    await studio.go_live("Spring serum launch", "Three new serums, live demo and Q&A")
    url = f"ws://127.0.0.1:{studio.port}"
    crowd = asyncio.ensure_future(customers(url))
    await asyncio.sleep(1.5)
    window.products.refresh()
    await asyncio.sleep(0.5)
    window.products.on_product_double_clicked(0, 0)
    window.products.on_product_double_clicked(2, 0)
    await studio.bridge.request(
        {"type": "chat_message", "username": "Shop", "message": "Yes, fully fragrance free!"}
    )
    await asyncio.sleep(2.5)
    out = ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)

    def save(widget: object, name: str) -> None:
        shot = widget.grab()  # type: ignore[attr-defined]  # works offscreen too
        shot.save(str(out / f"{name}.png"))
        print("wrote", out / f"{name}.png")

    window.inbox.select_row(0)
    await asyncio.sleep(1.0)
    save(window, "studio")
    save(window.docks["inbox"], "studio-inbox")

    from wrencos_studio.hub.auth import mint_token
    from wrencos_studio.ui.app import open_studio
    from wrencos_studio.ui.studio import Station

    secret = os.environ["WRENCOS_JWT_SECRET"]
    station = Station(url, mint_token(secret, "sam", "staff"), Path(tempfile.mkdtemp()))
    station_window = MainWindow(station)
    assert await open_studio(station_window, station) is None
    station_window.started()
    station_window.resize(1380, 860)
    station_window.show()
    await asyncio.sleep(2.0)
    station_window.inbox.select_row(0)
    await asyncio.sleep(1.0)
    save(station_window, "station")
    station_window.close()
    await station.shutdown()

    picker = window.broadcast.source  # the presenter picks a camera that is not there
    picker.insertItem(0, "Camera /dev/video-missing", "camera:/dev/video-missing")
    picker.setCurrentIndex(0)
    await asyncio.sleep(3.0)  # media_stats come once a second
    save(window, "studio-device-error")
    await crowd
    window.live = False
    window.close()
    await studio.shutdown()


if __name__ == "__main__":
    os.environ.setdefault("WRENCOS_JWT_SECRET", "screenshot-secret-" + "x" * 20)
    application = QApplication(sys.argv)
    application.setQuitOnLastWindowClosed(False)  # closing is part of the run, not the end
    loop = qasync.QEventLoop(application)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(main(application))
