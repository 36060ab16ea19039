"""The one place hub events become Qt signals: the window is a client of the hub.

In the studio the bridge is an in-process admin connection of the hub (a ``Sink``);
on a staff station it is a WebSocket client of a studio elsewhere. Either way the
panels see the same signals and call the same typed helpers (``send_chat``,
``pin_products``, ``reply``, …), which build the protocol's messages in this one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any, ClassVar

from PySide6.QtCore import QObject, Signal

from wrencos_studio.hub.core import Hub, Outgoing

__all__ = ["HubBridge", "LocalBridge", "RemoteBridge"]

log = logging.getLogger(__name__)


class HubBridge(QObject):
    """Signals for what the panels show; ``request`` for what they do."""

    message = Signal(dict)  # every message, for anything not covered below
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

    _ROUTES: ClassVar[dict[str, Callable[[HubBridge, dict[str, Any]], None]]] = {
        "stream_started": lambda self, m: self.stream_started.emit(m["streamData"]),
        "stream_stopped": lambda self, m: self.stream_stopped.emit(m.get("streamId", "")),
        "stream_update": lambda self, m: self.figures_changed.emit(
            int(m.get("viewerCount", 0)), int(m.get("likes", 0))
        ),
        "chat_message": lambda self, m: self.chat_message.emit(m),
        "chat_history": lambda self, m: self.chat_history.emit(m.get("messages", [])),
        "pinned_products_updated": lambda self, m: self.pinned_changed.emit(
            m.get("pinnedProducts", [])
        ),
        "customer_message": lambda self, m: self.customer_message.emit(m),
        "conversations": lambda self, m: self.conversations.emit(m.get("conversations", [])),
        "conversation": lambda self, m: self.conversation.emit(
            m.get("sessionId", ""), m.get("messages", [])
        ),
        "products": lambda self, m: self.products.emit(m.get("products", [])),
        "product_saved": lambda self, m: self.product_saved.emit(m.get("product", {})),
        "product_deleted": lambda self, m: self.product_deleted.emit(m.get("productId", "")),
        "admin_registered": lambda self, m: self.connected.emit(str(m.get("userId", ""))),
        "chat_message_deleted": lambda self, m: self.chat_message_deleted.emit(
            str(m.get("id", ""))
        ),
        "conversation_status": lambda self, m: self.conversation_status.emit(m),
        "media_stats": lambda self, m: self.media_stats.emit(m.get("stats") or {}),
        "error": lambda self, m: self.error.emit(str(m.get("message", ""))),
    }

    def dispatch(self, msg: dict[str, Any]) -> None:
        self.message.emit(msg)
        route = self._ROUTES.get(msg.get("type", ""))
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

    def __init__(self, hub: Hub, token: str) -> None:
        super().__init__()
        self.hub = hub
        self.token = token
        self.client = hub.connect(self, "studio-window")
        self.client.trusted = True

    # The Sink protocol: the hub delivers here.
    def deliver(self, message: Outgoing) -> bool:
        self.dispatch(json.loads(message.payload))
        return True

    async def confirm(self) -> bool:
        return True

    async def start(self) -> None:
        await self.request({"type": "register_admin", "token": self.token})

    async def replay_room(self) -> None:
        # What a customer gets on joining, so the panels start where the hub is (the studio
        # restarted while live); an admin registration does not send it.
        self.dispatch({"type": "pinned_products_updated", "pinnedProducts": self.hub.pinned})
        self.dispatch({"type": "chat_history", "messages": list(self.hub.chat_history)})

    async def request(self, msg: dict[str, Any]) -> None:
        await self.hub.handle(self.client, json.dumps(msg))

    def stop(self) -> None:
        self.hub.disconnect(self.client)


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
                with contextlib.suppress(ValueError):
                    self.dispatch(json.loads(raw))
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
