"""Server -> client messages: one frozen dataclass per type, encoded in one place.

Each class registered with :func:`outbound` is the definition of one message type the
hub sends (``docs/protocol.md`` section 6). Attributes are snake_case; :func:`encode`
makes the wire's JSON (camelCase keys, via ``wrencos_studio/codec.py``) and
:func:`parse` reads it back into the typed message (the staff station's bridge does,
and tests may). In-process clients (the studio window, the broadcaster) receive the
typed objects themselves: no JSON is made for them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from wrencos_studio.codec import CodecError, from_json, registrar, to_json, wire_key
from wrencos_studio.store.rows import (
    CannedReply,
    ChatLine,
    ConversationSummary,
    Product,
    ProductTapCount,
    ProductTaps,
    StreamSummary,
    SupportLine,
)

__all__ = [
    "OUTBOUND",
    "AdminRegistered",
    "CannedReplies",
    "ChatHistory",
    "ChatMessageDeleted",
    "ChatPosted",
    "ChatSettings",
    "ConversationStatus",
    "ConversationThread",
    "ConversationUpdated",
    "Conversations",
    "CustomerContext",
    "CustomerIsTyping",
    "CustomerMessageReceived",
    "Error",
    "MediaStats",
    "ModerationUpdated",
    "MyConversation",
    "MyMessage",
    "NextStreamSet",
    "OutboundMessage",
    "PinnedProductsUpdated",
    "Pong",
    "ProductDeleted",
    "ProductSaved",
    "ProductTapsUpdated",
    "Products",
    "RecordingDeleted",
    "RecordingStatus",
    "Registered",
    "RepliesSeen",
    "ShopIsTyping",
    "StaffIsTyping",
    "StaffReply",
    "StreamData",
    "StreamInfo",
    "StreamStarted",
    "StreamStopped",
    "StreamSummaries",
    "StreamSummaryReady",
    "StreamUpdate",
    "WebrtcBroadcastStopped",
    "WebrtcBroadcasterAvailable",
    "WebrtcCustomerLeft",
    "WebrtcNewCustomer",
    "WebrtcRegistered",
    "WebrtcRelay",
    "encode",
    "parse",
]


class OutboundMessage:
    """Base of every server -> client message; ``TYPE`` is its ``type`` on the wire."""

    __slots__ = ()
    TYPE: ClassVar[str]

    def to_wire(self) -> dict[str, Any]:
        """The JSON object sent to clients, ``type`` first."""
        return {"type": self.TYPE, **to_json(self)}


#: Every server -> client type and its class.
OUTBOUND: dict[str, type[OutboundMessage]] = {}

#: ``@outbound(type)`` registers a dataclass as the definition of server -> client
#: message ``type``.
outbound = registrar(OUTBOUND, "TYPE", "outbound message")


def encode(message: OutboundMessage | dict[str, Any]) -> bytes:
    """Compact JSON, ASCII-only so no string can ever be invalid UTF-8 on the wire.

    A dict is sent as it is (a relayed frame, already in wire form)."""
    obj = message if isinstance(message, dict) else message.to_wire()
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode(
        "ascii"
    )


def parse(obj: dict[str, Any]) -> OutboundMessage | None:
    """The typed message for a JSON object from a hub; None for a type this version does
    not know. Raises :class:`~wrencos_studio.codec.CodecError` for a malformed one."""
    cls = OUTBOUND.get(obj.get("type", "")) if isinstance(obj, dict) else None
    if cls is None:
        return None
    if cls is WebrtcRelay:
        return WebrtcRelay.from_wire(obj)
    return from_json(cls, obj)


# -- shapes carried by several messages ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamData:
    """The live stream as pages see it (``streamData``); ``liked_by`` are publicIds in
    like order, ``start_time`` ISO 8601 UTC."""

    stream_id: str
    title: str
    description: str
    start_time: str
    viewer_count: int
    likes: int
    liked_by: list[str]
    stream_url: str
    quality: str


# -- registration ----------------------------------------------------------------------------


@outbound("registered")
@dataclass(frozen=True, slots=True)
class Registered(OutboundMessage):
    session_id: str
    status: str
    public_id: str


@outbound("admin_registered")
@dataclass(frozen=True, slots=True)
class AdminRegistered(OutboundMessage):
    user_id: str
    status: str
    role: str


@outbound("pong")
@dataclass(frozen=True, slots=True)
class Pong(OutboundMessage):
    pass


@outbound("error")
@dataclass(frozen=True, slots=True)
class Error(OutboundMessage):
    """``retry_after_seconds`` only with "Slow mode is on" (omitted otherwise)."""

    message: str
    retry_after_seconds: float | None = None

    def to_wire(self) -> dict[str, Any]:
        if self.retry_after_seconds is None:
            return {"type": "error", "message": self.message}
        return {
            "type": "error",
            "message": self.message,
            "retryAfterSeconds": self.retry_after_seconds,
        }


# -- the live stream ------------------------------------------------------------------------


@outbound("stream_started")
@dataclass(frozen=True, slots=True)
class StreamStarted(OutboundMessage):
    stream_data: StreamData


@outbound("stream_stopped")
@dataclass(frozen=True, slots=True)
class StreamStopped(OutboundMessage):
    stream_id: str


@outbound("stream_summary")
@dataclass(frozen=True, slots=True)
class StreamSummaryReady(OutboundMessage):
    """To admin connections, right after ``stream_stopped``: the show's figures."""

    summary: StreamSummary


@outbound("stream_summaries")
@dataclass(frozen=True, slots=True)
class StreamSummaries(OutboundMessage):
    """One page of past shows, newest first; with ``more``, ``next_cursor`` is the
    ``before`` of the next page (opaque)."""

    summaries: list[StreamSummary]
    more: bool = False
    next_cursor: str | None = wire_key(omit_none=True, default=None)


@outbound("stream_update")
@dataclass(frozen=True, slots=True)
class StreamUpdate(OutboundMessage):
    viewer_count: int
    likes: int
    liked_by: list[str]


@outbound("pinned_products_updated")
@dataclass(frozen=True, slots=True)
class PinnedProductsUpdated(OutboundMessage):
    """The pins: a catalog product's current fields, else what the admin sent (known
    fields only, see ``inbound._pinned_list``)."""

    pinned_products: list[dict[str, Any]]


@outbound("stream_info")
@dataclass(frozen=True, slots=True)
class StreamInfo(OutboundMessage):
    """``last_stream`` is ``{"title", "endedAt"}``; ``next_stream`` ``{"title", "startsAt"}``."""

    live: bool
    title: str | None
    last_stream: dict[str, Any] | None
    next_stream: dict[str, Any] | None
    shop_url_pattern: str


@outbound("next_stream_set")
@dataclass(frozen=True, slots=True)
class NextStreamSet(OutboundMessage):
    next_stream: dict[str, Any] | None


@outbound("media_stats")
@dataclass(frozen=True, slots=True)
class MediaStats(OutboundMessage):
    """The broadcaster's figures as ``media.broadcaster.Broadcaster.stats`` makes them."""

    stats: dict[str, Any]


@outbound("product_taps_updated")
@dataclass(frozen=True, slots=True)
class ProductTapsUpdated(OutboundMessage):
    """To staff: each pinned product, in pin order, with its card taps during the live
    stream ``stream_id`` (None: nothing live, every count 0) and when it was pinned."""

    stream_id: str | None
    pins: list[ProductTapCount]


@outbound("recording_deleted")
@dataclass(frozen=True, slots=True)
class RecordingDeleted(OutboundMessage):
    """To admin connections: a replay was deleted (``deleted``: it existed on this hub)."""

    replay_id: str
    deleted: bool


@outbound("recording_status")
@dataclass(frozen=True, slots=True)
class RecordingStatus(OutboundMessage):
    """To admin connections: how the recording of the live show goes. ``state`` is
    ``recording``, ``low_disk`` (a warning; still recording), ``stopped`` (not recording,
    or stopped early: ``message`` says why; the show goes on) or ``off`` (saved with the
    show's end); ``replay_id`` names the replay, ``free_bytes`` the disk's free space."""

    state: str
    message: str
    replay_id: str | None = wire_key(omit_none=True, default=None)
    free_bytes: int | None = wire_key(omit_none=True, default=None)


# -- chat and moderation ----------------------------------------------------------------------


@outbound("chat_message")
@dataclass(frozen=True, slots=True)
class ChatPosted(OutboundMessage):
    """A chat line for everyone: the line's fields at the top level of the message."""

    line: ChatLine = wire_key(flatten=True)


@outbound("chat_history")
@dataclass(frozen=True, slots=True)
class ChatHistory(OutboundMessage):
    messages: list[ChatLine]


@outbound("chat_message_deleted")
@dataclass(frozen=True, slots=True)
class ChatMessageDeleted(OutboundMessage):
    id: str


@outbound("chat_settings")
@dataclass(frozen=True, slots=True)
class ChatSettings(OutboundMessage):
    slow_mode_seconds: int


@outbound("moderation_updated")
@dataclass(frozen=True, slots=True)
class ModerationUpdated(OutboundMessage):
    """To staff: the stream's whole moderation state after ``action`` on ``public_id``."""

    muted: list[str]
    banned: list[str]
    slow_mode_seconds: int
    public_id: str | None
    action: str


# -- support ------------------------------------------------------------------------------------


@outbound("customer_message")
@dataclass(frozen=True, slots=True)
class CustomerMessageReceived(OutboundMessage):
    """To staff: a customer wrote to support (``product_id``: the product asked about)."""

    session_id: str
    message: str
    customer_name: str
    timestamp: str
    id: str | None = wire_key(omit_none=True, default=None)
    product_id: str | None = wire_key(omit_none=True, default=None)


@outbound("my_message")
@dataclass(frozen=True, slots=True)
class MyMessage(OutboundMessage):
    """To a customer's other tabs: this session wrote ``message`` to support (the tab that
    wrote it gets nothing), so every tab shows the whole thread."""

    message: str
    timestamp: str
    id: str
    product_id: str | None = wire_key(omit_none=True, default=None)


@outbound("conversation_updated")
@dataclass(frozen=True, slots=True)
class ConversationUpdated(OutboundMessage):
    """To every admin connection, on every hub, within a second of any change to a
    conversation: the conversation as ``conversations`` lists it."""

    conversation: ConversationSummary = wire_key(flatten=True)


@outbound("customer_context")
@dataclass(frozen=True, slots=True)
class CustomerContext(OutboundMessage):
    """To staff: the customer behind a conversation. ``watching``: a connection of the
    session is open on this hub (``since``: from when); ``chat``: their live-chat lines
    of the live stream (``stream_id``; None: nothing live); ``liked``: they like it;
    ``tapped``: the product cards they tapped during it."""

    session_id: str
    customer_name: str | None
    watching: bool
    since: str | None
    public_id: str
    stream_id: str | None
    chat: list[ChatLine]
    liked: bool
    tapped: list[ProductTaps]


@outbound("staff_reply")
@dataclass(frozen=True, slots=True)
class StaffReply(OutboundMessage):
    """To the customer's connections: ``id`` lets a page drop a rare duplicate."""

    message: str
    timestamp: str
    id: str


@outbound("conversations")
@dataclass(frozen=True, slots=True)
class Conversations(OutboundMessage):
    """One page of the inbox, newest first; with ``more``, ``next_cursor`` is the
    ``before`` of the next page (opaque)."""

    conversations: list[ConversationSummary]
    more: bool = False
    next_cursor: str | None = wire_key(omit_none=True, default=None)


@outbound("conversation")
@dataclass(frozen=True, slots=True)
class ConversationThread(OutboundMessage):
    """The newest messages of a thread (older than the asked ``before``), oldest first;
    ``more``: older ones exist (ask again with ``before`` = the first one's ``id``)."""

    session_id: str
    messages: list[SupportLine]
    more: bool = False


@outbound("my_conversation")
@dataclass(frozen=True, slots=True)
class MyConversation(OutboundMessage):
    """A customer's own thread: its newest messages that fit one frame, oldest first."""

    messages: list[SupportLine]
    more: bool = False


@outbound("conversation_status")
@dataclass(frozen=True, slots=True)
class ConversationStatus(OutboundMessage):
    """``status`` None: no such conversation."""

    session_id: str
    status: str | None


#: How long a typing indicator shows without a fresh ``typing`` (ms).
TYPING_SHOWN_MS = 5000


@outbound("customer_typing")
@dataclass(frozen=True, slots=True)
class CustomerIsTyping(OutboundMessage):
    """To every admin connection: the customer of ``session_id`` is typing; show it for
    ``expires_in_ms`` unless another one comes (a message from them ends it)."""

    session_id: str
    customer_name: str
    expires_in_ms: int = TYPING_SHOWN_MS


@outbound("shop_typing")
@dataclass(frozen=True, slots=True)
class ShopIsTyping(OutboundMessage):
    """To a customer's tabs: the shop is typing a reply (which staff member is for staff
    to know); show it for ``expires_in_ms`` unless another one comes."""

    expires_in_ms: int = TYPING_SHOWN_MS


@outbound("staff_typing")
@dataclass(frozen=True, slots=True)
class StaffIsTyping(OutboundMessage):
    """To the other admin connections: staff member ``user_id`` is typing a reply to
    ``session_id`` (so two people do not answer at once)."""

    session_id: str
    user_id: str
    expires_in_ms: int = TYPING_SHOWN_MS


@outbound("replies_seen")
@dataclass(frozen=True, slots=True)
class RepliesSeen(OutboundMessage):
    """To every admin connection: the customer's page had staff reply ``id`` (and every
    earlier one) of ``session_id`` on screen at ``seen_at``."""

    session_id: str
    id: str
    seen_at: str


@outbound("canned_replies")
@dataclass(frozen=True, slots=True)
class CannedReplies(OutboundMessage):
    """Every canned reply, by shortcut: the answer to ``get_canned_replies``, and to
    every admin connection after any change."""

    replies: list[CannedReply]


# -- catalog -------------------------------------------------------------------------------------


@outbound("products")
@dataclass(frozen=True, slots=True)
class Products(OutboundMessage):
    products: list[Product]


@outbound("product_saved")
@dataclass(frozen=True, slots=True)
class ProductSaved(OutboundMessage):
    product: Product


@outbound("product_deleted")
@dataclass(frozen=True, slots=True)
class ProductDeleted(OutboundMessage):
    product_id: str
    deleted: bool


# -- WebRTC signalling ------------------------------------------------------------------------


@outbound("webrtc_registered")
@dataclass(frozen=True, slots=True)
class WebrtcRegistered(OutboundMessage):
    peer_id: str
    user_type: str


@outbound("webrtc_broadcaster_available")
@dataclass(frozen=True, slots=True)
class WebrtcBroadcasterAvailable(OutboundMessage):
    broadcaster: str


@outbound("webrtc_broadcast_stopped")
@dataclass(frozen=True, slots=True)
class WebrtcBroadcastStopped(OutboundMessage):
    broadcaster: str


@outbound("webrtc_new_customer")
@dataclass(frozen=True, slots=True)
class WebrtcNewCustomer(OutboundMessage):
    customer_id: str


@outbound("webrtc_customer_left")
@dataclass(frozen=True, slots=True)
class WebrtcCustomerLeft(OutboundMessage):
    """To the broadcaster: customer peer ``customer_id`` closed or was released, so its
    viewer can be freed at once (Trust rules, rule 3)."""

    customer_id: str


@outbound("webrtc_relay")
@dataclass(frozen=True, slots=True)
class WebrtcRelay(OutboundMessage):
    """A relayed ``webrtc_offer`` / ``webrtc_answer`` / ``webrtc_ice_candidate``: its
    ``type`` is ``kind`` and its payload goes under the key the seed gives that kind."""

    kind: str
    from_: str
    to: str
    payload: Any = field(default=None)

    #: The relayed kinds and the key each payload travels under.
    PAYLOAD_KEYS: ClassVar[dict[str, str]] = {
        "webrtc_offer": "offer",
        "webrtc_answer": "answer",
        "webrtc_ice_candidate": "candidate",
    }

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "from": self.from_,
            "to": self.to,
            self.PAYLOAD_KEYS[self.kind]: self.payload,
        }

    @classmethod
    def from_wire(cls, obj: dict[str, Any]) -> WebrtcRelay:
        kind = obj.get("type", "")
        key = cls.PAYLOAD_KEYS.get(kind)
        if key is None:
            raise CodecError(f"not a relayed WebRTC message: {kind!r}")
        return cls(kind, str(obj.get("from", "")), str(obj.get("to", "")), obj.get(key))


# The relayed kinds are parsed as WebrtcRelay too.
for _kind in WebrtcRelay.PAYLOAD_KEYS:
    OUTBOUND[_kind] = WebrtcRelay
del OUTBOUND["webrtc_relay"]
