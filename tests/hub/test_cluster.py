"""Several hubs acting as one through a real redis-server (WRENCOS_REDIS_URL)."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio as redis

from tests.conftest import RunningHub
from tests.helpers.clients import WsClient
from tests.helpers.serve import serve_env
from tests.helpers.testutils import free_port
from wrencos_studio.hub.cluster import SEND_TIMEOUT_S


async def test_stream_chat_and_viewers_span_hubs(pair: tuple[RunningHub, RunningHub]) -> None:
    """Going live on one hub reaches customers on the other; chat and viewers are shared."""
    a, b = pair
    admin = await a.admin()
    on_b = await b.customer("viewer-b")
    started = await a.live(admin, "Both hubs")
    got = await on_b.expect("stream_started")
    assert got["streamData"]["streamId"] == started["streamData"]["streamId"]
    on_a = await a.customer("viewer-a")
    assert (await admin.expect("stream_update", viewerCount=2))["viewerCount"] == 2
    # The same session on both hubs is still one viewer.
    twin = await b.customer("viewer-a")
    await on_b.send({"type": "chat_message", "message": "hello from b", "username": "Bee"})
    msg = await admin.expect("chat_message")
    assert msg["message"] == "hello from b" and msg["isAdmin"] is False
    assert (await on_a.expect("chat_message"))["id"] == msg["id"]
    await asyncio.sleep(0.2)
    assert a.hub is not None and a.hub.viewer_count == 2
    await twin.close()
    await on_b.close()
    assert (await admin.expect("stream_update", viewerCount=1))["viewerCount"] == 1
    late = await b.customer("late")
    history = next(m for m in late.joined if m["type"] == "chat_history")
    assert [m["message"] for m in history["messages"]] == ["hello from b"]


async def test_only_one_hub_can_be_live(pair: tuple[RunningHub, RunningHub]) -> None:
    """A second start on another hub is "Stream already active"; stop ends it everywhere."""
    a, b = pair
    admin_a = await a.admin()
    admin_b = await b.admin("bob")
    await a.live(admin_a)
    await admin_b.expect("stream_started")
    await admin_b.send({"type": "start_stream", "title": "mine"})
    assert await admin_b.expect("error") == {"type": "error", "message": "Stream already active"}
    await admin_b.send({"type": "stop_stream"})
    stopped = await admin_a.expect("stream_stopped")
    assert (await admin_b.expect("stream_stopped"))["streamId"] == stopped["streamId"]
    await admin_b.send({"type": "start_stream", "title": "now mine"})
    assert (await admin_a.expect("stream_started"))["streamData"]["title"] == "now mine"


async def test_likes_and_pins_span_hubs(pair: tuple[RunningHub, RunningHub]) -> None:
    """A like on one hub shows on the other; pins reach every customer."""
    a, b = pair
    admin = await a.admin()
    await a.live(admin)
    fan = await b.customer("fan")
    public_id = fan.joined[0]["publicId"]
    if not any(m["type"] == "stream_started" for m in fan.joined):
        await fan.expect("stream_started", timeout=5)  # hub b hears of the stream a moment later
    await fan.send({"type": "toggle_like"})
    assert (await admin.expect("stream_update", likes=1))["likedBy"] == [public_id]
    await admin.send({"type": "pin_products", "pinnedProducts": [{"productId": "p1", "price": 1}]})
    assert (await fan.expect("pinned_products_updated"))["pinnedProducts"] == [
        {"productId": "p1", "price": 1.0}
    ]


async def test_support_across_hubs_including_offline_delivery(
    pair: tuple[RunningHub, RunningHub],
) -> None:
    """Customer on one hub, staff on the other; a reply to an offline customer waits."""
    a, b = pair
    staff = await b.admin("sam", role="staff")
    customer = await a.customer("needs-help")
    await customer.send({"type": "customer_message", "message": "Is it in stock?"})
    got = await staff.expect("customer_message")
    assert got["sessionId"] == "needs-help"
    await staff.send({"type": "staff_message", "sessionId": "needs-help", "content": "Yes!"})
    assert (await customer.expect("staff_reply"))["message"] == "Yes!"
    await customer.close()
    await asyncio.sleep(0.2)
    await staff.send(
        {"type": "staff_message", "sessionId": "needs-help", "content": "Restocked too"}
    )
    await staff.sync()
    await asyncio.sleep(0.3)
    back = await b.customer("needs-help")
    replies = [m["message"] for m in back.joined if m["type"] == "staff_reply"]
    assert replies == ["Restocked too"]
    # Hub a's copy of the conversation has both sides.
    admin_a = await a.admin()
    conv = await admin_a.request(
        {"type": "get_conversation", "sessionId": "needs-help"}, "conversation"
    )
    assert [m["message"] for m in conv["messages"]] == ["Is it in stock?", "Yes!", "Restocked too"]


async def _peer(c: WsClient, peer_id: str, user_type: str) -> None:
    await c.send({"type": "webrtc_register", "peerId": peer_id, "userType": user_type})
    await c.expect("webrtc_registered")


async def test_webrtc_signalling_across_hubs(pair: tuple[RunningHub, RunningHub]) -> None:
    """Broadcaster on one hub, viewer on the other: announce, offer, answer, candidates."""
    a, b = pair
    studio = await a.admin()
    await _peer(studio, "studio", "admin")
    early = await b.customer("early")
    await _peer(early, "peer-early", "customer")
    await studio.send({"type": "webrtc_broadcast_start", "peerId": "studio"})
    assert (await early.expect("webrtc_broadcaster_available"))["broadcaster"] == "studio"
    assert (await studio.expect("webrtc_new_customer"))["customerId"] == "peer-early"
    late = await b.customer("late")
    await _peer(late, "peer-late", "customer")
    await late.expect("webrtc_broadcaster_available")
    assert (await studio.expect("webrtc_new_customer"))["customerId"] == "peer-late"
    await studio.send({"type": "webrtc_offer", "to": "peer-late", "offer": {"sdp": "o"}})
    offer = await late.expect("webrtc_offer")
    assert offer["from"] == "studio" and offer["offer"] == {"sdp": "o"}
    await late.send({"type": "webrtc_answer", "to": "studio", "answer": {"sdp": "a"}})
    assert (await studio.expect("webrtc_answer"))["from"] == "peer-late"
    await late.send({"type": "webrtc_offer", "to": "peer-early", "offer": {"sdp": "x"}})
    assert await late.expect("error") == {"type": "error", "message": "Not authorized"}
    await studio.close()
    assert (await early.expect("webrtc_broadcast_stopped"))["broadcaster"] == "studio"


async def test_a_hub_joining_late_adopts_the_live_state(tmp_path: Path, redis_url: str) -> None:
    """A hub started while another is live serves the same stream, chat, likes and pins."""
    a = RunningHub(tmp_path / "a", redis_url=redis_url)
    await a.start()
    c = RunningHub(tmp_path / "c", redis_url=redis_url)
    try:
        admin = await a.admin()
        started = await a.live(admin, "Early bird")
        await admin.send({"type": "chat_message", "message": "first!"})
        await admin.send(
            {"type": "pin_products", "pinnedProducts": [{"productId": "x", "price": 1}]}
        )
        await admin.send({"type": "toggle_like"})
        await admin.expect("stream_update", likes=1)
        await c.start()
        joined = await c.customer("newcomer")
        by_type = {m["type"]: m for m in joined.joined}
        data = by_type["stream_started"]["streamData"]
        assert data["streamId"] == started["streamData"]["streamId"]
        assert data["likes"] == 1
        assert [m["message"] for m in by_type["chat_history"]["messages"]] == ["first!"]
        assert by_type["pinned_products_updated"]["pinnedProducts"] == [
            {"productId": "x", "price": 1.0}
        ]
    finally:
        await c.stop()
        await a.stop()


def test_serve_with_unreachable_redis_is_a_clear_error(tmp_path: Path) -> None:
    """An unreachable WRENCOS_REDIS_URL stops `serve` with exit 2 and a message."""
    env = serve_env(
        tmp_path, secret=None, env={"WRENCOS_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    )
    out = subprocess.run(
        [sys.executable, "-m", "wrencos_studio", "serve", "--host", "127.0.0.1", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 2
    assert "Redis" in out.stderr and "Traceback" not in out.stderr


async def test_a_person_is_one_liker_whichever_hub(pair: tuple[RunningHub, RunningHub]) -> None:
    """Hubs share the publicId key: the same session has the same publicId on each hub."""
    a, b = pair
    on_a = await a.customer("same-person")
    on_b = await b.customer("same-person")
    assert on_a.joined[0]["publicId"] == on_b.joined[0]["publicId"]
    admin = await a.admin()
    await a.live(admin)
    await on_a.send({"type": "toggle_like"})
    await admin.expect("stream_update", likes=1)
    await on_b.expect("stream_update", likes=1)  # hub b has applied it (through Redis)
    await on_b.send({"type": "toggle_like"})  # the same person: takes the like back
    assert (await admin.expect("stream_update", likes=0))["likedBy"] == []


async def test_a_late_hub_knows_the_broadcaster_and_the_viewers(
    tmp_path: Path, redis_url: str
) -> None:
    """A hub started during a broadcast announces it to its customers and counts viewers."""
    a = RunningHub(tmp_path / "a", redis_url=redis_url)
    await a.start()
    c = RunningHub(tmp_path / "c", redis_url=redis_url)
    try:
        studio = await a.admin()
        await _peer(studio, "studio", "admin")
        await studio.send({"type": "webrtc_broadcast_start", "peerId": "studio"})
        await studio.sync()
        await a.live(studio)
        await a.customer("v1")
        await a.customer("v2")
        await studio.expect("stream_update", viewerCount=2)
        await c.start()
        newcomer = await c.customer("v3")
        started = next(m for m in newcomer.joined if m["type"] == "stream_started")
        assert started["streamData"]["viewerCount"] >= 2
        await _peer(newcomer, "peer-v3", "customer")
        assert (await newcomer.expect("webrtc_broadcaster_available"))["broadcaster"] == "studio"
        # Both arrive through Redis, in either order.
        seen: list[dict[str, object]] = []

        def got_both() -> bool:
            return {"type": "webrtc_new_customer", "customerId": "peer-v3"} in seen and any(
                m["type"] == "stream_update" and m["viewerCount"] == 3 for m in seen
            )

        while not got_both():
            seen.append(await studio.recv(3))
    finally:
        await c.stop()
        await a.stop()


# -- a Redis outage (contract, trust rule 10) ------------------------------------------------


class OwnRedis:
    """A redis-server for one test, to kill, pause and start again on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        exe = shutil.which("redis-server")
        assert exe, "redis-server is needed for the cluster tests"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = await asyncio.create_subprocess_exec(
            *(exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "no", "--dir", str(self.workdir)),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        client = redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
        try:
            await _until(lambda: _answers(client), 15, "redis-server answering PING")
        finally:
            await client.aclose()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGCONT)

    async def kill(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.kill()  # SIGKILL
            await asyncio.wait_for(self.proc.wait(), 10)


async def _answers(client: redis.Redis) -> bool:
    try:
        return bool(await client.ping())
    except (redis.RedisError, OSError):
        return False


async def _until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> float:
    """Poll ``check`` until it is true; the seconds it took (fails after ``timeout``)."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"no {what} within {timeout} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def _redis_health(hub: RunningHub) -> Callable[[], Awaitable[str | None]]:
    def read() -> str | None:
        with urllib.request.urlopen(hub.http_url + "/healthz", timeout=5) as resp:
            value = json.loads(resp.read()).get("redis")
            return value if isinstance(value, str) else None

    async def health() -> str | None:
        return await asyncio.to_thread(read)

    return health


async def _says(health: Callable[[], Awaitable[str | None]], value: str) -> bool:
    return await health() == value


@pytest.fixture
async def outage(tmp_path: Path) -> AsyncIterator[tuple[OwnRedis, RunningHub, RunningHub]]:
    """Two hubs on a redis-server the test may kill or pause."""
    server = OwnRedis(tmp_path / "redis")
    await server.start()
    a = RunningHub(tmp_path / "a", redis_url=server.url)
    b = RunningHub(tmp_path / "b", redis_url=server.url)
    try:
        await a.start()
        await b.start()
        yield server, a, b
    finally:
        server.resume()
        await a.stop()
        await b.stop()
        await server.kill()


async def _chat_reaches(sender: WsClient, readers: list[WsClient], text: str) -> float:
    """Send a chat line; the seconds until every reader has it."""
    start = time.monotonic()
    await sender.send({"type": "chat_message", "message": text})
    for reader in readers:
        await reader.expect("chat_message", timeout=5, message=text)
    return time.monotonic() - start


async def test_a_killed_redis_loses_nothing(
    outage: tuple[OwnRedis, RunningHub, RunningHub],
) -> None:
    """Redis killed: hub a serves its own clients at once and says "down"; what was said
    meanwhile reaches hub b in order soon after a new redis-server is up."""
    server, a, b = outage
    health = _redis_health(a)
    assert await health() == "up"
    admin = await a.admin()
    await a.live(admin)
    talker = await a.customer("talker")
    staff_b = await b.admin("sam", role="staff")
    viewer_b = await b.customer("viewer-b")
    await viewer_b.expect("stream_update")  # b has the stream (through Redis)

    await server.kill()
    assert await _chat_reaches(talker, [talker, admin], "while down 1") < 1.0
    assert await _until(lambda: _says(health, "down"), 5, '"redis": "down"') < 5.0
    for n in (2, 3):
        assert await _chat_reaches(talker, [talker, admin], f"while down {n}") < 1.0
    for n in (1, 2, 3):
        await talker.send({"type": "customer_message", "message": f"help {n}"})
    await talker.sync()

    back = time.monotonic()
    await server.start()
    lines = [(await viewer_b.expect("chat_message", timeout=10))["message"] for _ in range(3)]
    assert lines == ["while down 1", "while down 2", "while down 3"]
    asks = [(await staff_b.expect("customer_message", timeout=10))["message"] for _ in range(3)]
    assert asks == ["help 1", "help 2", "help 3"]
    assert time.monotonic() - back < 10.0
    await _until(lambda: _says(health, "up"), 5, '"redis": "up" again')
    # And the link works both ways again.
    await viewer_b.send({"type": "chat_message", "message": "back from b"})
    assert (await talker.expect("chat_message", timeout=5))["message"] == "back from b"


async def test_a_paused_redis_stalls_nobody(
    outage: tuple[OwnRedis, RunningHub, RunningHub],
) -> None:
    """Redis stopped (SIGSTOP): chat on hub a still reaches a's clients at once; after
    SIGCONT hub b gets it, once."""
    server, a, b = outage
    health = _redis_health(a)
    admin = await a.admin()
    await a.live(admin)
    talker = await a.customer("talker")
    viewer_b = await b.customer("viewer-b")
    await viewer_b.expect("stream_update")

    server.pause()
    paused = time.monotonic()
    assert await _chat_reaches(talker, [talker, admin], "while paused 1") < 1.0
    assert await _until(lambda: _says(health, "down"), 5, '"redis": "down"') < 5.0
    assert await _chat_reaches(talker, [talker, admin], "while paused 2") < 1.0
    # Stay paused past the sender's write timeout: it gives up a write and tries again.
    await asyncio.sleep(max(0.0, paused + SEND_TIMEOUT_S + 1 - time.monotonic()))
    server.resume()
    back = time.monotonic()
    lines = [(await viewer_b.expect("chat_message", timeout=10))["message"] for _ in range(2)]
    assert lines == ["while paused 1", "while paused 2"]
    assert time.monotonic() - back < 10.0
    # Each line arrives once, however often the sender had to try.
    assert [m for m in await viewer_b.quiet(1.0) if m["type"] == "chat_message"] == []
    await _until(lambda: _says(health, "up"), 5, '"redis": "up" again')


async def test_healthz_has_no_redis_field_without_redis(tmp_path: Path) -> None:
    """A hub on its own reports no "redis" in /healthz."""
    alone = RunningHub(tmp_path / "alone")
    await alone.start()
    try:
        assert await _redis_health(alone)() is None
    finally:
        await alone.stop()


async def test_without_redis_a_hub_answers_at_once_and_refuses_to_go_live(
    outage: tuple[OwnRedis, RunningHub, RunningHub],
) -> None:
    """Redis killed: likes, peers and stopping the stream are answered locally at once;
    going live (which the hubs must decide together) is refused with "Internal server
    error" (not "Stream already active"); after Redis is back the stop reaches hub b."""
    server, a, b = outage
    health = _redis_health(a)
    admin = await a.admin()
    await a.live(admin)
    fan = await a.customer("fan")
    viewer_b = await b.customer("viewer-b")
    await viewer_b.expect("stream_update")

    await server.kill()
    await _until(lambda: _says(health, "down"), 5, '"redis": "down"')
    start = time.monotonic()
    await fan.send({"type": "toggle_like"})
    await fan.expect("stream_update", likes=1)
    await fan.send({"type": "webrtc_register", "peerId": "fan-peer", "userType": "customer"})
    await fan.expect("webrtc_registered")
    assert time.monotonic() - start < 1.5
    start = time.monotonic()
    await admin.send({"type": "stop_stream"})
    await admin.expect("stream_stopped")
    assert time.monotonic() - start < 1.0
    await admin.send({"type": "start_stream", "title": "not now"})
    assert await admin.expect("error", timeout=5) == {
        "type": "error",
        "message": "Internal server error",
    }

    await server.start()
    await viewer_b.expect("stream_stopped", timeout=10)
    await _until(lambda: _says(health, "up"), 5, '"redis": "up" again')
    await admin.send({"type": "start_stream", "title": "now"})
    assert (await viewer_b.expect("stream_started", timeout=5))["streamData"]["title"] == "now"
