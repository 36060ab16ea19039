"""WebRTC signalling: peers, the broadcaster, and relayed offers, answers and candidates."""

from __future__ import annotations

from typing import Any

from wrencos_studio.hub import events as ev
from wrencos_studio.hub import protocol as p
from wrencos_studio.hub.broker import Snapshot
from wrencos_studio.hub.engine import ADMIN, CUSTOMER, Client, Feature, applies, handles
from wrencos_studio.hub.protocol import ProtocolError

__all__ = ["Signalling"]


class Signalling(Feature):
    """Customers reach only staff peers. A peerId belongs to the connection that
    registered it until that connection closes or registers another (Trust rules,
    rule 3): nobody can take it over, and a connection holds one peer."""

    async def join(self, snapshot: Snapshot | None) -> None:
        if snapshot is not None and snapshot.broadcaster:
            self.hub.broadcaster_peer = snapshot.broadcaster

    @handles(p.WebrtcRegister)
    async def webrtc_register(self, client: Client, msg: p.WebrtcRegister) -> None:
        hub = self.hub
        peer_id = msg.peer_id
        # Ownership first, before any role check: an id another open connection holds
        # (here or on another hub), or the broadcaster's, is taken.
        holder = hub.peers.get(peer_id)
        if holder is not None and holder is not client:
            raise ProtocolError(p.ERR_PEER_TAKEN)
        if holder is None:
            if peer_id == hub.broadcaster_peer and client.peer_id != peer_id:
                raise ProtocolError(p.ERR_PEER_TAKEN)
            remote = await hub.broker.peer_owner(peer_id)
            if remote is not None and remote[0] != hub.node_id:
                raise ProtocolError(p.ERR_PEER_TAKEN)
        user_type = ADMIN if msg.user_type == ADMIN else CUSTOMER
        if user_type == ADMIN and not client.is_admin:
            raise ProtocolError(p.ERR_NOT_AUTHORIZED)
        if hub.peers.get(peer_id) not in (None, client):
            raise ProtocolError(p.ERR_PEER_TAKEN)  # taken while we asked the other hubs
        if client.peer_id is not None and client.peer_id != peer_id:
            self.drop_peer(client)  # one peer per connection: the old one is released
        client.peer_id = peer_id
        client.peer_type = user_type
        hub.peers[peer_id] = client
        await hub.broker.register_peer(peer_id, user_type)
        hub.send(client, p.WebrtcRegistered(peer_id, user_type))
        if user_type == CUSTOMER and hub.broadcaster_peer is not None:
            hub.send(client, p.WebrtcBroadcasterAvailable(hub.broadcaster_peer))
            await self._send_to_peer(hub.broadcaster_peer, p.WebrtcNewCustomer(peer_id))

    async def _locate_peer(self, peer_id: str) -> tuple[str, str] | None:
        """(node, peer type) of a peer on this hub or, with other hubs, on another."""
        local = self.hub.peers.get(peer_id)
        if local is not None and local.peer_type is not None:
            return self.hub.node_id, local.peer_type
        return await self.hub.broker.peer_owner(peer_id)

    async def _send_to_peer(self, peer_id: str, message: p.OutboundMessage) -> bool:
        hub = self.hub
        local = hub.peers.get(peer_id)
        if local is not None:
            hub.send(local, message)
            return True
        where = await self._locate_peer(peer_id)
        if where is None:
            return False
        # Only the hub holding the peer applies it (``Hub.on_broker_event`` filters).
        hub.broker.publish(ev.PeerMessage(where[0], peer_id, message.to_wire()))
        return True

    @applies(ev.PeerMessage)
    def _to_peer(self, event: ev.PeerMessage) -> None:
        local = self.hub.peers.get(event.peer_id)
        message = p.parse(event.message)
        if local is not None and message is not None:
            self.hub.send(local, message)

    def drop_peer(self, client: Client) -> None:
        """``client`` no longer holds its peerId (if it was the broadcaster, it stopped)."""
        hub = self.hub
        peer_id = client.peer_id
        if peer_id is None:
            return
        if hub.peers.get(peer_id) is client:
            del hub.peers[peer_id]
            hub.broker.forget_peer(peer_id)
        was_customer = client.peer_type == CUSTOMER
        client.peer_id = None
        client.peer_type = None
        if hub.broadcaster_peer == peer_id:
            hub.broker.remember_broadcaster(None)
            hub.emit(ev.BroadcasterChanged(None, stopped=peer_id))
        elif was_customer and hub.broadcaster_peer is not None:
            # The broadcaster frees this viewer at once (Trust rules, rule 3); in order
            # with what it is told next when it is on this hub.
            left = p.WebrtcCustomerLeft(peer_id)
            broadcaster = hub.peers.get(hub.broadcaster_peer)
            if broadcaster is not None:
                hub.send(broadcaster, left)
            else:
                hub.spawn(self._send_to_peer(hub.broadcaster_peer, left))

    def disconnected(self, client: Client) -> None:
        self.drop_peer(client)

    async def _relay(self, client: Client, to: str, kind: str, payload: Any) -> None:
        if client.peer_id is None:
            raise ProtocolError(p.ERR_NOT_AUTHORIZED)
        where = await self._locate_peer(to)
        if where is None:
            raise ProtocolError(p.ERR_UNKNOWN_PEER)
        if not client.is_admin and where[1] != ADMIN:
            raise ProtocolError(p.ERR_NOT_AUTHORIZED)
        await self._send_to_peer(to, p.WebrtcRelay(kind, client.peer_id, to, payload))

    @handles(p.WebrtcOffer)
    async def webrtc_offer(self, client: Client, msg: p.WebrtcOffer) -> None:
        await self._relay(client, msg.to, msg.TYPE, msg.offer)

    @handles(p.WebrtcAnswer)
    async def webrtc_answer(self, client: Client, msg: p.WebrtcAnswer) -> None:
        await self._relay(client, msg.to, msg.TYPE, msg.answer)

    @handles(p.WebrtcIceCandidate)
    async def webrtc_ice_candidate(self, client: Client, msg: p.WebrtcIceCandidate) -> None:
        await self._relay(client, msg.to, msg.TYPE, msg.candidate)

    @handles(p.WebrtcBroadcastStart)
    async def webrtc_broadcast_start(self, client: Client, msg: p.WebrtcBroadcastStart) -> None:
        hub = self.hub
        peer_id = msg.peer_id or client.peer_id
        if peer_id is None:
            raise ProtocolError(p.ERR_INVALID)
        where = await self._locate_peer(peer_id)
        if where is not None and where[1] != ADMIN:
            raise ProtocolError(p.ERR_NOT_AUTHORIZED)
        hub.broker.remember_broadcaster(peer_id)
        hub.emit(ev.BroadcasterChanged(peer_id))

    @handles(p.WebrtcBroadcastStop)
    async def webrtc_broadcast_stop(self, client: Client, msg: p.WebrtcBroadcastStop) -> None:
        hub = self.hub
        peer_id = msg.peer_id or hub.broadcaster_peer or client.peer_id
        if peer_id is None:
            raise ProtocolError(p.ERR_INVALID)
        if peer_id == hub.broadcaster_peer:
            hub.broker.remember_broadcaster(None)
        hub.emit(ev.BroadcasterChanged(None, stopped=peer_id))

    @applies(ev.BroadcasterChanged)
    def _broadcaster_changed(self, event: ev.BroadcasterChanged) -> None:
        hub = self.hub
        peer_id = event.peer_id
        if peer_id is None:
            stopped = event.stopped or ""
            if hub.broadcaster_peer == stopped:
                hub.broadcaster_peer = None
            hub.broadcast(p.WebrtcBroadcastStopped(stopped), to=hub.customers())
            return
        hub.broadcaster_peer = peer_id
        hub.broadcast(p.WebrtcBroadcasterAvailable(peer_id), to=hub.customers())
        # The broadcaster learns about every customer peer, on every hub.
        customers = [c.peer_id for c in hub.peers.values() if c.peer_type == CUSTOMER]
        broadcaster = hub.peers.get(peer_id)
        for customer in customers:
            if customer is None:
                continue
            message = p.WebrtcNewCustomer(customer)
            if broadcaster is not None:
                hub.send(broadcaster, message)
            else:
                hub.spawn(self._send_to_peer(peer_id, message))
