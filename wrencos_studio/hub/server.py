"""The asyncio adapter: a ``websockets`` server feeding the hub, and the fan-out writer.

Fan-out is where a chat hub spends its time, so outgoing frames bypass the
per-connection ``send()`` coroutine: a broadcast is encoded once and framed once
(compression is off, so the bytes are the same for everyone), queued on each
connection, and written once per connection per event-loop tick — under load
several messages share one system call. A connection whose unsent backlog stays
above a high-water mark (it stopped reading) is dropped instead of buffered
without bound, so it never slows the others.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from wrencos_studio.hub.engine import Hub, Outgoing
from wrencos_studio.hub.http import AllowedOrigins, Router, origin_allowed, text
from wrencos_studio.hub.listener import (
    DescriptorGuard,
    QuietAcceptErrors,
    open_listeners,
    watch_descriptors,
)

__all__ = ["FanoutWriter", "HubServer", "MediaRoute", "ServerStats", "WebSocketSink"]

#: Serves one WebSocket at ``/media`` until it closes (the broadcaster's fallback viewers).
MediaRoute = Callable[[ServerConnection], Awaitable[None]]

log = logging.getLogger(__name__)

OPEN = State.OPEN
CONFIRM_TIMEOUT_S = 30.0


@dataclass(slots=True)
class ServerStats:
    writes: int = 0
    bytes_written: int = 0
    slow_disconnects: int = 0
    origin_refused: int = 0


class WebSocketSink:
    """Queues frames for one connection until the writer's next flush."""

    __slots__ = ("conn", "fd", "pending", "protocol", "transport", "writer")

    def __init__(self, conn: ServerConnection, writer: FanoutWriter) -> None:
        self.conn = conn
        self.protocol = conn.protocol
        self.transport = conn.transport
        self.writer = writer
        #: The connection's socket, for the writer's direct write (-1: always through the
        #: transport, as for TLS, whose bytes on the socket are not the frames).
        self.fd = _plain_socket_fd(conn.transport)
        #: What the next flush writes: one frame, several, or nothing.
        self.pending: bytes | list[bytes] | None = None

    def deliver(self, message: Outgoing) -> bool:
        # Called once per connection per message: the hub's hottest Python. It marks the
        # connection dirty inline (no call), and keeps a lone frame as the bytes themselves:
        # a list per connection per message would be thousands of objects for the cyclic
        # garbage collector to track, and it ran often enough to show in profiles.
        pending = self.pending
        if pending is None:
            if self.protocol.state is not OPEN:
                return False
            self.pending = message.frame
            writer = self.writer
            writer.dirty.append(self)
            if not writer.scheduled:
                writer.schedule()
        elif isinstance(pending, bytes):
            self.pending = [pending, message.frame]
        else:
            pending.append(message.frame)
        return True

    async def confirm(self) -> bool:
        # A pong answers a ping sent after our frames: TCP keeps order, so the client
        # has read them all.
        self.writer.flush_one(self)
        try:
            waiter = await self.conn.ping()
            async with asyncio.timeout(CONFIRM_TIMEOUT_S):
                await waiter
        except (ConnectionClosed, TimeoutError, asyncio.CancelledError, RuntimeError):
            return False
        return True


def _plain_socket_fd(transport: Any) -> int:
    """The file descriptor of ``transport``'s TCP socket, or -1 when the bytes on it are not
    the ones written (TLS) or there is no socket (a pipe, a test's transport)."""
    if transport.get_extra_info("sslcontext") is not None:
        return -1
    sock = transport.get_extra_info("socket")
    if sock is None:
        return -1
    try:
        return int(sock.fileno())
    except (OSError, ValueError):
        return -1


class FanoutWriter:
    """Writes each dirty connection's queued frames once per loop tick, and polices backlogs."""

    def __init__(self, stats: ServerStats, high_water: int, hard_cap: int, grace_s: float) -> None:
        self.stats = stats
        self.high_water = high_water
        self.hard_cap = hard_cap
        self.grace_s = grace_s
        #: Connections with frames queued since the last flush, and whether one is due.
        self.dirty: list[WebSocketSink] = []
        self.scheduled = False
        self._loop = asyncio.get_running_loop()
        self._backlogged: dict[WebSocketSink, float] = {}
        self._watchdog: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._watchdog = asyncio.create_task(self._watch_backlogs(), name="backlog-watchdog")

    def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        self.flush()

    def schedule(self) -> None:
        """A flush at the end of this loop tick (after the other ready callbacks)."""
        self.scheduled = True
        self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Once per loop tick: one write per connection that has frames queued."""
        self.scheduled = False
        dirty, self.dirty = self.dirty, []
        self._write(dirty)

    def flush_one(self, sink: WebSocketSink) -> None:
        """Write one connection's queued frames now (before a ping that must follow them)."""
        self._write((sink,))

    def _write(self, sinks: Iterable[WebSocketSink]) -> None:
        """One write per sink of its queued frames, then police its backlog."""
        # One loop over the sinks, its body inlined: it runs once per delivery, where a call
        # and the attribute lookups would be a tenth of the hub's CPU beside the write.
        high_water = self.high_water
        writes = nbytes = 0
        write = os.write
        for sink in sinks:
            pending = sink.pending
            if pending is None:
                continue
            sink.pending = None
            transport = sink.transport
            # The library may have started the closing handshake since the frames were
            # queued: nothing may follow a close frame.
            if sink.protocol.state is not OPEN or transport.is_closing():
                continue
            data = pending if isinstance(pending, bytes) else b"".join(pending)
            writes += 1
            nbytes += len(data)
            if sink.fd >= 0 and not transport.get_write_buffer_size():
                # Nothing of this connection's waits in the transport, so the kernel may
                # take the frames now, in order: one write(2) on the socket, without the
                # transport's own write machinery (~4 % of `serve`'s CPU at 500 customers
                # × 50 msgs/s). What the kernel does not take goes to the transport,
                # which keeps it in order after these bytes.
                try:
                    sent = write(sink.fd, data)
                except (BlockingIOError, InterruptedError):
                    sent = 0
                except OSError:  # the connection broke: the transport's own write finds
                    sent = 0  # out and closes it as it always does
                if sent == len(data):
                    continue
                data = data[sent:]
            transport.write(data)
            backlog = transport.get_write_buffer_size()
            if backlog > high_water:
                self._watch(sink, backlog)
        self.stats.writes += writes
        self.stats.bytes_written += nbytes

    def _watch(self, sink: WebSocketSink, backlog: int) -> None:
        """A connection is behind: drop it past the hard cap, else start its clock."""
        if backlog > self.hard_cap:
            self._drop(sink, backlog)
        elif sink not in self._backlogged:
            self._backlogged[sink] = time.monotonic()

    def _drop(self, sink: WebSocketSink, backlog: int) -> None:
        self._backlogged.pop(sink, None)
        self.stats.slow_disconnects += 1
        log.warning(
            "dropping %s: it stopped reading (%d bytes unsent)",
            sink.conn.remote_address,
            backlog,
        )
        # It is not reading, so a closing handshake would never finish: abort.
        sink.transport.abort()

    async def _watch_backlogs(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.grace_s / 2))
            now = time.monotonic()
            for sink, since in list(self._backlogged.items()):
                transport = sink.transport
                if transport.is_closing():
                    self._backlogged.pop(sink, None)
                    continue
                backlog = transport.get_write_buffer_size()
                if backlog <= self.high_water // 2:
                    self._backlogged.pop(sink, None)
                elif now - since > self.grace_s or backlog > self.hard_cap:
                    self._drop(sink, backlog)


class HubServer:
    """Runs the hub on a host and port: WebSocket upgrades go to the hub, GETs to the router."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.settings = hub.settings
        self.stats = ServerStats()
        self.router = Router(hub, self.stats)
        #: Who else may open the WebSocket: the configured origins, plus those added while
        #: running (``App.start_tunnel`` adds a public tunnel's address, then removes it).
        self.allowed_origins = AllowedOrigins(self.settings.allowed_origins)
        #: The ``/media`` WebSocket route, while this process broadcasts (the composition
        #: root sets it); None: such connections are refused with 1008.
        self.media_route: MediaRoute | None = None
        #: One websockets server per listening socket (one per address ``host`` names).
        self._servers: list[Server] = []
        self._writer: FanoutWriter | None = None
        self._guard: DescriptorGuard | None = None
        self._quiet_accept_errors: QuietAcceptErrors | None = None
        self._watch: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        assert self._servers
        sockname: Any = next(iter(self._servers[0].sockets)).getsockname()
        return int(sockname[1])

    async def start(self) -> None:
        s = self.settings
        # Our own listening sockets, so that running out of file descriptors turns new
        # connections away quietly instead of flooding the log (hub/listener.py).
        guard = self._guard = DescriptorGuard()
        self._quiet_accept_errors = QuietAcceptErrors(guard)
        logging.getLogger("asyncio").addFilter(self._quiet_accept_errors)
        try:
            listeners = open_listeners(s.host, s.port, guard, backlog=2048)
        except BaseException:
            self._release_guard()
            raise
        self._writer = FanoutWriter(
            self.stats, s.slow_client_high_water, s.slow_client_hard_cap, s.slow_client_grace_s
        )
        self._writer.start()
        try:
            for listener in listeners:
                self._servers.append(await self._serve(listener))
        except BaseException:
            for listener in listeners:
                listener.close()
            await self.stop()
            raise
        if not isinstance(asyncio.get_running_loop(), asyncio.SelectorEventLoop):
            # uvloop (or another loop that accepts in C) never calls our accept(): watch.
            self._watch = asyncio.create_task(watch_descriptors(guard), name="fd-watch")

    def _serve(self, listener: socket.socket) -> Awaitable[Server]:
        s = self.settings
        return serve(
            self._handle_connection,
            sock=listener,
            process_request=self._process_request,
            compression=None,
            max_size=s.max_frame_bytes,
            max_queue=32,
            ping_interval=s.ping_interval_s,
            ping_timeout=s.ping_timeout_s,
            close_timeout=s.close_timeout_s,
            server_header="WrencosStudio",
            logger=logging.getLogger("wrencos_studio.websockets"),
            backlog=2048,
        )

    async def stop(self) -> None:
        """Tell clients we are going away (1001), wait briefly, then stop."""
        servers, self._servers = self._servers, []
        if self._writer is not None:
            self._writer.flush()
        for server in servers:
            server.close(close_connections=True)
        try:
            await asyncio.wait_for(
                asyncio.gather(*(server.wait_closed() for server in servers)),
                self.settings.close_timeout_s + 1,
            )
        except TimeoutError:
            log.warning("some connections did not close in time")
        if self._writer is not None:
            self._writer.stop()
        self._release_guard()

    def _release_guard(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self._quiet_accept_errors is not None:
            logging.getLogger("asyncio").removeFilter(self._quiet_accept_errors)
            self._quiet_accept_errors = None
        if self._guard is not None:
            self._guard.close()
            self._guard = None

    async def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        upgrade = request.headers.get("Upgrade", "")
        if "websocket" in upgrade.lower():
            origin = request.headers.get("Origin")
            if not origin_allowed(origin, request.headers, self.allowed_origins):
                self.stats.origin_refused += 1
                log.info("refused WebSocket from origin %r", origin)
                return text(403, "Origin not allowed\n")
            return None
        return await self.router.route(request)

    async def _handle_connection(self, conn: ServerConnection) -> None:
        assert self._writer is not None
        if conn.request is not None and urlsplit(conn.request.path).path == "/media":
            # The media fallback: the broadcast's packets for WebCodecs, no hub protocol.
            route = self.media_route
            if route is None:
                await conn.close(1008, "no broadcast on this server")
                return
            await route(conn)
            return
        sink = WebSocketSink(conn, self._writer)
        remote = conn.remote_address
        client = self.hub.connect(sink, f"{remote[0]}:{remote[1]}" if remote else "")
        handle = self.hub.handle
        try:
            async for data in conn:
                await handle(client, data)
        except ConnectionClosed:
            pass
        finally:
            self.hub.disconnect(client)
