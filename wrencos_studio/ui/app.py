"""The studio process: the one qasync event loop, and the window on it (``main``)."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QApplication

from wrencos_studio.ui.studio import Station, Studio, chosen_data_dir

__all__ = ["main"]

log = logging.getLogger(__name__)


def _quit_on_signals(loop: asyncio.AbstractEventLoop, window: Any) -> None:
    """SIGTERM/SIGINT close the window like the presenter would (no question asked)."""
    import signal

    def close() -> None:
        window.live = False  # a signal means it: no "quit while live?" dialog
        window.close()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, close)
        except (NotImplementedError, RuntimeError):
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(close))


def main(
    argv: list[str] | None = None,
    data_dir: Path | None = None,
    station: tuple[str, str] | None = None,
) -> int:
    """Open the studio window (or, with ``station=(url, token)``, a staff station)."""
    import qasync

    from wrencos_studio.ui.window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv if argv is None else argv)
    app.setApplicationName("Wrencos Studio")
    # We end the loop ourselves, after the orderly shutdown (viewers told, database closed).
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    studio: Any = (
        Station(station[0], station[1], data_dir or chosen_data_dir())
        if station
        else Studio(data_dir or chosen_data_dir())
    )
    window = MainWindow(studio)
    done = asyncio.Event()
    code = 0

    async def run() -> None:
        nonlocal code
        try:
            await studio.start()
        except OSError as exc:
            what = "reach the studio" if station else "start its server"
            window.fatal(f"Wrencos Studio could not {what}: {exc}")
            code = 2
            return
        window.started()
        window.show()
        if not station:
            print(f"listening on http://0.0.0.0:{studio.port}", flush=True)
        _quit_on_signals(loop, window)
        await done.wait()

    window.quit_requested.connect(done.set)
    with loop:
        try:
            loop.run_until_complete(run())
            loop.run_until_complete(studio.shutdown())
        except RuntimeError as exc:  # Qt stopped the loop under us (the display went away)
            log.error("the window's event loop stopped early (%s); closing what is open", exc)
            studio.close_now()
            code = code or 1
    return code
