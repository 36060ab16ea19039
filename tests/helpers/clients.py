"""The shared WebSocket test client: a real `websockets` connection that speaks JSON."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection

__all__ = ["WsClient"]


class WsClient:
    """A real WebSocket client with helpers to read the server's JSON messages."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.joined: list[dict[str, Any]] = []

    async def sync(self) -> list[dict[str, Any]]:
        """Everything the server sent before answering a ping (it answers in order)."""
        await self.send({"type": "ping"})
        got = []
        while (msg := await self.recv()) != {"type": "pong"}:
            got.append(msg)
        return got

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        if isinstance(message, dict):
            message = json.dumps(message)
        await self.conn.send(message)

    async def recv(self, timeout: float = 3.0) -> dict[str, Any]:
        """The next message, whatever it is."""
        raw = await asyncio.wait_for(self.conn.recv(), timeout)
        message: dict[str, Any] = json.loads(raw)
        return message

    async def expect(self, type_: str, timeout: float = 3.0, **match: Any) -> dict[str, Any]:
        """The next message of ``type_`` (whose fields equal ``match``), skipping others."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"no {type_} within {timeout} s")
            msg = await self.recv(left)
            if msg.get("type") == type_ and all(msg.get(k) == v for k, v in match.items()):
                return msg

    async def quiet(self, wait: float = 0.3) -> list[dict[str, Any]]:
        """Everything that arrives within ``wait`` seconds (usually asserted empty)."""
        got = []
        try:
            while True:
                got.append(await self.recv(wait))
        except TimeoutError:
            return got

    async def request(self, message: dict[str, Any], reply: str) -> dict[str, Any]:
        await self.send(message)
        return await self.expect(reply)

    async def close(self) -> None:
        await self.conn.close()
