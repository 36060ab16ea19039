"""The hub's state and message handlers; transport-agnostic (clients are reached through sinks).

State that must last (streams, chat, likes, support, pins, catalog) is written
to the store *before* anyone is told about it: a handler validates, queues its
write, awaits the commit and only then changes memory and broadcasts. The store
completes jobs in order, so broadcasts go out in the order the writes were made.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import logging
import secrets
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from wrencos_studio.clock import utc_now_iso
from wrencos_studio.config import Settings
from wrencos_studio.hub import protocol as p
from wrencos_studio.hub.auth import STAFF_ROLES, AuthError, verify_token
from wrencos_studio.hub.protocol import ProtocolError
from wrencos_studio.hub.ratelimit import TokenBucket
from wrencos_studio.store import repositories as repo
from wrencos_studio.store.database import Store, StoreError

__all__ = ["Client", "Hub", "Outgoing", "Sink"]

log = logging.getLogger(__name__)

CUSTOMER = "customer"
ADMIN = "admin"


class Outgoing:
    """One encoded message on its way to one or many clients; its WebSocket frame is
    built at most once, however many connections it goes to."""

    __slots__ = ("_frame", "payload")

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self._frame: bytes | None = None

    @property
    def frame(self) -> bytes:
        frame = self._frame
        if frame is None:
            frame = self._frame = _text_frame(self.payload)
        return frame


def _text_frame(payload: bytes) -> bytes:
    # A server frame is never masked, and with compression off it is the same bytes
    # for every connection: build it once (RFC 6455 section 5.2).
    n = len(payload)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 65536:
        header = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return header + payload


class Sink(Protocol):
    """Where a client's messages go: a WebSocket, or an in-process listener."""

    def deliver(self, message: Outgoing) -> bool:
        """Queue the message; False if the connection is no longer open."""
        ...

    async def confirm(self) -> bool:
        """True once the peer has read everything delivered so far (False if it went away)."""
        ...


_client_ids = itertools.count(1)


class Client:
    """One connection and what it registered as."""

    __slots__ = (
        "buckets",
        "id",
        "kind",
        "like_identity",
        "peer_id",
        "peer_type",
        "public_id",
        "remote",
        "role",
        "session_id",
        "sink",
        "trusted",
        "user_id",
    )

    def __init__(self, sink: Sink, remote: str = "") -> None:
        self.id = next(_client_ids)
        self.sink = sink
        self.remote = remote
        self.kind: str | None = None
        self.role: str | None = None
        self.user_id: str | None = None
        self.session_id: str | None = None
        self.public_id: str | None = None
        self.like_identity: str | None = None
        self.peer_id: str | None = None
        self.peer_type: str | None = None
        self.buckets: dict[str, TokenBucket] | None = None
        #: An in-process part of this program (broadcaster, studio window): no rate limits.
        self.trusted = False

    @property
    def is_admin(self) -> bool:
        """An admin connection (role admin or staff)."""
        return self.kind == ADMIN

    def __repr__(self) -> str:
        return f"<Client {self.id} {self.kind or 'new'} {self.remote}>"


@dataclass(slots=True)
class LiveStream:
    stream_id: str
    title: str
    description: str
    stream_url: str
    quality: str
    start_time: str
    peak_viewers: int = 0
    liked_by: dict[str, None] = field(default_factory=dict)  # publicIds, in like order
    # Moderation for this stream (publicIds), and slow mode.
    muted: set[str] = field(default_factory=set)
    banned: set[str] = field(default_factory=set)
    slow_mode_s: int = 0
    last_chat: dict[str, float] = field(default_factory=dict)

    def moderation(self) -> dict[str, Any]:
        return {
            "muted": sorted(self.muted),
            "banned": sorted(self.banned),
            "slowModeSeconds": self.slow_mode_s,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> LiveStream:
        """From the ``streamData`` shape (as events and snapshots carry it)."""
        return cls(
            stream_id=data["streamId"],
            title=data["title"],
            description=data["description"],
            stream_url=data["streamUrl"],
            quality=data["quality"],
            start_time=data["startTime"],
            peak_viewers=int(data.get("viewerCount", 0)),
            liked_by=dict.fromkeys(data.get("likedBy", [])),
        )

    def data(self, viewer_count: int) -> dict[str, Any]:
        return {
            "streamId": self.stream_id,
            "title": self.title,
            "description": self.description,
            "startTime": self.start_time,
            "viewerCount": viewer_count,
            "likes": len(self.liked_by),
            "likedBy": list(self.liked_by),
            "streamUrl": self.stream_url,
            "quality": self.quality,
        }


@dataclass(slots=True)
class HubStats:
    """Counters for /metrics and /healthz."""

    started: float = field(default_factory=time.time)
    received: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    sent_messages: int = 0
    broadcasts: int = 0
    connections_total: int = 0


Handler = Callable[[Client, Any], Awaitable[None]]
Event = dict[str, Any]


class Cluster(Protocol):
    """Other hubs sharing this one's state (see ``hub/cluster.py``); None when alone."""

    node_id: str

    def publish(self, event: Event) -> None: ...
    async def claim_stream(self, data: dict[str, Any]) -> bool: ...
    async def release_stream(self, stream_id: str) -> None: ...
    async def remember_chat(self, stream_id: str, entry: dict[str, Any], limit: int) -> None: ...
    async def remember_like(self, stream_id: str, public_id: str, liked: bool) -> None: ...
    async def remember_pinned(self, items: list[dict[str, Any]]) -> None: ...
    async def remember_broadcaster(self, peer_id: str | None) -> None: ...
    async def shared_secret(self, name: str, proposal: str) -> str: ...
    async def session_delta(self, sid: str, delta: int) -> int | None: ...
    async def register_peer(self, peer_id: str, peer_type: str) -> None: ...
    async def peer_owner(self, peer_id: str) -> tuple[str, str] | None: ...
    async def drop_peer(self, peer_id: str) -> None: ...


class Hub:
    """Everything the protocol does, independent of how clients are connected.

    Every change that other clients see is an *event* (``_emit``): it is applied
    here (memory + delivery to this hub's clients) and, with a cluster, published
    so that every other hub applies it to its own memory, database and clients.
    """

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.stats = HubStats()
        self.cluster: Cluster | None = None
        # The media broadcaster, when this process broadcasts (it sets itself here).
        self.media: Any = None
        self.node_id = secrets.token_hex(4)
        self.clients: set[Client] = set()
        self.registered: set[Client] = set()  # customers and admins: broadcasts reach them
        self.admins: set[Client] = set()
        self.sessions: dict[str, set[Client]] = {}  # sessionId -> open customer connections
        self.peers: dict[str, Client] = {}  # WebRTC peerId -> connection
        self.broadcaster_peer: str | None = None
        self.stream: LiveStream | None = None
        self.pinned: list[dict[str, Any]] = []
        self.chat_history: deque[dict[str, Any]] = deque(maxlen=settings.chat_history_limit)
        # Staff replies not yet confirmed read, per sessionId, oldest first.
        self.pending_replies: dict[str, list[dict[str, Any]]] = {}
        self._public_key = b""
        self._viewer_count = 0
        self._cluster_viewers = 0
        self._transition = False  # a start/stop is being written
        self._peak_flush: asyncio.TimerHandle | None = None
        self._ids = itertools.count(int(time.time() * 1000) << 12)
        self._background: set[asyncio.Task[Any]] = set()
        self._handlers: dict[str, Handler] = {
            name: getattr(self, "on_" + name) for name in p.MESSAGES
        }
        self._appliers: dict[str, Callable[[Event], None]] = {
            "stream_started": self._apply_stream_started,
            "stream_stopped": self._apply_stream_stopped,
            "chat": self._apply_chat,
            "chat_deleted": self._apply_chat_deleted,
            "moderation": self._apply_moderation,
            "conversation_status": self._apply_to_admins,
            "like": self._apply_like,
            "pinned": self._apply_pinned,
            "viewers": self._apply_viewers,
            "customer_message": self._apply_customer_message,
            "staff_reply": self._apply_staff_reply,
            "delivered": self._apply_delivered,
            "product_saved": self._apply_to_admins,
            "product_deleted": self._apply_to_admins,
            "broadcaster": self._apply_broadcaster,
            "to_peer": self._apply_to_peer,
        }

    # -- start-up ------------------------------------------------------------------------

    def load(self) -> None:
        """Read the lasting state (blocking; before serving)."""
        store = self.store
        self._public_key = store.run_sync(repo.get_or_create_secret_key, "public_id_key").encode()
        live = store.run_sync(repo.live_stream)
        if live is not None:
            # The process stopped while live (crash or restart): the stream goes on.
            self.stream = LiveStream(
                stream_id=live["id"],
                title=live["title"],
                description=live["description"],
                stream_url=live["stream_url"],
                quality=live["quality"],
                start_time=live["started_at"],
                peak_viewers=live["peak_viewers"],
                liked_by=dict.fromkeys(store.run_sync(repo.stream_likers, live["id"])),
            )
            self.chat_history.extend(
                store.run_sync(repo.recent_chat, live["id"], self.settings.chat_history_limit)
            )
            saved = store.run_sync(repo.get_meta_json, f"moderation:{live['id']}") or {}
            self.stream.muted = set(saved.get("muted", []))
            self.stream.banned = set(saved.get("banned", []))
            self.stream.slow_mode_s = int(saved.get("slowModeSeconds", 0))
        self.pinned = store.run_sync(repo.load_pinned)
        for sid in store.run_sync(repo.sessions_with_undelivered):
            rows = store.run_sync(repo.undelivered_replies, sid)
            self.pending_replies[sid] = [
                {"uid": r["uid"], "message": r["message"], "timestamp": r["created_at"]}
                for r in rows
            ]

    def new_id(self) -> str:
        """Unique across hubs, roughly time-ordered."""
        return f"{next(self._ids):x}{self.node_id}"

    # -- connections -------------------------------------------------------------------

    def connect(self, sink: Sink, remote: str = "") -> Client:
        client = Client(sink, remote)
        self.clients.add(client)
        self.stats.connections_total += 1
        return client

    def disconnect(self, client: Client) -> None:
        if client not in self.clients:
            return
        self.clients.discard(client)
        self.registered.discard(client)
        self.admins.discard(client)
        if client.kind == CUSTOMER:
            self._detach_session(client)
        self._drop_peer(client)
        client.kind = None

    @property
    def viewer_count(self) -> int:
        if self.stream is None:
            return 0
        return self._cluster_viewers if self.cluster is not None else len(self.sessions)

    # -- dispatch ----------------------------------------------------------------------

    async def handle(self, client: Client, data: str | bytes) -> None:
        """Process one frame from ``client``. Never raises: a bad message gets an error."""
        try:
            spec, obj = p.decode(data)
            self.stats.received[spec.type] += 1
            if spec.access is p.Access.ADMIN and not (client.is_admin and client.role == ADMIN):
                raise ProtocolError(p.ERR_NOT_AUTHORIZED)
            if spec.access is p.Access.STAFF and not client.is_admin:
                raise ProtocolError(p.ERR_NOT_AUTHORIZED)
            if spec.access is p.Access.NON_STAFF and client.is_admin:
                raise ProtocolError(p.ERR_NOT_AUTHORIZED)
            message = spec.build(obj)
            if spec.rate is not None and not client.trusted and not self._take(client, spec.rate):
                raise ProtocolError(p.ERR_RATE_LIMITED)
            await self._handlers[spec.type](client, message)
        except ProtocolError as exc:
            self.error(client, str(exc))
        except StoreError:
            log.exception("database error while handling a message")
            self.error(client, p.ERR_INTERNAL)
        except Exception:
            log.exception("unexpected error while handling a message from %r", client)
            self.error(client, p.ERR_INTERNAL)

    def _take(self, client: Client, bucket: str) -> bool:
        buckets = client.buckets
        if buckets is None:
            buckets = client.buckets = {}
        tb = buckets.get(bucket)
        if tb is None:
            rate, burst = getattr(self.settings, bucket + "_rate")
            tb = buckets[bucket] = TokenBucket(rate, burst)
        return tb.take()

    # -- events --------------------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        """Apply a change here and tell the other hubs (if any)."""
        self._appliers[event["e"]](event)
        if self.cluster is not None:
            event["n"] = self.node_id
            self.cluster.publish(event)

    async def on_cluster_event(self, event: Event) -> None:
        """A change made on another hub: store our copy, then apply it here."""
        kind = event.get("e")
        applier = self._appliers.get(kind) if isinstance(kind, str) else None
        if applier is None:
            log.warning("ignoring unknown cluster event %r", kind)
            return
        if event.get("target") not in (None, self.node_id):
            return
        persist = _REMOTE_WRITES.get(kind)  # type: ignore[arg-type]
        if persist is not None:
            # The origin committed before publishing; ours may trail it, it is a copy.
            self._spawn(self.store.run(*persist(event)))
        applier(event)

    async def attach_cluster(self, cluster: Cluster, snapshot: dict[str, Any]) -> None:
        """Join other hubs: adopt their live state (``snapshot``) or share ours."""
        self.cluster = cluster
        self.node_id = cluster.node_id
        key = await cluster.shared_secret("public-id-key", self._public_key.decode())
        self._public_key = key.encode()
        data = snapshot.get("stream")
        if data:
            if self.stream is None or self.stream.stream_id != data["streamId"]:
                await self.store.run(repo.start_stream, data)
                self.stream = LiveStream.from_data(data)
            self.stream.liked_by = dict.fromkeys(snapshot.get("likers", []))
            self.chat_history.clear()
            self.chat_history.extend(snapshot.get("chat", []))
        elif self.stream is not None:
            await cluster.claim_stream(self.stream.data(0))
            for entry in self.chat_history:
                await cluster.remember_chat(
                    self.stream.stream_id, entry, self.settings.chat_history_limit
                )
            for public_id in self.stream.liked_by:
                await cluster.remember_like(self.stream.stream_id, public_id, True)
        if snapshot.get("pinned") is not None:
            self.pinned = snapshot["pinned"]
        else:
            await cluster.remember_pinned(self.pinned)
        self._cluster_viewers = int(snapshot.get("viewers", 0))
        self._viewer_count = self.viewer_count
        if snapshot.get("broadcaster"):
            self.broadcaster_peer = snapshot["broadcaster"]

    async def _remember(self, aw: Awaitable[Any]) -> None:
        """Keep Redis's copy of the live state for hubs that join later; best effort: a
        failure must not undo what is already committed and about to be broadcast."""
        try:
            await aw
        except Exception as exc:
            log.warning("could not update the shared state in Redis: %s", exc)

    # -- sending -----------------------------------------------------------------------

    def send(self, client: Client, message: dict[str, Any]) -> None:
        self.stats.sent_messages += 1
        client.sink.deliver(Outgoing(p.encode(message)))

    def error(self, client: Client, text: str) -> None:
        self.stats.errors[text] += 1
        self.send(client, {"type": "error", "message": text})

    def broadcast(self, message: dict[str, Any], to: Iterable[Client] | None = None) -> None:
        """Encode once, deliver to ``to`` (default: every registered client)."""
        out = Outgoing(p.encode(message))
        targets = self.registered if to is None else to
        n = 0
        for client in targets:
            client.sink.deliver(out)
            n += 1
        self.stats.broadcasts += 1
        self.stats.sent_messages += n

    def _customers(self) -> set[Client]:
        """Registered customers, plus connections that only registered a customer peer."""
        out = {c for c in self.registered if c.kind == CUSTOMER}
        out.update(c for c in self.peers.values() if c.peer_type == CUSTOMER)
        return out

    def _stream_update(self) -> None:
        stream = self.stream
        if stream is None:
            return
        self.broadcast(
            {
                "type": "stream_update",
                "viewerCount": self.viewer_count,
                "likes": len(stream.liked_by),
                "likedBy": list(stream.liked_by),
            }
        )

    def _viewers_changed(self) -> None:
        count = self.viewer_count
        if count == self._viewer_count:
            return
        self._viewer_count = count
        stream = self.stream
        if stream is None:
            return
        if count > stream.peak_viewers:
            stream.peak_viewers = count
            self._schedule_peak_flush()
        self._stream_update()

    def _session_counted(self, sid: str, delta: int) -> None:
        """A session got its first (+1) or lost its last (-1) connection on this hub."""
        if self.cluster is None:
            self._viewers_changed()
        else:
            self._spawn(self._count_in_cluster(sid, delta))

    async def _count_in_cluster(self, sid: str, delta: int) -> None:
        assert self.cluster is not None
        count = await self.cluster.session_delta(sid, delta)
        if count is not None:
            self._emit({"e": "viewers", "count": count})

    def _apply_viewers(self, event: Event) -> None:
        self._cluster_viewers = int(event["count"])
        self._viewers_changed()

    def _schedule_peak_flush(self) -> None:
        # A storm of joins must not be a storm of writes: the peak is saved once a second.
        if self._peak_flush is not None:
            return
        loop = asyncio.get_running_loop()
        self._peak_flush = loop.call_later(1.0, self._flush_peak)

    def _flush_peak(self) -> None:
        self._peak_flush = None
        if self.stream is not None:
            self._spawn(
                self.store.run(
                    repo.update_stream_peak, self.stream.stream_id, self.stream.peak_viewers
                )
            )

    def _spawn(self, aw: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(aw)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed: %s", task.exception())

    def public_id(self, identity: str) -> str:
        """A stable, non-reversible public name for a like identity (never a sessionId)."""
        return hmac.new(self._public_key, identity.encode(), hashlib.sha256).hexdigest()[:20]

    # -- registration ------------------------------------------------------------------

    async def on_register(self, client: Client, msg: p.Register) -> None:
        user_id: str | None = None
        if msg.token:
            try:
                user_id = verify_token(msg.token, self.settings.jwt_secret).user_id
            except AuthError:
                user_id = None  # an optional token that fails just means anonymous
        if client.kind == ADMIN:
            self.admins.discard(client)
            if client.peer_type == ADMIN:
                self._drop_peer(client)
        if client.kind == CUSTOMER and client.session_id != msg.session_id:
            self._detach_session(client)
        sid = msg.session_id
        client.kind = CUSTOMER
        client.role = None
        client.session_id = sid
        client.user_id = user_id
        client.like_identity = f"user:{user_id}" if user_id else f"session:{sid}"
        client.public_id = self.public_id(client.like_identity)
        group = self.sessions.get(sid)
        first = group is None
        if group is None:
            group = self.sessions[sid] = set()
        group.add(client)
        self.registered.add(client)
        self.send(
            client,
            {
                "type": "registered",
                "sessionId": sid,
                "status": "connected",
                "publicId": client.public_id,
            },
        )
        if self.stream is not None:
            self.send(
                client,
                {"type": "stream_started", "streamData": self.stream.data(self.viewer_count)},
            )
            self.send(client, {"type": "pinned_products_updated", "pinnedProducts": self.pinned})
            self.send(client, {"type": "chat_history", "messages": list(self.chat_history)})
            if self.stream.slow_mode_s:
                self.send(
                    client, {"type": "chat_settings", "slowModeSeconds": self.stream.slow_mode_s}
                )
        self._deliver_pending(sid)
        if first:
            self._session_counted(sid, +1)

    def _deliver_pending(self, sid: str) -> None:
        """Send a returning customer every reply it has not confirmed, oldest first."""
        pending = self.pending_replies.get(sid)
        if not pending:
            return
        clients = list(self.sessions.get(sid, ()))
        for reply in pending:
            self._send_to_session(sid, self._reply_message(reply))
        self._confirm_delivery(sid, [r["uid"] for r in pending], clients)

    @staticmethod
    def _reply_message(reply: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "staff_reply",
            "message": reply["message"],
            "timestamp": reply["timestamp"],
            "id": reply["uid"],
        }

    def _confirm_delivery(self, sid: str, uids: list[str], clients: list[Client]) -> None:
        """A reply counts as delivered once a connection proves it read it (ping/pong),
        not when it was queued: a half-open connection must not swallow it."""
        if clients:
            self._spawn(self._await_confirmation(sid, uids, clients))

    async def _await_confirmation(self, sid: str, uids: list[str], clients: list[Client]) -> None:
        # The first tab that proves it read the reply is enough.
        confirmations = [asyncio.ensure_future(c.sink.confirm()) for c in clients]
        confirmed = False
        try:
            for next_done in asyncio.as_completed(confirmations):
                with contextlib.suppress(Exception):
                    if await next_done:
                        confirmed = True
                        break
        finally:
            for task in confirmations:
                task.cancel()
        if not confirmed:
            return  # stays pending; sent again when the customer registers
        at = utc_now_iso()
        await self.store.run(repo.mark_delivered, uids, at)
        self._emit({"e": "delivered", "sessionId": sid, "uids": uids, "at": at})

    def _apply_delivered(self, event: Event) -> None:
        sid = event["sessionId"]
        done = set(event["uids"])
        pending = self.pending_replies.get(sid)
        if pending is not None:
            pending[:] = [r for r in pending if r["uid"] not in done]
            if not pending:
                del self.pending_replies[sid]

    def _send_to_session(self, sid: str, message: dict[str, Any]) -> int:
        clients = self.sessions.get(sid)
        if not clients:
            return 0
        out = Outgoing(p.encode(message))
        accepted = sum(1 for c in clients if c.sink.deliver(out))
        self.stats.sent_messages += accepted
        return accepted

    def _detach_session(self, client: Client) -> None:
        sid = client.session_id
        if sid is None:
            return
        group = self.sessions.get(sid)
        if group is not None:
            group.discard(client)
            if not group:
                del self.sessions[sid]
                self._session_counted(sid, -1)
        client.session_id = None

    async def on_register_admin(self, client: Client, msg: p.RegisterAdmin) -> None:
        if not msg.token:
            raise ProtocolError(p.ERR_TOKEN_REQUIRED)
        try:
            identity = verify_token(msg.token, self.settings.jwt_secret)
            if identity.role not in STAFF_ROLES:
                raise AuthError(f"role {identity.role!r} may not open an admin connection")
        except AuthError as exc:
            log.info("register_admin refused from %s: %s", client.remote, exc)
            if client.kind == ADMIN:  # a failed re-registration drops every privilege
                self.admins.discard(client)
                self.registered.discard(client)
                client.kind = None
                client.role = None
                client.user_id = None
                client.like_identity = None
                client.public_id = None
                if client.peer_type == ADMIN:
                    self._drop_peer(client)
            raise ProtocolError(p.ERR_AUTH_FAILED) from None
        if client.kind == CUSTOMER:
            self._detach_session(client)
        client.kind = ADMIN
        client.role = identity.role
        client.user_id = identity.user_id
        client.like_identity = f"user:{identity.user_id}"
        client.public_id = self.public_id(client.like_identity)
        self.admins.add(client)
        self.registered.add(client)
        self.send(
            client,
            {
                "type": "admin_registered",
                "userId": identity.user_id,
                "status": "connected",
                "role": identity.role,
            },
        )

    # -- the live stream ---------------------------------------------------------------

    async def on_start_stream(self, client: Client, msg: p.StartStream) -> None:
        if self.stream is not None or self._transition:
            raise ProtocolError(p.ERR_STREAM_ACTIVE)
        stream = LiveStream(
            stream_id=secrets.token_hex(12),
            title=msg.title,
            description=msg.description or "",
            stream_url=msg.stream_url or "",
            quality=msg.quality or "720p",
            start_time=utc_now_iso(),
        )
        data = stream.data(0)
        self._transition = True
        try:
            if self.cluster is not None and not await self.cluster.claim_stream(data):
                raise ProtocolError(p.ERR_STREAM_ACTIVE)  # live on another hub
            try:
                await self.store.run(repo.start_stream, data)
            except BaseException:
                if self.cluster is not None:
                    await self.cluster.release_stream(stream.stream_id)
                raise
        finally:
            self._transition = False
        self._emit({"e": "stream_started", "stream": data})

    def _apply_stream_started(self, event: Event) -> None:
        stream = LiveStream.from_data(event["stream"])
        self.stream = stream
        self.chat_history.clear()
        self._viewer_count = self.viewer_count
        stream.peak_viewers = max(stream.peak_viewers, self._viewer_count)
        self.broadcast({"type": "stream_started", "streamData": stream.data(self.viewer_count)})

    async def on_stop_stream(self, client: Client, msg: p.StopStream) -> None:
        stream = self.stream
        if stream is None or self._transition:
            raise ProtocolError(p.ERR_NO_STREAM)
        await self._end(stream)

    async def _end(self, stream: LiveStream) -> None:
        ended = utc_now_iso()
        self._transition = True
        try:
            await self.store.run(repo.end_stream, stream.stream_id, ended, stream.peak_viewers)
            if self.cluster is not None:
                await self.cluster.release_stream(stream.stream_id)
        finally:
            self._transition = False
        self._emit(
            {
                "e": "stream_stopped",
                "streamId": stream.stream_id,
                "endedAt": ended,
                "peak": stream.peak_viewers,
            }
        )

    def _apply_stream_stopped(self, event: Event) -> None:
        if self.stream is None or self.stream.stream_id != event["streamId"]:
            return
        self.stream = None
        self.pinned = []
        self.chat_history.clear()
        self._viewer_count = 0
        self.broadcast({"type": "stream_stopped", "streamId": event["streamId"]})

    async def end_stream_for_shutdown(self) -> None:
        """The studio quitting ends its stream (headless ``serve`` keeps it across restarts)."""
        if self.stream is not None and not self._transition:
            await self._end(self.stream)

    async def on_pin_products(self, client: Client, msg: p.PinProducts) -> None:
        items = msg.pinned_products
        await self.store.run(repo.replace_pinned, items)
        if self.cluster is not None:
            await self._remember(self.cluster.remember_pinned(items))
        self._emit({"e": "pinned", "items": items})

    def _apply_pinned(self, event: Event) -> None:
        self.pinned = event["items"]
        self.broadcast({"type": "pinned_products_updated", "pinnedProducts": self.pinned})

    async def on_toggle_like(self, client: Client, msg: p.ToggleLike) -> None:
        stream = self.stream
        if stream is None:
            raise ProtocolError(p.ERR_NO_STREAM)
        identity = client.like_identity
        if identity is None:
            if msg.session_id is None:
                raise ProtocolError(p.ERR_INVALID)
            identity = f"session:{msg.session_id}"
        public_id = self.public_id(identity)
        if public_id in stream.banned:
            raise ProtocolError(p.ERR_NOT_AUTHORIZED)
        liked = public_id not in stream.liked_by
        at = utc_now_iso()
        await self.store.run(repo.set_like, stream.stream_id, public_id, liked, at)
        if self.stream is not stream:
            raise ProtocolError(p.ERR_NO_STREAM)
        if self.cluster is not None:
            await self._remember(self.cluster.remember_like(stream.stream_id, public_id, liked))
        self._emit(
            {
                "e": "like",
                "streamId": stream.stream_id,
                "publicId": public_id,
                "liked": liked,
                "at": at,
            }
        )

    def _apply_like(self, event: Event) -> None:
        stream = self.stream
        if stream is None or stream.stream_id != event["streamId"]:
            return
        if event["liked"]:
            stream.liked_by[event["publicId"]] = None
        else:
            stream.liked_by.pop(event["publicId"], None)
        self._stream_update()

    async def on_chat_message(self, client: Client, msg: p.ChatMessage) -> None:
        stream = self.stream
        if stream is None:
            raise ProtocolError(p.ERR_NO_STREAM)
        is_admin = client.is_admin
        sender = client.public_id
        if not is_admin and sender is not None:
            if sender in stream.muted or sender in stream.banned:
                raise ProtocolError(p.ERR_MUTED)
            if stream.slow_mode_s:
                now = time.monotonic()
                wait = stream.last_chat.get(sender, -1e9) + stream.slow_mode_s - now
                if wait > 0:
                    self.stats.errors[p.ERR_SLOW_MODE] += 1
                    self.send(
                        client,
                        {
                            "type": "error",
                            "message": p.ERR_SLOW_MODE,
                            "retryAfterSeconds": round(wait, 1),
                        },
                    )
                    return
                stream.last_chat[sender] = now
        entry = {
            "id": self.new_id(),
            "username": msg.username or ("Admin" if is_admin else "Guest"),
            "message": msg.message,
            "timestamp": utc_now_iso(),
            "isAdmin": is_admin,
            "publicId": sender,
        }
        await self.store.run(
            repo.add_chat_message,
            {**entry, "streamId": stream.stream_id, "sender": client.public_id},
        )
        if self.stream is not stream:
            raise ProtocolError(p.ERR_NO_STREAM)
        if self.cluster is not None:
            await self._remember(
                self.cluster.remember_chat(
                    stream.stream_id, entry, self.settings.chat_history_limit
                )
            )
        self._emit(
            {"e": "chat", "streamId": stream.stream_id, "entry": entry, "sender": client.public_id}
        )

    async def on_delete_chat_message(self, client: Client, msg: p.DeleteChatMessage) -> None:
        stream = self.stream
        if stream is None:
            raise ProtocolError(p.ERR_NO_STREAM)
        await self.store.run(repo.delete_chat_message, msg.id, utc_now_iso())
        self._emit({"e": "chat_deleted", "streamId": stream.stream_id, "ids": [msg.id]})

    def _apply_chat_deleted(self, event: Event) -> None:
        if self.stream is None or self.stream.stream_id != event["streamId"]:
            return
        gone = set(event["ids"])
        kept = [m for m in self.chat_history if m["id"] not in gone]
        self.chat_history.clear()
        self.chat_history.extend(kept)
        for message_id in event["ids"]:
            self.broadcast({"type": "chat_message_deleted", "id": message_id})

    async def on_moderate_customer(self, client: Client, msg: p.ModerateCustomer) -> None:
        stream = self.stream
        if stream is None:
            raise ProtocolError(p.ERR_NO_STREAM)
        muted, banned = set(stream.muted), set(stream.banned)
        muted.discard(msg.public_id)
        banned.discard(msg.public_id)
        if msg.action == "mute":
            muted.add(msg.public_id)
        elif msg.action == "ban":
            banned.add(msg.public_id)
        state = {
            "muted": sorted(muted),
            "banned": sorted(banned),
            "slowModeSeconds": stream.slow_mode_s,
        }
        at = utc_now_iso()
        await self.store.run(repo.set_meta_json, f"moderation:{stream.stream_id}", state)
        removed: list[str] = []
        if msg.action == "ban":
            await self.store.run(repo.delete_chat_by_sender, stream.stream_id, msg.public_id, at)
            removed = [m["id"] for m in self.chat_history if m.get("publicId") == msg.public_id]
        self._emit(
            {
                "e": "moderation",
                "streamId": stream.stream_id,
                "state": state,
                "publicId": msg.public_id,
                "action": msg.action,
                "removed": removed,
            }
        )

    async def on_set_slow_mode(self, client: Client, msg: p.SetSlowMode) -> None:
        stream = self.stream
        if stream is None:
            raise ProtocolError(p.ERR_NO_STREAM)
        state = {**stream.moderation(), "slowModeSeconds": int(msg.seconds)}
        await self.store.run(repo.set_meta_json, f"moderation:{stream.stream_id}", state)
        self._emit(
            {
                "e": "moderation",
                "streamId": stream.stream_id,
                "state": state,
                "publicId": None,
                "action": "slow_mode",
                "removed": [],
            }
        )

    def _apply_moderation(self, event: Event) -> None:
        stream = self.stream
        if stream is None or stream.stream_id != event["streamId"]:
            return
        state = event["state"]
        slow_changed = int(state["slowModeSeconds"]) != stream.slow_mode_s
        stream.muted = set(state["muted"])
        stream.banned = set(state["banned"])
        stream.slow_mode_s = int(state["slowModeSeconds"])
        if event["removed"]:
            self._apply_chat_deleted({"streamId": stream.stream_id, "ids": event["removed"]})
        if slow_changed:
            self.broadcast({"type": "chat_settings", "slowModeSeconds": stream.slow_mode_s})
        self.broadcast(
            {
                "type": "moderation_updated",
                **stream.moderation(),
                "publicId": event["publicId"],
                "action": event["action"],
            },
            to=self.admins,
        )

    def _apply_chat(self, event: Event) -> None:
        if self.stream is None or self.stream.stream_id != event["streamId"]:
            return
        entry = event["entry"]
        self.chat_history.append(entry)
        self.broadcast({"type": "chat_message", **entry})

    # -- customer support --------------------------------------------------------------

    @staticmethod
    def default_customer_name(sid: str) -> str:
        return f"Customer #{sid[-5:]}"

    async def on_customer_message(self, client: Client, msg: p.CustomerMessage) -> None:
        # An unregistered seed client may name its session: a sessionId is a bearer secret.
        sid = client.session_id if client.kind == CUSTOMER else msg.session_id
        if sid is None:
            raise ProtocolError(p.ERR_INVALID)
        at = utc_now_iso()
        uid = self.new_id()
        name = await self.store.run(
            repo.add_customer_message,
            uid,
            sid,
            msg.customer_name or None,
            self.default_customer_name(sid),
            msg.message,
            at,
        )
        self._emit(
            {
                "e": "customer_message",
                "uid": uid,
                "sessionId": sid,
                "message": msg.message,
                "customerName": name,
                "timestamp": at,
            }
        )

    def _apply_customer_message(self, event: Event) -> None:
        self.broadcast(
            {
                "type": "customer_message",
                "sessionId": event["sessionId"],
                "message": event["message"],
                "customerName": event["customerName"],
                "timestamp": event["timestamp"],
            },
            to=self.admins,
        )

    async def on_staff_message(self, client: Client, msg: p.StaffMessage) -> None:
        text = msg.text
        if text is None or not text.strip():
            raise ProtocolError(p.ERR_INVALID)
        sid = msg.session_id
        at = utc_now_iso()
        uid = self.new_id()
        staff = client.user_id or ""
        await self.store.run(
            repo.add_staff_message, uid, sid, staff, self.default_customer_name(sid), text, at
        )
        self._emit(
            {
                "e": "staff_reply",
                "uid": uid,
                "sessionId": sid,
                "message": text,
                "timestamp": at,
                "staffUserId": staff,
            }
        )

    def _apply_staff_reply(self, event: Event) -> None:
        sid = event["sessionId"]
        reply = {"uid": event["uid"], "message": event["message"], "timestamp": event["timestamp"]}
        pending = self.pending_replies.setdefault(sid, [])
        if any(r["uid"] == reply["uid"] for r in pending):
            return
        pending.append(reply)
        clients = list(self.sessions.get(sid, ()))
        if self._send_to_session(sid, self._reply_message(reply)):
            self._confirm_delivery(sid, [reply["uid"]], clients)

    async def on_resolve_conversation(self, client: Client, msg: p.ResolveConversation) -> None:
        status = "resolved" if msg.resolved else "open"
        if not await self.store.run(repo.set_conversation_status, msg.session_id, status):
            self.send(
                client, {"type": "conversation_status", "sessionId": msg.session_id, "status": None}
            )
            return
        self._emit(
            {
                "e": "conversation_status",
                "message": {
                    "type": "conversation_status",
                    "sessionId": msg.session_id,
                    "status": status,
                },
            }
        )

    async def on_get_conversations(self, client: Client, msg: p.GetConversations) -> None:
        rows = await self.store.run(repo.list_conversations)
        self.send(client, {"type": "conversations", "conversations": rows})

    async def on_get_conversation(self, client: Client, msg: p.GetConversation) -> None:
        rows = await self.store.run(repo.conversation_messages, msg.session_id)
        self.send(client, {"type": "conversation", "sessionId": msg.session_id, "messages": rows})

    async def on_ping(self, client: Client, msg: p.Ping) -> None:
        self.send(client, {"type": "pong"})

    async def on_get_stream_info(self, client: Client, msg: p.GetStreamInfo) -> None:
        last = await self.store.run(repo.last_ended_stream)
        upcoming = await self.store.run(repo.get_meta_json, "next_stream")
        stream = self.stream
        self.send(
            client,
            {
                "type": "stream_info",
                "live": stream is not None,
                "title": stream.title if stream is not None else None,
                "lastStream": None
                if last is None
                else {"title": last["title"], "endedAt": last["ended_at"]},
                "nextStream": upcoming,
                "shopUrlPattern": self.settings.shop_url_pattern,
            },
        )

    async def on_set_next_stream(self, client: Client, msg: p.SetNextStream) -> None:
        value = {"title": msg.title, "startsAt": msg.starts_at} if msg.title else None
        await self.store.run(repo.set_meta_json, "next_stream", value)
        self.send(client, {"type": "next_stream_set", "nextStream": value})

    async def on_get_my_conversation(self, client: Client, msg: p.GetMyConversation) -> None:
        if client.kind != CUSTOMER or client.session_id is None:
            raise ProtocolError(p.ERR_NOT_AUTHORIZED)
        sid = client.session_id
        rows = await self.store.run(repo.conversation_messages, sid)
        self.send(client, {"type": "my_conversation", "messages": rows})
        # Everything in it has now been read by this connection: nothing is pending.
        pending = self.pending_replies.get(sid)
        if pending:
            self._confirm_delivery(sid, [r["uid"] for r in pending], [client])

    async def on_get_media_stats(self, client: Client, msg: p.GetMediaStats) -> None:
        stats = self.media.stats() if self.media is not None else {"source": "none"}
        self.send(client, {"type": "media_stats", "stats": stats})

    # -- product catalog ---------------------------------------------------------------

    async def on_get_products(self, client: Client, msg: p.GetProducts) -> None:
        rows = await self.store.run(repo.list_products)
        self.send(client, {"type": "products", "products": rows})

    async def on_save_product(self, client: Client, msg: p.SaveProduct) -> None:
        product = dict(msg.product)
        if not product["productId"]:
            product["productId"] = secrets.token_hex(12)
        saved = await self.store.run(repo.upsert_product, product, utc_now_iso())
        self._emit({"e": "product_saved", "message": {"type": "product_saved", "product": saved}})

    async def on_delete_product(self, client: Client, msg: p.DeleteProduct) -> None:
        deleted = await self.store.run(repo.delete_product, msg.product_id)
        self._emit(
            {
                "e": "product_deleted",
                "message": {
                    "type": "product_deleted",
                    "productId": msg.product_id,
                    "deleted": deleted,
                },
            }
        )

    def _apply_to_admins(self, event: Event) -> None:
        self.broadcast(event["message"], to=self.admins)

    # -- WebRTC signalling -------------------------------------------------------------

    async def on_webrtc_register(self, client: Client, msg: p.WebrtcRegister) -> None:
        user_type = ADMIN if msg.user_type == ADMIN else CUSTOMER
        if user_type == ADMIN and not client.is_admin:
            raise ProtocolError(p.ERR_NOT_AUTHORIZED)
        peer_id = msg.peer_id
        holder = self.peers.get(peer_id)
        remote = None
        if holder is None and self.cluster is not None:
            remote = await self.cluster.peer_owner(peer_id)
        held_by_staff = (holder is not None and holder.peer_type == ADMIN) or (
            remote is not None and remote[1] == ADMIN
        )
        # A customer may take over a customer peerId (a reconnecting tab), never a staff one.
        staff_peer = held_by_staff or peer_id == self.broadcaster_peer
        if not client.is_admin and staff_peer and holder is not client:
            raise ProtocolError(p.ERR_NOT_AUTHORIZED)
        if holder is not None and holder is not client:
            holder.peer_id = None
            holder.peer_type = None
        if client.peer_id is not None and client.peer_id != peer_id:
            self._drop_peer(client)
        client.peer_id = peer_id
        client.peer_type = user_type
        self.peers[peer_id] = client
        if self.cluster is not None:
            await self.cluster.register_peer(peer_id, user_type)
        self.send(client, {"type": "webrtc_registered", "peerId": peer_id, "userType": user_type})
        if user_type == CUSTOMER and self.broadcaster_peer is not None:
            self.send(
                client,
                {"type": "webrtc_broadcaster_available", "broadcaster": self.broadcaster_peer},
            )
            await self._send_to_peer(
                self.broadcaster_peer, {"type": "webrtc_new_customer", "customerId": peer_id}
            )

    async def _locate_peer(self, peer_id: str) -> tuple[str, str] | None:
        """(node, peer type) of a peer on this hub or, with a cluster, on another."""
        local = self.peers.get(peer_id)
        if local is not None and local.peer_type is not None:
            return self.node_id, local.peer_type
        if self.cluster is not None:
            return await self.cluster.peer_owner(peer_id)
        return None

    async def _send_to_peer(self, peer_id: str, message: dict[str, Any]) -> bool:
        local = self.peers.get(peer_id)
        if local is not None:
            self.send(local, message)
            return True
        where = await self._locate_peer(peer_id)
        if where is None or self.cluster is None:
            return False
        self.cluster.publish(
            {
                "e": "to_peer",
                "target": where[0],
                "peerId": peer_id,
                "message": message,
                "n": self.node_id,
            }
        )
        return True

    def _apply_to_peer(self, event: Event) -> None:
        local = self.peers.get(event["peerId"])
        if local is not None:
            self.send(local, event["message"])

    def _drop_peer(self, client: Client) -> None:
        peer_id = client.peer_id
        if peer_id is None:
            return
        if self.peers.get(peer_id) is client:
            del self.peers[peer_id]
            if self.cluster is not None:
                self._spawn(self.cluster.drop_peer(peer_id))
        client.peer_id = None
        client.peer_type = None
        if self.broadcaster_peer == peer_id:
            if self.cluster is not None:
                self._spawn(self._remember(self.cluster.remember_broadcaster(None)))
            self._emit({"e": "broadcaster", "peerId": None, "stopped": peer_id})

    async def _relay(self, client: Client, to: str, kind: str, payload: Any) -> None:
        if client.peer_id is None:
            raise ProtocolError(p.ERR_NOT_AUTHORIZED)
        where = await self._locate_peer(to)
        if where is None:
            raise ProtocolError(p.ERR_UNKNOWN_PEER)
        if not client.is_admin and where[1] != ADMIN:
            raise ProtocolError(p.ERR_NOT_AUTHORIZED)
        await self._send_to_peer(
            to, {"type": kind, "from": client.peer_id, "to": to, p.RELAY_PAYLOAD[kind]: payload}
        )

    async def on_webrtc_offer(self, client: Client, msg: p.WebrtcOffer) -> None:
        await self._relay(client, msg.to, msg.TYPE, msg.offer)

    async def on_webrtc_answer(self, client: Client, msg: p.WebrtcAnswer) -> None:
        await self._relay(client, msg.to, msg.TYPE, msg.answer)

    async def on_webrtc_ice_candidate(self, client: Client, msg: p.WebrtcIceCandidate) -> None:
        await self._relay(client, msg.to, msg.TYPE, msg.candidate)

    async def on_webrtc_broadcast_start(self, client: Client, msg: p.WebrtcBroadcastStart) -> None:
        peer_id = msg.peer_id or client.peer_id
        if peer_id is None:
            raise ProtocolError(p.ERR_INVALID)
        where = await self._locate_peer(peer_id)
        if where is not None and where[1] != ADMIN:
            raise ProtocolError(p.ERR_NOT_AUTHORIZED)
        if self.cluster is not None:
            await self._remember(self.cluster.remember_broadcaster(peer_id))
        self._emit({"e": "broadcaster", "peerId": peer_id})

    async def on_webrtc_broadcast_stop(self, client: Client, msg: p.WebrtcBroadcastStop) -> None:
        peer_id = msg.peer_id or self.broadcaster_peer or client.peer_id
        if peer_id is None:
            raise ProtocolError(p.ERR_INVALID)
        if self.cluster is not None and peer_id == self.broadcaster_peer:
            await self._remember(self.cluster.remember_broadcaster(None))
        self._emit({"e": "broadcaster", "peerId": None, "stopped": peer_id})

    def _apply_broadcaster(self, event: Event) -> None:
        peer_id = event.get("peerId")
        if peer_id is None:
            stopped = event["stopped"]
            if self.broadcaster_peer == stopped:
                self.broadcaster_peer = None
            self.broadcast(
                {"type": "webrtc_broadcast_stopped", "broadcaster": stopped}, to=self._customers()
            )
            return
        self.broadcaster_peer = peer_id
        self.broadcast(
            {"type": "webrtc_broadcaster_available", "broadcaster": peer_id}, to=self._customers()
        )
        # The broadcaster learns about every customer peer, on every hub.
        customers = [c.peer_id for c in self.peers.values() if c.peer_type == CUSTOMER]
        for customer in customers:
            msg = {"type": "webrtc_new_customer", "customerId": customer}
            broadcaster = self.peers.get(peer_id)
            if broadcaster is not None:
                self.send(broadcaster, msg)
            elif self.cluster is not None:
                self._spawn(self._send_to_peer(peer_id, msg))

    # -- shutdown ----------------------------------------------------------------------

    async def drain(self) -> None:
        """Wait for queued background writes (peak, delivery marks) before closing."""
        if self._peak_flush is not None:
            self._peak_flush.cancel()
            self._flush_peak()
        if self._background:
            # Writes finish quickly; a delivery confirmation may wait on a dead peer.
            _done, late = await asyncio.wait(set(self._background), timeout=2.0)
            for task in late:
                task.cancel()


def _remote_stream_started(e: Event) -> tuple[Any, ...]:
    return (repo.start_stream, e["stream"])


# How another hub's event is written to this hub's database (idempotent writes: with a
# shared data dir the same row may already be there).
_REMOTE_WRITES: dict[str, Callable[[Event], tuple[Any, ...]]] = {
    "stream_started": _remote_stream_started,
    "stream_stopped": lambda e: (repo.end_stream, e["streamId"], e["endedAt"], e["peak"]),
    "chat": lambda e: (
        repo.add_chat_message,
        {**e["entry"], "streamId": e["streamId"], "sender": e["sender"]},
    ),
    "like": lambda e: (repo.set_like, e["streamId"], e["publicId"], e["liked"], e["at"]),
    "pinned": lambda e: (repo.replace_pinned, e["items"]),
    "customer_message": lambda e: (
        repo.add_customer_message,
        e["uid"],
        e["sessionId"],
        e["customerName"],
        e["customerName"],
        e["message"],
        e["timestamp"],
    ),
    "staff_reply": lambda e: (
        repo.add_staff_message,
        e["uid"],
        e["sessionId"],
        e["staffUserId"],
        Hub.default_customer_name(e["sessionId"]),
        e["message"],
        e["timestamp"],
    ),
    "delivered": lambda e: (repo.mark_delivered, e["uids"], e["at"]),
    "chat_deleted": lambda e: (repo.delete_chat_messages, e["ids"]),
    "moderation": lambda e: (repo.set_meta_json, f"moderation:{e['streamId']}", e["state"]),
    "conversation_status": lambda e: (
        repo.set_conversation_status,
        e["message"]["sessionId"],
        e["message"]["status"],
    ),
    "product_saved": lambda e: (
        repo.upsert_product,
        e["message"]["product"],
        e["message"]["product"]["updatedAt"],
    ),
    "product_deleted": lambda e: (repo.delete_product, e["message"]["productId"]),
}
