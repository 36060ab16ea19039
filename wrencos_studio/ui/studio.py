"""The studio and a staff station as the window sees them: the program (``app.App``) in
this process or a studio elsewhere, the bridge to its hub, the settings file, and what the
window may do (its capabilities)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from wrencos_studio.app import App, StartError
from wrencos_studio.config import Settings
from wrencos_studio.loop_thread import LoopThread
from wrencos_studio.ui.capabilities import STATION, STUDIO, Capabilities, station_capabilities

__all__ = ["Station", "Studio", "StudioSettings", "chosen_data_dir", "remember_data_dir"]

log = logging.getLogger(__name__)

T = TypeVar("T")

SETTINGS_FILE = "studio-settings.json"
#: swscale's name for the byte layout of QImage.Format_RGB32 (0xffRRGGBB as a native uint32).
_RGB32_LAYOUT = "bgra" if sys.byteorder == "little" else "argb"


def fit_size(width: int, height: int, box_width: int, box_height: int) -> tuple[int, int]:
    """The largest ``(width, height)`` in pixels with ``width:height``'s aspect that fits in
    the box (each side at least 1): how the preview scales a captured frame."""
    scale = min(box_width / width, box_height / height)
    return max(1, min(box_width, round(width * scale))), max(
        1, min(box_height, round(height * scale))
    )


class StudioSettings:
    """What the presenter sets in the studio, kept as JSON in the data dir."""

    DEFAULTS: ClassVar[dict[str, Any]] = {
        "port": 3000,
        "source": "testsrc",
        "video_size": "1280x720",
        "fps": 30,
        "bitrate": 2_500_000,
        "ice_servers": "",
        "allowed_origins": "",
        "title": "",
        "description": "",
        "host_name": "Shop",
        "microphone": "",
        # Alerts for new support messages (ui/alerts.py): the chime, the notifications.
        "alert_sound": True,
        "alert_notifications": True,
        "record_shows": True,  # issue 14; WRENCOS_RECORDING=0 turns it off too
        "list_replays": False,  # /replays lists past shows (or WRENCOS_LIST_REPLAYS=1)
        # Issue 15: WHIP egress and external playback; "" leaves it to the environment.
        "whip_url": "",
        "whip_token": "",
        "public_hls_url": "",
        "whep_url": "",
    }

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / SETTINGS_FILE
        self.values = dict(self.DEFAULTS)
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                self.values.update({k: v for k, v in loaded.items() if k in self.DEFAULTS})
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable settings %s: %s", self.path, exc)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.values[key] = value

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.values, indent=2), encoding="utf-8")
        os.replace(tmp, self.path)  # never a half-written settings file


class Studio(QObject):
    """The studio: the program (``wrencos_studio.app.App``) in this process, the window's
    bridge to its hub, and the source the presenter chose.

    The program runs on its own event loop and thread (:attr:`program`, a
    :class:`~wrencos_studio.loop_thread.LoopThread`), as ``serve`` would; this object's
    coroutines run on the window's qasync loop and hand the program's work over with
    ``await self.on_program(…)``. Reading the program's state from the window (the hub's
    stream, the port) is fine; changing it goes through the program's loop."""

    capabilities: Capabilities = STUDIO
    #: A preview frame waits in ``take_preview()`` (emitted on the capture thread, queued).
    preview_ready = Signal()
    audio_level = Signal(float)
    live_changed = Signal(bool)
    status = Signal(str)

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.settings = StudioSettings(data_dir)
        self.port_override = port
        self.app: App | None = None
        self.program: LoopThread | None = None
        self.bridge: Any = None
        self.live_since: float | None = None
        self._source_lock = asyncio.Lock()
        # The preview's hand-over between the capture thread and the GUI: the size to scale
        # to, and at most one frame not yet taken (newer ones are dropped until it is).
        self._preview_lock = threading.Lock()
        self._preview_size = (640, 360)
        self._preview_image: QImage | None = None

    @property
    def port(self) -> int:
        return self.app.port if self.app is not None else 0

    @property
    def hub(self) -> Any:
        """The in-process hub (None before start)."""
        return self.app.hub if self.app is not None else None

    @property
    def broadcaster(self) -> Any:
        """The running broadcaster, if any."""
        return self.app.broadcaster if self.app is not None else None

    async def start(self) -> None:
        """Start the program and the preview; raises OSError when the port is taken (or
        the database cannot be opened), with the reason as its text."""
        s = self.settings
        port = self.port_override if self.port_override is not None else int(s["port"])
        origins = tuple(o.strip() for o in str(s["allowed_origins"]).split(",") if o.strip())
        try:
            settings = Settings.from_env(
                port=port,
                data_dir=self.data_dir,
                ice_servers=s["ice_servers"],
                allowed_origins=origins or None,
                # Off here is off; on leaves it to the environment (on by default).
                recording=None if s["record_shows"] else False,
                list_replays=True if s["list_replays"] else None,
                whip_url=s["whip_url"] or None,
                whip_token=s["whip_token"] or None,
                public_hls_url=s["public_hls_url"] or None,
                whep_url=s["whep_url"] or None,
            )
        except ValueError as exc:  # a bad setting (currency, locale, recording): in words
            raise OSError(str(exc)) from exc
        if self.program is None:
            self.program = LoopThread("wrencos-hub")
            self.program.start()
        self.app = App(settings)
        try:
            await self.on_program(self.app.start())
        except StartError as exc:
            self.app = None
            if isinstance(exc.cause, OSError):
                raise OSError(exc.cause.errno, str(exc)) from exc
            raise OSError(str(exc)) from exc
        from wrencos_studio.ui.bridge import LocalBridge

        self.bridge = LocalBridge(self.app.connect_local, self.program)
        await self.bridge.start()
        await self.start_source(str(s["source"]))
        assert self.app.hub is not None
        if self.app.hub.stream is not None:  # the studio quit or crashed while live
            self.live_since = time.monotonic()
            await self.on_program(self.broadcaster.announce())
            self.live_changed.emit(True)

    async def on_program(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` run on the program's loop (the hub's, the broadcaster's)."""
        assert self.program is not None, "start() first"
        return await self.program.run(coro)

    async def start_source(self, source: str) -> None:
        """(Re)open the camera, file or test source for the preview and the broadcast."""
        async with self._source_lock:  # one restart at a time, in the order asked
            await self._start_source(source)

    async def _start_source(self, source: str) -> None:
        from wrencos_studio.media.encoder import VideoSettings
        from wrencos_studio.media.sources import SourceError, microphone_present, parse_source

        assert self.app is not None and self.program is not None
        was_live = self.broadcaster is not None and self.broadcaster.announced
        try:
            spec = parse_source(source)
        except SourceError as exc:
            self.status.emit(str(exc))
            spec = parse_source("testsrc")
        w, h = (int(x) for x in str(self.settings["video_size"]).split("x"))
        video = VideoSettings(w, h, int(self.settings["fps"]), int(self.settings["bitrate"]))
        await self.on_program(
            self.app.start_broadcaster(
                spec,
                video,
                announce=was_live,
                # No microphone on this machine: none is tried (the window says so).
                microphone=str(self.settings["microphone"]) if microphone_present() else "none",
                on_preview=self._on_preview,
                on_audio_level=self._on_audio_level,
            )
        )

    def _on_audio_level(self, level: float) -> None:
        # Capture thread. A pipeline stopping may still deliver one level after the window
        # and this object were deleted (at quit); that level is dropped, not a crash of
        # the capture thread.
        with contextlib.suppress(RuntimeError):
            self.audio_level.emit(level)

    def set_preview_size(self, width: int, height: int) -> None:
        """The preview widget's size: frames are scaled to fit it before they reach the GUI."""
        with self._preview_lock:
            self._preview_size = (max(1, width), max(1, height))

    def take_preview(self) -> QImage | None:
        """The latest preview frame, ready to paint as it is (GUI thread)."""
        with self._preview_lock:
            image, self._preview_image = self._preview_image, None
        return image

    def _on_preview(self, frame: Any) -> None:
        # Capture thread, with the captured frame (the capture's size and format): one
        # swscale pass makes it the preview's size in the layout painting needs no work
        # for (QImage's RGB32 is 0xffRRGGBB in native order: BGRA bytes on little-endian
        # machines), so the GUI thread only paints. A frame not yet painted means the GUI
        # is busy: this one is dropped rather than queued behind it.
        with self._preview_lock:
            if self._preview_image is not None:
                return
            box_w, box_h = self._preview_size
        width, height = fit_size(frame.width, frame.height, box_w, box_h)
        scaled = frame.reformat(
            width, height, _RGB32_LAYOUT, interpolation="AREA", threads=1
        )  # one thread: a small picture, and no pool to wake 10 times a second
        plane = scaled.planes[0]
        # QImage does not own a buffer it is given: copy() makes the image that does.
        image = QImage(
            bytes(plane), width, height, plane.line_size, QImage.Format.Format_RGB32
        ).copy()
        with self._preview_lock:
            self._preview_image = image
        with contextlib.suppress(RuntimeError):  # deleted at quit: see _on_audio_level
            self.preview_ready.emit()

    def store_image(self, path: str) -> str:
        """Check, clean and store a product image in the data dir's uploads; its URL on
        the hub. Raises ValueError (``ImageRejected``) with a message for the presenter."""
        from wrencos_studio.catalog.images import store_product_image

        return store_product_image(path, self.data_dir / "uploads").url

    def replay_location(self, replay_id: str) -> tuple[str, Path | None]:
        """A past show's replay: ``(the customers' address of its page, its recording
        file on this machine or None when there is none)`` (the recording issue)."""
        from wrencos_studio.addresses import customer_urls

        base = customer_urls("0.0.0.0", self.port)[0]
        file = None
        if self.app is not None:
            candidate = self.app.settings.recordings_dir / f"{replay_id}.mp4"
            file = candidate if candidate.is_file() else None
        return f"{base}replay/{replay_id}", file

    async def go_live(self, title: str, description: str) -> None:
        assert self.bridge is not None and self.broadcaster is not None
        self.settings["title"], self.settings["description"] = title, description
        self.settings.save()
        await self.bridge.start_stream(title, description)
        await self.on_program(self.broadcaster.announce())
        self.live_since = time.monotonic()
        self.live_changed.emit(True)

    async def end(self) -> None:
        assert self.bridge is not None
        await self.bridge.stop_stream()
        if self.broadcaster is not None:
            await self.on_program(self.broadcaster.withdraw())
        self.live_since = None
        self.live_changed.emit(False)

    async def start_tunnel(self, client: Any, on_exit: Callable[[str], None]) -> Any:
        """Share outside this network (``App.start_tunnel``): the running ``Tunnel``;
        ``on_exit(why)`` is called on the window's loop if the client ends by itself.
        Raises ``TunnelError``/``NoTunnelClient`` with the reason."""
        assert self.app is not None
        window_loop = asyncio.get_running_loop()

        def exited(why: str) -> None:  # on the program's loop: over to the window's
            with contextlib.suppress(RuntimeError):  # the window's loop is gone
                window_loop.call_soon_threadsafe(on_exit, why)

        return await self.on_program(self.app.start_tunnel(client=client, on_exit=exited))

    async def stop_tunnel(self) -> None:
        """Stop sharing outside this network (no-op without a tunnel)."""
        if self.app is not None:
            await self.on_program(self.app.stop_tunnel())

    def close_now(self) -> None:
        """Last resort when the event loop is gone: stop capturing, close the database."""
        if self.app is not None:
            self.app.close_now()
        if self.program is not None:
            self.program.stop(timeout=2)

    async def shutdown(self) -> None:
        """Quitting: viewers are told the stream stopped; the database is closed."""
        if self.app is None:
            if self.program is not None:
                self.program.stop()
            return
        # The window is closing: it gets nothing more (a message handed over after its
        # widgets are gone would reach deleted objects).
        if self.bridge is not None:
            self.bridge.stop()
        assert self.program is not None
        try:
            await self.on_program(self.app.end_stream())
            await self.on_program(self.app.stop())
        finally:
            self.program.stop()


class Station(QObject):
    """A staff station: the studio's panels, connected to a studio on another machine."""

    capabilities: Capabilities = STATION
    preview_ready = Signal()
    audio_level = Signal(float)
    live_changed = Signal(bool)
    status = Signal(str)

    def __init__(self, url: str, token: str, data_dir: Path) -> None:
        super().__init__()
        from urllib.parse import urlsplit

        from wrencos_studio.ui.bridge import RemoteBridge, token_claims

        # What the window offers follows the token's role (unchecked here: the studio
        # checks it, and refuses what the role may not do anyway).
        self.capabilities = station_capabilities(token_claims(token).get("role"))
        self.url = url
        parts = urlsplit(url)
        scheme = "https" if parts.scheme == "wss" else "http"
        self.page_url = f"{scheme}://{parts.netloc}/"
        self.data_dir = data_dir
        self.settings = StudioSettings(data_dir)
        self.bridge = RemoteBridge(url, token)
        self.hub = None
        self.broadcaster = None
        self.live_since: float | None = None
        self.port = parts.port or (443 if scheme == "https" else 80)

    async def start(self) -> None:
        await self.bridge.start()

    def store_image(self, path: str) -> str:
        raise ValueError("images are added on the studio's own machine")

    def replay_location(self, replay_id: str) -> tuple[str, Path | None]:
        """A past show's replay page on the studio it connects to; its recording lives
        on that machine, so there is no file here to export (None)."""
        return f"{self.page_url}replay/{replay_id}", None

    async def shutdown(self) -> None:
        await self.bridge.stop_async()

    def close_now(self) -> None:
        pass


def remember_data_dir(path: Path) -> None:
    """The studio's data folder, kept in Qt's per-user settings (used at the next start;
    WRENCOS_DATA_DIR still wins)."""
    from PySide6.QtCore import QSettings

    QSettings("Wrencos", "Wrencos Studio").setValue("dataDir", str(path))


def chosen_data_dir() -> Path:
    from PySide6.QtCore import QSettings

    from wrencos_studio.config import default_data_dir

    if os.environ.get("WRENCOS_DATA_DIR"):
        return default_data_dir()
    value = QSettings("Wrencos", "Wrencos Studio").value("dataDir")
    return Path(str(value)).expanduser() if value else default_data_dir()
