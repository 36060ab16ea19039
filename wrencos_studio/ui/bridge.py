"""The one place hub events become Qt signals: the window is a client of the hub.

In the studio the bridge is an in-process admin connection of the hub
(``hub.local.LocalConnection``: the hub's typed messages arrive as they are, no JSON);
on a staff station it is a WebSocket client of a studio elsewhere, whose JSON is parsed
into the same typed messages (``protocol.outbound.parse``). Either way the bridge routes
each message *class* to the signals below, and the panels call the same typed helpers
(``send_chat``, ``pin_products``, ``reply``, …), which build the protocol's messages in
this one place.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any, ClassVar

from PySide6.QtCore import QObject, Signal

from wrencos_studio.codec import CodecError, to_json
from wrencos_studio.hub import protocol as p
from wrencos_studio.hub.local import LocalConnection

__all__ = ["HubBridge", "LocalBridge", "RemoteBridge"]

log = logging.getLogger(__name__)


class HubBridge(QObject):
    """Signals for what the panels show; ``request`` for what they do."""

    message = Signal(object)  # every typed message, for anything not covered below
    connected = Signal(str)  # userId
    disconnected = Signal(str)  # why
    error = Signal(str)
    stream_started = Signal(dict)
    stream_stopped = Signal(str)
    figures_changed = Signal(int, int)  # viewers, likes
    chat_message = Signal(dict)
    chat_history = Signal(list)
    pinned_changed = Signal(list)
    customer_message = Signal(dict)
    conversations = Signal(list)
    conversation = Signal(str, list)
    products = Signal(list)
    product_saved = Signal(dict)
    product_deleted = Signal(str)
    chat_message_deleted = Signal(str)
    conversation_status = Signal(dict)
    media_stats = Signal(dict)  # the broadcaster's figures (docs/protocol.md §11.4)

    _ROUTES: ClassVar[dict[type[p.OutboundMessage], Callable[[HubBridge, Any], None]]] = {
        p.StreamStarted: lambda self, m: self.stream_started.emit(to_json(m.stream_data)),
        p.StreamStopped: lambda self, m: self.stream_stopped.emit(m.stream_id),
        p.StreamUpdate: lambda self, m: self.figures_changed.emit(m.viewer_count, m.likes),
        p.ChatPosted: lambda self, m: self.chat_message.emit(to_json(m.line)),
        p.ChatHistory: lambda self, m: self.chat_history.emit(to_json(m.messages)),
        p.PinnedProductsUpdated: lambda self, m: self.pinned_changed.emit(m.pinned_products),
        p.CustomerMessageReceived: lambda self, m: self.customer_message.emit(m.to_wire()),
        p.Conversations: lambda self, m: self.conversations.emit(to_json(m.conversations)),
        p.ConversationThread: lambda self, m: self.conversation.emit(
            m.session_id, to_json(m.messages)
        ),
        p.Products: lambda self, m: self.products.emit(to_json(m.products)),
        p.ProductSaved: lambda self, m: self.product_saved.emit(to_json(m.product)),
        p.ProductDeleted: lambda self, m: self.product_deleted.emit(m.product_id),
        p.AdminRegistered: lambda self, m: self.connected.emit(m.user_id),
        p.ChatMessageDeleted: lambda self, m: self.chat_message_deleted.emit(m.id),
        p.ConversationStatus: lambda self, m: self.conversation_status.emit(m.to_wire()),
        p.MediaStats: lambda self, m: self.media_stats.emit(m.stats),
        p.Error: lambda self, m: self.error.emit(m.message),
    }

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

    async def get_conversations(self) -> None:
        await self.request({"type": "get_conversations"})

    async def get_conversation(self, session_id: str) -> None:
        await self.request({"type": "get_conversation", "sessionId": session_id})

    async def reply(self, session_id: str, text: str) -> None:
        """Answer a customer, then fetch the thread and the list again (both changed)."""
        await self.request({"type": "staff_message", "sessionId": session_id, "content": text})
        await self.get_conversation(session_id)
        await self.get_conversations()

    async def resolve(self, session_id: str, resolved: bool) -> None:
        await self.request(
            {"type": "resolve_conversation", "sessionId": session_id, "resolved": resolved}
        )
        await self.get_conversations()

    async def get_media_stats(self) -> None:
        await self.request({"type": "get_media_stats"})

    async def replay_room(self) -> None:
        """Emit the room's current state (pinned strip, chat) for panels just connected.

        A remote station has none to replay: it sees the room from its next update on."""


class LocalBridge(HubBridge):
    """The studio's own admin connection to its in-process hub."""

    def __init__(self, connect: Callable[..., LocalConnection], user_id: str = "studio") -> None:
        """``connect(on_message, name)`` makes the in-process connection
        (``App.connect_local``); the studio registers as admin ``user_id``."""
        super().__init__()
        self.user_id = user_id
        self.connection = connect(self.dispatch, "studio-window")

    async def start(self) -> None:
        await self.connection.register_admin(self.user_id)

    async def replay_room(self) -> None:
        # What a customer gets on joining, so the panels start where the hub is (the studio
        # restarted while live); an admin registration does not send it.
        hub = self.connection.hub
        self.dispatch(p.PinnedProductsUpdated(list(hub.pinned)))
        self.dispatch(p.ChatHistory(list(hub.chat_history)))

    async def request(self, msg: dict[str, Any]) -> None:
        await self.connection.request(msg)

    def stop(self) -> None:
        self.connection.close()


class RemoteBridge(HubBridge):
    """A staff station: the same panels, connected to a studio on another machine."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__()
        self.url = url
        self.token = token
        self._ws: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        from websockets.asyncio.client import connect

        self._ws = await connect(self.url, max_size=2**22)
        await self.request({"type": "register_admin", "token": self.token})
        self._task = asyncio.create_task(self._read(), name="staff-station")

    async def _read(self) -> None:
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
            self.disconnected.emit(str(exc))

    async def request(self, msg: dict[str, Any]) -> None:
        if self._ws is not None:
            await self._ws.send(json.dumps(msg))

    async def stop_async(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._ws is not None:
            await self._ws.close()
