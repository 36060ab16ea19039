"""The studio process: the one qasync event loop, and the window on it (``main``)."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QApplication

from wrencos_studio.ui.studio import Station, Studio, chosen_data_dir

__all__ = ["main", "next_free_port", "open_studio"]

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


def next_free_port(port: int, tries: int = 50, host: str = "0.0.0.0") -> int | None:
    """The first port after ``port`` that nothing listens on (checked by binding it, as
    the hub will), or None among the next ``tries``."""
    import socket

    for candidate in range(port + 1, min(65536, port + 1 + tries)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, candidate))
            except OSError:
                continue
            return candidate
    return None


async def open_studio(window: Any, studio: Any) -> int | None:
    """Start the studio (or connect the station); None when it runs, else the exit code.

    A taken port is not the end: the presenter picks the next free port or opens
    Settings, and the start is tried again (``window.ask_port_in_use``). A station whose
    token is refused gets a dialog saying what to do (exit code 3). Other expected
    failures are a dialog and exit code 2; none prints a traceback."""
    import errno

    from wrencos_studio.ui.bridge import TokenRefused

    while True:
        try:
            await studio.start()
            return None
        except TokenRefused as exc:
            window.token_refused(str(exc))
            return 3
        except OSError as exc:
            log.info("could not start: %s", exc)
            if isinstance(studio, Studio) and exc.errno == errno.EADDRINUSE:
                port = studio.port_override or int(studio.settings["port"])
                choice = window.ask_port_in_use(port, next_free_port(port))
                if choice is None:
                    return 2
                studio.port_override = None  # from now on the settings' port
                if choice > 0:
                    studio.settings["port"] = choice
                    studio.settings.save()
                continue  # choice 0: Settings were saved; try their port
            what = "reach the studio" if isinstance(studio, Station) else "start its server"
            window.fatal(f"Wrencos Studio could not {what}: {exc}")
            return 2


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
        failure = await open_studio(window, studio)
        if failure is not None:
            code = failure
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
    return code or window.exit_code
