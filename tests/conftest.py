"""Shared fixtures: a real hub on port 0 with a real SQLite file, and real WebSocket clients."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.helpers.clients import WsClient
from tests.helpers.testutils import SECRET, token
from wrencos_studio.app import App
from wrencos_studio.config import Settings
from wrencos_studio.hub.engine import Hub
from wrencos_studio.hub.server import HubServer
from wrencos_studio.store import Store

# Fixtures shared beyond the in-process hub (Redis, ...) live with the other helpers.
pytest_plugins = ["tests.helpers.fixtures"]

# Tests never touch the developer's real data dir.
os.environ.setdefault("WRENCOS_DATA_DIR", "/nonexistent-wrencos-test-data-dir")


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


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    running = RunningHub(tmp_path / "data")
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def pair(tmp_path: Path, redis_url: str) -> AsyncIterator[tuple[RunningHub, RunningHub]]:
    """Two hubs sharing one redis-server (the cluster tests)."""
    a = RunningHub(tmp_path / "a", redis_url=redis_url)
    b = RunningHub(tmp_path / "b", redis_url=redis_url)
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.stop()
        await b.stop()
