"""A client that stops reading is dropped before its backlog grows without bound."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

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
