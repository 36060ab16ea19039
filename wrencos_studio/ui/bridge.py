"""The one place hub events become Qt signals: the window is a client of the hub.

In the studio the bridge is an in-process admin connection of the hub
(``hub.local.LocalConnection``: the hub's typed messages arrive as they are, no JSON);
on a staff station it is a WebSocket client of a studio elsewhere, whose JSON is parsed
into the same typed messages (``protocol.outbound.parse``). Either way the bridge routes
each message *class* to the signals below, and the panels call the same typed helpers
(``send_chat``, ``pin_products``, ``reply``, …), which build the protocol's messages in
this one place.

A station's WebSocket can drop (the studio restarted, the network blinked): the
``RemoteBridge`` then says ``reconnecting``, connects again with a growing pause,
registers again and says ``reconnected``, and the window fetches again what it shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable
from typing import Any, ClassVar

from PySide6.QtCore import QObject, Signal

from wrencos_studio.codec import CodecError, to_json
from wrencos_studio.hub import protocol as p
from wrencos_studio.hub.local import LocalConnection
from wrencos_studio.loop_thread import LoopThread

__all__ = ["HubBridge", "LocalBridge", "RemoteBridge", "TokenRefused", "token_claims"]

#: How long a station waits for the studio's answer to its ``register_admin``, in seconds.
REGISTER_TIMEOUT = 10.0


class TokenRefused(Exception):
    """The studio refused a station's staff token; ``str(exc)`` says why, for a person
    (expired, not signed by this studio, or not a staff role)."""


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT *without* checking its signature: only to word messages and
    pick what the window offers; the studio decides what the token may do. ``{}`` when
    it is not a JWT."""
    import jwt

    try:
        claims = jwt.decode(token, options={"verify_signature": False, "verify_exp": False})
    except jwt.PyJWTError:
        return {}
    return claims if isinstance(claims, dict) else {}


def refusal_reason(token: str, said: str) -> str:
    """Why the studio (which said ``said``) most likely refused ``token``."""
    import time
    from datetime import UTC, datetime

    claims = token_claims(token)
    if not claims:
        return f"{said}: this is not a staff token (a JWT from `wrencos-studio token`)"
    exp = claims.get("exp")
    if isinstance(exp, int | float) and exp < time.time():
        when = datetime.fromtimestamp(exp, UTC).strftime("%Y-%m-%d %H:%M UTC")
        return f"{said}: the token expired on {when}"
    role = claims.get("role")
    if role not in ("admin", "staff"):
        return f"{said}: the token's role is {role!r}, not staff or admin"
    return f"{said}: the token was not signed by this studio (or not yet valid)"


log = logging.getLogger(__name__)


def _body(wire: dict[str, Any]) -> dict[str, Any]:
    """A message's wire keys without its ``type``."""
    return {k: v for k, v in wire.items() if k != "type"}


class HubBridge(QObject):
    """Signals for what the panels show; ``request`` for what they do."""

    message = Signal(object)  # every typed message, for anything not covered below
    connected = Signal(str)  # userId
    disconnected = Signal(str)  # why
    reconnecting = Signal(str)  # why the connection dropped; a new one is being tried
    reconnected = Signal()  # registered again: what the window shows must be fetched again
    token_refused = Signal(str)  # a station's token was refused (expired while connected)
    error = Signal(str)
    stream_started = Signal(dict)
    stream_stopped = Signal(str)
    figures_changed = Signal(int, int)  # viewers, likes
    chat_message = Signal(dict)
    chat_history = Signal(list)
    pinned_changed = Signal(list)
    customer_message = Signal(dict)
    conversations = Signal(list, bool, str)  # one page; more; nextCursor ("" when none)
    conversation = Signal(str, list, bool)  # sessionId; one page, oldest first; more
    products = Signal(list)
    product_saved = Signal(dict)
    product_deleted = Signal(str)
    chat_message_deleted = Signal(str)
    conversation_status = Signal(dict)
    media_stats = Signal(dict)  # the broadcaster's figures (docs/protocol.md §11.4)
    conversation_updated = Signal(dict)  # one conversation as ``conversations`` lists it
    customer_context = Signal(dict)  # the customer behind a conversation
    stream_summary = Signal(dict)  # the show's figures, right after it ended
    stream_summaries = Signal(list, bool, str)  # past shows; more; nextCursor
    product_taps = Signal(list)  # the pins' live taps: [{productId, name, taps, pinnedAt?}]
    # Support's live feel (issue 12): typing both ways, "seen", canned replies.
    customer_typing = Signal(dict)  # {sessionId, customerName, expiresInMs}
    staff_typing = Signal(dict)  # another station types: {sessionId, userId, expiresInMs}
    replies_seen = Signal(dict)  # {sessionId, id, seenAt}
    canned_replies = Signal(list)  # every canned reply: [{shortcut, text, updatedAt, …}]
    recording_status = Signal(dict)  # how the show's recording goes (state, message, ...)
    recording_deleted = Signal(str, bool)  # replayId; whether there was one to delete

    _ROUTES: ClassVar[dict[type[p.OutboundMessage], Callable[[HubBridge, Any], None]]] = {
        p.StreamStarted: lambda self, m: self.stream_started.emit(to_json(m.stream_data)),
        p.StreamStopped: lambda self, m: self.stream_stopped.emit(m.stream_id),
        p.StreamUpdate: lambda self, m: self.figures_changed.emit(m.viewer_count, m.likes),
        p.ChatPosted: lambda self, m: self.chat_message.emit(to_json(m.line)),
        p.ChatHistory: lambda self, m: self.chat_history.emit(to_json(m.messages)),
        p.PinnedProductsUpdated: lambda self, m: self.pinned_changed.emit(m.pinned_products),
        p.CustomerMessageReceived: lambda self, m: self.customer_message.emit(m.to_wire()),
        p.Conversations: lambda self, m: self.conversations.emit(
            to_json(m.conversations), m.more, m.next_cursor or ""
        ),
        p.ConversationThread: lambda self, m: self.conversation.emit(
            m.session_id, to_json(m.messages), m.more
        ),
        p.Products: lambda self, m: self.products.emit(to_json(m.products)),
        p.ProductSaved: lambda self, m: self.product_saved.emit(to_json(m.product)),
        p.ProductDeleted: lambda self, m: self.product_deleted.emit(m.product_id),
        p.AdminRegistered: lambda self, m: self.connected.emit(m.user_id),
        p.ChatMessageDeleted: lambda self, m: self.chat_message_deleted.emit(m.id),
        p.ConversationStatus: lambda self, m: self.conversation_status.emit(m.to_wire()),
        p.MediaStats: lambda self, m: self.media_stats.emit(m.stats),
        p.ConversationUpdated: lambda self, m: self.conversation_updated.emit(_body(m.to_wire())),
        p.CustomerContext: lambda self, m: self.customer_context.emit(_body(m.to_wire())),
        p.StreamSummaryReady: lambda self, m: self.stream_summary.emit(to_json(m.summary)),
        p.StreamSummaries: lambda self, m: self.stream_summaries.emit(
            to_json(m.summaries), m.more, m.next_cursor or ""
        ),
        p.ProductTapsUpdated: lambda self, m: self.product_taps.emit(to_json(m.pins)),
        p.RecordingStatus: lambda self, m: self.recording_status.emit(_body(m.to_wire())),
        p.RecordingDeleted: lambda self, m: self.recording_deleted.emit(m.replay_id, m.deleted),
        p.Error: lambda self, m: self.error.emit(m.message),
        p.CustomerIsTyping: lambda self, m: self.customer_typing.emit(_body(m.to_wire())),
        p.StaffIsTyping: lambda self, m: self.staff_typing.emit(_body(m.to_wire())),
        p.RepliesSeen: lambda self, m: self.replies_seen.emit(_body(m.to_wire())),
        p.CannedReplies: lambda self, m: self.canned_replies.emit(to_json(m.replies)),
    }

    @property
    def online(self) -> bool:
        """Whether a request sent now reaches the hub (a station may be reconnecting)."""
        return True

    def dispatch(self, msg: p.OutboundMessage) -> None:
        """Route one typed message from the hub to its signal (and to ``message``)."""
        self.message.emit(msg)
        route = self._ROUTES.get(type(msg))
        if route is not None:
            route(self, msg)

    async def request(self, msg: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- what the panels do (one helper per message they send) ---------------------------

    async def start_stream(self, title: str, description: str = "") -> None:
        await self.request({"type": "start_stream", "title": title, "description": description})

    async def stop_stream(self) -> None:
        await self.request({"type": "stop_stream"})

    async def send_chat(self, text: str, username: str) -> None:
        await self.request({"type": "chat_message", "message": text, "username": username})

    async def delete_chat_message(self, message_id: str) -> None:
        await self.request({"type": "delete_chat_message", "id": message_id})

    async def moderate(self, public_id: str, action: str) -> None:
        """``mute``, ``ban`` or ``clear`` a customer for the current stream."""
        await self.request({"type": "moderate_customer", "publicId": public_id, "action": action})

    async def set_slow_mode(self, seconds: int) -> None:
        await self.request({"type": "set_slow_mode", "seconds": seconds})

    async def pin_products(self, items: list[dict[str, Any]]) -> None:
        """Pin exactly these products, in this order (``displayOrder`` is set here)."""
        ordered = [{**p, "displayOrder": i + 1} for i, p in enumerate(items)]
        await self.request({"type": "pin_products", "pinnedProducts": ordered})

    async def get_products(self) -> None:
        await self.request({"type": "get_products"})

    async def save_product(self, product: dict[str, Any]) -> None:
        await self.request({"type": "save_product", "product": product})

    async def delete_product(self, product_id: str) -> None:
        await self.request({"type": "delete_product", "productId": product_id})

    async def get_conversations(
        self,
        limit: int = 50,
        before: str | None = None,
        *,
        search: str = "",
        filter: str = "",
    ) -> None:
        """One inbox page, newest first: the first one, or the one after ``before`` (the
        previous page's ``nextCursor``); ``search`` (words of any message, or the name)
        and ``filter`` (``open``, ``resolved``, ``unanswered``) narrow it."""
        msg: dict[str, Any] = {"type": "get_conversations", "limit": limit}
        if before:
            msg["before"] = before
        if search.strip():
            msg["search"] = search.strip()
        if filter:
            msg["filter"] = filter
        await self.request(msg)

    async def mark_read(self, session_id: str) -> None:
        """The thread is on screen: its customer lines are read, for every staff member."""
        await self.request({"type": "mark_conversation_read", "sessionId": session_id})

    async def get_customer_context(self, session_id: str) -> None:
        await self.request({"type": "get_customer_context", "sessionId": session_id})

    async def delete_recording(self, replay_id: str) -> None:
        """Delete a past show's replay (video and timeline); ``recording_deleted`` answers."""
        await self.request({"type": "delete_recording", "replayId": replay_id})

    async def get_stream_summaries(self, limit: int = 50, before: str | None = None) -> None:
        msg: dict[str, Any] = {"type": "get_stream_summaries", "limit": limit}
        if before:
            msg["before"] = before
        await self.request(msg)

    async def get_conversation(
        self, session_id: str, limit: int = 100, before: str | None = None
    ) -> None:
        """A thread's newest ``limit`` messages, or those older than message id ``before``."""
        msg: dict[str, Any] = {"type": "get_conversation", "sessionId": session_id, "limit": limit}
        if before:
            msg["before"] = before
        await self.request(msg)

    async def reply(self, session_id: str, text: str) -> None:
        """Answer a customer (the inbox updates its row itself: no list is fetched)."""
        await self.request({"type": "staff_message", "sessionId": session_id, "content": text})

    async def resolve(self, session_id: str, resolved: bool) -> None:
        """The hub answers every admin with ``conversation_status``."""
        await self.request(
            {"type": "resolve_conversation", "sessionId": session_id, "resolved": resolved}
        )

    async def get_product_taps(self) -> None:
        """The pins' taps now (``product_taps``), and from then on whenever they change."""
        await self.request({"type": "get_product_taps"})

    async def typing(self, session_id: str) -> None:
        """This station types a reply to ``session_id`` (the inbox sends one every 3 s
        at most): the customer sees "Shop is typing…", other stations who types."""
        await self.request({"type": "staff_typing", "sessionId": session_id})

    async def get_canned_replies(self) -> None:
        await self.request({"type": "get_canned_replies"})

    async def save_canned_reply(self, shortcut: str, text: str, previous: str = "") -> None:
        """Add or change a canned reply (``previous``: the shortcut it had, if renamed);
        every station gets the new list (``canned_replies``)."""
        msg: dict[str, Any] = {"type": "save_canned_reply", "shortcut": shortcut, "text": text}
        if previous and previous != shortcut:
            msg["previousShortcut"] = previous
        await self.request(msg)

    async def delete_canned_reply(self, shortcut: str) -> None:
        await self.request({"type": "delete_canned_reply", "shortcut": shortcut})

    async def get_media_stats(self) -> None:
        await self.request({"type": "get_media_stats"})

    async def get_room(self) -> None:
        """Ask for the room as a joining customer gets it (stream, pins, chat history):
        what the panels start from, on the studio and on a station alike."""
        await self.request({"type": "get_room"})


class LocalBridge(HubBridge):
    """The studio's own admin connection to its in-process hub, which runs on ``program``
    (a :class:`~wrencos_studio.loop_thread.LoopThread`): the connection is made there,
    requests run there, and the hub's messages are handed to this (the window's) loop in
    batches, so a broadcast never waits for the window."""

    def __init__(
        self,
        connect: Callable[..., LocalConnection],
        program: LoopThread,
        user_id: str = "studio",
    ) -> None:
        """``connect(on_message, name, receiver_loop=…)`` makes the in-process connection
        (``App.connect_local``); the studio registers as admin ``user_id``."""
        super().__init__()
        self.user_id = user_id
        self.program = program
        self._connect = connect
        self.connection: LocalConnection | None = None

    async def start(self) -> None:
        if self.connection is None:
            window_loop = asyncio.get_running_loop()
            self.connection = await self.program.call(
                lambda: self._connect(self.dispatch, "studio-window", receiver_loop=window_loop)
            )
        await self.program.run(self.connection.register_admin(self.user_id))

    async def request(self, msg: dict[str, Any]) -> None:
        assert self.connection is not None, "start() first"
        await self.program.run(self.connection.request(msg))

    def stop(self) -> None:
        """Leave the hub; the window gets nothing more from now on."""
        if self.connection is not None:
            self.connection.detach()  # nothing more handed to the window, from now on
            self.program.call_soon(self.connection.close)


class RemoteBridge(HubBridge):
    """A staff station: the same panels, connected to a studio on another machine.

    When the connection drops it is made again, with a pause that doubles from
    ``RETRY_FIRST`` up to ``RETRY_MAX`` seconds (with jitter, so stations of a restarted
    studio do not all come back at once), until ``stop_async``."""

    RETRY_FIRST = 0.5
    RETRY_MAX = 10.0

    def __init__(self, url: str, token: str) -> None:
        super().__init__()
        self.url = url
        self.token = token
        self._ws: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        """Connect and register; raises OSError when the studio cannot be reached and
        TokenRefused when it refuses the token."""
        await self._connect()
        self._task = asyncio.create_task(self._run(), name="staff-station")

    async def _connect(self) -> None:
        """Connect and register; OSError when unreachable, TokenRefused when the studio
        refuses the token (the connection is closed again)."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        ws = await connect(self.url, max_size=2**22)
        try:
            await ws.send(json.dumps({"type": "register_admin", "token": self.token}))
            async with asyncio.timeout(REGISTER_TIMEOUT):
                while True:
                    try:
                        message = p.parse(json.loads(await ws.recv()))
                    except (ValueError, CodecError):
                        continue
                    if isinstance(message, p.Error):
                        raise TokenRefused(refusal_reason(self.token, message.message))
                    if message is not None:
                        self.dispatch(message)
                    if isinstance(message, p.AdminRegistered):
                        break
        except (TokenRefused, TimeoutError, ConnectionClosed) as exc:
            await ws.close()
            if isinstance(exc, TokenRefused):
                raise
            raise OSError(f"the studio did not answer the registration ({exc})") from None
        self._ws = ws

    async def _run(self) -> None:
        from websockets.exceptions import InvalidHandshake

        while not self._stopping:
            why = await self._read()
            self._ws = None
            if self._stopping:
                return
            self.disconnected.emit(why)
            self.reconnecting.emit(why)
            pause = self.RETRY_FIRST
            while not self._stopping:
                await asyncio.sleep(pause * random.uniform(0.8, 1.2))
                try:
                    await self._connect()
                except TokenRefused as exc:  # expired while away: nothing to retry
                    self._stopping = True
                    self.token_refused.emit(str(exc))
                    return
                except (OSError, InvalidHandshake) as exc:  # TimeoutError is an OSError
                    log.info("staff station: %s unreachable (%s), trying again", self.url, exc)
                    self._ws = None
                    pause = min(self.RETRY_MAX, pause * 2)
                    continue
                self.reconnected.emit()
                break

    async def _read(self) -> str:
        """Dispatch messages until the connection closes; why it closed."""
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in self._ws:
                try:
                    message = p.parse(json.loads(raw))
                except (ValueError, CodecError):
                    log.warning("ignoring a malformed message from the studio")
                    continue
                if message is not None:  # a type this version does not know: skipped
                    self.dispatch(message)
        except ConnectionClosed as exc:
            return str(exc)
        return "the studio closed the connection"

    @property
    def online(self) -> bool:
        return self._ws is not None

    async def request(self, msg: dict[str, Any]) -> None:
        """Send ``msg``; while reconnecting it is dropped (what it asked for is fetched
        again once the station is back)."""
        from websockets.exceptions import ConnectionClosed

        if self._ws is not None:
            with contextlib.suppress(ConnectionClosed):  # the reader notices, reconnects
                await self._ws.send(json.dumps(msg))

    async def stop_async(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
        if self._ws is not None:
            await self._ws.close()
