"""Customer and admin registration, tokens and roles, against a real server."""

from __future__ import annotations

import time

import jwt

from tests.conftest import RunningHub
from tests.helpers.testutils import SECRET, token


async def test_customer_register_replies_with_session_and_public_id(hub: RunningHub) -> None:
    """`register` answers `registered` with the sessionId, status and a publicId."""
    c = await hub.connect()
    await c.send({"type": "register", "sessionId": "sess-abc"})
    reply = await c.recv()
    assert reply["type"] == "registered"
    assert reply["sessionId"] == "sess-abc"
    assert reply["status"] == "connected"
    assert isinstance(reply["publicId"], str) and reply["publicId"]
    assert "sess-abc" not in reply["publicId"]


async def test_public_id_is_stable_across_connections_and_restarts(hub: RunningHub) -> None:
    """The same sessionId gets the same publicId, also after a restart."""
    a = await hub.connect()
    await a.send({"type": "register", "sessionId": "same"})
    first = (await a.expect("registered"))["publicId"]
    await hub.restart()
    b = await hub.connect()
    await b.send({"type": "register", "sessionId": "same"})
    assert (await b.expect("registered"))["publicId"] == first


async def test_register_without_session_id_is_invalid(hub: RunningHub) -> None:
    """A register with no (or a non-string) sessionId is an invalid message."""
    c = await hub.connect()
    for bad in (
        {"type": "register"},
        {"type": "register", "sessionId": 5},
        {"type": "register", "sessionId": ""},
    ):
        await c.send(bad)
        assert await c.recv() == {"type": "error", "message": "Invalid message format"}


async def test_admin_register_uses_the_tokens_user_id(hub: RunningHub) -> None:
    """`admin_registered` carries the token's userId; a userId in the message is ignored."""
    c = await hub.connect()
    await c.send({"type": "register_admin", "userId": "mallory", "token": token("alice")})
    reply = await c.recv()
    assert reply["type"] == "admin_registered"
    assert reply["userId"] == "alice"
    assert reply["status"] == "connected"


async def test_sub_claim_works_as_user_id(hub: RunningHub) -> None:
    """A token with `sub` instead of `userId` is accepted."""
    tok = jwt.encode(
        {"sub": "bob", "role": "staff", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256"
    )
    c = await hub.connect()
    await c.send({"type": "register_admin", "token": tok})
    assert (await c.recv())["userId"] == "bob"


async def test_missing_token_says_token_required(hub: RunningHub) -> None:
    """No token: "Token required" (never the seed's other wording)."""
    c = await hub.connect()
    for msg in (
        {"type": "register_admin"},
        {"type": "register_admin", "token": ""},
        {"type": "register_admin", "token": None},
    ):
        await c.send(msg)
        assert await c.recv() == {"type": "error", "message": "Token required"}


async def test_bad_tokens_fail_authentication_and_leave_connection_usable(
    hub: RunningHub,
) -> None:
    """Expired, malformed, wrongly signed, wrong-role, alg=none and exp-less tokens all fail."""
    now = int(time.time())
    bad = [
        token("alice", ttl=-3600),
        "not-a-jwt",
        jwt.encode(
            {"userId": "a", "role": "admin", "exp": now + 60},
            "wrong-secret-" * 4,
            algorithm="HS256",
        ),
        token("alice", role="customer"),
        jwt.encode({"userId": "a", "role": "admin", "exp": now + 60}, None, algorithm="none"),
        jwt.encode({"userId": "a", "role": "admin"}, SECRET, algorithm="HS256"),
        jwt.encode({"role": "admin", "exp": now + 60}, SECRET, algorithm="HS256"),
    ]
    c = await hub.connect()
    for tok in bad:
        await c.send({"type": "register_admin", "token": tok})
        assert await c.recv() == {"type": "error", "message": "Authentication failed"}
    # Still open and unprivileged.
    await c.send({"type": "start_stream", "title": "x"})
    assert await c.recv() == {"type": "error", "message": "Not authorized"}
    await c.send({"type": "ping"})
    assert await c.recv() == {"type": "pong"}


async def test_failed_reregistration_drops_admin_privilege(hub: RunningHub) -> None:
    """An admin connection that re-registers with a bad token is no longer admin."""
    a = await hub.admin()
    await a.send({"type": "register_admin", "token": "garbage"})
    assert (await a.recv())["message"] == "Authentication failed"
    await a.send({"type": "get_conversations"})
    assert await a.recv() == {"type": "error", "message": "Not authorized"}


async def test_staff_may_not_go_live_pin_or_broadcast(hub: RunningHub) -> None:
    """Staff: "Not authorized" for start/stop_stream, pin_products, webrtc_broadcast_*."""
    s = await hub.admin("sam", role="staff")
    for msg in (
        {"type": "start_stream", "title": "x"},
        {"type": "stop_stream"},
        {"type": "pin_products", "pinnedProducts": []},
        {"type": "webrtc_broadcast_start", "peerId": "p"},
        {"type": "webrtc_broadcast_stop", "peerId": "p"},
    ):
        await s.send(msg)
        assert await s.recv() == {"type": "error", "message": "Not authorized"}, msg
    # But staff may read the inbox and answer.
    await s.send({"type": "get_conversations"})
    assert (await s.recv())["type"] == "conversations"


async def test_customer_is_refused_every_admin_only_message(hub: RunningHub) -> None:
    """Permission comes first: a customer's admin-only message is "Not authorized"."""
    c = await hub.customer("cust-1")
    for msg in (
        {"type": "start_stream", "title": "x"},
        {"type": "stop_stream"},
        {"type": "pin_products"},  # even with the field missing
        {"type": "pin_products", "pinnedProducts": "nope"},
        {"type": "staff_message", "sessionId": "x", "content": "hi"},
        {"type": "get_conversations"},
        {"type": "get_conversation", "sessionId": "x"},
        {"type": "webrtc_broadcast_start", "peerId": "p"},
        {"type": "webrtc_broadcast_stop"},
    ):
        await c.send(msg)
        assert await c.recv() == {"type": "error", "message": "Not authorized"}, msg


async def test_customer_with_valid_token_is_still_a_customer(hub: RunningHub) -> None:
    """A token on `register` identifies the customer but grants nothing."""
    c = await hub.customer("cust-2", token=token("alice"))
    await c.send({"type": "get_conversations"})
    assert (await c.recv())["message"] == "Not authorized"


async def test_ping_pong_for_anyone(hub: RunningHub) -> None:
    """`ping` gets `pong`, registered or not."""
    c = await hub.connect()
    await c.send({"type": "ping"})
    assert await c.recv() == {"type": "pong"}
