"""What the store's queries return: frozen dataclasses with snake_case fields.

These are the rows as the program uses them; the wire's camelCase is made from them
in one place (``wrencos_studio/codec.py``), so a row can go into a server -> client
message as it is (``ChatLine`` inside ``chat_message``, ``Product`` inside ``products``).
Times are ISO 8601 UTC strings (``clock.utc_now_iso``); prices are floats in the shop's
currency.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wrencos_studio.codec import wire_key

__all__ = [
    "CannedReply",
    "ChatLine",
    "ConversationSummary",
    "CustomerFacts",
    "EndedStream",
    "PendingReply",
    "Product",
    "ProductTapCount",
    "ProductTaps",
    "Recording",
    "StreamRow",
    "StreamSummary",
    "SupportLine",
]


@dataclass(frozen=True, slots=True)
class ChatLine:
    """One live-chat line. ``public_id`` names its sender (None: the seed's anonymous
    clients); ``is_admin`` marks the shop's own lines."""

    id: str
    username: str
    message: str
    timestamp: str
    is_admin: bool
    public_id: str | None


@dataclass(frozen=True, slots=True)
class Product:
    """A catalog product (``product_id`` is the shop's own id or one we made); ``url``
    is an absolute http(s) link or ``""``, ``currency`` an ISO 4217 code."""

    product_id: str
    name: str
    price: float
    image: str
    description: str
    url: str
    updated_at: str
    currency: str = "EUR"


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """One support conversation in the inbox list: its last line, who wrote it
    (``last_from``: ``customer`` or ``staff``), the unread count, and the userId of the
    staff member who last replied (``answered_by``; None: nobody yet). ``product_id``
    is the product the last line asks about, if any."""

    session_id: str
    customer_name: str
    last_message: str
    last_timestamp: str
    unread: int
    status: str
    last_from: str = "customer"
    answered_by: str | None = wire_key(omit_none=True, default=None)
    product_id: str | None = wire_key(omit_none=True, default=None)


@dataclass(frozen=True, slots=True)
class SupportLine:
    """One line of a support conversation; ``from_`` is ``customer`` or ``staff``.

    Staff see who wrote it: ``staff_user_id`` on staff lines, the conversation's
    ``customer_name`` on customer lines; ``product_id`` is the product a customer line
    asks about. Each is left out of the wire when None."""

    from_: str = wire_key("from")
    message: str = ""
    timestamp: str = ""
    id: str = ""
    staff_user_id: str | None = wire_key(omit_none=True, default=None)
    customer_name: str | None = wire_key(omit_none=True, default=None)
    product_id: str | None = wire_key(omit_none=True, default=None)
    #: A staff line the customer's page had on screen: when (ISO 8601 UTC; "Seen").
    seen_at: str | None = wire_key(omit_none=True, default=None)


@dataclass(frozen=True, slots=True)
class CannedReply:
    """A saved reply every staff member shares: typing ``/shortcut`` in the reply box
    inserts ``text``. ``updated_by`` is the userId of who saved it last."""

    shortcut: str
    text: str
    updated_at: str
    updated_by: str | None = wire_key(omit_none=True, default=None)


@dataclass(frozen=True, slots=True)
class ProductTaps:
    """A product card a customer tapped during one stream: how often, first and last."""

    product_id: str
    taps: int
    first_tapped_at: str
    last_tapped_at: str


@dataclass(frozen=True, slots=True)
class ProductTapCount:
    """How often customers tapped one product's card during a stream (its summary, and
    the studio's live figures: ``pinned_at`` is when it was pinned, None when it is not
    pinned now)."""

    product_id: str
    name: str
    taps: int
    pinned_at: str | None = wire_key(omit_none=True, default=None)


@dataclass(frozen=True, slots=True)
class PendingReply:
    """A staff reply not yet confirmed read by the customer (``uid`` is its id)."""

    uid: str
    message: str
    timestamp: str


@dataclass(frozen=True, slots=True)
class StreamRow:
    """A stream as stored (the live one after a restart)."""

    id: str
    title: str
    description: str
    stream_url: str
    quality: str
    started_at: str
    peak_viewers: int


@dataclass(frozen=True, slots=True)
class EndedStream:
    """The last stream that ended, for a page shown while nothing is live."""

    title: str
    ended_at: str


@dataclass(frozen=True, slots=True)
class StreamSummary:
    """The figures of a show that ended: ``duration_seconds`` from start to end,
    ``peak_viewers``, ``likes`` (at the end), ``chat_lines`` (not deleted),
    ``chatters`` (customers who wrote in the chat), ``products_pinned`` (distinct
    products pinned while it was live), ``average_viewers``, ``support_conversations``
    and ``product_taps`` (below)."""

    stream_id: str
    title: str
    started_at: str
    ended_at: str
    duration_seconds: int
    peak_viewers: int
    likes: int
    chat_lines: int
    chatters: int
    products_pinned: int
    # Issue 11's further figures (defaults: a summary from another hub's older build).
    #: Time-weighted mean of the viewer count from start to end, to 0.1.
    average_viewers: float = 0.0
    #: Support conversations with a customer message written while it was live.
    support_conversations: int = 0
    #: Taps per product: every product pinned or tapped in it, most tapped first.
    product_taps: list[ProductTapCount] = field(default_factory=list)
    #: The show's replay (issue 14), if it was recorded: ``/replay/<replay_id>``.
    replay_id: str | None = wire_key(omit_none=True, default=None)


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    """What the store knows of the customer behind a conversation during one stream:
    the conversation's name (None: never wrote), every publicId the session was seen
    under, their live-chat lines (oldest first) and the product cards they tapped."""

    customer_name: str | None
    public_ids: list[str]
    chat: list[ChatLine]
    tapped: list[ProductTaps]


@dataclass(frozen=True, slots=True)
class Recording:
    """One recording of a show (``store/replays.py``): ``replay_id`` names its replay page,
    ``file`` is its name under ``<data dir>/recordings/``; ``status`` is ``recording``,
    ``complete``, ``interrupted`` (the process died while recording; the file plays up to
    its last fragment) or ``stopped`` (stopped early, ``note`` says why); ``duration_ms``
    and ``bytes`` are known once it ended."""

    replay_id: str
    stream_id: str
    title: str
    file: str
    started_at: str
    ended_at: str | None
    duration_ms: int | None
    bytes: int | None
    status: str
    note: str
