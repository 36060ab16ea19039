"""The Redis broker: several hubs acting as one (``WRENCOS_REDIS_URL``), an event stream + keys.

Each hub keeps its own connections, memory and database. Every change a hub makes
is an event (``hub/events.py``, ``Hub.emit``); it is appended to one Redis stream and
every other hub reads it, writes its copy and delivers it to its own clients.
``RedisBroker`` is the clustered implementation of ``hub/broker.py``'s ``Broker``; the
engine and the features use it exactly as they use the ``LocalBroker`` of a hub on its
own. Keys hold what a hub needs to decide or to join late: the live stream (claimed
with ``SET NX``, so two hubs cannot both go live), its likers, its last chat lines, the
pins, the number of connections each customer session has across hubs (the viewer
count), and where each WebRTC peer is connected.

A Redis outage costs the other hubs nothing but time (contract, trust rule 10): nothing
a client is waiting for waits on Redis. Events and key updates go into one ordered
outbox that a single sender task writes, retrying until Redis answers again; a stream
(not pub/sub) carries the events, so a hub whose reader was disconnected when they were
written still reads them, in order, when it reconnects. Each event carries its hub's
sequence number, so one the sender had to write twice is applied once. A probe PINGs
Redis every second and drives :attr:`RedisBroker.status` (``/healthz`` ``"redis"``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from wrencos_studio.codec import CodecError, from_json, to_json
from wrencos_studio.hub import protocol as p
from wrencos_studio.hub.broker import OnEvent, Snapshot
from wrencos_studio.hub.events import Event, event_from_json, event_to_json
from wrencos_studio.hub.protocol import ProtocolError
from wrencos_studio.hub.protocol.outbound import StreamData
from wrencos_studio.store.rows import ChatLine

__all__ = ["ClusterError", "RedisBroker"]

log = logging.getLogger(__name__)

#: Seconds between health probes, and how long one PING may take before Redis is "down".
PROBE_INTERVAL_S = 1.0
PROBE_TIMEOUT_S = 1.0
#: How long the sender waits for one write before it reconnects and writes it again.
SEND_TIMEOUT_S = 3.0
#: A question a handler awaits (where is this peer?) gets this long, then local knowledge.
LOOKUP_TIMEOUT_S = 1.0
#: Going live must be decided by Redis; an admin waits at most this long for it.
CLAIM_TIMEOUT_S = 3.0
#: Queries made while joining (snapshot, shared secret) and at shutdown.
QUERY_TIMEOUT_S = 5.0
#: The reader's blocking read; its socket waits a little longer than that.
READ_BLOCK_MS = 1000
#: Writes held while Redis is away. Generous (hours of a busy stream's chat), but bounded:
#: beyond it the oldest are dropped, with a warning.
OUTBOX_LIMIT = 100_000
#: Events kept in the Redis stream for hubs that read late (trimmed approximately).
STREAM_LENGTH = 10_000
#: The sender's retry delay doubles up to this, so it notices Redis is back within it.
RETRY_MAX_S = 0.5

#: One write for Redis, in outbox order; it raises to be tried again.
Op = Callable[[redis.Redis], Awaitable[None]]

#: Failures of the link (try again later), as opposed to Redis refusing a command.
_LINK_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)


class ClusterError(Exception):
    """Redis could not be reached or answered wrongly."""


def _client(url: str, timeout: float | None) -> redis.Redis:
    # No retries inside the client: whoever calls decides whether to wait and try again.
    return redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=timeout,
        socket_connect_timeout=min(timeout or SEND_TIMEOUT_S, SEND_TIMEOUT_S),
        retry=Retry(NoBackoff(), 0),
    )


class RedisBroker:
    """This hub's link to the others (implements ``hub.broker.Broker``)."""

    def __init__(self, url: str, prefix: str = "wrencos") -> None:
        self.url = url
        self.node_id = secrets.token_hex(4)
        self.prefix = prefix
        self.events_key = f"{prefix}:events"
        # One client per kind of waiting, so a slow one never holds up another.
        self._query: redis.Redis | None = None
        self._sender: redis.Redis | None = None
        self._reader: redis.Redis | None = None
        self._prober: redis.Redis | None = None
        self._outbox: deque[Op] = deque()
        self._queued = asyncio.Event()
        self._back = asyncio.Event()  # the probe saw Redis answer again
        self._empty = asyncio.Event()
        self._empty.set()
        self._dropped = 0
        self._seq = 0
        self._seen: dict[str, int] = {}  # node id -> last sequence number applied
        self._last_id = "0-0"
        self._up = False
        self._tasks: list[asyncio.Task[None]] = []
        self._held_sessions: Counter[str] = Counter()
        self._on_event: OnEvent | None = None

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    @property
    def r(self) -> redis.Redis:
        """The client for awaited queries."""
        if self._query is None:
            raise ClusterError("not connected")
        return self._query

    @property
    def status(self) -> str:
        """``"up"`` while Redis answers the probe, ``"down"`` otherwise."""
        return "up" if self._up else "down"

    @property
    def queued(self) -> int:
        """Writes waiting for Redis."""
        return len(self._outbox)

    # -- lifecycle -------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect and check Redis answers (a clear error before serving, not later); from
        here on writes are sent and the link is watched."""
        self._query = _client(self.url, QUERY_TIMEOUT_S)
        self._sender = _client(self.url, SEND_TIMEOUT_S)
        self._reader = _client(self.url, READ_BLOCK_MS / 1000 + 4)
        self._prober = _client(self.url, PROBE_TIMEOUT_S)
        try:
            await self._query.ping()
        except (redis.RedisError, OSError) as exc:
            raise ClusterError(f"cannot reach Redis at {self.url}: {exc}") from exc
        self._up = True
        self._tasks = [
            asyncio.create_task(self._send(), name="cluster-send"),
            asyncio.create_task(self._probe(), name="cluster-probe"),
        ]

    async def start(self, on_event: OnEvent) -> None:
        """Begin reading the other hubs' events (those written from now on)."""
        self._on_event = on_event
        try:
            last = await self.r.xrevrange(self.events_key, count=1)
        except (redis.RedisError, OSError) as exc:
            raise ClusterError(f"cannot read the hubs' events at {self.url}: {exc}") from exc
        if last:
            self._last_id = str(last[0][0])
        self._tasks.append(asyncio.create_task(self._receive(), name="cluster-receive"))

    async def stop(self) -> None:
        """Send what is queued (for at most 2 s, if Redis answers), give back our sessions'
        viewer counts, disconnect."""
        if self._up:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flushed(), 2)
        if self._outbox:
            log.warning("stopping with %d updates Redis never took", len(self._outbox))
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._query is not None and self._up:
            with contextlib.suppress(redis.RedisError, OSError, TimeoutError):
                await asyncio.wait_for(self._give_back_sessions(self._query), 2)
        for client in (self._query, self._sender, self._reader, self._prober):
            if client is not None:
                with contextlib.suppress(redis.RedisError, OSError):
                    await client.aclose()
        self._query = self._sender = self._reader = self._prober = None

    async def _give_back_sessions(self, r: redis.Redis) -> None:
        for sid, n in self._held_sessions.items():
            if n > 0 and await r.hincrby(self._key("sessions"), sid, -n) <= 0:
                await r.hdel(self._key("sessions"), sid)

    async def _flushed(self) -> None:
        await self._empty.wait()

    # -- the link's health -----------------------------------------------------------

    async def _probe(self) -> None:
        assert self._prober is not None
        while True:
            try:
                await self._prober.ping()
            except (redis.RedisError, OSError) as exc:
                self._link_failed(exc)
            else:
                self._link_ok()
            await asyncio.sleep(PROBE_INTERVAL_S)

    def _link_failed(self, exc: BaseException) -> None:
        if self._up:
            self._up = False
            log.warning(
                "Redis at %s is not answering (%s): serving this hub's clients alone, "
                "holding what the other hubs must hear until it is back",
                self.url,
                str(exc) or type(exc).__name__,
            )

    def _link_ok(self) -> None:
        if not self._up:
            self._up = True
            self._dropped = 0
            held = f"; sending {self.queued} held updates" if self._outbox else ""
            log.warning("Redis at %s answers again%s", self.url, held)
            self._back.set()  # the sender need not finish its back-off

    # -- the outbox: every write, in order -------------------------------------------

    def _enqueue(self, op: Op) -> None:
        if len(self._outbox) >= OUTBOX_LIMIT:
            self._outbox.popleft()
            if self._dropped == 0:
                log.warning(
                    "more than %d updates held for Redis: dropping the oldest", OUTBOX_LIMIT
                )
            self._dropped += 1
        self._outbox.append(op)
        self._empty.clear()
        self._queued.set()

    async def _send(self) -> None:
        # One sender, in order: other hubs see our changes in the order we made them. A
        # write that fails on the link is tried again (never dropped) until Redis answers.
        assert self._sender is not None
        delay = 0.05
        while True:
            if not self._outbox:
                self._queued.clear()
                await self._queued.wait()
                continue
            op = self._outbox[0]
            try:
                await op(self._sender)
            except _LINK_ERRORS as exc:
                # Only the probe says "down": one stale pooled connection is not an outage.
                log.debug("writing to Redis failed (%s); trying again in %.2f s", exc, delay)
                self._back.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._back.wait(), delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            except redis.RedisError as exc:
                # Redis answered and refused: trying again would refuse again.
                log.error("Redis refused an update, skipping it: %s", exc)
            except Exception:
                log.exception("a cluster update failed, skipping it")
            delay = 0.05
            if self._outbox and self._outbox[0] is op:
                self._outbox.popleft()
            if not self._outbox:
                self._empty.set()

    # -- events ----------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        self._seq += 1
        fields = {
            "n": self.node_id,
            "s": str(self._seq),
            "d": json.dumps(event_to_json(event, self.node_id), ensure_ascii=True),
        }

        async def append(r: redis.Redis) -> None:
            await r.xadd(
                self.events_key,
                fields,  # type: ignore[arg-type]
                maxlen=STREAM_LENGTH,
                approximate=True,
            )

        self._enqueue(append)

    async def _receive(self) -> None:
        assert self._reader is not None
        delay = 0.05
        while True:
            try:
                found = await self._reader.xread(
                    {self.events_key: self._last_id}, count=500, block=READ_BLOCK_MS
                )
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError) as exc:
                # The probe reports the outage; this only reconnects, soon after it ends.
                log.debug("reading the hubs' events failed (%s); reconnecting", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            delay = 0.05
            # [[stream, [(id, fields), ...]]] (a dict with RESP3).
            streams: Any = found.items() if isinstance(found, dict) else (found or [])
            for _name, entries in streams:
                for entry_id, fields in entries:
                    self._last_id = str(entry_id)
                    await self._deliver(fields or {})

    async def _deliver(self, fields: dict[str, str]) -> None:
        node = fields.get("n")
        if node is None or node == self.node_id:
            return
        try:
            seq = int(fields.get("s", "0"))
            obj = json.loads(fields["d"])
            if seq <= self._seen.get(node, 0):
                return  # written twice by a sender that lost Redis's answer
            self._seen[node] = seq
            event = event_from_json(obj) if isinstance(obj, dict) else None
        except (KeyError, TypeError, ValueError):
            log.warning("ignoring a malformed cluster event")
            return
        if event is None:
            log.warning("ignoring unknown cluster event %r", obj.get("e"))
            return
        assert self._on_event is not None
        try:
            await self._on_event(event)
        except Exception:
            log.exception("applying cluster event %r failed", event.KIND)

    # -- joining ---------------------------------------------------------------------

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
                seen: set[str] = set()
                for x in await self.r.lrange(self._key("chat", sid), 0, -1):
                    line = from_json(ChatLine, json.loads(x))
                    if line.id not in seen:  # a line written twice across an outage
                        seen.add(line.id)
                        chat.append(line)
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

    # -- the live stream -------------------------------------------------------------

    async def claim_stream(self, data: StreamData) -> bool:
        """Go live here unless a stream is live on any hub. Only Redis can decide that: when
        it does not answer within ``CLAIM_TIMEOUT_S`` the admin gets "Internal server error"
        (never "Stream already active", which would be a guess) and the reason is logged."""
        if not self._up:
            self._claim_failed("Redis is not answering")
        loop = asyncio.get_running_loop()
        decided: asyncio.Future[bool] = loop.create_future()
        value = json.dumps(to_json(data))

        async def claim(r: redis.Redis) -> None:
            ok = bool(await r.set(self._key("stream"), value, nx=True))
            if not ok:
                current = await r.get(self._key("stream"))
                # Our own stream (a restart of this hub) is still ours.
                ok = current is not None and json.loads(current)["streamId"] == data.stream_id
            if not decided.done():
                decided.set_result(ok)
            elif ok and decided.cancelled():
                # The admin was told it failed: do not leave a stream claimed nobody runs.
                await self._release(r, data.stream_id)

        # In the outbox, so a release queued before it (a stop) is applied first.
        self._enqueue(claim)
        try:
            return await asyncio.wait_for(asyncio.shield(decided), CLAIM_TIMEOUT_S)
        except TimeoutError:
            decided.cancel()
            self._claim_failed(f"no answer within {CLAIM_TIMEOUT_S:g} s")

    def _claim_failed(self, why: str) -> NoReturn:
        log.warning(
            "cannot go live: %s (Redis at %s decides that only one hub is live)", why, self.url
        )
        raise ProtocolError(p.ERR_INTERNAL)

    async def release_stream(self, stream_id: str) -> None:
        """Queued: the stream is over here at once, in Redis when it answers."""
        self._enqueue(lambda r: self._release(r, stream_id))

    async def _release(self, r: redis.Redis, stream_id: str) -> None:
        current = await r.get(self._key("stream"))
        if current is not None and json.loads(current)["streamId"] == stream_id:
            await r.delete(
                self._key("stream"),
                self._key("likes", stream_id),
                self._key("chat", stream_id),
                self._key("pinned"),
            )

    # -- shared keys (queued, never awaited by a handler) ----------------------------

    def remember_chat(self, stream_id: str, line: ChatLine, limit: int) -> None:
        key = self._key("chat", stream_id)
        value = json.dumps(to_json(line), ensure_ascii=True)

        async def push(r: redis.Redis) -> None:
            async with r.pipeline(transaction=True) as pipe:
                pipe.rpush(key, value)
                pipe.ltrim(key, -limit, -1)
                await pipe.execute()

        self._enqueue(push)

    def remember_like(self, stream_id: str, public_id: str, liked: bool) -> None:
        key = self._key("likes", stream_id)

        async def like(r: redis.Redis) -> None:
            if liked:
                # A sorted set keeps like order: score = a shared counter.
                order = await r.incr(self._key("likes-order"))
                await r.zadd(key, {public_id: order}, nx=True)
            else:
                await r.zrem(key, public_id)

        self._enqueue(like)

    def remember_pinned(self, items: list[dict[str, Any]]) -> None:
        value = json.dumps(items, ensure_ascii=True)

        async def pin(r: redis.Redis) -> None:
            await r.set(self._key("pinned"), value)

        self._enqueue(pin)

    def remember_broadcaster(self, peer_id: str | None) -> None:
        async def remember(r: redis.Redis) -> None:
            if peer_id is None:
                await r.delete(self._key("broadcaster"))
            else:
                await r.set(self._key("broadcaster"), peer_id)

        self._enqueue(remember)

    def count_session(self, sid: str, delta: int, on_total: Callable[[int], None]) -> None:
        """Counted in Redis when it answers; meanwhile the viewer count stays as it was."""
        key = self._key("sessions")

        async def count(r: redis.Redis) -> None:
            async with r.pipeline(transaction=True) as pipe:
                pipe.hincrby(key, sid, delta)
                pipe.hlen(key)
                n, total = await pipe.execute()
            self._held_sessions[sid] += delta
            if self._held_sessions[sid] <= 0:
                del self._held_sessions[sid]
            if n <= 0:
                await r.hdel(key, sid)
                total = await r.hlen(key)
            if (delta > 0 and n == 1) or (delta < 0 and n <= 0):
                on_total(int(total))

        self._enqueue(count)

    # -- WebRTC peers ----------------------------------------------------------------

    async def register_peer(self, peer_id: str, peer_type: str) -> None:
        """Queued: whatever this hub publishes after it reaches Redis after it."""
        value = f"{self.node_id}|{peer_type}"

        async def register(r: redis.Redis) -> None:
            await r.hset(self._key("peers"), peer_id, value)

        self._enqueue(register)

    async def peer_owner(self, peer_id: str) -> tuple[str, str] | None:
        """Where Redis says the peer is; None when it does not know or does not answer
        within ``LOOKUP_TIMEOUT_S`` (then only this hub's own peers are known)."""
        if not self._up:
            return None
        try:
            value = await asyncio.wait_for(
                self.r.hget(self._key("peers"), peer_id), LOOKUP_TIMEOUT_S
            )
        except (redis.RedisError, OSError, TimeoutError) as exc:
            log.debug("peer lookup failed (%s); answering from this hub alone", exc)
            return None
        if not isinstance(value, str) or "|" not in value:
            return None
        node, peer_type = value.split("|", 1)
        return node, peer_type

    def forget_peer(self, peer_id: str) -> None:
        async def forget(r: redis.Redis) -> None:
            value = await r.hget(self._key("peers"), peer_id)
            if isinstance(value, str) and value.split("|", 1)[0] == self.node_id:
                await r.hdel(self._key("peers"), peer_id)

        self._enqueue(forget)


def _text(value: bytes | str | None) -> str | None:
    # The client decodes responses; bytes only if someone configured it otherwise.
    return value.decode() if isinstance(value, bytes) else value
