"""Running out of file descriptors: `serve` under a low limit refuses new connections,
keeps answering open ones, logs it at most once a second, and recovers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidMessage

from tests.helpers.clients import WsClient
from tests.helpers.serve import AsyncServe, serving
from wrencos_studio.hub.listener import (
    DescriptorGuard,
    GuardedListener,
    QuietAcceptErrors,
    open_listeners,
)

pytestmark = pytest.mark.slow

DESCRIPTOR_LIMIT = 128
CONNECTIONS = 200
WINDOW_S = 5.0

# `serve` with RLIMIT_NOFILE lowered first (this test process keeps its own, higher one).
LIMITED_PYTHON = [
    sys.executable,
    "-c",
    "import resource, runpy; "
    f"resource.setrlimit(resource.RLIMIT_NOFILE, ({DESCRIPTOR_LIMIT}, {DESCRIPTOR_LIMIT})); "
    "runpy.run_module('wrencos_studio', run_name='__main__', alter_sys=True)",
]


async def _try_connect(url: str) -> ClientConnection | None:
    """A WebSocket connection, or None when the server turned it away; either within 3 s
    (a connection left waiting in the listen queue fails the test)."""
    try:
        return await asyncio.wait_for(connect(url, open_timeout=None), 3)
    except TimeoutError:
        pytest.fail("a new connection was neither served nor refused within 3 s")
    except (InvalidHandshake, InvalidMessage, OSError, EOFError):
        return None


async def _ping_time(client: WsClient) -> float:
    started = time.monotonic()
    await client.send({"type": "ping"})
    await client.expect("pong", timeout=1.0)
    return time.monotonic() - started


def _lines(served: AsyncServe) -> list[str]:
    return [line for line in served.stderr().splitlines() if line.strip()]


async def _exhaust(served: AsyncServe, held: list[ClientConnection]) -> int:
    """Open up to CONNECTIONS WebSocket connections and hold them; how many were refused."""
    refused = 0
    for _ in range(CONNECTIONS):
        conn = await _try_connect(served.url)
        if conn is None:
            refused += 1
        else:
            held.append(conn)
    return refused


async def test_out_of_descriptors_refuses_quietly_and_keeps_serving(tmp_path: Path) -> None:
    """Under RLIMIT_NOFILE 128 with 200 connections: the extra ones are refused within
    3 s, a registered client's ping is answered within 1 s throughout, stderr gains at
    most one line a second, and once the connections close new clients get in."""
    async with serving(tmp_path, program=LIMITED_PYTHON) as served:
        registered = WsClient(await connect(served.url))
        await registered.send({"type": "register", "sessionId": "steady-customer"})
        await registered.expect("registered")

        held: list[ClientConnection] = []
        try:
            refused = await _exhaust(served, held)
            assert refused > 0, "the limit was never reached"
            assert len(held) > DESCRIPTOR_LIMIT // 2

            # Keep knocking while measuring: each refusal is a chance to log.
            lines_before = len(_lines(served))
            started = time.monotonic()
            slowest = 0.0
            while time.monotonic() - started < WINDOW_S:
                assert await _try_connect(served.url) is None
                slowest = max(slowest, await _ping_time(registered))
                await asyncio.sleep(0.05)
            window = time.monotonic() - started
            new_lines = _lines(served)[lines_before:]
            assert slowest < 1.0
            assert len(new_lines) <= window + 1, "\n".join(new_lines[:20])
            assert served.proc.returncode is None
            assert any("out of file descriptors" in line for line in _lines(served))
            assert "Traceback" not in served.stderr()
        finally:
            for conn in held:
                with contextlib.suppress(Exception):
                    await conn.close()

        # Descriptors are back: a new client gets in and is answered.
        deadline = time.monotonic() + 10
        while (fresh := await _try_connect(served.url)) is None:
            assert time.monotonic() < deadline, "no new connection accepted after recovery"
            await asyncio.sleep(0.2)
        await fresh.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(fresh.recv(), 3)) == {"type": "pong"}
        await fresh.close()
        assert await _ping_time(registered) < 1.0
        await registered.close()


def test_listeners_for_all_interfaces_share_one_port() -> None:
    """Host "" binds every address family on one port, even when the port is 0."""
    guard = DescriptorGuard()
    listeners = open_listeners("", 0, guard, backlog=8)
    try:
        assert len({sock.getsockname()[1] for sock in listeners}) == 1
        assert all(isinstance(sock, GuardedListener) for sock in listeners)
    finally:
        for sock in listeners:
            sock.close()
        guard.close()


def test_asyncios_own_accept_error_passes_once_a_second_as_one_line() -> None:
    """Without a spare descriptor asyncio's retry takes over; the filter lets its message
    through at most once a second, without the traceback, and leaves others alone."""
    guard = DescriptorGuard()
    quiet = QuietAcceptErrors(guard)
    try:
        raise OSError(24, "Too many open files")
    except OSError:
        exc_info = sys.exc_info()

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, msg, (), exc_info)

    first = record("socket.accept() out of system resource\nsocket: <...>")
    assert quiet.filter(first) and first.exc_info is None and "\n" not in first.getMessage()
    assert not quiet.filter(record("socket.accept() out of system resource\nsocket: <...>"))
    assert quiet.filter(record("Task exception was never retrieved"))
    guard.close()
