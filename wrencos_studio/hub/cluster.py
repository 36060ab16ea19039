"""The Redis broker: several hubs acting as one (``WRENCOS_REDIS_URL``), pub/sub + keys.

Each hub keeps its own connections, memory and database. Every change a hub makes
is an event (``hub/events.py``, ``Hub.emit``); it is published on one channel and every
other hub writes its copy and delivers it to its own clients. ``RedisBroker`` is the
clustered implementation of ``hub/broker.py``'s ``Broker``; the engine and the features
use it exactly as they use the ``LocalBroker`` of a hub on its own. Keys hold what a hub needs
to decide or to join late: the live stream (claimed with ``SET NX``, so two hubs
cannot both go live), its likers, its last chat lines, the pins, the number of
connections each customer session has across hubs (the viewer count), and where
each WebRTC peer is connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as redis

from wrencos_studio.codec import CodecError, from_json, to_json
from wrencos_studio.hub.broker import OnEvent, Snapshot
from wrencos_studio.hub.events import Event, event_from_json, event_to_json
from wrencos_studio.hub.protocol.outbound import StreamData
from wrencos_studio.store.rows import ChatLine

__all__ = ["ClusterError", "RedisBroker"]

log = logging.getLogger(__name__)


class ClusterError(Exception):
    """Redis could not be reached or answered wrongly."""


class RedisBroker:
    """This hub's link to the others (implements ``hub.broker.Broker``)."""

    def __init__(self, url: str, prefix: str = "wrencos") -> None:
        self.url = url
        self.node_id = secrets.token_hex(4)
        self.prefix = prefix
        self.channel = f"{prefix}:events"
        self._redis: redis.Redis | None = None
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._held_sessions: Counter[str] = Counter()
        self._on_event: OnEvent | None = None
        self._subscribed = asyncio.Event()

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    @property
    def r(self) -> redis.Redis:
        if self._redis is None:
            raise ClusterError("not connected")
        return self._redis

    # -- lifecycle -------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect and check Redis answers (a clear error before serving, not later)."""
        self._redis = redis.from_url(self.url, decode_responses=True)
        try:
            await self._redis.ping()
        except (redis.RedisError, OSError) as exc:
            raise ClusterError(f"cannot reach Redis at {self.url}: {exc}") from exc

    def _spawn(self, aw: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(aw)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _best_effort(self, aw: Awaitable[Any]) -> None:
        """Keep Redis's copy of the live state for hubs that join later; a failure must
        not undo what is already committed and about to be broadcast."""
        try:
            await aw
        except (redis.RedisError, OSError) as exc:
            log.warning("could not update the shared state in Redis: %s", exc)

    async def start(self, on_event: OnEvent) -> None:
        """Begin receiving the other hubs' events and sending ours."""
        self._on_event = on_event
        self._tasks = [
            asyncio.create_task(self._receive(), name="cluster-receive"),
            asyncio.create_task(self._send(), name="cluster-send"),
        ]
        await asyncio.wait_for(self._subscribed.wait(), 10)

    async def stop(self) -> None:
        # Flush what we still have to say, then give back our sessions' viewer counts.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._outbox.join(), 2)
        if self._background:
            await asyncio.wait(set(self._background), timeout=2)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._redis is not None:
            with contextlib.suppress(redis.RedisError, OSError):
                for sid, n in self._held_sessions.items():
                    if n > 0 and await self.r.hincrby(self._key("sessions"), sid, -n) <= 0:
                        await self.r.hdel(self._key("sessions"), sid)
            await self._redis.aclose()
            self._redis = None

    async def snapshot(self) -> Snapshot:
        """The live state other hubs left in Redis, for a hub that joins late (raises
        ClusterError if Redis fails or holds something unreadable)."""
        try:
            raw = await self.r.get(self._key("stream"))
            stream = from_json(StreamData, json.loads(raw)) if raw is not None else None
            likers: list[str] = []
            chat: list[ChatLine] = []
            if stream is not None:
                sid = stream.stream_id
                likers = [str(x) for x in await self.r.zrange(self._key("likes", sid), 0, -1)]
                chat = [
                    from_json(ChatLine, json.loads(x))
                    for x in await self.r.lrange(self._key("chat", sid), 0, -1)
                ]
            pinned_raw = await self.r.get(self._key("pinned"))
            return Snapshot(
                stream=stream,
                likers=likers,
                chat=chat,
                pinned=json.loads(pinned_raw) if pinned_raw is not None else None,
                viewers=int(await self.r.hlen(self._key("sessions"))),
                broadcaster=_text(await self.r.get(self._key("broadcaster"))),
            )
        except (redis.RedisError, OSError, ValueError, CodecError) as exc:
            raise ClusterError(f"cannot read the hubs' shared state at {self.url}: {exc}") from exc

    async def shared_secret(self, name: str, proposal: str) -> str:
        """One value for every hub: the first hub's proposal wins (e.g. the publicId key,
        so a customer's likes are the same person whichever hub they come through)."""
        try:
            await self.r.set(self._key("secret", name), proposal, nx=True)
            value = await self.r.get(self._key("secret", name))
        except (redis.RedisError, OSError) as exc:
            raise ClusterError(f"cannot reach Redis at {self.url}: {exc}") from exc
        return str(value) if value is not None else proposal

    async def remember_broadcaster(self, peer_id: str | None) -> None:
        if peer_id is None:
            await self._best_effort(self.r.delete(self._key("broadcaster")))
        else:
            await self._best_effort(self.r.set(self._key("broadcaster"), peer_id))

    # -- events ----------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        self._outbox.put_nowait(json.dumps(event_to_json(event, self.node_id), ensure_ascii=True))

    async def _send(self) -> None:
        # One sender, in order: other hubs see our events in the order we made them.
        while True:
            data = await self._outbox.get()
            try:
                for attempt in range(5):
                    try:
                        await self.r.publish(self.channel, data)
                        break
                    except (redis.RedisError, OSError) as exc:
                        log.warning("publishing to Redis failed (%s), retrying", exc)
                        await asyncio.sleep(0.2 * (attempt + 1))
                else:
                    log.error("dropping an event Redis would not take")
            finally:
                self._outbox.task_done()

    async def _receive(self) -> None:
        delay = 0.2
        while True:
            pubsub = self.r.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._subscribed.set()
                delay = 0.2
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    try:
                        obj = json.loads(message["data"])
                        if not isinstance(obj, dict) or obj.get("n") == self.node_id:
                            continue
                        event = event_from_json(obj)
                    except (TypeError, ValueError):
                        log.warning("ignoring a malformed cluster event")
                        continue
                    if event is None:
                        log.warning("ignoring unknown cluster event %r", obj.get("e"))
                        continue
                    assert self._on_event is not None
                    try:
                        await self._on_event(event)
                    except Exception:
                        log.exception("applying cluster event %r failed", event.KIND)
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError) as exc:
                log.warning("lost the Redis subscription (%s); reconnecting", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    # -- shared keys -----------------------------------------------------------------

    async def claim_stream(self, data: StreamData) -> bool:
        """Go live here unless a stream is live on any hub."""
        ok = await self.r.set(self._key("stream"), json.dumps(to_json(data)), nx=True)
        if not ok:
            current = await self.r.get(self._key("stream"))
            # Our own stream (a restart of this hub) is still ours.
            return current is not None and json.loads(current)["streamId"] == data.stream_id
        return True

    async def release_stream(self, stream_id: str) -> None:
        current = await self.r.get(self._key("stream"))
        if current is not None and json.loads(current)["streamId"] == stream_id:
            await self.r.delete(
                self._key("stream"),
                self._key("likes", stream_id),
                self._key("chat", stream_id),
                self._key("pinned"),
            )

    async def remember_chat(self, stream_id: str, line: ChatLine, limit: int) -> None:
        await self._best_effort(self._remember_chat(stream_id, line, limit))

    async def _remember_chat(self, stream_id: str, line: ChatLine, limit: int) -> None:
        key = self._key("chat", stream_id)
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.rpush(key, json.dumps(to_json(line), ensure_ascii=True))
            pipe.ltrim(key, -limit, -1)
            await pipe.execute()

    async def remember_like(self, stream_id: str, public_id: str, liked: bool) -> None:
        await self._best_effort(self._remember_like(stream_id, public_id, liked))

    async def _remember_like(self, stream_id: str, public_id: str, liked: bool) -> None:
        key = self._key("likes", stream_id)
        if liked:
            # A sorted set keeps like order: score = a shared counter.
            order = await self.r.incr(self._key("likes-order"))
            await self.r.zadd(key, {public_id: order}, nx=True)
        else:
            await self.r.zrem(key, public_id)

    async def remember_pinned(self, items: list[dict[str, Any]]) -> None:
        await self._best_effort(
            self.r.set(self._key("pinned"), json.dumps(items, ensure_ascii=True))
        )

    def count_session(self, sid: str, delta: int, on_total: Callable[[int], None]) -> None:
        self._spawn(self._count_session(sid, delta, on_total))

    async def _count_session(self, sid: str, delta: int, on_total: Callable[[int], None]) -> None:
        count = await self.session_delta(sid, delta)
        if count is not None:
            on_total(count)

    async def session_delta(self, sid: str, delta: int) -> int | None:
        """Count a session's connections across hubs; the new viewer total if it changed."""
        self._held_sessions[sid] += delta
        if self._held_sessions[sid] <= 0:
            del self._held_sessions[sid]
        key = self._key("sessions")
        n = await self.r.hincrby(key, sid, delta)
        if n <= 0:
            await self.r.hdel(key, sid)
        if (delta > 0 and n == 1) or (delta < 0 and n <= 0):
            return int(await self.r.hlen(key))
        return None

    async def register_peer(self, peer_id: str, peer_type: str) -> None:
        await self.r.hset(self._key("peers"), peer_id, f"{self.node_id}|{peer_type}")

    async def peer_owner(self, peer_id: str) -> tuple[str, str] | None:
        value = await self.r.hget(self._key("peers"), peer_id)
        if not isinstance(value, str) or "|" not in value:
            return None
        node, peer_type = value.split("|", 1)
        return node, peer_type

    def forget_peer(self, peer_id: str) -> None:
        self._spawn(self.drop_peer(peer_id))

    async def drop_peer(self, peer_id: str) -> None:
        owner = await self.peer_owner(peer_id)
        if owner is not None and owner[0] == self.node_id:
            await self.r.hdel(self._key("peers"), peer_id)


def _text(value: bytes | str | None) -> str | None:
    # The client decodes responses; bytes only if someone configured it otherwise.
    return value.decode() if isinstance(value, bytes) else value
