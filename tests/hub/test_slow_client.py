"""A client that stops reading is dropped before its backlog grows without bound."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from tests.conftest import RunningHub


async def test_stalled_reader_is_dropped_and_others_keep_up(tmp_path: Path) -> None:
    """Heavy fan-out with one stalled reader: it is cut off, a reading client gets everything."""
    hub = RunningHub(
        tmp_path / "d",
        slow_client_high_water=64 * 1024,
        slow_client_hard_cap=4 * 1024 * 1024,
        slow_client_grace_s=1.0,
    )
    await hub.start()
    try:
        admins = [await hub.admin(f"a{i}") for i in range(4)]
        reader = await hub.customer("reader")
        stalled = await hub.customer("stalled")
        sock = stalled.conn.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.conn.transport.pause_reading()  # it stops reading, but stays connected

        big = [
            {"productId": f"p{i}", "name": "n" * 200, "description": "d" * 1000, "price": 1}
            for i in range(40)
        ]
        sent = 0
        got = 0
        server = hub.server
        assert server is not None
        peak_backlog = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while server.stats.slow_disconnects == 0 and loop.time() < deadline:
            for a in admins:
                await a.send({"type": "pin_products", "pinnedProducts": big})
                sent += 1
            # The reading client keeps up with every broadcast.
            while got < sent:
                msg = await reader.recv(5)
                if msg["type"] == "pinned_products_updated":
                    got += 1
            for a in admins:
                await a.quiet(0)
            assert hub.hub is not None
            for client in hub.hub.clients:
                sink = client.sink
                backlog = sink.transport.get_write_buffer_size()  # type: ignore[attr-defined]
                peak_backlog = max(peak_backlog, backlog)
            await asyncio.sleep(0.02)
        assert server.stats.slow_disconnects == 1, "the stalled reader was never dropped"
        # Bounded: never much past the hard cap (one write's worth of frames at most).
        assert peak_backlog < 4 * 1024 * 1024 + 256 * 1024
        assert sent > 20 and got == sent
        await asyncio.sleep(0.2)
        assert hub.hub is not None
        health_customers = sum(len(g) for g in hub.hub.sessions.values())
        assert health_customers == 1  # only the reader is left
        await reader.send({"type": "ping"})
        assert await reader.expect("pong")
    finally:
        await hub.stop()


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_a_direct_write_never_jumps_ahead_of_bytes_waiting_in_the_transport(
    loop_kind: str,
) -> None:
    """On asyncio's loop and on uvloop's (``serve``'s), see ``_direct_write_in_order``."""
    if loop_kind == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        uvloop.run(_direct_write_in_order())
    else:
        asyncio.run(_direct_write_in_order())


async def _direct_write_in_order() -> None:
    """The writer writes a connection's frames straight to its socket only while nothing of
    it waits in the transport. Here a real TCP connection's kernel buffers fill (the reader
    stops), the rest waits in the transport, then the reader empties the kernel's buffers
    *before* the transport had a chance to write what it holds (no loop pass between): the
    next frames must still go behind the waiting bytes, and every byte arrives in order."""
    from types import SimpleNamespace

    from websockets.protocol import State

    from wrencos_studio.hub.server import FanoutWriter, ServerStats, WebSocketSink

    loop = asyncio.get_running_loop()
    made: asyncio.Future[asyncio.Transport] = loop.create_future()

    class Accept(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            made.set_result(transport)  # type: ignore[arg-type]

    server = await loop.create_server(Accept, "127.0.0.1", 0)
    reader = socket.create_connection(server.sockets[0].getsockname()[:2])
    try:
        transport = await made
        writer = FanoutWriter(ServerStats(), high_water=1 << 30, hard_cap=1 << 31, grace_s=60)
        conn = SimpleNamespace(protocol=SimpleNamespace(state=State.OPEN), transport=transport)
        sink = WebSocketSink(conn, writer)  # type: ignore[arg-type]
        assert sink.fd >= 0

        def frame(i: int) -> SimpleNamespace:  # 64 KB, numbered all through
            return SimpleNamespace(frame=f"<{i:06d}>".encode() * 8000)

        sent = 0
        while transport.get_write_buffer_size() == 0:  # until the kernel takes no more
            sink.deliver(frame(sent))  # type: ignore[arg-type]
            writer.flush()
            sent += 1
        assert sent < 1000
        received = bytearray()
        reader.setblocking(False)
        idle = 0
        while idle < 5:  # the kernel's buffers on both ends emptied, without a loop pass
            try:
                while chunk := reader.recv(1 << 20):
                    received += chunk
                    idle = 0
            except BlockingIOError:
                idle += 1
                time.sleep(0.01)
        assert transport.get_write_buffer_size() > 0  # still waiting in the transport
        for _ in range(3):  # the transport still holds bytes: these go behind them
            sink.deliver(frame(sent))  # type: ignore[arg-type]
            writer.flush()
            sent += 1
        expected = b"".join(f"<{i:06d}>".encode() * 8000 for i in range(sent))
        deadline = loop.time() + 10
        while len(received) < len(expected) and loop.time() < deadline:
            await asyncio.sleep(0.01)  # the transport writes what it holds
            try:
                while chunk := reader.recv(1 << 20):
                    received += chunk
            except BlockingIOError:
                pass
        assert len(received) == len(expected)
        assert received == expected
    finally:
        reader.close()
        server.close()
