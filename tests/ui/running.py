"""A real studio with its window on a qasync loop, for the window's tests, and the small
customer helpers they share."""

from __future__ import annotations

import asyncio
import gc
import json
from pathlib import Path
from typing import Any

import qasync
from PySide6.QtWidgets import QApplication
from websockets.asyncio.client import connect

__all__ = ["Running", "join_as_customer", "next_of_type"]


class _Loop(qasync.QEventLoop):
    """qasync's ``run_until_complete`` runs Qt's events once more after its loop stopped,
    with no running loop set: a task step run then (a hub handler resuming after the
    store answered) fails in ``get_running_loop``. The studio's loop runs forever, so only
    tests meet this; here that last pass counts as running."""

    def run_forever(self) -> Any:
        try:
            return super().run_forever()
        finally:
            asyncio.events._set_running_loop(self)

    def run_until_complete(self, future: Any) -> Any:
        try:
            return super().run_until_complete(future)
        finally:
            asyncio.events._set_running_loop(None)


class Running:
    """A studio with its window on a qasync loop; ``run()`` drives coroutines and Qt."""

    def __init__(self, data_dir: Path) -> None:
        from wrencos_studio.ui.studio import Studio
        from wrencos_studio.ui.window import MainWindow

        self.app = QApplication.instance() or QApplication([])
        # As ui/app.py sets it: the studio decides when it quits. Left on, a test that
        # deletes one window before opening the next (a relaunch) quits the application,
        # which stops the next window's loop in the middle of its start.
        self.app.setQuitOnLastWindowClosed(False)
        self.loop = _Loop(self.app)
        asyncio.set_event_loop(self.loop)
        self.studio = Studio(data_dir, port=0)
        self.window = MainWindow(self.studio)
        self.run(self.studio.start())
        self.window.started()
        self.window.show()

    def run(self, aw: Any, timeout: float = 20) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(aw, timeout))

    def until(self, predicate: Any, timeout: float = 10) -> None:
        async def wait() -> None:
            while not predicate():
                await asyncio.sleep(0.05)

        self.run(wait(), timeout)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.studio.port}"

    def close(self) -> None:
        self.window.live = False
        self.window.close()
        self.run(self.studio.shutdown())
        self.loop.close()
        # Collect the old loop's and window's Qt objects here, on the GUI thread: left to
        # the garbage collector they may be freed on a capture thread, under Qt's feet.
        gc.collect()
        asyncio.set_event_loop(None)


async def join_as_customer(url: str, sid: str) -> Any:
    ws = await connect(url)
    await ws.send(json.dumps({"type": "register", "sessionId": sid}))
    return ws


async def next_of_type(ws: Any, type_: str, timeout: float = 5) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        while True:
            msg = json.loads(await ws.recv())
            if msg.get("type") == type_:
                return msg

    return await asyncio.wait_for(read(), timeout)


def record_requests(bridge: Any, monkeypatch: Any) -> list[dict[str, Any]]:
    """Every message ``bridge`` sends from now on (still sent), in order."""
    sent: list[dict[str, Any]] = []
    original = bridge.request

    async def counting(msg: dict[str, Any]) -> None:
        sent.append(msg)
        await original(msg)

    monkeypatch.setattr(bridge, "request", counting)
    return sent
