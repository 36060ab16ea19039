"""The one place hub events become Qt signals: the window is a client of the hub.

In the studio the bridge is an in-process admin connection of the hub (a ``Sink``);
on a staff station it is a WebSocket client of a studio elsewhere. Either way the
panels see the same signals and call the same ``request()``.
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
        "error": lambda self, m: self.error.emit(str(m.get("message", ""))),
    }

    def dispatch(self, msg: dict[str, Any]) -> None:
        self.message.emit(msg)
        route = self._ROUTES.get(msg.get("type", ""))
        if route is not None:
            route(self, msg)

    async def request(self, msg: dict[str, Any]) -> None:
        raise NotImplementedError


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
