"""The TCP proxy the page tests cut (tests/helpers/proxy.py): it forwards, a cut resets every
connection, and while refusing no new connection gets through."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.helpers.proxy import TcpProxy, proxying


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1])
    server.close()


@pytest.fixture
async def proxy(echo_port: int) -> AsyncIterator[TcpProxy]:
    async with proxying("127.0.0.1", echo_port) as running:
        yield running


async def roundtrip(port: int, data: bytes = b"hello") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(len(data)), 2)
    finally:
        writer.close()


async def test_forwards_cuts_refuses_and_allows_again(proxy: TcpProxy) -> None:
    """Bytes go through; a cut drops the open connection; refused until allowed."""
    assert await roundtrip(proxy.port) == b"hello"
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"x")
    assert await asyncio.wait_for(reader.readexactly(1), 2) == b"x"

    await proxy.cut()
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await asyncio.wait_for(reader.readexactly(1), 2)
    writer.close()
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await roundtrip(proxy.port)
    assert proxy.open_connections == 0

    proxy.allow()
    assert await roundtrip(proxy.port, b"back") == b"back"
