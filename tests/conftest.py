"""Shared fixtures: a real hub on port 0 with a real SQLite file, and real WebSocket clients."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from wrencos_studio.app import App
from wrencos_studio.config import Settings
from wrencos_studio.hub.auth import mint_token
from wrencos_studio.hub.engine import Hub
from wrencos_studio.hub.server import HubServer
from wrencos_studio.store import Store

SECRET = "test-secret-0123456789abcdef0123456789abcdef"

# Tests never touch the developer's real data dir.
os.environ.setdefault("WRENCOS_DATA_DIR", "/nonexistent-wrencos-test-data-dir")


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
        return json.loads(raw)

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


class RunningHub:
    """A hub served on 127.0.0.1:0 inside the test's event loop."""

    def __init__(self, data_dir: Path, port: int = 0, **overrides: Any) -> None:
        self.data_dir = data_dir
        self.port = port  # 0: any free port (a fixed one survives restart())
        self.overrides = overrides
        self.clients: list[WsClient] = []
        self.app: App | None = None

    @property
    def hub(self) -> Hub | None:
        return self.app.hub if self.app is not None else None

    @property
    def store(self) -> Store | None:
        return self.app.store if self.app is not None else None

    @property
    def server(self) -> HubServer | None:
        return self.app.server if self.app is not None else None

    async def start(self) -> None:
        settings = Settings.from_env(
            host="127.0.0.1",
            port=self.port,
            data_dir=self.data_dir,
            jwt_secret=SECRET,
            **self.overrides,
        )
        self.app = App(settings)
        await self.app.start()

    async def stop(self) -> None:
        for c in self.clients:
            await c.close()
        self.clients.clear()
        if self.app is not None:
            await self.app.stop()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"ws://127.0.0.1:{self.server.port}"

    @property
    def http_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}"

    async def connect(self, **kwargs: Any) -> WsClient:
        client = WsClient(await connect(self.url, **kwargs))
        self.clients.append(client)
        return client

    async def customer(self, session_id: str, **extra: Any) -> WsClient:
        """A registered customer whose join messages are read (kept in ``joined``)."""
        c = await self.connect()
        await c.send({"type": "register", "sessionId": session_id, **extra})
        c.joined = await c.sync()
        assert c.joined[0]["type"] == "registered", c.joined
        return c

    async def admin(self, user_id: str = "alice", role: str = "admin") -> WsClient:
        c = await self.connect()
        await c.send({"type": "register_admin", "token": token(user_id, role)})
        reply = await c.recv()
        assert reply["type"] == "admin_registered", reply
        return c

    async def live(self, admin: WsClient, title: str = "Spring serums") -> dict[str, Any]:
        await admin.send({"type": "start_stream", "title": title})
        return await admin.expect("stream_started")


def token(user_id: str = "alice", role: str = "admin", ttl: int = 3600) -> str:
    return mint_token(SECRET, user_id, role, ttl)


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As root in a closed network: no sandbox, and nothing in the background phoning home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def start_serve(
    data_dir: Path, *args: str, env: dict[str, str] | None = None, command: str = "serve"
) -> tuple[asyncio.subprocess.Process, str]:
    """A real `wrencos-studio serve` (or `demo`) on 127.0.0.1:0; returns it and its ws:// URL
    once it printed that it listens."""
    full_env = {
        **os.environ,
        "WRENCOS_DATA_DIR": str(data_dir),
        "WRENCOS_JWT_SECRET": SECRET,
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wrencos_studio",
        "--log-level",
        "WARNING",
        command,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=full_env,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
    assert line.startswith("listening on http://127.0.0.1:"), line
    return proc, "ws://127.0.0.1:" + line.rsplit(":", 1)[1]


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    running = RunningHub(tmp_path / "data")
    await running.start()
    try:
        yield running
    finally:
        await running.stop()
