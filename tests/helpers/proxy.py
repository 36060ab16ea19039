"""A TCP proxy a test controls: it forwards 127.0.0.1 traffic to a real server and can cut
every connection at once and refuse new ones for a while, as a bad network would."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

__all__ = ["TcpProxy", "proxying"]

_CHUNK = 65536


class TcpProxy:
    """Listens on 127.0.0.1 (port 0) and pipes each connection to ``target_host:target_port``.

    ``cut()`` resets every open connection (both sides see a dropped socket, not a clean
    close); while ``refusing`` is set, a new connection is reset as soon as it is accepted.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.refusing = False
        self.accepted = 0  # connections forwarded so far
        self._server: asyncio.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def http_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash): the server's pages, through us."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def open_connections(self) -> int:
        return len(self._pairs)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def cut(self, refuse: bool = True) -> None:
        """Reset every open connection; with ``refuse``, also refuse new ones until
        :meth:`allow`."""
        self.refusing = refuse
        for pair in list(self._pairs):
            for writer in pair:
                writer.transport.abort()
        self._pairs.clear()
        await asyncio.sleep(0)

    def allow(self) -> None:
        """Forward new connections again."""
        self.refusing = False

    async def close(self) -> None:
        await self.cut(refuse=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        if self.refusing:  # cut while we were connecting
            writer.transport.abort()
            up_writer.transport.abort()
            return
        self.accepted += 1
        pair = (writer, up_writer)
        self._pairs.add(pair)
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer, pair)),
            asyncio.create_task(self._pump(up_reader, writer, pair)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            self._tasks.difference_update(pumps)
            self._pairs.discard(pair)
            for w in pair:
                w.transport.abort()

    @staticmethod
    async def _pump(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        # One direction. A clean EOF is passed on (half-close), as TCP would; a reset on
        # one side resets the other.
        try:
            while data := await reader.read(_CHUNK):
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, RuntimeError):
            for w in pair:
                w.transport.abort()


@contextlib.asynccontextmanager
async def proxying(target_host: str, target_port: int) -> AsyncIterator[TcpProxy]:
    """A started :class:`TcpProxy` to ``target_host:target_port``, closed afterwards."""
    proxy = TcpProxy(target_host, target_port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
