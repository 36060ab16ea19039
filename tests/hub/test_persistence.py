"""Nothing acknowledged is lost: restarts, and SIGKILL in the middle of traffic."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import RunningHub
from tests.helpers.serve import serving
from tests.helpers.testutils import token


async def test_restart_keeps_live_stream_chat_likes_and_pins(hub: RunningHub) -> None:
    """A restarted hub resumes the live stream with its chat, likes and pinned products."""
    admin = await hub.admin()
    started = await hub.live(admin, "Kept")
    await admin.send(
        {
            "type": "pin_products",
            "pinnedProducts": [{"productId": "p1", "name": "Serum", "price": 9.5}],
        }
    )
    await admin.send({"type": "chat_message", "message": "before restart"})
    await admin.send({"type": "toggle_like"})
    await admin.expect("stream_update")
    await hub.restart()
    c = await hub.customer("after")
    by_type = {m["type"]: m for m in c.joined}
    data = by_type["stream_started"]["streamData"]
    assert data["streamId"] == started["streamData"]["streamId"]
    assert data["title"] == "Kept" and data["likes"] == 1
    assert by_type["pinned_products_updated"]["pinnedProducts"] == [
        {"productId": "p1", "name": "Serum", "price": 9.5}
    ]
    assert [m["message"] for m in by_type["chat_history"]["messages"]] == ["before restart"]


async def test_stream_figures_are_kept_after_it_ends(hub: RunningHub) -> None:
    """An ended stream keeps title, times, peak viewers and likes in the database."""
    admin = await hub.admin()
    await hub.live(admin, "Figures")
    c1 = await hub.customer("v1")
    await hub.customer("v2")
    await c1.send({"type": "toggle_like"})
    await c1.expect("stream_update", likes=1)
    await admin.send({"type": "stop_stream"})
    await admin.expect("stream_stopped")
    await hub.stop()
    db = sqlite3.connect(hub.data_dir / "wrencos.sqlite3")
    row = db.execute(
        "SELECT title, started_at, ended_at, peak_viewers, likes FROM streams"
    ).fetchone()
    db.close()
    assert row[0] == "Figures" and row[1] and row[2]
    assert row[3] == 2 and row[4] == 1
    await hub.start()


async def _recv(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(await ws.recv())


async def test_sigkill_mid_traffic_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """Chat, support messages and likes that were acknowledged survive a SIGKILL."""
    async with serving(tmp_path) as first:
        url = first.url
        admin = await connect(url)
        await admin.send(json.dumps({"type": "register_admin", "token": token()}))
        await _recv(admin)
        await admin.send(json.dumps({"type": "start_stream", "title": "Crash test"}))
        while (await _recv(admin))["type"] != "stream_started":
            pass

        acked_chat: set[str] = set()
        acked_support: dict[str, set[str]] = {}
        liked: dict[str, bool] = {}

        async def customer(i: int) -> None:
            sid = f"crash-{i}"
            ws = await connect(url)
            await ws.send(json.dumps({"type": "register", "sessionId": sid}))
            public_id = None
            n = 0
            try:
                while True:
                    n += 1
                    text = f"{sid}-chat-{n}"
                    await ws.send(json.dumps({"type": "chat_message", "message": text}))
                    await ws.send(
                        json.dumps({"type": "customer_message", "message": f"{sid}-h{n}"})
                    )
                    if n == 2:  # one like each: acknowledged once our publicId is in likedBy
                        await ws.send(json.dumps({"type": "toggle_like"}))
                    deadline = asyncio.get_running_loop().time() + 0.25
                    while (left := deadline - asyncio.get_running_loop().time()) > 0:
                        try:
                            msg = json.loads(await asyncio.wait_for(ws.recv(), left))
                        except TimeoutError:
                            break
                        if msg["type"] == "registered":
                            public_id = msg["publicId"]
                        elif msg["type"] == "chat_message" and msg["message"].startswith(sid):
                            acked_chat.add(msg["id"])
                        elif msg["type"] == "stream_update" and public_id in msg["likedBy"]:
                            liked[sid] = True
            except ConnectionClosed:
                return

        async def admin_reader() -> None:
            try:
                async for raw in admin:
                    msg = json.loads(raw)
                    if msg["type"] == "customer_message":
                        acked_support.setdefault(msg["sessionId"], set()).add(msg["message"])
            except ConnectionClosed:
                return

        tasks = [asyncio.create_task(customer(i)) for i in range(8)]
        tasks.append(asyncio.create_task(admin_reader()))
        await asyncio.sleep(2.5)
        await first.stop(signal.SIGKILL)
        for t in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(t, 5)
        assert len(acked_chat) > 20 and sum(map(len, acked_support.values())) > 20

    # The file is intact and holds everything that was acknowledged.
    async with serving(tmp_path) as second:
        url = second.url
        db = sqlite3.connect(tmp_path / "wrencos.sqlite3")
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored_chat = {r[0] for r in db.execute("SELECT id FROM chat_messages")}
        db.close()
        assert acked_chat <= stored_chat
        async with connect(url) as a:
            await a.send(json.dumps({"type": "register_admin", "token": token()}))
            await _recv(a)
            for sid, texts in acked_support.items():
                await a.send(json.dumps({"type": "get_conversation", "sessionId": sid}))
                conv = await _recv(a)
                assert texts <= {m["message"] for m in conv["messages"]}
            async with connect(url) as c:
                await c.send(json.dumps({"type": "register", "sessionId": "observer"}))
                await _recv(c)
                started = await _recv(c)
                assert started["type"] == "stream_started"
                assert started["streamData"]["title"] == "Crash test"
                liked_now = set(started["streamData"]["likedBy"])
        # Every acknowledged like is still there.
        assert len(liked) > 0
        for sid in liked:
            async with connect(url) as c:
                await c.send(json.dumps({"type": "register", "sessionId": sid}))
                pid = (await _recv(c))["publicId"]
            assert pid in liked_now, sid
