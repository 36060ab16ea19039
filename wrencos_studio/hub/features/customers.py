"""The customer as a person: who is watching since when, the product cards they tap, and
the context staff see beside a support thread (``get_customer_context``)."""

from __future__ import annotations

import asyncio

from wrencos_studio.clock import utc_now_iso
from wrencos_studio.hub import events as ev
from wrencos_studio.hub import protocol as p
from wrencos_studio.hub.engine import (
    CUSTOMER,
    Client,
    Feature,
    Hub,
    StoreJob,
    applies,
    handles,
    replicates,
)
from wrencos_studio.hub.protocol import ProtocolError
from wrencos_studio.store import repositories as repo

__all__ = ["CONTEXT_CHAT_LINES", "TAPS_INTERVAL_S", "Customers"]

#: ``customer_context`` carries at most this many of the customer's chat lines (newest).
CONTEXT_CHAT_LINES = 100
#: ``product_taps_updated`` goes to staff at most 4 times a second: a crowd tapping a
#: card is one repaint per interval, with the latest counts.
TAPS_INTERVAL_S = 0.25


class Customers(Feature):
    """``product_tapped``, ``get_product_taps`` and ``get_customer_context``; presence
    per session on this hub.

    Staff see the pinned cards' taps live: an admin connection that sent
    ``get_product_taps`` gets the figures at once and then, after every tap or pin
    change (on any hub), a ``product_taps_updated``, throttled (leading and trailing) to
    one per ``TAPS_INTERVAL_S`` and counted from the store when it is sent. Connections
    that never asked get nothing (a staff station without the products panel).

    Presence is this hub's: a session is *watching* while one of its connections is open
    here, *since* its first connection here opened. Registering writes nothing (a storm
    of joins must not touch the disk), so the publicIds a session registered under are
    kept in memory while it is here; the store remembers those it wrote or tapped under.
    """

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub)
        self._since: dict[str, str] = {}  # sessionId -> first connection here (ISO)
        self._session_of: dict[int, str] = {}  # connection id -> its sessionId
        self._taps_timer: asyncio.TimerHandle | None = None
        self._taps_watchers: set[Client] = set()  # admin connections that asked
        self._taps_sent_at = -1e9

    # -- presence -------------------------------------------------------------------------

    def session_registered(self, sid: str) -> None:
        """A connection joined session ``sid`` (it is in ``hub.sessions`` already)."""
        group = self.hub.sessions.get(sid)
        if not group:
            return
        if len(group) == 1 or sid not in self._since:
            self._since[sid] = utc_now_iso()
        for client in group:
            previous = self._session_of.get(client.id)
            self._session_of[client.id] = sid
            if previous is not None and previous != sid:
                self._forget_if_gone(previous)

    def disconnected(self, client: Client) -> None:
        self._taps_watchers.discard(client)
        sid = self._session_of.pop(client.id, None)
        if sid is not None:
            self._forget_if_gone(sid)

    def _forget_if_gone(self, sid: str) -> None:
        if sid not in self.hub.sessions:
            self._since.pop(sid, None)

    # -- product cards --------------------------------------------------------------------

    @handles(p.ProductTapped)
    async def product_tapped(self, client: Client, msg: p.ProductTapped) -> None:
        hub = self.hub
        sid = client.session_id
        if client.kind != CUSTOMER or sid is None:
            raise ProtocolError(p.ERR_NOT_REGISTERED)
        stream_id = hub.stream.stream_id if hub.stream is not None else ""
        uid = hub.new_id()
        at = utc_now_iso()
        product_id = str(msg.product_id)
        await hub.store.run(
            repo.add_product_tap, uid, stream_id, sid, client.public_id, product_id, at
        )
        hub.emit(ev.ProductTapped(uid, stream_id, sid, client.public_id, product_id, at))

    @replicates(ev.ProductTapped)
    def _copy_tap(self, event: ev.ProductTapped) -> StoreJob:
        return (
            repo.add_product_tap,
            event.uid,
            event.stream_id,
            event.session_id,
            event.public_id,
            event.product_id,
            event.at,
        )

    @applies(ev.ProductTapped)
    def _tapped(self, event: ev.ProductTapped) -> None:
        self.taps_changed()

    # -- taps per pinned product, live, for staff -------------------------------------------

    @handles(p.GetProductTaps)
    async def get_product_taps(self, client: Client, msg: p.GetProductTaps) -> None:
        self._taps_watchers.add(client)
        self.hub.send(client, await self._taps_message())

    def taps_changed(self) -> None:
        """A tap, a pin change or a stream start: staff get the new figures soon (at
        most one ``product_taps_updated`` per ``TAPS_INTERVAL_S``)."""
        if self._taps_timer is not None or not self._taps_watchers:
            return
        loop = asyncio.get_running_loop()
        wait = self._taps_sent_at + TAPS_INTERVAL_S - loop.time()
        self._taps_timer = loop.call_later(max(0.0, wait), self._send_taps)

    def _send_taps(self) -> None:
        self._taps_timer = None
        self._taps_sent_at = asyncio.get_running_loop().time()
        self.hub.spawn(self._broadcast_taps())

    async def _broadcast_taps(self) -> None:
        message = await self._taps_message()
        # Still admins: a connection that registered as a customer since gets nothing.
        self.hub.broadcast(message, to=self._taps_watchers & self.hub.admins)

    async def _taps_message(self) -> p.ProductTapsUpdated:
        stream = self.hub.stream
        stream_id = stream.stream_id if stream is not None else None
        pins = await self.hub.store.run(repo.pinned_taps, stream_id)
        return p.ProductTapsUpdated(stream_id, pins)

    def flush(self) -> None:
        if self._taps_timer is not None:
            self._taps_timer.cancel()
            self._taps_timer = None

    # -- the context panel ----------------------------------------------------------------

    @handles(p.GetCustomerContext)
    async def get_customer_context(self, client: Client, msg: p.GetCustomerContext) -> None:
        hub = self.hub
        sid = msg.session_id
        group = hub.sessions.get(sid, set())
        # The newest connection's identity first: a customer with a user token chats
        # and likes as that user, not as the session.
        live_ids = [c.public_id for c in sorted(group, key=lambda c: -c.id) if c.public_id]
        anonymous = hub.public_id(f"session:{sid}")
        stream = hub.stream
        stream_id = stream.stream_id if stream is not None else None
        facts = await hub.store.run(
            repo.customer_facts,
            sid,
            stream_id,
            list(dict.fromkeys([*live_ids, anonymous])),
            CONTEXT_CHAT_LINES,
        )
        stream = hub.stream if hub.stream is stream else None
        liked = stream is not None and any(i in stream.liked_by for i in facts.public_ids)
        stored = [i for i in facts.public_ids if i not in live_ids and i != anonymous]
        # Who they are now; away: the identity they wrote or tapped under, if any.
        public_id = live_ids[0] if live_ids else (stored[0] if stored else anonymous)
        hub.send(
            client,
            p.CustomerContext(
                session_id=sid,
                customer_name=facts.customer_name,
                watching=bool(group),
                since=self._since.get(sid) if group else None,
                public_id=public_id,
                stream_id=stream_id,
                chat=facts.chat,
                liked=liked,
                tapped=facts.tapped,
            ),
        )
