"""The customer as a person: who is watching since when, the product cards they tap, and
the context staff see beside a support thread (``get_customer_context``)."""

from __future__ import annotations

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

__all__ = ["CONTEXT_CHAT_LINES", "Customers"]

#: ``customer_context`` carries at most this many of the customer's chat lines (newest).
CONTEXT_CHAT_LINES = 100


class Customers(Feature):
    """``product_tapped`` and ``get_customer_context``; presence per session on this hub.

    Presence is this hub's: a session is *watching* while one of its connections is open
    here, *since* its first connection here opened. Registering writes nothing (a storm
    of joins must not touch the disk), so the publicIds a session registered under are
    kept in memory while it is here; the store remembers those it wrote or tapped under.
    """

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub)
        self._since: dict[str, str] = {}  # sessionId -> first connection here (ISO)
        self._session_of: dict[int, str] = {}  # connection id -> its sessionId

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
        """Nothing to show live: staff read taps with ``get_customer_context``."""

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
