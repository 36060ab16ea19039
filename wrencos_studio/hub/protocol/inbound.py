"""Client -> server messages, sans I/O: JSON text -> typed messages, with each one's validation.

Every client -> server message type is one frozen dataclass registered with
:func:`message`, which records who may send it (``access``), which per-connection
rate bucket it draws from, and how each field is checked. :func:`decode` turns a
frame into a JSON object and finds its spec; :meth:`Spec.build` validates the
fields and returns the typed message. Validation errors carry the contract's exact
error texts, so the hub only has to send them.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import types
import typing
import unicodedata
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, Union

from wrencos_studio.catalog import products as catalog_rules

__all__ = [
    "CHAT_MAX_CHARS",
    "CONVERSATION_FILTERS",
    "ERR_AUTH_FAILED",
    "ERR_CANNED_FULL",
    "ERR_EMPTY",
    "ERR_INTERNAL",
    "ERR_INVALID",
    "ERR_MUTED",
    "ERR_NOT_AUTHORIZED",
    "ERR_NOT_REGISTERED",
    "ERR_NO_STREAM",
    "ERR_PEER_TAKEN",
    "ERR_RATE_LIMITED",
    "ERR_SLOW_MODE",
    "ERR_STREAM_ACTIVE",
    "ERR_TOKEN_REQUIRED",
    "ERR_TOO_LONG",
    "ERR_UNKNOWN_PEER",
    "ERR_UNKNOWN_TYPE",
    "ID_MAX_CHARS",
    "MAX_PINNED",
    "MAX_PRICE",
    "MAX_SAFE_INTEGER",
    "MESSAGES",
    "NAME_MAX_CHARS",
    "RELAY_PAYLOAD",
    "SEARCH_MAX_CHARS",
    "SHORTCUT_MAX_CHARS",
    "SUPPORT_MAX_CHARS",
    "TEXT_MAX_CHARS",
    "TITLE_MAX_CHARS",
    "Access",
    "ChatMessage",
    "CustomerMessage",
    "DeleteCannedReply",
    "DeleteChatMessage",
    "DeleteProduct",
    "DeleteRecording",
    "FieldSpec",
    "GetCannedReplies",
    "GetConversation",
    "GetConversations",
    "GetCustomerContext",
    "GetMediaStats",
    "GetMyConversation",
    "GetProductTaps",
    "GetProducts",
    "GetRoom",
    "GetStreamInfo",
    "GetStreamSummaries",
    "MarkConversationRead",
    "ModerateCustomer",
    "PinProducts",
    "Ping",
    "ProductTapped",
    "ProtocolError",
    "Register",
    "RegisterAdmin",
    "ReplySeen",
    "ResolveConversation",
    "SaveCannedReply",
    "SaveProduct",
    "SetNextStream",
    "SetSlowMode",
    "Spec",
    "StaffMessage",
    "StaffTyping",
    "StartStream",
    "StopStream",
    "ToggleLike",
    "Typing",
    "WebrtcAnswer",
    "WebrtcBroadcastStart",
    "WebrtcBroadcastStop",
    "WebrtcIceCandidate",
    "WebrtcOffer",
    "WebrtcRegister",
    "check_price",
    "check_product_id",
    "clean_line",
    "clean_multiline",
    "clean_text",
    "decode",
    "field",
    "has_visible",
    "message",
]

# -- the contract's error texts ------------------------------------------------------

ERR_INVALID = "Invalid message format"
ERR_UNKNOWN_TYPE = "Unknown message type"
ERR_TOKEN_REQUIRED = "Token required"
ERR_AUTH_FAILED = "Authentication failed"
ERR_NOT_AUTHORIZED = "Not authorized"
ERR_NO_STREAM = "No active stream"
ERR_STREAM_ACTIVE = "Stream already active"
ERR_TOO_LONG = "Message too long"
ERR_RATE_LIMITED = "Rate limit exceeded"
ERR_UNKNOWN_PEER = "Unknown peer"
ERR_INTERNAL = "Internal server error"
ERR_MUTED = "You cannot chat in this stream"
ERR_SLOW_MODE = "Slow mode is on"
ERR_NOT_REGISTERED = "Not registered"
ERR_PEER_TAKEN = "Peer id taken"
ERR_EMPTY = "Message is empty"
ERR_CANNED_FULL = "Too many canned replies"

# -- the contract's limits (characters) ------------------------------------------------

CHAT_MAX_CHARS = 500
SUPPORT_MAX_CHARS = 2000
NAME_MAX_CHARS = 50
TITLE_MAX_CHARS = 200
# Not in the contract, but nothing unbounded is stored or relayed.
TEXT_MAX_CHARS = 2000
ID_MAX_CHARS = 200
#: ``get_conversations`` search text.
SEARCH_MAX_CHARS = 200
#: A canned reply's ``/shortcut`` (as written: the slash, if any, counts).
SHORTCUT_MAX_CHARS = 32
MAX_PINNED = 50
#: Prices are finite numbers from 0 to this, in the shop's currency (Trust rules, rule 5).
MAX_PRICE = 1_000_000_000
#: Numeric ids must survive JavaScript's doubles exactly (2^53 - 1).
MAX_SAFE_INTEGER = 2**53 - 1


class ProtocolError(Exception):
    """A message was refused; ``str(exc)`` is the error text sent to the client."""


class Access(enum.Enum):
    """Who may send a message type."""

    ANYONE = "anyone"
    #: An admin connection: role ``admin`` or ``staff``.
    STAFF = "staff"
    #: Role ``admin`` only (going live, pinning, broadcasting).
    ADMIN = "admin"
    #: Anyone but an admin connection (a customer's own messages).
    NON_STAFF = "non_staff"


# -- decoding ----------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    # NaN / Infinity are not JSON; re-encoding them would send other clients garbage.
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


_decoder = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def decode(data: str | bytes) -> tuple[Spec, dict[str, Any]]:
    """Parse one frame; return the spec of its type and the raw JSON object."""
    try:
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = bytes(data).decode("utf-8")
        obj = _decoder.decode(data)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise ProtocolError(ERR_INVALID) from exc
    if not isinstance(obj, dict):
        raise ProtocolError(ERR_INVALID)
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise ProtocolError(ERR_INVALID)
    spec = MESSAGES.get(kind)
    if spec is None:
        raise ProtocolError(ERR_UNKNOWN_TYPE)
    return spec, obj


def clean_text(value: str) -> str:
    """Replace lone surrogates (legal in JSON escapes, illegal in UTF-8 and SQLite)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


# -- cleaning what people write (Trust rules, rule 4) ------------------------------------

# Unicode White_Space (PropList.txt): these count as whitespace; a run becomes one space.
_WHITE_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# Bidirectional controls: removed, so no text can pull its neighbours around.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Letters that draw nothing (Hangul fillers, the blank Braille pattern).
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def clean_line(value: str) -> str:
    """One-line text (names, chat): control and bidi characters out, each run of
    whitespace one space, trimmed."""
    if value.isascii() and value.isprintable():
        # The common case: no control character, and the only white space is " ".
        return " ".join(value.split())
    return _normalize(value)


def clean_multiline(value: str) -> str:
    """Support text: like :func:`clean_line`, but CR LF and CR become LF and line feeds
    stay (each line's other whitespace runs become one space); trimmed."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(_normalize(line) for line in value.split("\n")).strip("\n")


def _normalize(value: str) -> str:
    out: list[str] = []
    space = False
    for ch in value:
        if ch in _WHITE_SPACE:
            space = True
        elif ch in _BIDI_CONTROLS or unicodedata.category(ch) == "Cc":
            continue
        else:
            if space and out:
                out.append(" ")
            space = False
            out.append(ch)
    return "".join(out)


def has_visible(value: str) -> bool:
    """True if some character would draw something: not whitespace, not a format
    character (Cf), not a filler that draws nothing."""
    return any(
        ch not in _WHITE_SPACE
        and ch not in _INVISIBLE_LETTERS
        and unicodedata.category(ch) not in ("Cf", "Cc")
        for ch in value
    )


# -- field specs -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class FieldSpec:
    """How one field of a message is checked."""

    attr: str
    key: str
    kinds: tuple[type, ...]
    optional: bool
    max_chars: int | None
    too_long: str
    nonblank: bool
    strip: bool
    check: Callable[[Any], Any] | None
    #: "line" or "multiline": cleaned as people's text is (Trust rules, rule 4).
    clean: str | None = None
    #: With nothing visible left: "error" ("Message is empty") or "absent" (None).
    empty: str | None = None

    def parse(self, obj: dict[str, Any]) -> Any:
        value = obj.get(self.key)
        if value is None:
            if self.optional:
                return None
            raise ProtocolError(ERR_INVALID)
        if not _is_kind(value, self.kinds):
            raise ProtocolError(ERR_INVALID)
        if isinstance(value, str):
            value = clean_text(value)
            if self.clean == "line":
                value = clean_line(value)
            elif self.clean == "multiline":
                value = clean_multiline(value)
            elif self.strip:
                value = value.strip()
            if self.empty is not None and not has_visible(value):
                if self.empty == "absent":
                    return None
                raise ProtocolError(ERR_EMPTY)
            if self.nonblank and not value.strip():
                raise ProtocolError(ERR_INVALID)
            if self.max_chars is not None and len(value) > self.max_chars:
                raise ProtocolError(self.too_long)
        if self.check is not None:
            value = self.check(value)
        return value


def _is_kind(value: Any, kinds: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, (int, float)) and float in kinds:
        return True
    return isinstance(value, kinds)


def field(
    key: str | None = None,
    *,
    max_chars: int | None = None,
    too_long: str = ERR_TOO_LONG,
    nonblank: bool = False,
    strip: bool = False,
    check: Callable[[Any], Any] | None = None,
    clean: str | None = None,
    empty: str | None = None,
    default: Any = dataclasses.MISSING,
) -> Any:
    """Declare a message field: its JSON key and checks (the type comes from the annotation).

    ``clean`` ("line" / "multiline") cleans people's text before the limits apply;
    ``empty`` says what text with nothing visible is: "error" or "absent"."""
    metadata = {
        "key": key,
        "max_chars": max_chars,
        "too_long": too_long,
        "nonblank": nonblank,
        "strip": strip or clean is not None,
        "check": check,
        "clean": clean,
        "empty": empty,
    }
    return dataclasses.field(default=default, metadata=metadata)


_JSON_KINDS: dict[Any, type] = {str: str, int: int, float: float, bool: bool}


def _kinds_of(annotation: Any) -> tuple[tuple[type, ...], bool]:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = typing.get_args(annotation)
        optional = type(None) in args
        kinds: list[type] = []
        for arg in args:
            if arg is type(None):
                continue
            kinds.extend(_kinds_of(arg)[0])
        return tuple(kinds), optional
    if origin is list or annotation is list:
        return (list,), False
    if origin is dict or annotation is dict:
        return (dict,), False
    if annotation is Any:
        return (object,), False
    return (_JSON_KINDS[annotation],), False


@dataclasses.dataclass(frozen=True, slots=True)
class Spec:
    """One client -> server message type."""

    type: str
    cls: Callable[..., Any]
    access: Access
    rate: str | None
    fields: tuple[FieldSpec, ...]
    #: Only from a registered connection ("Not registered"; Trust rules, rule 1).
    registered: bool = False

    def build(self, obj: dict[str, Any]) -> Any:
        """Validate the fields of ``obj`` and return the typed message."""
        return self.cls(**{f.attr: f.parse(obj) for f in self.fields})


MESSAGES: dict[str, Spec] = {}

M = TypeVar("M")


def message(
    type_: str,
    *,
    access: Access = Access.ANYONE,
    rate: str | None = "general",
    registered: bool = False,
) -> Callable[[type[M]], type[M]]:
    """Register a dataclass as the definition of message ``type_`` (``registered``: only
    a registered connection may send it)."""

    def register(cls: type[M]) -> type[M]:
        hints = typing.get_type_hints(cls)
        specs = []
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            kinds, optional = _kinds_of(hints[f.name])
            md = f.metadata
            specs.append(
                FieldSpec(
                    attr=f.name,
                    key=md.get("key") or f.name,
                    kinds=kinds,
                    optional=optional,
                    max_chars=md.get("max_chars"),
                    too_long=md.get("too_long", ERR_TOO_LONG),
                    nonblank=md.get("nonblank", False),
                    strip=md.get("strip", False),
                    check=md.get("check"),
                    clean=md.get("clean"),
                    empty=md.get("empty"),
                )
            )
        MESSAGES[type_] = Spec(type_, cls, access, rate, tuple(specs), registered)
        cls.TYPE = type_  # type: ignore[attr-defined]
        return cls

    return register


def _id_field(key: str, *, optional: bool = False) -> Any:
    return field(
        key,
        max_chars=ID_MAX_CHARS,
        too_long=ERR_INVALID,
        nonblank=True,
        default=None if optional else dataclasses.MISSING,
    )


# -- pinned products ---------------------------------------------------------------------

_PIN_FIELDS: dict[str, tuple[tuple[type, ...], int | None]] = {
    "productId": ((str, int), ID_MAX_CHARS),
    "name": ((str,), TITLE_MAX_CHARS),
    "price": ((float,), None),
    "image": ((str,), TEXT_MAX_CHARS),
    "displayOrder": ((float,), None),
    "url": ((str,), TEXT_MAX_CHARS),
    "description": ((str,), TEXT_MAX_CHARS),
    "currency": ((str,), 8),
}


def check_price(value: Any) -> float:
    """A price: a finite JSON number from 0 to :data:`MAX_PRICE` (Trust rules, rule 5);
    raises ProtocolError("Invalid message format") for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(ERR_INVALID)
    # An int is compared before float(): float(10**400) would overflow.
    if not 0 <= value <= MAX_PRICE or (isinstance(value, float) and not math.isfinite(value)):
        raise ProtocolError(ERR_INVALID)
    return float(value)


def check_product_id(value: Any) -> str | int:
    """A productId: a string, or an integer JavaScript reads exactly (|n| <= 2^53 - 1)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ProtocolError(ERR_INVALID)
    if isinstance(value, int) and abs(value) > MAX_SAFE_INTEGER:
        raise ProtocolError(ERR_INVALID)
    return value


def _pinned_list(value: list[Any]) -> list[dict[str, Any]]:
    """Each item: an object with a productId and a price; known fields keep their JSON
    type, others are dropped."""
    if len(value) > MAX_PINNED:
        raise ProtocolError(ERR_TOO_LONG)
    items: list[dict[str, Any]] = []
    for raw in value:
        if not isinstance(raw, dict) or raw.get("productId") is None:
            raise ProtocolError(ERR_INVALID)
        item: dict[str, Any] = {}
        for key, (kinds, max_chars) in _PIN_FIELDS.items():
            if key not in raw or raw[key] is None:
                continue
            v = raw[key]
            if not _is_kind(v, kinds):
                raise ProtocolError(ERR_INVALID)
            if isinstance(v, str):
                v = clean_text(v)
                if max_chars is not None and len(v) > max_chars:
                    raise ProtocolError(ERR_TOO_LONG)
            item[key] = v
        item["productId"] = check_product_id(item["productId"])
        item["price"] = check_price(raw.get("price"))
        try:
            if item.get("url") is not None:
                catalog_rules.check_url(item["url"])
            if item.get("currency") is not None:
                catalog_rules.check_currency(item["currency"])
        except catalog_rules.ProductError as exc:
            raise ProtocolError(ERR_TOO_LONG if exc.too_long else ERR_INVALID) from exc
        if item.get("url") == "":
            del item["url"]  # no link
        if item.get("currency") == "":
            del item["currency"]  # the shop's
        items.append(item)
    return items


def _product_fields(value: dict[str, Any]) -> dict[str, Any]:
    """A catalog product by ``catalog.products.normalize_product``'s rules: productId
    (made if absent), name, price (required), image, description, url (absolute
    http/https or empty), currency (ISO 4217; empty: the shop's)."""
    cleaned = {k: clean_text(v) if isinstance(v, str) else v for k, v in value.items()}
    try:
        return catalog_rules.normalize_product(cleaned)
    except catalog_rules.ProductError as exc:
        raise ProtocolError(ERR_TOO_LONG if exc.too_long else ERR_INVALID) from exc


# -- client -> server messages -------------------------------------------------------------


@message("register", rate="register")
@dataclasses.dataclass(frozen=True, slots=True)
class Register:
    """A customer connection identifies itself by its (secret) sessionId."""

    TYPE: ClassVar[str]
    session_id: str = _id_field("sessionId")
    token: str | None = None


@message("register_admin")
@dataclasses.dataclass(frozen=True, slots=True)
class RegisterAdmin:
    """Staff open an admin connection with a JWT; a ``userId`` in the message is ignored."""

    TYPE: ClassVar[str]
    token: str | None = None


@message("start_stream", access=Access.ADMIN)
@dataclasses.dataclass(frozen=True, slots=True)
class StartStream:
    TYPE: ClassVar[str]
    title: str = field(max_chars=TITLE_MAX_CHARS, strip=True)
    description: str | None = field(max_chars=TEXT_MAX_CHARS, default=None)
    stream_url: str | None = field("streamUrl", max_chars=TEXT_MAX_CHARS, default=None)
    quality: str | None = field(max_chars=NAME_MAX_CHARS, default=None)


@message("stop_stream", access=Access.ADMIN)
@dataclasses.dataclass(frozen=True, slots=True)
class StopStream:
    TYPE: ClassVar[str]


@message("pin_products", access=Access.ADMIN)
@dataclasses.dataclass(frozen=True, slots=True)
class PinProducts:
    TYPE: ClassVar[str]
    pinned_products: list[Any] = field("pinnedProducts", check=_pinned_list)


@message("toggle_like", rate="like", registered=True)
@dataclasses.dataclass(frozen=True, slots=True)
class ToggleLike:
    """Who likes is the connection's registered identity; a ``sessionId`` in the message
    is ignored (Trust rules, rule 1)."""

    TYPE: ClassVar[str]
    session_id: str | None = _id_field("sessionId", optional=True)


@message("chat_message", rate="chat", registered=True)
@dataclasses.dataclass(frozen=True, slots=True)
class ChatMessage:
    """``isAdmin``, ``timestamp`` and ``publicId`` from the client are ignored: the server
    sets them. Text and name are cleaned (Trust rules, rule 4)."""

    TYPE: ClassVar[str]
    message: str = field(max_chars=CHAT_MAX_CHARS, clean="line", empty="error")
    username: str | None = field(
        max_chars=NAME_MAX_CHARS, clean="line", empty="absent", default=None
    )


def _product_ref(value: Any) -> str:
    """A productId a customer names (a catalog id: a string, or an exact integer),
    as the string the store keeps."""
    return clean_text(str(check_product_id(value)))


def _product_ref_field(*, optional: bool) -> Any:
    return field(
        "productId",
        max_chars=ID_MAX_CHARS,
        too_long=ERR_INVALID,
        nonblank=True,
        check=_product_ref,
        default=None if optional else dataclasses.MISSING,
    )


@message("customer_message", access=Access.NON_STAFF, rate="support", registered=True)
@dataclasses.dataclass(frozen=True, slots=True)
class CustomerMessage:
    """Into the connection's own conversation; a ``sessionId`` here is ignored.
    ``productId``: the product the customer asks about ("Ask about this product")."""

    TYPE: ClassVar[str]
    message: str = field(max_chars=SUPPORT_MAX_CHARS, clean="multiline", empty="error")
    customer_name: str | None = field(
        "customerName", max_chars=NAME_MAX_CHARS, clean="line", empty="absent", default=None
    )
    session_id: str | None = _id_field("sessionId", optional=True)
    #: A string or an integer on the wire; always a string once validated.
    product_id: str | int | None = _product_ref_field(optional=True)


@message("product_tapped", access=Access.NON_STAFF, rate="like", registered=True)
@dataclasses.dataclass(frozen=True, slots=True)
class ProductTapped:
    """A customer tapped a product card; kept per stream and session for staff to see
    (``get_customer_context``). No answer."""

    TYPE: ClassVar[str]
    #: A string or an integer on the wire; always a string once validated.
    product_id: str | int = _product_ref_field(optional=False)


@message("staff_message", access=Access.STAFF, rate="support")
@dataclasses.dataclass(frozen=True, slots=True)
class StaffMessage:
    """The seed calls the text ``content``; ``message`` is accepted too."""

    TYPE: ClassVar[str]
    session_id: str = _id_field("sessionId")
    content: str | None = field(
        max_chars=SUPPORT_MAX_CHARS, clean="multiline", empty="error", default=None
    )
    message: str | None = field(
        max_chars=SUPPORT_MAX_CHARS, clean="multiline", empty="error", default=None
    )

    @property
    def text(self) -> str | None:
        return self.content if self.content is not None else self.message


def _page_limit(value: float) -> int:
    if (isinstance(value, float) and not value.is_integer()) or not 1 <= value <= 100:
        raise ProtocolError(ERR_INVALID)
    return int(value)


#: ``get_conversations`` ``filter`` values.
CONVERSATION_FILTERS = ("open", "resolved", "unanswered")


def _conversation_filter(value: str) -> str:
    if value not in CONVERSATION_FILTERS:
        raise ProtocolError(ERR_INVALID)
    return value


@message("get_conversations", access=Access.STAFF)
@dataclasses.dataclass(frozen=True, slots=True)
class GetConversations:
    """One page of the inbox, newest first: at most ``limit`` (1-100, default 50)
    conversations older than the cursor ``before`` (a ``nextCursor`` from a page)."""

    TYPE: ClassVar[str]
    limit: float | None = field(check=_page_limit, default=None)
    before: str | None = _id_field("before", optional=True)
    #: Full-text: conversations with a message holding every word (or the name).
    search: str | None = field(max_chars=SEARCH_MAX_CHARS, strip=True, default=None)
    #: "open", "resolved" or "unanswered" (the last line is the customer's).
    status_filter: str | None = field("filter", check=_conversation_filter, default=None)


@message("mark_conversation_read", access=Access.STAFF)
@dataclasses.dataclass(frozen=True, slots=True)
class MarkConversationRead:
    """The customer's lines count as read, for every staff member."""

    TYPE: ClassVar[str]
    session_id: str = _id_field("sessionId")


@message("get_customer_context", access=Access.STAFF)
@dataclasses.dataclass(frozen=True, slots=True)
class GetCustomerContext:
    """The customer behind a conversation: watching now, since when, their live-chat
    lines of this stream, whether they liked it, the product cards they tapped."""

    TYPE: ClassVar[str]
    session_id: str = _id_field("sessionId")


@message("get_conversation", access=Access.STAFF)
@dataclasses.dataclass(frozen=True, slots=True)
class GetConversation:
    """The newest ``limit`` (1-100, default 100) messages of a thread older than message
    id ``before``, oldest first."""

    TYPE: ClassVar[str]
    session_id: str = _id_field("sessionId")
    limit: float | None = field(check=_page_limit, default=None)
    before: str | None = _id_field("before", optional=True)


@message("ping", rate=None)
@dataclasses.dataclass(frozen=True, slots=True)
class Ping:
    TYPE: ClassVar[str]


@message("delete_chat_message", access=Access.STAFF)
@dataclasses.dataclass(frozen=True, slots=True)
class DeleteChatMessage:
    """Remove one chat line for everyone (it stays in the database, marked deleted)."""

    TYPE: ClassVar[str]
    id: str = _id_field("id")


def _moderation_action(value: str) -> str:
    if value not in ("mute", "ban", "clear"):
        raise ProtocolError(ERR_INVALID)
    return value


@message("moderate_customer", access=Access.STAFF)
@dataclasses.dataclass(frozen=True, slots=True)
class ModerateCustomer:
    """For the live stream: ``mute`` (no chat), ``ban`` (no chat or likes, and their
    lines are removed), ``clear`` (lift both). Customers are named by publicId."""

    TYPE: ClassVar[str]
    public_id: str = _id_field("publicId")
    action: str = field(check=_moderation_action)


def _slow_seconds(value: float) -> int:
    if (isinstance(value, float) and not value.is_integer()) or not 0 <= value <= 300:
        raise ProtocolError(ERR_INVALID)
    return int(value)


@message("set_slow_mode", access=Access.STAFF)
@dataclasses.dataclass(frozen=True, slots=True)
class SetSlowMode:
    """Each customer may chat once every ``seconds`` (0 turns it off; at most 300)."""

    TYPE: ClassVar[str]
    seconds: float = field(check=_slow_seconds)


@message("resolve_conversation", access=Access.STAFF)
@dataclasses.dataclass(frozen=True, slots=True)
class ResolveConversation:
    """Mark a support conversation resolved (or open again); a new customer line reopens it."""

    TYPE: ClassVar[str]
    session_id: str = _id_field("sessionId")
    resolved: bool = field()


@message("get_stream_info")
@dataclasses.dataclass(frozen=True, slots=True)
class GetStreamInfo:
    """What a page shows around the video: live or not, the last and the next stream, and
    the shop's product URL pattern."""

    TYPE: ClassVar[str]


@message("set_next_stream", access=Access.ADMIN)
@dataclasses.dataclass(frozen=True, slots=True)
class SetNextStream:
    """Announce the next stream (title, ISO start time); an empty title clears it."""

    TYPE: ClassVar[str]
    title: str = field(max_chars=TITLE_MAX_CHARS, strip=True)
    starts_at: str | None = field("startsAt", max_chars=NAME_MAX_CHARS, default=None)


@message("get_my_conversation", access=Access.NON_STAFF, registered=True)
@dataclasses.dataclass(frozen=True, slots=True)
class GetMyConversation:
    """A registered customer's own support thread (after a reload, or to catch up)."""

    TYPE: ClassVar[str]


@message("get_room", access=Access.STAFF)
@dataclasses.dataclass(frozen=True, slots=True)
class GetRoom:
    """While live, the messages a joining customer gets: ``stream_started``,
    ``pinned_products_updated``, ``chat_history`` (and ``chat_settings`` in slow mode);
    nothing when not live. A staff station asks after registering."""

    TYPE: ClassVar[str]


@message("get_media_stats", access=Access.STAFF)
@dataclasses.dataclass(frozen=True, slots=True)
class GetMediaStats:
    """The broadcaster's figures: encode fps and cost, viewers by transport, per viewer."""

    TYPE: ClassVar[str]


@message("webrtc_register", registered=True)
@dataclasses.dataclass(frozen=True, slots=True)
class WebrtcRegister:
    TYPE: ClassVar[str]
    peer_id: str = _id_field("peerId")
    user_type: str | None = field("userType", max_chars=NAME_MAX_CHARS, default=None)


@message("webrtc_offer", registered=True)
@dataclasses.dataclass(frozen=True, slots=True)
class WebrtcOffer:
    TYPE: ClassVar[str]
    to: str = _id_field("to")
    offer: dict[str, Any] = field()


@message("webrtc_answer", registered=True)
@dataclasses.dataclass(frozen=True, slots=True)
class WebrtcAnswer:
    TYPE: ClassVar[str]
    to: str = _id_field("to")
    answer: dict[str, Any] = field()


@message("webrtc_ice_candidate", registered=True)
@dataclasses.dataclass(frozen=True, slots=True)
class WebrtcIceCandidate:
    """``candidate`` null is the end-of-candidates marker and is relayed as such."""

    TYPE: ClassVar[str]
    to: str = _id_field("to")
    candidate: dict[str, Any] | str | None = field(default=None)


@message("webrtc_broadcast_start", access=Access.ADMIN)
@dataclasses.dataclass(frozen=True, slots=True)
class WebrtcBroadcastStart:
    TYPE: ClassVar[str]
    peer_id: str | None = _id_field("peerId", optional=True)


@message("webrtc_broadcast_stop", access=Access.ADMIN)
@dataclasses.dataclass(frozen=True, slots=True)
class WebrtcBroadcastStop:
    TYPE: ClassVar[str]
    peer_id: str | None = _id_field("peerId", optional=True)


@message("get_stream_summaries", access=Access.STAFF)
@dataclasses.dataclass(frozen=True, slots=True)
class GetStreamSummaries:
    """Past shows, newest first: at most ``limit`` (1-100, default 50) that ended before
    the cursor ``before`` (a ``nextCursor`` from a page), each with its summary."""

    TYPE: ClassVar[str]
    limit: float | None = field(check=_page_limit, default=None)
    before: str | None = _id_field("before", optional=True)


@message("get_product_taps", access=Access.STAFF)
@dataclasses.dataclass(frozen=True, slots=True)
class GetProductTaps:
    """The pinned products' card taps during the live stream and when each was pinned:
    answered with ``product_taps_updated`` (issue 11)."""

    TYPE: ClassVar[str]


@message("get_products", access=Access.STAFF)
@dataclasses.dataclass(frozen=True, slots=True)
class GetProducts:
    TYPE: ClassVar[str]


@message("save_product", access=Access.STAFF)
@dataclasses.dataclass(frozen=True, slots=True)
class SaveProduct:
    TYPE: ClassVar[str]
    product: dict[str, Any] = field(check=_product_fields)


@message("delete_product", access=Access.STAFF)
@dataclasses.dataclass(frozen=True, slots=True)
class DeleteProduct:
    TYPE: ClassVar[str]
    product_id: str = _id_field("productId")


# -- support's live feel (issue 12): typing, "seen", canned replies ------------------------


@message("typing", access=Access.NON_STAFF, registered=True)
@dataclasses.dataclass(frozen=True, slots=True)
class Typing:
    """The customer is typing in the support chat (a page sends one at most every 3 s
    while typing); every admin connection gets ``customer_typing``. No answer; the hub
    passes on at most one a second per connection and drops the rest quietly."""

    TYPE: ClassVar[str]
    customer_name: str | None = field(
        "customerName", max_chars=NAME_MAX_CHARS, clean="line", empty="absent", default=None
    )


@message("staff_typing", access=Access.STAFF)
@dataclasses.dataclass(frozen=True, slots=True)
class StaffTyping:
    """A staff member is typing a reply to ``sessionId``: the customer's tabs get
    ``shop_typing``, the other admin connections ``staff_typing``. No answer; at most one
    a second per connection is passed on."""

    TYPE: ClassVar[str]
    session_id: str = _id_field("sessionId")


@message("reply_seen", access=Access.NON_STAFF, registered=True)
@dataclasses.dataclass(frozen=True, slots=True)
class ReplySeen:
    """The customer's page (visible) has staff reply ``id`` of its own conversation on
    screen: it and the earlier replies count as seen; admins get ``replies_seen``."""

    TYPE: ClassVar[str]
    id: str = _id_field("id")


def _shortcut(value: str) -> str:
    """A canned reply's shortcut: letters, digits, ``-`` and ``_``, starting with a
    letter or digit; a leading ``/`` is dropped and letters are made lower case."""
    name = value.removeprefix("/").lower()
    if not name or not name[0].isalnum() or not all(c.isalnum() or c in "-_" for c in name):
        raise ProtocolError(ERR_INVALID)
    if not name.isascii():
        raise ProtocolError(ERR_INVALID)
    return name


def _shortcut_field(key: str, *, optional: bool = False) -> Any:
    return field(
        key,
        max_chars=SHORTCUT_MAX_CHARS,
        too_long=ERR_INVALID,
        strip=True,
        check=_shortcut,
        default=None if optional else dataclasses.MISSING,
    )


@message("get_canned_replies", access=Access.STAFF)
@dataclasses.dataclass(frozen=True, slots=True)
class GetCannedReplies:
    """Every canned reply (``canned_replies``)."""

    TYPE: ClassVar[str]


@message("save_canned_reply", access=Access.STAFF)
@dataclasses.dataclass(frozen=True, slots=True)
class SaveCannedReply:
    """Add or change a canned reply (``previousShortcut``: the one it replaces, when
    renamed); every admin connection gets the new ``canned_replies``."""

    TYPE: ClassVar[str]
    shortcut: str = _shortcut_field("shortcut")
    text: str = field(max_chars=SUPPORT_MAX_CHARS, clean="multiline", empty="error")
    previous: str | None = _shortcut_field("previousShortcut", optional=True)


@message("delete_canned_reply", access=Access.STAFF)
@dataclasses.dataclass(frozen=True, slots=True)
class DeleteCannedReply:
    """Remove a canned reply; every admin connection gets the new ``canned_replies``."""

    TYPE: ClassVar[str]
    shortcut: str = _shortcut_field("shortcut")


@message("delete_recording", access=Access.ADMIN)
@dataclasses.dataclass(frozen=True, slots=True)
class DeleteRecording:
    """Delete a past show's replay: its video file and its timeline (issue 14)."""

    TYPE: ClassVar[str]
    replay_id: str = _id_field("replayId")


#: The relayed WebRTC types and the field each carries.
RELAY_PAYLOAD = {
    "webrtc_offer": "offer",
    "webrtc_answer": "answer",
    "webrtc_ice_candidate": "candidate",
}
