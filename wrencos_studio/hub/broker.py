"""The broker: how this hub shares events and live state with others (or with nobody).

The engine talks to one :class:`Broker` whether it is alone or clustered, so no feature
asks "am I clustered?" (centrifuge's ``Broker`` interface with ``MemoryBroker`` and
``RedisBroker`` is the model). :class:`LocalBroker` is the default: it applies at once
and keeps nothing; ``hub/cluster.py``'s ``RedisBroker`` publishes every event to the
other hubs and keeps in Redis what a hub joining late needs.

Nothing a client is waiting for may wait on the other hubs (contract, trust rule 10):
``publish``, ``remember_*``, ``count_session`` and ``forget_peer`` return at once (a
clustered broker queues them in order and sends them when it can; what is committed
locally stays committed), ``peer_owner`` answers from this hub alone when the others
cannot be asked quickly. Only ``claim_stream`` waits for an answer, briefly: going live
must be decided by all the hubs.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from wrencos_studio.hub.events import Event
from wrencos_studio.hub.protocol.outbound import StreamData
from wrencos_studio.store.rows import ChatLine

__all__ = ["Broker", "LocalBroker", "OnEvent", "Snapshot"]

#: Called with each event another hub made.
OnEvent = Callable[[Event], Awaitable[None]]


@dataclass(slots=True)
class Snapshot:
    """The live state other hubs keep, for a hub that joins late."""

    stream: StreamData | None = None
    likers: list[str] = field(default_factory=list)
    chat: list[ChatLine] = field(default_factory=list)
    pinned: list[dict[str, Any]] | None = None
    viewers: int = 0
    broadcaster: str | None = None


class Broker(Protocol):
    """What the engine needs from "the other hubs"."""

    node_id: str

    @property
    def status(self) -> str | None:
        """The link to the other hubs: ``"up"`` or ``"down"``; None when there is none
        (``/healthz`` reports it as ``"redis"``)."""
        ...

    async def start(self, on_event: OnEvent) -> None:
        """Begin receiving other hubs' events (``on_event``) and sending ours."""
        ...

    async def stop(self) -> None:
        """Send what is queued, give back what this hub held, disconnect."""
        ...

    async def snapshot(self) -> Snapshot | None:
        """The shared live state (None: there is nobody to share with)."""
        ...

    def publish(self, event: Event) -> None:
        """Tell the other hubs (in order); this hub has applied ``event`` already."""
        ...

    async def shared_secret(self, name: str, proposal: str) -> str:
        """One value of secret ``name`` for every hub: the first proposal wins."""
        ...

    async def claim_stream(self, data: StreamData) -> bool:
        """Go live unless a stream is live on any hub (False: one is). Raises
        ``ProtocolError("Internal server error")`` when the hubs cannot decide in time."""
        ...

    async def release_stream(self, stream_id: str) -> None:
        """The stream ended here (does not wait for the other hubs)."""
        ...

    def remember_chat(self, stream_id: str, line: ChatLine, limit: int) -> None:
        """Keep ``line`` among the stream's last ``limit`` chat lines for late joiners."""
        ...

    def remember_like(self, stream_id: str, public_id: str, liked: bool) -> None: ...

    def remember_pinned(self, items: list[dict[str, Any]]) -> None: ...

    def remember_broadcaster(self, peer_id: str | None) -> None: ...

    def count_session(self, sid: str, delta: int, on_total: Callable[[int], None]) -> None:
        """A customer session got its first (+1) or lost its last (-1) connection here;
        ``on_total(n)`` is called with the number of sessions on every hub when it changed
        (at once when alone, later when the count lives in Redis)."""
        ...

    async def register_peer(self, peer_id: str, peer_type: str) -> None:
        """Record that WebRTC ``peer_id`` (``admin``/``customer``) is connected here
        (does not wait for the other hubs)."""
        ...

    async def peer_owner(self, peer_id: str) -> tuple[str, str] | None:
        """(node id, peer type) of a peer connected to another hub, or None (also when the
        other hubs cannot be asked quickly)."""
        ...

    def forget_peer(self, peer_id: str) -> None:
        """``peer_id`` left this hub."""
        ...


class LocalBroker:
    """A hub on its own: events are applied here only, sessions are counted here."""

    def __init__(self) -> None:
        self.node_id = secrets.token_hex(4)
        self._sessions: Counter[str] = Counter()

    @property
    def status(self) -> str | None:
        return None

    async def start(self, on_event: OnEvent) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def snapshot(self) -> Snapshot | None:
        return None

    def publish(self, event: Event) -> None:
        return None

    async def shared_secret(self, name: str, proposal: str) -> str:
        return proposal

    async def claim_stream(self, data: StreamData) -> bool:
        return True

    async def release_stream(self, stream_id: str) -> None:
        return None

    def remember_chat(self, stream_id: str, line: ChatLine, limit: int) -> None:
        return None

    def remember_like(self, stream_id: str, public_id: str, liked: bool) -> None:
        return None

    def remember_pinned(self, items: list[dict[str, Any]]) -> None:
        return None

    def remember_broadcaster(self, peer_id: str | None) -> None:
        return None

    def count_session(self, sid: str, delta: int, on_total: Callable[[int], None]) -> None:
        self._sessions[sid] += delta
        if self._sessions[sid] <= 0:
            del self._sessions[sid]
        on_total(len(self._sessions))

    async def register_peer(self, peer_id: str, peer_type: str) -> None:
        return None

    async def peer_owner(self, peer_id: str) -> tuple[str, str] | None:
        return None

    def forget_peer(self, peer_id: str) -> None:
        return None
