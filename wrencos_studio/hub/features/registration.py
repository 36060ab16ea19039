"""Registration: a customer by sessionId (``register``), staff by JWT (``register_admin``)."""

from __future__ import annotations

import logging

from wrencos_studio.hub import protocol as p
from wrencos_studio.hub.auth import STAFF_ROLES, AuthError, verify_token
from wrencos_studio.hub.engine import ADMIN, CUSTOMER, Client, Feature, handles
from wrencos_studio.hub.protocol import ProtocolError

__all__ = ["Registration"]

log = logging.getLogger(__name__)


class Registration(Feature):
    """Who a connection is; a returning customer gets the live state and pending replies."""

    @handles(p.Register)
    async def register(self, client: Client, msg: p.Register) -> None:
        hub = self.hub
        user_id: str | None = None
        if msg.token:
            try:
                user_id = verify_token(msg.token, hub.settings.jwt_secret).user_id
            except AuthError:
                user_id = None  # an optional token that fails just means anonymous
        with self._stream().hold_updates():
            self._register(client, msg.session_id, user_id)

    def _register(self, client: Client, sid: str, user_id: str | None) -> None:
        hub = self.hub
        if client.kind == ADMIN:
            hub.admins.discard(client)
            if client.peer_type == ADMIN:
                self._signalling().drop_peer(client)
        if client.kind == CUSTOMER and client.session_id != sid:
            self.detach_session(client)
        client.kind = CUSTOMER
        client.role = None
        client.session_id = sid
        client.user_id = user_id
        client.like_identity = f"user:{user_id}" if user_id else f"session:{sid}"
        client.public_id = hub.public_id(client.like_identity)
        group = hub.sessions.get(sid)
        first = group is None
        if group is None:
            group = hub.sessions[sid] = set()
        group.add(client)
        hub.registered.add(client)
        hub.send(client, p.Registered(sid, "connected", client.public_id))
        # The count includes this session, which is counted (and announced to everyone
        # with stream_update) once it has its join messages.
        self._send_room(client, extra_viewer=first)
        self._support().deliver_pending(sid)
        if first:
            hub.count_session(sid, +1)

    @handles(p.RegisterAdmin)
    async def register_admin(self, client: Client, msg: p.RegisterAdmin) -> None:
        hub = self.hub
        if not msg.token:
            raise ProtocolError(p.ERR_TOKEN_REQUIRED)
        try:
            identity = verify_token(msg.token, hub.settings.jwt_secret)
            if identity.role not in STAFF_ROLES:
                raise AuthError(f"role {identity.role!r} may not open an admin connection")
        except AuthError as exc:
            log.info("register_admin refused from %s: %s", client.remote, exc)
            if client.kind == ADMIN:  # a failed re-registration drops every privilege
                hub.admins.discard(client)
                hub.registered.discard(client)
                client.kind = None
                client.role = None
                client.user_id = None
                client.like_identity = None
                client.public_id = None
                if client.peer_type == ADMIN:
                    self._signalling().drop_peer(client)
            raise ProtocolError(p.ERR_AUTH_FAILED) from None
        if client.kind == CUSTOMER:
            self.detach_session(client)
        client.kind = ADMIN
        client.role = identity.role
        client.user_id = identity.user_id
        client.like_identity = f"user:{identity.user_id}"
        client.public_id = hub.public_id(client.like_identity)
        hub.admins.add(client)
        hub.registered.add(client)
        hub.send(client, p.AdminRegistered(identity.user_id, "connected", identity.role))

    @handles(p.GetRoom)
    async def get_room(self, client: Client, msg: p.GetRoom) -> None:
        # A station (or the studio after a restart) starts with what a joining customer
        # gets, instead of blind until the next change; admin_registered stays the seed's.
        self._send_room(client)

    def _send_room(self, client: Client, extra_viewer: bool = False) -> None:
        """While live: ``stream_started``, the pins, the chat history and slow mode."""
        hub = self.hub
        stream = hub.stream
        if stream is None:
            return
        count = hub.viewer_count + int(extra_viewer)
        hub.send(client, p.StreamStarted(stream.data(count, client.public_id)))
        hub.send(client, p.PinnedProductsUpdated(hub.pinned))
        hub.send(client, self._chat().history_message())
        if stream.slow_mode_s:
            hub.send(client, p.ChatSettings(stream.slow_mode_s))

    def detach_session(self, client: Client) -> None:
        """``client`` no longer belongs to its customer session (the last one counts)."""
        sid = client.session_id
        if sid is None:
            return
        group = self.hub.sessions.get(sid)
        if group is not None:
            group.discard(client)
            if not group:
                del self.hub.sessions[sid]
                self.hub.count_session(sid, -1)
        client.session_id = None

    def disconnected(self, client: Client) -> None:
        if client.kind == CUSTOMER:
            self.detach_session(client)

    def _signalling(self) -> Signalling:
        return self.hub.feature(Signalling)

    def _support(self) -> Support:
        return self.hub.feature(Support)

    def _stream(self) -> Stream:
        return self.hub.feature(Stream)

    def _chat(self) -> Chat:
        return self.hub.feature(Chat)


from wrencos_studio.hub.features.chat import Chat  # noqa: E402
from wrencos_studio.hub.features.signalling import Signalling  # noqa: E402
from wrencos_studio.hub.features.stream import Stream  # noqa: E402
from wrencos_studio.hub.features.support import Support  # noqa: E402
