"""In-process connections to the hub (the studio window, the broadcaster): typed both ways.

A :class:`LocalConnection` is a hub client like a WebSocket one, with the same access
rules and validation, but nothing is turned into JSON text: requests go in as JSON-shaped
dicts (validated by the message's spec), and the hub's messages come out as the typed
``protocol.outbound`` objects. It is *trusted* (no rate limits): it is part of this
program.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from wrencos_studio.hub import protocol as p
from wrencos_studio.hub.auth import mint_token
from wrencos_studio.hub.engine import Hub, Outgoing
from wrencos_studio.hub.protocol import OutboundMessage, ProtocolError

__all__ = ["LocalConnection"]

#: A staff token for an in-process connection lasts as long as the process could.
_LOCAL_TOKEN_TTL_S = 10 * 365 * 86400


class LocalConnection:
    """One in-process client of ``hub``; ``on_message`` gets every message for it, in order.

    Without ``receiver_loop`` (the broadcaster) ``on_message`` runs inside the hub's send,
    on the hub's loop. With it (the studio window) messages are handed over on *that* loop
    in batches — one ``call_soon_threadsafe`` per batch, the queue swapped under a lock —
    so the customers after this connection in a broadcast never wait for a repaint, and
    the window's code never runs on the hub's thread. ``receiver_loop`` may be the hub's
    own loop: the messages then arrive together on its next tick."""

    def __init__(
        self,
        hub: Hub,
        on_message: Callable[[OutboundMessage], None],
        name: str,
        *,
        receiver_loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.hub = hub
        self.name = name
        self._on_message = on_message
        self.client = hub.connect(self, name)
        self.client.trusted = True
        self._open = True
        self._closed = False
        self._receiver_loop = receiver_loop
        self._queue: list[OutboundMessage] = []
        self._lock = threading.Lock()

    # The Sink protocol: the hub delivers here.
    def deliver(self, message: Outgoing) -> bool:
        if not self._open:
            return False
        msg = message.message
        typed = msg if isinstance(msg, OutboundMessage) else _parsed(msg)
        if self._receiver_loop is None:
            self._on_message(typed)
            return True
        with self._lock:
            first = not self._queue
            self._queue.append(typed)
        if first:
            try:
                self._receiver_loop.call_soon_threadsafe(self._hand_over)
            except RuntimeError:  # the receiver's loop is closed: it is gone
                return False
        return True

    def _hand_over(self) -> None:
        with self._lock:
            queue, self._queue = self._queue, []
        if self._open:
            for message in queue:
                self._on_message(message)

    async def confirm(self) -> bool:
        return self._open

    async def register_admin(self, user_id: str, role: str = "admin") -> None:
        """Register as staff ``user_id`` with a token this process mints for itself."""
        token = mint_token(self.hub.settings.jwt_secret, user_id, role, _LOCAL_TOKEN_TTL_S)
        await self.request({"type": "register_admin", "token": token})

    async def request(self, message: dict[str, Any]) -> None:
        """Send one client -> server message (its JSON object); the hub's answer, or an
        ``error``, arrives through ``on_message`` like any other message."""
        spec = p.MESSAGES.get(message.get("type", ""))
        if spec is None:
            self.hub.error(self.client, p.ERR_UNKNOWN_TYPE)
            return
        await self.hub.handle_object(self.client, spec, message)

    def detach(self) -> None:
        """From the receiver's own thread: nothing more reaches ``on_message`` from now on
        (messages already queued are dropped); :meth:`close` must still follow, on the
        hub's loop."""
        self._open = False

    def close(self) -> None:
        """Leave the hub (as a closed WebSocket would). On the hub's loop."""
        self._open = False
        if not self._closed:
            self._closed = True
            self.hub.disconnect(self.client)


def _parsed(obj: dict[str, Any]) -> OutboundMessage:
    message = p.parse(obj)
    if message is None:
        raise ProtocolError(f"unknown outbound message {obj.get('type')!r}")
    return message
