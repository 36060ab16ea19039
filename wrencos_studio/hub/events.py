"""The hub's events: every change other clients (and other hubs) see, one dataclass each.

A feature that changes shared state emits an event (``Hub.emit``): the broker applies
it on this hub at once and, with Redis, on every other hub too (each writes its own
copy first; see ``hub/broker.py``). Events travel between hubs as JSON objects
``{"e": KIND, "n": node, ...snake_case fields}`` made by ``wrencos_studio/codec.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from wrencos_studio.codec import CodecError, from_json, registrar, to_json
from wrencos_studio.hub.protocol.outbound import StreamData
from wrencos_studio.store.rows import ChatLine, Product, StreamSummary

__all__ = [
    "EVENTS",
    "BroadcasterChanged",
    "CannedRepliesChanged",
    "ChatDeleted",
    "ChatPosted",
    "ConversationRead",
    "ConversationStatusChanged",
    "CustomerTyping",
    "CustomerWrote",
    "Event",
    "LikeChanged",
    "ModerationChanged",
    "ModerationState",
    "PeerMessage",
    "PinsChanged",
    "ProductDeleted",
    "ProductSaved",
    "ProductTapped",
    "RepliesDelivered",
    "RepliesSeen",
    "StaffReplied",
    "StaffTyping",
    "StreamStarted",
    "StreamStopped",
    "ViewersCounted",
    "event_from_json",
    "event_to_json",
]


class Event:
    """Base of every event; ``KIND`` names it between hubs."""

    __slots__ = ()
    KIND: ClassVar[str]


#: Every event kind and its class.
EVENTS: dict[str, type[Event]] = {}

#: ``@event(kind)`` registers a dataclass as event ``kind``.
event = registrar(EVENTS, "KIND", "event")


def event_to_json(ev: Event, node_id: str) -> dict[str, Any]:
    """``{"e": kind, "n": node_id, ...fields}`` for the other hubs."""
    return {"e": ev.KIND, "n": node_id, **to_json(ev, use_camel=False)}


def event_from_json(obj: dict[str, Any]) -> Event | None:
    """The typed event for an object from another hub; None for an unknown kind.
    Raises :class:`~wrencos_studio.codec.CodecError` for a malformed one."""
    cls = EVENTS.get(obj.get("e", "")) if isinstance(obj, dict) else None
    if cls is None:
        return None
    try:
        return from_json(cls, obj, use_camel=False)
    except (TypeError, KeyError) as exc:
        raise CodecError(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class ModerationState:
    """A stream's moderation: publicIds muted or banned, and slow mode in seconds."""

    muted: list[str]
    banned: list[str]
    slow_mode_seconds: int


@event("stream_started")
@dataclass(frozen=True, slots=True)
class StreamStarted(Event):
    stream: StreamData


@event("stream_stopped")
@dataclass(frozen=True, slots=True)
class StreamStopped(Event):
    """``summary``: the show's figures as the hub that ended it counted them."""

    stream_id: str
    ended_at: str
    peak: int
    summary: StreamSummary | None = None


@event("viewers")
@dataclass(frozen=True, slots=True)
class ViewersCounted(Event):
    """The number of distinct customer sessions watching, across every hub."""

    count: int


@event("like")
@dataclass(frozen=True, slots=True)
class LikeChanged(Event):
    stream_id: str
    public_id: str
    liked: bool
    at: str


@event("pinned")
@dataclass(frozen=True, slots=True)
class PinsChanged(Event):
    items: list[dict[str, Any]]


@event("chat")
@dataclass(frozen=True, slots=True)
class ChatPosted(Event):
    stream_id: str
    line: ChatLine


@event("chat_deleted")
@dataclass(frozen=True, slots=True)
class ChatDeleted(Event):
    stream_id: str
    ids: list[str]


@event("moderation")
@dataclass(frozen=True, slots=True)
class ModerationChanged(Event):
    """``action`` is mute / ban / clear on ``public_id``, or slow_mode; ``removed`` are
    the chat line ids a ban took away."""

    stream_id: str
    state: ModerationState
    public_id: str | None
    action: str
    removed: list[str] = field(default_factory=list)


@event("customer_message")
@dataclass(frozen=True, slots=True)
class CustomerWrote(Event):
    """``origin`` is ``node:connection`` of the tab that wrote it (its other tabs get
    ``my_message``); ``public_id`` the identity it wrote under."""

    uid: str
    session_id: str
    message: str
    customer_name: str
    timestamp: str
    product_id: str | None = None
    public_id: str | None = None
    origin: str = ""


@event("staff_reply")
@dataclass(frozen=True, slots=True)
class StaffReplied(Event):
    uid: str
    session_id: str
    message: str
    timestamp: str
    staff_user_id: str


@event("delivered")
@dataclass(frozen=True, slots=True)
class RepliesDelivered(Event):
    session_id: str
    uids: list[str]
    at: str


@event("conversation_read")
@dataclass(frozen=True, slots=True)
class ConversationRead(Event):
    """Staff marked a conversation's customer lines read (for everyone)."""

    session_id: str
    at: str


@event("product_tapped")
@dataclass(frozen=True, slots=True)
class ProductTapped(Event):
    """A customer tapped a product card (``stream_id`` "" when nothing was live)."""

    uid: str
    stream_id: str
    session_id: str
    public_id: str | None
    product_id: str
    at: str


@event("conversation_status")
@dataclass(frozen=True, slots=True)
class ConversationStatusChanged(Event):
    session_id: str
    status: str


@event("product_saved")
@dataclass(frozen=True, slots=True)
class ProductSaved(Event):
    product: Product


@event("product_deleted")
@dataclass(frozen=True, slots=True)
class ProductDeleted(Event):
    product_id: str
    deleted: bool


@event("broadcaster")
@dataclass(frozen=True, slots=True)
class BroadcasterChanged(Event):
    """``peer_id`` is the broadcaster now (None: it stopped, and ``stopped`` was it)."""

    peer_id: str | None
    stopped: str | None = None


@event("to_peer")
@dataclass(frozen=True, slots=True)
class PeerMessage(Event):
    """A signalling message for a peer connected to hub ``target`` (wire form)."""

    target: str
    peer_id: str
    message: dict[str, Any]


# -- support's live feel (issue 12) ------------------------------------------------------


@event("customer_typing")
@dataclass(frozen=True, slots=True)
class CustomerTyping(Event):
    """A customer is typing to support (nothing stored)."""

    session_id: str
    customer_name: str


@event("staff_typing")
@dataclass(frozen=True, slots=True)
class StaffTyping(Event):
    """A staff member is typing a reply (nothing stored); ``origin`` is
    ``node:connection`` of the typist, who is not told about itself."""

    session_id: str
    staff_user_id: str
    origin: str


@event("replies_seen")
@dataclass(frozen=True, slots=True)
class RepliesSeen(Event):
    """The customer's page had staff reply ``uid`` (and the earlier ones) on screen."""

    session_id: str
    uid: str
    at: str


@event("canned_replies")
@dataclass(frozen=True, slots=True)
class CannedRepliesChanged(Event):
    """A canned reply was saved (``text`` set; ``previous``: the shortcut it replaced)
    or deleted (``text`` None)."""

    shortcut: str
    text: str | None
    at: str
    by: str | None
    previous: str | None = None
