"""Customer support: private conversations, staff replies delivered even to customers
who were away (a reply counts as delivered only once a connection proves it read it),
and every staff member kept in step (``conversation_updated`` on any change)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time

from wrencos_studio.clock import utc_now_iso
from wrencos_studio.hub import events as ev
from wrencos_studio.hub import protocol as p
from wrencos_studio.hub.engine import (
    CUSTOMER,
    Client,
    Feature,
    Hub,
    Outgoing,
    StoreJob,
    applies,
    handles,
    replicates,
)
from wrencos_studio.hub.protocol import ProtocolError
from wrencos_studio.store import repositories as repo
from wrencos_studio.store.rows import PendingReply

__all__ = [
    "CONVERSATIONS_PAGE",
    "THREAD_PAGE",
    "TYPING_RELAY_S",
    "Support",
    "default_customer_name",
]

#: Default page sizes of the inbox list and a thread (Trust rules, rule 6).
CONVERSATIONS_PAGE = 50
THREAD_PAGE = 100
#: No frame to a customer is larger.
FRAME_MAX_BYTES = 64 * 1024
#: A connection's ``typing``/``staff_typing`` is passed on at most this often (s); the
#: rest are dropped quietly (pages send one every 3 s while typing; the indicator shows
#: for ``outbound.TYPING_SHOWN_MS``).
TYPING_RELAY_S = 1.0
#: Names of the customers who wrote, kept for ``customer_typing`` (at most this many).
NAMES_KEPT = 10_000
#: ``nextCursor`` is opaque to clients; here it is a position in the inbox order.
CURSOR_PREFIX = "c"


def _cursor_position(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    digits = cursor.removeprefix(CURSOR_PREFIX)
    if not cursor.startswith(CURSOR_PREFIX) or not digits.isdigit() or len(digits) > 18:
        raise ProtocolError(p.ERR_INVALID)
    return int(digits)


def default_customer_name(sid: str) -> str:
    """The name a conversation gets until the customer gives one."""
    return f"Customer #{sid[-5:]}"


class Support(Feature):
    """``customer_message``, ``staff_message``, the inbox, and delivery of replies."""

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub)
        #: connection id -> conversation -> when its last typing there was passed on
        #: (monotonic seconds): a staff member answering two customers types in both.
        self._typing_at: dict[int, dict[str, float]] = {}
        #: sessionId -> the name its customer last wrote under (for ``customer_typing``).
        self._names: dict[str, str] = {}

    def load(self) -> None:
        store = self.hub.store
        for sid in store.run_sync(repo.sessions_with_undelivered):
            self.hub.pending_replies[sid] = store.run_sync(repo.undelivered_replies, sid)

    # -- every staff member in step ---------------------------------------------------------

    def announce(self, sid: str) -> None:
        """Tell every admin connection here how conversation ``sid`` stands now.

        Each hub reads its own copy: the read is queued behind the write (or replica
        write) of the change, and the store answers in order, so what admins see is what
        is stored, and updates leave in the order the changes were made."""
        if self.hub.admins:
            self.hub.spawn(self._announce(sid))

    async def _announce(self, sid: str) -> None:
        hub = self.hub
        summary = await hub.store.run(repo.conversation_summary, sid)
        if summary is not None:
            hub.broadcast(p.ConversationUpdated(summary), to=hub.admins)

    # -- customers write ----------------------------------------------------------------

    @handles(p.CustomerMessage)
    async def customer_message(self, client: Client, msg: p.CustomerMessage) -> None:
        hub = self.hub
        # The registered connection's own conversation; a sessionId in the message is
        # ignored (Trust rules, rule 1).
        sid = client.session_id
        if client.kind != CUSTOMER or sid is None:
            raise ProtocolError(p.ERR_NOT_REGISTERED)
        at = utc_now_iso()
        uid = hub.new_id()
        product_id = None if msg.product_id is None else str(msg.product_id)
        name = await hub.store.run(
            repo.add_customer_message,
            uid,
            sid,
            msg.customer_name or None,
            default_customer_name(sid),
            msg.message,
            at,
            product_id,
            client.public_id,
        )
        origin = f"{hub.node_id}:{client.id}"
        hub.emit(
            ev.CustomerWrote(uid, sid, msg.message, name, at, product_id, client.public_id, origin)
        )

    @replicates(ev.CustomerWrote)
    def _copy_customer(self, event: ev.CustomerWrote) -> StoreJob:
        return (
            repo.add_customer_message,
            event.uid,
            event.session_id,
            event.customer_name,
            event.customer_name,
            event.message,
            event.timestamp,
            event.product_id,
            event.public_id,
        )

    @applies(ev.CustomerWrote)
    def _customer_wrote(self, event: ev.CustomerWrote) -> None:
        hub = self.hub
        if len(self._names) >= NAMES_KEPT:  # a cache: the default name is a fine fallback
            self._names.clear()
        self._names[event.session_id] = event.customer_name
        hub.broadcast(
            p.CustomerMessageReceived(
                event.session_id,
                event.message,
                event.customer_name,
                event.timestamp,
                event.uid,
                event.product_id,
            ),
            to=hub.admins,
        )
        # The session's other tabs (on any hub) show the question too.
        tabs = [
            c
            for c in hub.sessions.get(event.session_id, ())
            if f"{hub.node_id}:{c.id}" != event.origin
        ]
        if tabs:
            hub.broadcast(
                p.MyMessage(event.message, event.timestamp, event.uid, event.product_id), to=tabs
            )
        self.announce(event.session_id)

    # -- staff answer ---------------------------------------------------------------------

    @handles(p.StaffMessage)
    async def staff_message(self, client: Client, msg: p.StaffMessage) -> None:
        hub = self.hub
        text = msg.text  # cleaned; a text with nothing visible was refused as empty
        if text is None:
            raise ProtocolError(p.ERR_INVALID)
        sid = msg.session_id
        at = utc_now_iso()
        uid = hub.new_id()
        staff = client.user_id or ""
        await hub.store.run(
            repo.add_staff_message, uid, sid, staff, default_customer_name(sid), text, at
        )
        hub.emit(ev.StaffReplied(uid, sid, text, at, staff))

    @replicates(ev.StaffReplied)
    def _copy_reply(self, event: ev.StaffReplied) -> StoreJob:
        return (
            repo.add_staff_message,
            event.uid,
            event.session_id,
            event.staff_user_id,
            default_customer_name(event.session_id),
            event.message,
            event.timestamp,
        )

    @applies(ev.StaffReplied)
    def _staff_replied(self, event: ev.StaffReplied) -> None:
        hub = self.hub
        sid = event.session_id
        self.announce(sid)
        reply = PendingReply(event.uid, event.message, event.timestamp)
        pending = hub.pending_replies.setdefault(sid, [])
        if any(r.uid == reply.uid for r in pending):
            return
        pending.append(reply)
        clients = list(hub.sessions.get(sid, ()))
        if hub.send_to_session(sid, _reply_message(reply)):
            self._confirm_delivery(sid, [reply.uid], clients)

    # -- delivery -------------------------------------------------------------------------

    def deliver_pending(self, sid: str) -> None:
        """Send a returning customer every reply it has not confirmed, oldest first.

        Called on every ``register``, once the connection joined its session."""
        hub = self.hub
        hub.feature(Customers).session_registered(sid)
        pending = hub.pending_replies.get(sid)
        if not pending:
            return
        clients = list(hub.sessions.get(sid, ()))
        for reply in pending:
            hub.send_to_session(sid, _reply_message(reply))
        self._confirm_delivery(sid, [r.uid for r in pending], clients)

    def _confirm_delivery(self, sid: str, uids: list[str], clients: list[Client]) -> None:
        """A reply counts as delivered once a connection proves it read it (ping/pong),
        not when it was queued: a half-open connection must not swallow it."""
        if clients:
            self.hub.spawn(self._await_confirmation(sid, uids, clients))

    async def _await_confirmation(self, sid: str, uids: list[str], clients: list[Client]) -> None:
        # The first tab that proves it read the reply is enough.
        confirmations = [asyncio.ensure_future(c.sink.confirm()) for c in clients]
        confirmed = False
        try:
            for next_done in asyncio.as_completed(confirmations):
                with contextlib.suppress(Exception):
                    if await next_done:
                        confirmed = True
                        break
        finally:
            for task in confirmations:
                task.cancel()
        if not confirmed:
            return  # stays pending; sent again when the customer registers
        at = utc_now_iso()
        await self.hub.store.run(repo.mark_delivered, uids, at)
        self.hub.emit(ev.RepliesDelivered(sid, uids, at))

    @replicates(ev.RepliesDelivered)
    def _copy_delivered(self, event: ev.RepliesDelivered) -> StoreJob:
        return (repo.mark_delivered, event.uids, event.at)

    @applies(ev.RepliesDelivered)
    def _delivered(self, event: ev.RepliesDelivered) -> None:
        pending_by_session = self.hub.pending_replies
        pending = pending_by_session.get(event.session_id)
        if pending is not None:
            done = set(event.uids)
            pending[:] = [r for r in pending if r.uid not in done]
            if not pending:
                del pending_by_session[event.session_id]

    # -- the inbox ------------------------------------------------------------------------

    @handles(p.ResolveConversation)
    async def resolve_conversation(self, client: Client, msg: p.ResolveConversation) -> None:
        hub = self.hub
        status = "resolved" if msg.resolved else "open"
        if not await hub.store.run(repo.set_conversation_status, msg.session_id, status):
            hub.send(client, p.ConversationStatus(msg.session_id, None))
            return
        hub.emit(ev.ConversationStatusChanged(msg.session_id, status))

    @replicates(ev.ConversationStatusChanged)
    def _copy_status(self, event: ev.ConversationStatusChanged) -> StoreJob:
        return (repo.set_conversation_status, event.session_id, event.status)

    @applies(ev.ConversationStatusChanged)
    def _status_changed(self, event: ev.ConversationStatusChanged) -> None:
        self.hub.broadcast(p.ConversationStatus(event.session_id, event.status), to=self.hub.admins)
        self.announce(event.session_id)

    @handles(p.MarkConversationRead)
    async def mark_conversation_read(self, client: Client, msg: p.MarkConversationRead) -> None:
        hub = self.hub
        at = utc_now_iso()
        if await hub.store.run(repo.mark_conversation_read, msg.session_id, at):
            hub.emit(ev.ConversationRead(msg.session_id, at))

    @replicates(ev.ConversationRead)
    def _copy_read(self, event: ev.ConversationRead) -> StoreJob:
        return (repo.mark_conversation_read, event.session_id, event.at)

    @applies(ev.ConversationRead)
    def _read(self, event: ev.ConversationRead) -> None:
        self.announce(event.session_id)

    @handles(p.GetConversations)
    async def get_conversations(self, client: Client, msg: p.GetConversations) -> None:
        before = _cursor_position(msg.before)
        limit = int(msg.limit) if msg.limit is not None else CONVERSATIONS_PAGE
        rows, next_at = await self.hub.store.run(
            repo.list_conversations, limit, before, msg.search or None, msg.status_filter
        )
        cursor = None if next_at is None else f"{CURSOR_PREFIX}{next_at}"
        self.hub.send(client, p.Conversations(rows, next_at is not None, cursor))

    @handles(p.GetConversation)
    async def get_conversation(self, client: Client, msg: p.GetConversation) -> None:
        limit = int(msg.limit) if msg.limit is not None else THREAD_PAGE
        rows, more = await self.hub.store.run(
            repo.conversation_messages, msg.session_id, limit, msg.before
        )
        self.hub.send(client, p.ConversationThread(msg.session_id, rows, more))

    @handles(p.GetMyConversation)
    async def get_my_conversation(self, client: Client, msg: p.GetMyConversation) -> None:
        hub = self.hub
        if client.kind != CUSTOMER or client.session_id is None:
            raise ProtocolError(p.ERR_NOT_AUTHORIZED)
        sid = client.session_id
        rows, more = await hub.store.run(repo.conversation_messages, sid, THREAD_PAGE)
        # Which staff member answered is for staff; the customer sees "the shop".
        rows = [dataclasses.replace(r, staff_user_id=None, seen_at=None) for r in rows]
        out = Outgoing(p.MyConversation(rows, more))
        while len(out.payload) > FRAME_MAX_BYTES and rows:  # a customer frame: <= 64 KiB
            rows = rows[1:]
            out = Outgoing(p.MyConversation(rows, True))
        hub.send(client, out)
        # Everything in it has now been read by this connection: nothing is pending.
        pending = hub.pending_replies.get(sid)
        if pending:
            self._confirm_delivery(sid, [r.uid for r in pending], [client])

    # -- live feel: typing, "seen", canned replies (issue 12) -----------------------------

    def disconnected(self, client: Client) -> None:
        """Forget when the closed connection last typed."""
        self._typing_at.pop(client.id, None)

    def _typing_allowed(self, client: Client, sid: str) -> bool:
        """At most one typing a second per connection and conversation is passed on
        (the server's limit; the clients' own is one per 3 s). The conversations a
        connection typed in are bounded by its ``general`` rate bucket; entries older
        than the interval are dropped as new ones come."""
        now = time.monotonic()
        times = self._typing_at.setdefault(client.id, {})
        last = times.get(sid)
        if last is not None and now - last < TYPING_RELAY_S:
            return False
        if len(times) > 16:  # forget conversations typed in more than a second ago
            for old in [k for k, at in times.items() if now - at >= TYPING_RELAY_S]:
                del times[old]
        times[sid] = now
        return True

    @handles(p.Typing)
    async def typing(self, client: Client, msg: p.Typing) -> None:
        sid = client.session_id
        if client.kind != CUSTOMER or sid is None:
            raise ProtocolError(p.ERR_NOT_REGISTERED)
        if not self._typing_allowed(client, sid):
            return
        name = msg.customer_name or self._names.get(sid) or default_customer_name(sid)
        self.hub.emit(ev.CustomerTyping(sid, name))

    @applies(ev.CustomerTyping)
    def _customer_typing(self, event: ev.CustomerTyping) -> None:
        hub = self.hub
        if hub.admins:
            hub.broadcast(p.CustomerIsTyping(event.session_id, event.customer_name), to=hub.admins)

    @handles(p.StaffTyping)
    async def staff_typing(self, client: Client, msg: p.StaffTyping) -> None:
        if not self._typing_allowed(client, msg.session_id):
            return
        origin = f"{self.hub.node_id}:{client.id}"
        self.hub.emit(ev.StaffTyping(msg.session_id, client.user_id or "", origin))

    @applies(ev.StaffTyping)
    def _staff_typing(self, event: ev.StaffTyping) -> None:
        hub = self.hub
        hub.send_to_session(event.session_id, p.ShopIsTyping())
        others = [a for a in hub.admins if f"{hub.node_id}:{a.id}" != event.origin]
        if others:
            hub.broadcast(p.StaffIsTyping(event.session_id, event.staff_user_id), to=others)

    @handles(p.ReplySeen)
    async def reply_seen(self, client: Client, msg: p.ReplySeen) -> None:
        sid = client.session_id
        if client.kind != CUSTOMER or sid is None:
            raise ProtocolError(p.ERR_NOT_REGISTERED)
        at = utc_now_iso()
        seen_at = await self.hub.store.run(repo.mark_replies_seen, sid, msg.id, at)
        # Not a staff reply of this conversation, or seen before (another tab): no news.
        if seen_at == at:
            self.hub.emit(ev.RepliesSeen(sid, msg.id, at))

    @replicates(ev.RepliesSeen)
    def _copy_seen(self, event: ev.RepliesSeen) -> StoreJob:
        return (repo.mark_replies_seen, event.session_id, event.uid, event.at)

    @applies(ev.RepliesSeen)
    def _seen(self, event: ev.RepliesSeen) -> None:
        hub = self.hub
        if hub.admins:
            hub.broadcast(p.RepliesSeen(event.session_id, event.uid, event.at), to=hub.admins)

    @handles(p.GetCannedReplies)
    async def get_canned_replies(self, client: Client, msg: p.GetCannedReplies) -> None:
        replies = await self.hub.store.run(repo.canned_replies)
        self.hub.send(client, p.CannedReplies(replies))

    @handles(p.SaveCannedReply)
    async def save_canned_reply(self, client: Client, msg: p.SaveCannedReply) -> None:
        at = utc_now_iso()
        job = (repo.save_canned_reply, msg.shortcut, msg.text, at, client.user_id, msg.previous)
        if not await self.hub.store.run(*job):
            raise ProtocolError(p.ERR_CANNED_FULL)
        self.hub.emit(
            ev.CannedRepliesChanged(msg.shortcut, msg.text, at, client.user_id, msg.previous)
        )

    @handles(p.DeleteCannedReply)
    async def delete_canned_reply(self, client: Client, msg: p.DeleteCannedReply) -> None:
        await self.hub.store.run(repo.delete_canned_reply, msg.shortcut)
        # Deleting one that is gone still answers: everyone gets the list as it is.
        self.hub.emit(ev.CannedRepliesChanged(msg.shortcut, None, utc_now_iso(), client.user_id))

    @replicates(ev.CannedRepliesChanged)
    def _copy_canned(self, event: ev.CannedRepliesChanged) -> StoreJob:
        if event.text is None:
            return (repo.delete_canned_reply, event.shortcut)
        return (
            repo.save_canned_reply,
            event.shortcut,
            event.text,
            event.at,
            event.by,
            event.previous,
        )

    @applies(ev.CannedRepliesChanged)
    def _canned_changed(self, event: ev.CannedRepliesChanged) -> None:
        if self.hub.admins:
            self.hub.spawn(self._send_canned())

    async def _send_canned(self) -> None:
        # Read behind the write (the store answers in order): the list as stored.
        hub = self.hub
        replies = await hub.store.run(repo.canned_replies)
        hub.broadcast(p.CannedReplies(replies), to=hub.admins)


def _reply_message(reply: PendingReply) -> p.StaffReply:
    return p.StaffReply(reply.message, reply.timestamp, reply.uid)


from wrencos_studio.hub.features.customers import Customers  # noqa: E402
