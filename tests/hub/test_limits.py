"""Frame and text limits, per-connection rate limits, bad messages, connection storms."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import RunningHub


async def test_frame_over_64_kib_closes_with_1009(hub: RunningHub) -> None:
    """A frame over 64 KiB closes the connection with code 1009; others are unaffected."""
    bystander = await hub.customer("bystander")
    c = await hub.connect(max_size=None)
    await c.send({"type": "chat_message", "message": "x" * (64 * 1024)})
    with pytest.raises(ConnectionClosed):
        await c.recv()
    assert c.conn.close_code == 1009
    await bystander.send({"type": "ping"})
    assert await bystander.recv() == {"type": "pong"}


async def test_frame_just_under_the_limit_is_a_normal_message(hub: RunningHub) -> None:
    """Under 64 KiB the frame is read and judged on its content ("Message too long")."""
    admin = await hub.admin()
    await hub.live(admin)
    c = await hub.customer("s")
    await c.send({"type": "chat_message", "message": "x" * 60000})
    assert await c.expect("error") == {"type": "error", "message": "Message too long"}


async def test_text_limits(hub: RunningHub) -> None:
    """Chat 500, username 50, title 200 characters; one more is "Message too long"."""
    admin = await hub.admin()
    await admin.send({"type": "start_stream", "title": "t" * 201})
    assert await admin.recv() == {"type": "error", "message": "Message too long"}
    await admin.send({"type": "start_stream", "title": "t" * 200})
    await admin.expect("stream_started")
    c = await hub.customer("s")
    await c.send({"type": "chat_message", "message": "é" * 501})
    assert await c.expect("error") == {"type": "error", "message": "Message too long"}
    await c.send({"type": "chat_message", "message": "ok", "username": "u" * 51})
    assert await c.expect("error") == {"type": "error", "message": "Message too long"}
    await c.send({"type": "chat_message", "message": "é" * 500, "username": "u" * 50})
    assert len((await c.expect("chat_message"))["message"]) == 500


async def test_bad_messages_get_errors_and_never_reach_others(hub: RunningHub) -> None:
    """Non-JSON, non-objects, missing or non-string type, wrong field types."""
    admin = await hub.admin()
    await hub.live(admin)
    watcher = await hub.customer("watcher")
    c = await hub.customer("s")
    await watcher.quiet(0.5)  # the coalesced stream_update for the second viewer
    await c.quiet(0.1)
    cases: list[tuple[str | bytes, str]] = [
        ("not json", "Invalid message format"),
        ("[1,2]", "Invalid message format"),
        ('"chat_message"', "Invalid message format"),
        ("{}", "Invalid message format"),
        ('{"type": 5}', "Invalid message format"),
        ('{"type": "launch_rockets"}', "Unknown message type"),
        ('{"type": "chat_message", "message": 42}', "Invalid message format"),
        ('{"type": "chat_message", "message": ["x"]}', "Invalid message format"),
        (
            '{"type": "chat_message", "message": "NaN test", "username": NaN}',
            "Invalid message format",
        ),
        # A number JSON can write but no client can read back is not a message at all.
        (
            '{"type": "pin_products", "pinnedProducts": [{"productId": 1, "price": 1e999}]}',
            "Invalid message format",
        ),
        ('{"type": "pin_products", "pinnedProducts": []}', "Not authorized"),
        ("[" * 5000 + "]" * 5000, "Invalid message format"),
        (b"\xff\xfe binary garbage", "Invalid message format"),
    ]
    for raw, error in cases:
        await c.send(raw)
        assert await c.recv() == {"type": "error", "message": error}, raw
    assert await watcher.quiet() == []


async def test_binary_frame_with_json_is_understood(hub: RunningHub) -> None:
    """A binary frame holding UTF-8 JSON is handled like text (as the seed's `ws` did)."""
    c = await hub.connect()
    await c.send(json.dumps({"type": "ping"}).encode())
    assert await c.recv() == {"type": "pong"}


async def test_invalid_utf8_text_frame_closes_with_1007_only_that_client(
    hub: RunningHub,
) -> None:
    """Invalid UTF-8 in a text frame is a protocol error (1007) for that connection only."""
    bystander = await hub.customer("b")
    c = await hub.connect()
    # Send a raw text frame with invalid UTF-8 through the client's protocol object.
    c.conn.protocol.send_frame  # noqa: B018 - exists in websockets >= 11
    from websockets.frames import Frame, Opcode

    c.conn.protocol.send_frame(Frame(Opcode.TEXT, b"\xc3\x28"))
    c.conn.send_data()
    with pytest.raises(ConnectionClosed):
        await c.recv()
    assert c.conn.close_code == 1007
    await bystander.send({"type": "ping"})
    assert await bystander.recv() == {"type": "pong"}


async def test_lone_surrogates_never_reach_others_as_invalid_utf8(hub: RunningHub) -> None:
    """A JSON escape of a lone surrogate is stored and relayed safely."""
    admin = await hub.admin()
    await hub.live(admin)
    watcher = await hub.customer("w")
    c = await hub.customer("s")
    await c.send('{"type": "chat_message", "message": "bad \\ud800 pair", "username": "\\udfff"}')
    got = await watcher.expect("chat_message")
    assert got["message"] == "bad \ufffd pair"
    assert got["username"] == "\ufffd"


async def test_chat_burst_of_10_passes_then_rate_limited(hub: RunningHub) -> None:
    """A burst of 10 always passes; of 40 sent at once at most 20 get through."""
    admin = await hub.admin()
    await hub.live(admin)
    c = await hub.customer("burst")
    for i in range(10):
        await c.send({"type": "chat_message", "message": f"b{i}"})
    got = [await c.expect("chat_message") for _ in range(10)]
    assert [m["message"] for m in got] == [f"b{i}" for i in range(10)]
    await asyncio.sleep(2.1)  # the bucket refills
    for i in range(40):
        await c.send({"type": "chat_message", "message": f"f{i}"})
    replies = [await c.recv() for _ in range(40)]
    passed = [r for r in replies if r["type"] == "chat_message"]
    limited = [r for r in replies if r == {"type": "error", "message": "Rate limit exceeded"}]
    assert len(passed) + len(limited) == 40
    assert 10 <= len(passed) <= 20
    admin_saw = [m for m in await admin.quiet(0.3) if m["type"] == "chat_message"]
    assert len(admin_saw) == 10 + len(passed)


@pytest.mark.slow
async def test_chat_at_5_per_second_is_never_limited(hub: RunningHub) -> None:
    """5 messages a second, sustained for 4 s, all pass."""
    admin = await hub.admin()
    await hub.live(admin)
    c = await hub.customer("steady")
    for i in range(20):
        await c.send({"type": "chat_message", "message": f"s{i}"})
        await asyncio.sleep(0.2)
    got = [await c.recv() for _ in range(20)]
    assert all(m["type"] == "chat_message" for m in got), got


async def test_likes_and_support_are_rate_limited_per_connection(hub: RunningHub) -> None:
    """Likes and support messages have their own buckets; another connection is unaffected."""
    admin = await hub.admin()
    await hub.live(admin)
    c = await hub.customer("spam")
    for _ in range(40):
        await c.send({"type": "toggle_like"})
    replies = await c.quiet(0.5)
    limited = sum(1 for r in replies if r == {"type": "error", "message": "Rate limit exceeded"})
    assert 20 <= limited <= 30
    likes = [r["likes"] for r in replies if r["type"] == "stream_update"]
    assert len(likes) == 40 - limited
    assert likes[:2] == [1, 0]
    for i in range(40):
        await c.send({"type": "customer_message", "message": f"help {i}"})
    replies = await c.quiet(0.5)
    limited = sum(1 for r in replies if r == {"type": "error", "message": "Rate limit exceeded"})
    assert 20 <= limited <= 30
    seen = [m for m in await admin.quiet(0.3) if m["type"] == "customer_message"]
    assert len(seen) == 40 - limited
    other = await hub.customer("calm")
    await other.send({"type": "customer_message", "message": "hello"})
    assert (await admin.expect("customer_message", sessionId="calm"))["message"] == "hello"


async def test_burst_of_200_customers_all_registered(hub: RunningHub) -> None:
    """200 customers connecting at once all get `registered` within a few seconds."""
    from websockets.asyncio.client import connect

    async def one(i: int) -> str:
        async with connect(hub.url) as ws:
            await ws.send(json.dumps({"type": "register", "sessionId": f"storm-{i}"}))
            return json.loads(await asyncio.wait_for(ws.recv(), 10))["type"]

    results = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(200))), 20)
    assert results == ["registered"] * 200
