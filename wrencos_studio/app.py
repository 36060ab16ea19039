"""The composition root: the one place that builds, starts and stops the program's parts.

In order: the store (SQLite), the broker (alone, or Redis with ``WRENCOS_REDIS_URL``),
the hub with its features, the HTTP/WebSocket server, and — when this process goes live —
the broadcaster; stopping runs the other way. ``serve`` (``cli.py``), the studio window
(``ui/app.py``) and the tests all use :class:`App` (qutebrowser's ``app.py`` is the model).
Media reaches the hub only through what is injected here: the ``/media`` route of the
server and the stats port of the hub. In-process clients (the studio's bridge, the
broadcaster) are :class:`~wrencos_studio.hub.local.LocalConnection` objects made by
:meth:`App.connect_local`.

No Qt is imported here (``serve`` never loads it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from wrencos_studio.config import Settings
from wrencos_studio.hub.broker import Broker, LocalBroker
from wrencos_studio.hub.engine import Hub
from wrencos_studio.hub.local import LocalConnection
from wrencos_studio.hub.protocol import OutboundMessage
from wrencos_studio.hub.server import HubServer
from wrencos_studio.store import Store, StoreError

if TYPE_CHECKING:
    from wrencos_studio.media.broadcaster import Broadcaster
    from wrencos_studio.media.encoder import VideoSettings
    from wrencos_studio.media.recording import Recordings
    from wrencos_studio.media.sources import SourceSpec
    from wrencos_studio.tunnel import Tunnel, TunnelClient

__all__ = ["App", "StartError", "run_blocking", "run_headless"]

log = logging.getLogger(__name__)


class StartError(Exception):
    """A part could not start; ``str(exc)`` says which and why, for a person to read.
    ``cause`` is the underlying error (an ``OSError`` when the port is taken)."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class App:
    """The running program: ``store``, ``hub``, ``server`` and, while live-capable,
    ``broadcaster`` (each None until started)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store: Store | None = None
        self.broker: Broker | None = None
        self.hub: Hub | None = None
        self.server: HubServer | None = None
        self.broadcaster: Broadcaster | None = None
        self._broadcaster_link: LocalConnection | None = None
        #: The public tunnel (``start_tunnel``), while one runs.
        self.tunnel: Tunnel | None = None
        self._tunnel_starting: asyncio.Future[Tunnel] | None = None
        #: Records every live show while a broadcaster runs (None: not yet, or switched off).
        self.recordings: Recordings | None = None

    @property
    def port(self) -> int:
        """The port the server listens on (after :meth:`start`)."""
        return self.server.port if self.server is not None else 0

    async def start(self) -> None:
        """Open the database, join the other hubs (if any), listen. Raises
        :class:`StartError`; whatever had started is stopped again first."""
        settings = self.settings
        store = Store(settings.db_path)
        try:
            store.open()
        except (StoreError, OSError, sqlite3.Error) as exc:
            store.close_sync()
            raise StartError(f"cannot open the database {settings.db_path}: {exc}", exc) from exc
        self.store = store
        try:
            self.broker = await self._make_broker()
            self.hub = Hub(settings, store, self.broker)
            try:
                self.hub.load()
            except (StoreError, OSError, sqlite3.Error) as exc:
                raise StartError(
                    f"cannot open the database {settings.db_path}: {exc}", exc
                ) from exc
            await self._join()
            self.server = HubServer(self.hub)
            try:
                await self.server.start()
            except OSError as exc:
                self.server = None
                raise StartError(
                    f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}",
                    exc,
                ) from exc
        except BaseException:
            await self.stop()
            raise

    async def _make_broker(self) -> Broker:
        url = self.settings.redis_url
        if not url:
            return LocalBroker()
        from wrencos_studio.hub.cluster import ClusterError, RedisBroker

        broker = RedisBroker(url)
        try:
            await broker.connect()
        except ClusterError as exc:
            raise StartError(str(exc), exc) from exc
        return broker

    async def _join(self) -> None:
        assert self.hub is not None
        if isinstance(self.broker, LocalBroker):
            await self.hub.join()
            return
        import redis

        from wrencos_studio.hub.cluster import ClusterError

        try:
            await self.hub.join()
        except (ClusterError, redis.RedisError, OSError) as exc:
            url = self.settings.redis_url
            raise StartError(f"cannot join the hubs at {url}: {exc}", exc) from exc

    def connect_local(
        self,
        on_message: Callable[[OutboundMessage], None],
        name: str,
        *,
        receiver_loop: asyncio.AbstractEventLoop | None = None,
    ) -> LocalConnection:
        """A new in-process client of the hub (typed messages, no JSON); with
        ``receiver_loop`` its messages are handed over on that loop, in batches (see
        ``LocalConnection``). Call on the hub's loop."""
        assert self.hub is not None, "start() first"
        return LocalConnection(self.hub, on_message, name, receiver_loop=receiver_loop)

    # -- the broadcaster ----------------------------------------------------------------------

    async def start_broadcaster(
        self,
        spec: SourceSpec,
        video: VideoSettings,
        *,
        announce: bool = True,
        microphone: str | None = None,
        on_preview: Callable[[Any], None] | None = None,
        on_audio_level: Callable[[float], None] | None = None,
    ) -> Broadcaster:
        """Capture ``spec``, encode once and (with ``announce``) offer it to every viewer;
        replaces a running broadcaster. Raises ValueError for malformed ICE servers."""
        from wrencos_studio.media.broadcaster import Broadcaster, parse_ice_servers

        assert self.hub is not None and self.server is not None, "start() first"
        await self.stop_broadcaster()
        broadcaster = Broadcaster(spec, video, parse_ice_servers(self.settings.ice_servers))
        broadcaster.on_preview = on_preview
        broadcaster.on_audio_level = on_audio_level
        broadcaster.microphone = microphone
        link = self.connect_local(broadcaster.on_hub_message, "broadcaster")
        await link.register_admin("studio-broadcaster")
        await broadcaster.start(link, announce=announce)
        self.broadcaster = broadcaster
        self._broadcaster_link = link
        self.hub.media = broadcaster
        self.server.media_route = broadcaster.serve_fallback
        if self.settings.recording:
            self._attach_recordings(broadcaster)
        self._attach_whip(broadcaster)
        if broadcaster.announced and broadcaster.whip is not None:  # live from the start
            assert broadcaster.fanout is not None
            broadcaster.fanout.add(broadcaster.whip)
            broadcaster.whip.start()
        self._attach_hls(broadcaster)
        return broadcaster

    def _attach_hls(self, broadcaster: Broadcaster) -> None:
        """The live stream as Low-Latency HLS at ``/live/`` (``media/hls.py``), while live."""
        from wrencos_studio.media.fmp4 import AacTrack, OpusTrack
        from wrencos_studio.media.hls import HlsStream
        from wrencos_studio.media.sources import aac_audio_specific_config

        assert self.server is not None and broadcaster.fanout is not None
        video = broadcaster.video_settings
        pipeline = broadcaster.pipeline

        def request_keyframe() -> None:
            if pipeline is not None:
                pipeline.request_keyframe()

        stream = HlsStream(
            video.width,
            video.height,
            request_keyframe,
            keyframe_interval_s=video.keyframe_interval_s,
            # AAC for Apple's own HLS, from the pipeline's one shared AAC encode.
            audio=AacTrack(aac_audio_specific_config()) if pipeline is not None else OpusTrack(),
        )
        if pipeline is not None:
            pipeline.add_aac_sink(stream.on_aac)
        broadcaster.fanout.add(stream)
        self.server.router.hls = stream

    def _detach_hls(self, broadcaster: Broadcaster) -> None:
        stream = self.server.router.hls if self.server is not None else None
        if stream is None:
            return
        if self.server is not None:
            self.server.router.hls = None
        if broadcaster.fanout is not None:
            broadcaster.fanout.remove(stream)
        if broadcaster.pipeline is not None:
            broadcaster.pipeline.remove_aac_sink(stream.on_aac)
        stream.close()

    def _attach_recordings(self, broadcaster: Broadcaster) -> None:
        from wrencos_studio.hub.features.timeline import Timeline
        from wrencos_studio.media.recording import Recordings

        assert self.hub is not None and broadcaster.fanout is not None
        timeline = self.hub.feature(Timeline)
        if self.recordings is None:
            self.recordings = Recordings(
                self.settings.recordings_dir,
                self.settings.recording_min_free_mb * 1024 * 1024,
                lambda s: timeline.recording_status(s.state, s.replay_id, s.message, s.free_bytes),
            )
            self.recordings.on_stopped_early = timeline.stopped_early
        pipeline = broadcaster.pipeline

        def request_keyframe() -> None:
            if pipeline is not None:
                pipeline.request_keyframe()

        self.recordings.attach(broadcaster.fanout, broadcaster.video_settings, request_keyframe)
        timeline.attach_recorder(self.recordings)

    async def stop_broadcaster(self) -> None:
        """Stop capturing and let every viewer go (no-op without a broadcaster)."""
        broadcaster, self.broadcaster = self.broadcaster, None
        if broadcaster is None:
            return
        if self.server is not None:
            self.server.media_route = None
        if self.hub is not None:
            self.hub.media = None
        if self.recordings is not None:
            self.recordings.detach()  # a recording goes on with the next broadcaster
        self._detach_hls(broadcaster)
        await broadcaster.stop()
        if self._broadcaster_link is not None:
            self._broadcaster_link.close()
            self._broadcaster_link = None

    # -- WHIP egress (RFC 9725) -------------------------------------------------------------
    # With WRENCOS_WHIP_URL set, the broadcaster publishes its encoded stream to that
    # endpoint while live (started on Go Live, DELETEd on End and on quit: the
    # broadcaster's announce/withdraw); how it goes is in media_stats' "whip" entry,
    # which the studio's health line shows. See media/whip.py.

    def _attach_whip(self, broadcaster: Broadcaster) -> None:
        if not self.settings.whip_url:
            return
        from wrencos_studio.media.broadcaster import parse_ice_servers
        from wrencos_studio.media.whip import WhipPublisher

        def request_keyframe() -> None:
            if broadcaster.pipeline is not None:
                broadcaster.pipeline.request_keyframe()

        def on_status(state: str, message: str) -> None:
            log.info("WHIP %s: %s", state, message)

        broadcaster.whip = WhipPublisher(
            self.settings.whip_url,
            self.settings.whip_token,
            request_keyframe,
            ice_servers=parse_ice_servers(self.settings.ice_servers),
            on_status=on_status,
        )

    # -- the public tunnel ---------------------------------------------------------------------

    async def start_tunnel(
        self,
        *,
        client: TunnelClient | None = None,
        timeout_s: float | None = None,
        on_exit: Callable[[str], None] | None = None,
    ) -> Tunnel:
        """Share outside this network: start a tunnel client for our port (the first
        installed one unless ``client`` says which; see ``wrencos_studio.tunnel``), wait
        for its public address and allow that origin on the WebSocket until the tunnel
        stops — a tunnel that rewrites ``Host`` would otherwise get 403 for every customer.
        Replaces a running tunnel. Raises ``TunnelError`` (``NoTunnelClient`` with the
        install advice) with a sentence for the presenter. ``on_exit(why)`` is called if
        the client later exits by itself (its origin is no longer allowed by then)."""
        from wrencos_studio.tunnel import DEFAULT_START_TIMEOUT_S, start_tunnel

        assert self.server is not None, "start() first"
        await self.stop_tunnel()
        # A task, so that stopping (the studio quitting while the client is still
        # starting) can cancel it: start_tunnel then ends the client it started.
        starting = asyncio.ensure_future(
            start_tunnel(
                self.port,
                client=client,
                timeout_s=DEFAULT_START_TIMEOUT_S if timeout_s is None else timeout_s,
            )
        )
        self._tunnel_starting = starting
        try:
            tunnel = await starting
        finally:
            if self._tunnel_starting is starting:
                self._tunnel_starting = None
        server = self.server
        assert server is not None  # stop() cancels a tunnel still starting first
        server.allowed_origins.add(tunnel.origin)

        def exited(gone: Tunnel, why: str) -> None:
            if self.tunnel is gone:
                self.tunnel = None
                server.allowed_origins.discard(gone.origin)
            if on_exit is not None:
                on_exit(why)

        tunnel.on_exit = exited
        self.tunnel = tunnel
        return tunnel

    async def stop_tunnel(self) -> None:
        """Stop the public tunnel (and all it started) and stop allowing its origin; a
        tunnel still starting is cancelled (its ``start_tunnel`` raises CancelledError).
        No-op without one."""
        starting, self._tunnel_starting = self._tunnel_starting, None
        if starting is not None and not starting.done():
            starting.cancel()
            await asyncio.wait({starting})  # its client ended; raises nothing here
        tunnel, self.tunnel = self.tunnel, None
        if tunnel is None:
            return
        if self.server is not None:
            self.server.allowed_origins.discard(tunnel.origin)
        await tunnel.stop()

    # -- stopping -------------------------------------------------------------------------

    async def end_stream(self) -> None:
        """End the live stream, if any (the studio does on quit; ``serve`` keeps it)."""
        from wrencos_studio.hub.features import Stream

        if self.hub is not None:
            await self.hub.feature(Stream).end_for_shutdown()

    async def stop(self) -> None:
        """Stop everything that started, in reverse order; safe to call twice."""
        await self.stop_tunnel()
        if self.hub is not None and self.recordings is not None:
            from wrencos_studio.hub.features.timeline import Timeline

            # Still live (``serve`` keeps its stream across restarts): the file is closed
            # cleanly and the recording marked cut short.
            await self.hub.feature(Timeline).finish("interrupted", "the studio stopped")
        await self.stop_broadcaster()
        if self.server is not None:
            await self.server.stop()
            self.server = None
        if self.hub is not None:
            await self.hub.drain()
        if self.broker is not None:
            await self.broker.stop()
            self.broker = None
        if self.store is not None:
            await self.store.close()
            self.store = None

    def close_now(self) -> None:
        """Last resort when the event loop is gone: kill the tunnel, stop capturing, close
        the database."""
        if self.tunnel is not None:
            self.tunnel.kill_now()
            self.tunnel = None
        if self.broadcaster is not None and self.broadcaster.pipeline is not None:
            self.broadcaster.pipeline.stop()
        if self.store is not None:
            self.store.close_sync()


def run_blocking(
    settings: Settings, source: str = "none", demo: bool = False, share_tunnel: bool = False
) -> int:
    """Run :func:`run_headless` on its own event loop until it ends: uvloop where it is
    installed (its sockets and callbacks cost less per message, which is most of a busy
    hub's time), else asyncio's own; ``WRENCOS_EVENT_LOOP=asyncio`` forces asyncio's, e.g.
    to compare the two. The studio window runs on qasync instead (``ui/app.py``)."""
    import os

    if os.environ.get("WRENCOS_EVENT_LOOP", "").lower() != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(
                run_headless(settings, source=source, demo=demo, share_tunnel=share_tunnel)
            )
    return asyncio.run(run_headless(settings, source=source, demo=demo, share_tunnel=share_tunnel))


async def run_headless(
    settings: Settings,
    on_ready: Callable[[str], None] | None = None,
    source: str = "none",
    demo: bool = False,
    share_tunnel: bool = False,
) -> int:
    """``serve``: run until SIGINT/SIGTERM; 0 on a clean stop, 2 if it could not start.

    Prints ``listening on http://HOST:PORT`` (tests and scripts wait for it) and the
    customer addresses. ``source`` is a ``--source`` value (``none``: no broadcaster);
    ``demo`` adds a demo catalog and goes live with two pins. ``share_tunnel`` starts a
    public tunnel (``App.start_tunnel``) and prints ``public page: URL``; if none can
    start, it says why on stderr and serves the network alone.
    """
    import sys

    from wrencos_studio.addresses import customer_urls

    app = App(settings)
    try:
        await app.start()
    except StartError as exc:
        print(f"wrencos-studio: {exc}", file=sys.stderr)
        return 2
    try:
        stop = asyncio.Event()
        _install_signal_handlers(stop)
        if source != "none":
            from wrencos_studio.media.encoder import VideoSettings
            from wrencos_studio.media.sources import parse_source

            video = VideoSettings(
                settings.video_width,
                settings.video_height,
                settings.video_fps,
                settings.video_bitrate,
            )
            await app.start_broadcaster(parse_source(source), video)
            if demo:
                from wrencos_studio.demo import set_up_demo

                await set_up_demo(app)
        url = f"http://{settings.host}:{app.port}"
        print(f"listening on {url}", flush=True)
        for page in customer_urls(settings.host, app.port):
            print(f"customer page: {page}", flush=True)
        if share_tunnel:
            await _share_tunnel(app)
        if on_ready is not None:
            on_ready(url)
        await stop.wait()
        log.info("stopping")
    finally:
        await app.stop()
    log.info("stopped cleanly")
    return 0


async def _share_tunnel(app: App) -> None:
    import sys

    from wrencos_studio.tunnel import TunnelError

    def exited(why: str) -> None:
        print(f"wrencos-studio: the public page is gone: {why}", file=sys.stderr, flush=True)

    try:
        tunnel = await app.start_tunnel(on_exit=exited)
    except TunnelError as exc:
        print(f"wrencos-studio: cannot share outside this network: {exc}", file=sys.stderr)
        return
    print(f"public page: {tunnel.url}/", flush=True)


def _install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows
            with contextlib.suppress(ValueError):
                signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
