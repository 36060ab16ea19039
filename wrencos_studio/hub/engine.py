"""The hub's engine: connections, dispatch, events, sending; the features do the rest.

The engine knows clients only as :class:`Client` objects with a :class:`Sink`
(``deliver``, ``confirm``), so it is independent of the transport: the WebSocket
adapter (``hub/server.py``) is one sink, in-process connections (``hub/local.py``)
another. What each message type *does* lives in one feature module
(``hub/features/*.py``): a :class:`Feature` declares its handlers with
``@handles(MessageClass)``, how it applies events with ``@applies(EventClass)`` and how
another hub's event is written here with ``@replicates(EventClass)``. The engine
builds its tables from those declarations and proves at start-up that every client ->
server type has exactly one handler.

State that must last is written to the store *before* anyone is told about it: a
handler validates, awaits its write, then :meth:`Hub.emit` applies the event here
(memory + delivery) and hands it to the broker for the other hubs, if any.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from wrencos_studio.config import Settings
from wrencos_studio.hub import protocol as p
from wrencos_studio.hub.broker import Broker, LocalBroker, Snapshot
from wrencos_studio.hub.events import Event, PeerMessage, ViewersCounted
from wrencos_studio.hub.protocol import OutboundMessage, ProtocolError
from wrencos_studio.hub.ratelimit import TokenBucket, WindowLimit
from wrencos_studio.hub.state import LiveStream
from wrencos_studio.store import repositories as repo
from wrencos_studio.store.database import Store, StoreError
from wrencos_studio.store.rows import ChatLine, PendingReply

__all__ = [
    "ADMIN",
    "CUSTOMER",
    "Client",
    "Feature",
    "Hub",
    "MediaPort",
    "Outgoing",
    "Sink",
    "applies",
    "handles",
    "replicates",
]

log = logging.getLogger(__name__)

CUSTOMER = "customer"
ADMIN = "admin"

#: Rate buckets counted in a sliding window rather than a token bucket.
WINDOW_BUCKETS = frozenset({"register"})


class Outgoing:
    """One server -> client message on its way to one or many clients.

    In-process sinks take :attr:`message` as it is; the WebSocket sinks take
    :attr:`frame`, whose JSON and framing are made at most once, however many
    connections it goes to."""

    __slots__ = ("_frame", "_payload", "message")

    def __init__(self, message: OutboundMessage | dict[str, Any]) -> None:
        self.message = message
        self._payload: bytes | None = None
        self._frame: bytes | None = None

    @property
    def payload(self) -> bytes:
        """The JSON text (ASCII bytes)."""
        payload = self._payload
        if payload is None:
            payload = self._payload = p.encode(self.message)
        return payload

    @property
    def frame(self) -> bytes:
        """The whole unmasked WebSocket text frame (RFC 6455 section 5.2)."""
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


class MediaPort(Protocol):
    """What the hub asks of the broadcaster, when this process has one (the composition
    root injects it; see ``wrencos_studio/app.py``)."""

    def stats(self) -> dict[str, Any]:
        """The figures ``get_media_stats`` and ``/metrics`` report."""
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
        self.buckets: dict[str, TokenBucket | WindowLimit] | None = None
        #: An in-process part of this program (broadcaster, studio window): no rate limits.
        self.trusted = False

    @property
    def is_admin(self) -> bool:
        """An admin connection (role admin or staff)."""
        return self.kind == ADMIN

    def __repr__(self) -> str:
        return f"<Client {self.id} {self.kind or 'new'} {self.remote}>"


@dataclass(slots=True)
class HubStats:
    """Counters for /metrics and /healthz."""

    started: float = field(default_factory=time.time)
    received: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    sent_messages: int = 0
    broadcasts: int = 0
    connections_total: int = 0


# -- declaring what a feature does ------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])
Handler = Callable[[Client, Any], Awaitable[None]]
#: A store job: a repositories function and its arguments (run with ``Store.run``).
StoreJob = tuple[Any, ...]


def handles(message_cls: type) -> Callable[[F], F]:
    """Mark a feature method as the handler of client -> server ``message_cls``."""

    def mark(fn: F) -> F:
        fn.__wrencos_handles__ = message_cls.TYPE  # type: ignore[attr-defined]
        return fn

    return mark


def applies(event_cls: type[Event]) -> Callable[[F], F]:
    """Mark a feature method as what applies ``event_cls`` on this hub (memory + delivery)."""

    def mark(fn: F) -> F:
        fn.__wrencos_applies__ = event_cls  # type: ignore[attr-defined]
        return fn

    return mark


def replicates(event_cls: type[Event]) -> Callable[[F], F]:
    """Mark a feature method as how ``event_cls`` made on another hub is written here:
    it returns a store job (an idempotent write) or None."""

    def mark(fn: F) -> F:
        fn.__wrencos_replicates__ = event_cls  # type: ignore[attr-defined]
        return fn

    return mark


class Feature:
    """One part of the protocol: its handlers, events and persistence side by side."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def load(self) -> None:
        """Read lasting state from the store (blocking; before serving)."""

    async def join(self, snapshot: Snapshot | None) -> None:
        """Adopt the other hubs' live state, or share ours (``snapshot`` None: alone)."""

    def disconnected(self, client: Client) -> None:
        """``client`` closed; forget what it held."""

    def flush(self) -> None:
        """Write what is being held back to coalesce writes (at shutdown)."""


# -- the engine -------------------------------------------------------------------------------


class Hub:
    """Connections, dispatch to the features' handlers, events, and delivery.

    Live state every feature reads is kept here: the stream (:attr:`stream`), its chat
    history, the pins, the staff replies not yet delivered, the broadcaster's peer.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        broker: Broker | None = None,
        features: Iterable[type[Feature]] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.broker: Broker = broker if broker is not None else LocalBroker()
        self.stats = HubStats()
        #: The broadcaster, when this process has one (injected by the composition root).
        self.media: MediaPort | None = None
        self.clients: set[Client] = set()
        self.registered: set[Client] = set()  # customers and admins: broadcasts reach them
        self.admins: set[Client] = set()
        self.sessions: dict[str, set[Client]] = {}  # sessionId -> open customer connections
        self.peers: dict[str, Client] = {}  # WebRTC peerId -> connection
        self.broadcaster_peer: str | None = None
        self.stream: LiveStream | None = None
        self.pinned: list[dict[str, Any]] = []
        self.chat_history: deque[ChatLine] = deque(maxlen=settings.chat_history_limit)
        # Staff replies not yet confirmed read, per sessionId, oldest first.
        self.pending_replies: dict[str, list[PendingReply]] = {}
        self.public_key = b""
        self.viewers = 0  # distinct customer sessions watching, on every hub
        self._ids = itertools.count(int(time.time() * 1000) << 12)
        self._background: set[asyncio.Task[Any]] = set()
        if features is None:
            from wrencos_studio.hub.features import FEATURES

            features = FEATURES
        self.features: list[Feature] = [cls(self) for cls in features]
        # Features call each other on hot paths (every register, every like): a dict, not
        # a scan.
        self._by_class: dict[type[Feature], Feature] = {type(f): f for f in self.features}
        self._handlers: dict[str, Handler] = {}
        self._appliers: dict[type[Event], Callable[[Any], None]] = {}
        self._replicators: dict[type[Event], Callable[[Any], StoreJob | None]] = {}
        self._disconnect_hooks: list[Callable[[Client], None]] = []
        self._build_tables()

    @property
    def node_id(self) -> str:
        """This hub's id among the hubs (the broker's)."""
        return self.broker.node_id

    def feature(self, cls: type[FeatureT]) -> FeatureT:
        """The running instance of feature ``cls``; LookupError if this hub has none."""
        found = self._by_class.get(cls)
        if found is None:
            raise LookupError(f"feature {cls.__name__} is not part of this hub")
        return found  # type: ignore[return-value]

    def _build_tables(self) -> None:
        for feature in self.features:
            for name in dir(type(feature)):
                fn = getattr(type(feature), name, None)
                if fn is None:
                    continue
                bound = getattr(feature, name)
                if (kind := getattr(fn, "__wrencos_handles__", None)) is not None:
                    if kind in self._handlers:
                        raise RuntimeError(f"two handlers for {kind!r}")
                    self._handlers[kind] = bound
                if (ev := getattr(fn, "__wrencos_applies__", None)) is not None:
                    if ev in self._appliers:
                        raise RuntimeError(f"two appliers for {ev.KIND!r}")
                    self._appliers[ev] = bound
                if (ev := getattr(fn, "__wrencos_replicates__", None)) is not None:
                    self._replicators[ev] = bound
            if type(feature).disconnected is not Feature.disconnected:
                self._disconnect_hooks.append(feature.disconnected)
        self.check_tables()

    def check_tables(self) -> None:
        """Every client -> server type has exactly one handler, and every event one applier
        (raises RuntimeError naming what is missing or unknown)."""
        from wrencos_studio.hub.events import EVENTS

        missing = sorted(set(p.MESSAGES) - set(self._handlers))
        unknown = sorted(set(self._handlers) - set(p.MESSAGES))
        no_applier = sorted(k for k, cls in EVENTS.items() if cls not in self._appliers)
        if missing or unknown or no_applier:
            raise RuntimeError(
                f"hub tables incomplete: no handler for {missing}, handlers for unknown "
                f"types {unknown}, events nobody applies {no_applier}"
            )

    # -- start-up ---------------------------------------------------------------------------

    def load(self) -> None:
        """Read the lasting state (blocking; before serving)."""
        self.public_key = self.store.run_sync(
            repo.get_or_create_secret_key, "public_id_key"
        ).encode()
        for feature in self.features:
            feature.load()

    async def join(self) -> None:
        """Share state with the other hubs (if the broker has any) and start hearing them."""
        key = await self.broker.shared_secret("public-id-key", self.public_key.decode())
        self.public_key = key.encode()
        snapshot = await self.broker.snapshot()
        for feature in self.features:
            await feature.join(snapshot)
        await self.broker.start(self.on_broker_event)

    def new_id(self) -> str:
        """Unique across hubs, roughly time-ordered."""
        return f"{next(self._ids):x}{self.node_id}"

    def public_id(self, identity: str) -> str:
        """A stable, non-reversible public name for a like identity (never a sessionId)."""
        return hmac.new(self.public_key, identity.encode(), hashlib.sha256).hexdigest()[:20]

    # -- connections ------------------------------------------------------------------------

    def connect(self, sink: Sink, remote: str = "") -> Client:
        """A new connection (not yet registered)."""
        client = Client(sink, remote)
        self.clients.add(client)
        self.stats.connections_total += 1
        return client

    def disconnect(self, client: Client) -> None:
        """The connection closed: every feature forgets what it held."""
        if client not in self.clients:
            return
        self.clients.discard(client)
        self.registered.discard(client)
        self.admins.discard(client)
        for hook in self._disconnect_hooks:
            hook(client)
        client.kind = None

    @property
    def viewer_count(self) -> int:
        """Distinct customer sessions watching the live stream, on every hub (0 when
        nothing is live)."""
        return self.viewers if self.stream is not None else 0

    # -- dispatch ---------------------------------------------------------------------------

    async def handle(self, client: Client, data: str | bytes) -> None:
        """Process one frame from ``client``. Never raises: a bad message gets an error."""
        try:
            spec, obj = p.decode(data)
        except ProtocolError as exc:
            self.error(client, str(exc))
            return
        await self.handle_object(client, spec, obj)

    async def handle_object(self, client: Client, spec: p.Spec, obj: dict[str, Any]) -> None:
        """Process one decoded message (an in-process client skips the JSON). Never raises."""
        try:
            self.stats.received[spec.type] += 1
            message = None
            if spec.registered:
                # The contract's order: the message's format, then "Not registered",
                # then everything else (Trust rules, rule 1).
                message = spec.build(obj)
                if client.kind is None:
                    raise ProtocolError(p.ERR_NOT_REGISTERED)
            if spec.access is p.Access.ADMIN and not (client.is_admin and client.role == ADMIN):
                raise ProtocolError(p.ERR_NOT_AUTHORIZED)
            if spec.access is p.Access.STAFF and not client.is_admin:
                raise ProtocolError(p.ERR_NOT_AUTHORIZED)
            if spec.access is p.Access.NON_STAFF and client.is_admin:
                raise ProtocolError(p.ERR_NOT_AUTHORIZED)
            if message is None:
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
        limiter = buckets.get(bucket)
        if limiter is None:
            rate, burst = getattr(self.settings, bucket + "_rate")
            kind = WindowLimit if bucket in WINDOW_BUCKETS else TokenBucket
            limiter = buckets[bucket] = kind(rate, burst)
        return limiter.take()

    # -- events -----------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Apply a change here and hand it to the broker for the other hubs."""
        self._appliers[type(event)](event)
        self.broker.publish(event)

    async def on_broker_event(self, event: Event) -> None:
        """A change made on another hub: write our copy, then apply it here."""
        if isinstance(event, PeerMessage) and event.target != self.node_id:
            return
        replicate = self._replicators.get(type(event))
        if replicate is not None:
            job = replicate(event)
            if job is not None:
                # The origin committed before publishing; ours may trail it, it is a copy.
                self.spawn(self.store.run(*job))
        self._appliers[type(event)](event)

    def count_session(self, sid: str, delta: int) -> None:
        """A session got its first (+1) or lost its last (-1) connection on this hub."""
        self.broker.count_session(sid, delta, self._viewers_counted)

    def _viewers_counted(self, count: int) -> None:
        self.emit(ViewersCounted(count))

    # -- sending ----------------------------------------------------------------------------

    def send(self, client: Client, message: OutboundMessage | Outgoing) -> None:
        """One message to one client (an ``Outgoing`` may be shared: encoded once)."""
        self.stats.sent_messages += 1
        client.sink.deliver(message if isinstance(message, Outgoing) else Outgoing(message))

    def error(self, client: Client, text: str, retry_after_s: float | None = None) -> None:
        """The contract's ``error`` message (``text`` is one of ``protocol.ERR_*``)."""
        self.stats.errors[text] += 1
        self.send(client, p.Error(text, retry_after_s))

    def broadcast(self, message: OutboundMessage, to: Iterable[Client] | None = None) -> None:
        """Encode once, deliver to ``to`` (default: every registered client)."""
        out = Outgoing(message)
        targets = self.registered if to is None else to
        n = 0
        for client in targets:
            client.sink.deliver(out)
            n += 1
        self.stats.broadcasts += 1
        self.stats.sent_messages += n

    def send_to_session(self, sid: str, message: OutboundMessage) -> int:
        """To every open connection of a customer session; how many took it."""
        clients = self.sessions.get(sid)
        if not clients:
            return 0
        out = Outgoing(message)
        accepted = sum(1 for c in clients if c.sink.deliver(out))
        self.stats.sent_messages += accepted
        return accepted

    def customers(self) -> set[Client]:
        """Registered customers, plus connections that only registered a customer peer."""
        out = {c for c in self.registered if c.kind == CUSTOMER}
        out.update(c for c in self.peers.values() if c.peer_type == CUSTOMER)
        return out

    # -- background work --------------------------------------------------------------------

    def spawn(self, aw: Awaitable[Any]) -> None:
        """Run ``aw`` in the background; :meth:`drain` waits for it at shutdown."""
        task = asyncio.ensure_future(aw)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed: %s", task.exception())

    async def drain(self) -> None:
        """Wait for queued background writes (peak, delivery marks) before closing."""
        for feature in self.features:
            feature.flush()
        if self._background:
            # Writes finish quickly; a delivery confirmation may wait on a dead peer.
            _done, late = await asyncio.wait(set(self._background), timeout=2.0)
            for task in late:
                task.cancel()


FeatureT = TypeVar("FeatureT", bound=Feature)
