"""WebRTC signalling relay: registration, broadcaster announcements, offer/answer/ICE."""

from __future__ import annotations

from tests.conftest import RunningHub
from tests.helpers.clients import WsClient


async def _peer(client: WsClient, peer_id: str, user_type: str = "customer") -> None:
    await client.send({"type": "webrtc_register", "peerId": peer_id, "userType": user_type})
    reply = await client.expect("webrtc_registered")
    assert reply == {"type": "webrtc_registered", "peerId": peer_id, "userType": user_type}


async def test_broadcast_flow_without_a_live_stream(hub: RunningHub) -> None:
    """Signalling needs no live stream: announce, new customer, offer, answer, candidates."""
    admin = await hub.admin()
    await _peer(admin, "studio", "admin")
    early = await hub.customer("early")
    await _peer(early, "peer-early")
    await admin.send({"type": "webrtc_broadcast_start", "peerId": "studio"})
    assert await early.expect("webrtc_broadcaster_available") == {
        "type": "webrtc_broadcaster_available",
        "broadcaster": "studio",
    }
    assert (await admin.expect("webrtc_new_customer"))["customerId"] == "peer-early"

    late = await hub.customer("late")
    await late.send({"type": "webrtc_register", "peerId": "peer-late", "userType": "customer"})
    await late.expect("webrtc_registered")
    assert (await late.expect("webrtc_broadcaster_available"))["broadcaster"] == "studio"
    assert (await admin.expect("webrtc_new_customer"))["customerId"] == "peer-late"

    offer = {"type": "offer", "sdp": "v=0 fake"}
    await admin.send({"type": "webrtc_offer", "from": "forged", "to": "peer-late", "offer": offer})
    got = await late.expect("webrtc_offer")
    assert got == {"type": "webrtc_offer", "from": "studio", "to": "peer-late", "offer": offer}
    answer = {"type": "answer", "sdp": "v=0 ans"}
    await late.send({"type": "webrtc_answer", "from": "studio", "to": "studio", "answer": answer})
    got = await admin.expect("webrtc_answer")
    assert got["from"] == "peer-late" and got["answer"] == answer
    cand = {
        "candidate": "candidate:1 1 udp 1 10.0.0.1 5000 typ host",
        "sdpMLineIndex": 0,
        "sdpMid": "0",
    }
    await late.send({"type": "webrtc_ice_candidate", "to": "studio", "candidate": cand})
    got = await admin.expect("webrtc_ice_candidate")
    assert got["from"] == "peer-late" and got["candidate"] == cand

    await admin.send({"type": "webrtc_broadcast_stop", "peerId": "studio"})
    for c in (early, late):
        assert await c.expect("webrtc_broadcast_stopped") == {
            "type": "webrtc_broadcast_stopped",
            "broadcaster": "studio",
        }


async def test_unknown_peer_and_customer_to_customer(hub: RunningHub) -> None:
    """Unknown `to`: "Unknown peer"; a customer signalling a customer: "Not authorized"."""
    a = await hub.customer("a")
    b = await hub.customer("b")
    await _peer(a, "pa")
    await _peer(b, "pb")
    await a.send({"type": "webrtc_offer", "to": "nobody", "offer": {"sdp": "x"}})
    assert await a.recv() == {"type": "error", "message": "Unknown peer"}
    await a.send({"type": "webrtc_offer", "to": "pb", "offer": {"sdp": "x"}})
    assert await a.recv() == {"type": "error", "message": "Not authorized"}
    assert await b.quiet() == []


async def test_customer_cannot_register_as_admin_or_take_an_admin_peer(hub: RunningHub) -> None:
    """userType admin needs an admin connection; an admin's peerId cannot be taken over
    (its owner holds it: "Peer id taken", before any role check)."""
    admin = await hub.admin()
    await _peer(admin, "studio", "admin")
    c = await hub.customer("c")
    await c.send({"type": "webrtc_register", "peerId": "x", "userType": "admin"})
    assert await c.recv() == {"type": "error", "message": "Not authorized"}
    await c.send({"type": "webrtc_register", "peerId": "studio", "userType": "customer"})
    assert await c.recv() == {"type": "error", "message": "Peer id taken"}
    await c.send({"type": "webrtc_register", "peerId": "studio", "userType": "admin"})
    assert await c.recv() == {"type": "error", "message": "Peer id taken"}
    # The admin peer still works.
    await _peer(c, "pc")
    await c.send({"type": "webrtc_offer", "to": "studio", "offer": {"sdp": "x"}})
    assert (await admin.expect("webrtc_offer"))["from"] == "pc"


async def test_broadcaster_leaving_tells_customers(hub: RunningHub) -> None:
    """When the broadcaster's connection closes, customers get `webrtc_broadcast_stopped`."""
    admin = await hub.admin()
    await _peer(admin, "studio", "admin")
    c = await hub.customer("c")
    await admin.send({"type": "webrtc_broadcast_start"})
    await c.expect("webrtc_broadcaster_available")
    await admin.close()
    assert (await c.expect("webrtc_broadcast_stopped"))["broadcaster"] == "studio"


async def test_unregistered_sender_and_bad_payloads(hub: RunningHub) -> None:
    """A sender without a peerId may not relay; payloads must be objects."""
    admin = await hub.admin()
    await _peer(admin, "studio", "admin")
    c = await hub.customer("c")
    await c.send({"type": "webrtc_answer", "to": "studio", "answer": {"sdp": "x"}})
    assert await c.recv() == {"type": "error", "message": "Not authorized"}
    await _peer(c, "pc")
    for bad in (
        {"type": "webrtc_offer", "to": "studio"},
        {"type": "webrtc_offer", "to": "studio", "offer": "sdp"},
        {"type": "webrtc_answer", "to": 5, "answer": {}},
        {"type": "webrtc_register", "peerId": ""},
    ):
        await c.send(bad)
        assert await c.recv() == {"type": "error", "message": "Invalid message format"}, bad
