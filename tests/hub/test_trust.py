"""The contract's Trust rules 1-6: identity from the connection, bounded registering,
owned peer ids, cleaned text, numbers that are numbers, nothing unbounded sent."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.conftest import RunningHub
from tests.helpers.clients import WsClient
from wrencos_studio.clock import utc_now_iso
from wrencos_studio.hub.protocol import OutboundMessage
from wrencos_studio.store import repositories as repo


async def _errors(c: WsClient, messages: list[dict[str, Any] | str]) -> list[str]:
    out = []
    for message in messages:
        await c.send(message)
        out.append((await c.expect("error"))["message"])
    return out


# -- rule 1: identity comes from the connection ------------------------------------------


async def test_customer_actions_need_a_registered_connection(hub: RunningHub) -> None:
    """Chat, likes, support, the own thread and WebRTC from an unregistered connection get
    "Not registered" and reach nobody; a malformed one is still "Invalid message format"."""
    admin = await hub.admin()
    await hub.live(admin)
    watcher = await hub.customer("watcher")
    await asyncio.gather(watcher.quiet(0.4), admin.quiet(0.4))
    stranger = await hub.connect()
    refused = await _errors(
        stranger,
        [
            {"type": "chat_message", "message": "hi", "publicId": "forged"},
            {"type": "toggle_like", "sessionId": "watcher"},
            {"type": "customer_message", "message": "help", "sessionId": "watcher"},
            {"type": "get_my_conversation"},
            {"type": "webrtc_register", "peerId": "p1", "userType": "customer"},
            {"type": "webrtc_offer", "to": "x", "offer": {}},
            {"type": "webrtc_answer", "to": "x", "answer": {}},
            {"type": "webrtc_ice_candidate", "to": "x", "candidate": None},
        ],
    )
    assert refused == ["Not registered"] * 8
    assert await _errors(stranger, [{"type": "chat_message", "message": 5}]) == [
        "Invalid message format"
    ]
    assert [m["type"] for m in await watcher.quiet(0.5)] == []
    assert await admin.quiet(0.2) == []


async def test_a_sessionid_in_a_message_is_ignored(hub: RunningHub) -> None:
    """A customer writing with another session's id writes into its own conversation,
    and a like counts for the connection's identity."""
    admin = await hub.admin()
    await hub.live(admin)
    mallory = await hub.customer("mallory")
    await mallory.send({"type": "customer_message", "message": "as alice", "sessionId": "alice"})
    got = await admin.expect("customer_message")
    assert got["sessionId"] == "mallory"
    await mallory.send({"type": "toggle_like", "sessionId": "alice"})
    update = await mallory.expect("stream_update", likes=1)
    public_id = next(m for m in mallory.joined if m["type"] == "registered")["publicId"]
    assert update["likedBy"] == [public_id]


# -- rule 2: registering is bounded ------------------------------------------------------------


async def test_registering_is_bounded_per_connection(hub: RunningHub) -> None:
    """The first 5 registers within 10 s pass; more get "Rate limit exceeded"."""
    c = await hub.connect()
    for i in range(7):
        await c.send({"type": "register", "sessionId": f"s{i}"})
    replies = [(await c.recv())["type"] for _ in range(7)]
    assert replies.count("registered") == 5
    assert [m for m in replies if m != "registered"] == ["error", "error"]


async def test_registering_again_makes_at_most_one_stream_update(hub: RunningHub) -> None:
    """A connection that registers again under a new sessionId is one viewer still:
    watchers get at most one stream_update for it."""
    admin = await hub.admin()
    await hub.live(admin)
    watcher = await hub.customer("watcher")
    c = await hub.customer("first")
    await watcher.quiet(0.6)
    await c.send({"type": "register", "sessionId": "second"})
    await c.expect("registered")
    updates = [m for m in await watcher.quiet(0.8) if m["type"] == "stream_update"]
    assert len(updates) <= 1
    assert all(u["viewerCount"] == 2 for u in updates)


async def test_a_crowd_joining_makes_few_stream_updates(hub: RunningHub) -> None:
    """30 customers joining at once: at most 4 viewer updates a second, and the last one,
    within 500 ms of the last join, has the final count."""
    admin = await hub.admin()
    await hub.live(admin)
    watcher = await hub.customer("watcher")
    await watcher.quiet(0.3)
    crowd = [await hub.connect() for _ in range(30)]
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i, c in enumerate(crowd):
        await c.send({"type": "register", "sessionId": f"crowd-{i}"})
    for c in crowd:
        await c.expect("registered")
    joined = loop.time()
    seen: list[tuple[float, int]] = []
    for m in await watcher.quiet(0.8):
        if m["type"] == "stream_update":
            seen.append((loop.time(), m["viewerCount"]))
    assert seen and seen[-1][1] == 31
    assert seen[-1][0] - joined < 1.3  # quiet() read it at most 0.8 s after it came
    span = max(joined - start, 0.0) + 0.8
    assert len(seen) <= 4 * span + 1, (len(seen), span)


# -- rule 3: a peerId belongs to its connection -------------------------------------------------


async def test_a_peer_id_cannot_be_taken_and_is_freed_on_close(hub: RunningHub) -> None:
    """Another connection gets "Peer id taken" until the owner closes; then it is free."""
    a = await hub.customer("a")
    b = await hub.customer("b")
    await a.send({"type": "webrtc_register", "peerId": "tab", "userType": "customer"})
    await a.expect("webrtc_registered")
    assert await _errors(b, [{"type": "webrtc_register", "peerId": "tab"}]) == ["Peer id taken"]
    await a.close()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 1.0
    while True:
        await b.send({"type": "webrtc_register", "peerId": "tab", "userType": "customer"})
        reply = await b.recv()
        if reply["type"] == "webrtc_registered" or loop.time() > deadline:
            break
    assert reply == {"type": "webrtc_registered", "peerId": "tab", "userType": "customer"}


async def test_one_connection_holds_one_peer_and_the_broadcaster_hears_it_leave(
    hub: RunningHub,
) -> None:
    """Registering a new peer releases the old one; the broadcaster is told about each
    customer peer that leaves, so it frees that viewer at once."""
    studio = await hub.admin()
    await studio.send({"type": "webrtc_register", "peerId": "studio", "userType": "admin"})
    await studio.expect("webrtc_registered")
    await studio.send({"type": "webrtc_broadcast_start", "peerId": "studio"})
    c = await hub.customer("greedy")
    for i in range(3):
        await c.send({"type": "webrtc_register", "peerId": f"g{i}", "userType": "customer"})
        await c.expect("webrtc_registered")
    got = [
        (m["type"], m.get("customerId"))
        for m in await studio.quiet(0.5)
        if m["type"].startswith("webrtc_")
    ]
    assert got == [
        ("webrtc_new_customer", "g0"),
        ("webrtc_customer_left", "g0"),
        ("webrtc_new_customer", "g1"),
        ("webrtc_customer_left", "g1"),
        ("webrtc_new_customer", "g2"),
    ]
    assert hub.hub is not None and set(hub.hub.peers) == {"studio", "g2"}
    await c.close()
    assert (await studio.expect("webrtc_customer_left"))["customerId"] == "g2"


async def test_the_broadcasters_peer_id_is_taken(hub: RunningHub) -> None:
    """Even a staff connection cannot register the broadcaster's peer id."""
    studio = await hub.admin("studio")
    await studio.send({"type": "webrtc_register", "peerId": "studio", "userType": "admin"})
    await studio.expect("webrtc_registered")
    other = await hub.admin("sam", "staff")
    assert await _errors(
        other, [{"type": "webrtc_register", "peerId": "studio", "userType": "admin"}]
    ) == ["Peer id taken"]


# -- rule 4: text is cleaned ------------------------------------------------------------------


async def test_chat_text_and_names_are_cleaned(hub: RunningHub) -> None:
    """Bidi controls and other control characters go, whitespace runs become one space,
    and text with nothing visible is "Message is empty" (a blank name is absent)."""
    admin = await hub.admin()
    await hub.live(admin)
    c = await hub.customer("c")
    cases = [
        ({"message": "05.99", "username": "Eve\u202e"}, ("Eve", "05.99")),
        ({"message": "  a \t\n b  ", "username": "Ann\n\u2605 Admin"}, ("Ann \u2605 Admin", "a b")),
        ({"message": "x\u200fy\u0007z", "username": "\u200b\u3164"}, ("Guest", "xyz")),
    ]
    for fields, (name, text) in cases:
        await c.send({"type": "chat_message", **fields})
        line = await admin.expect("chat_message")
        assert (line["username"], line["message"]) == (name, text)
    blank = ["\u200b", "\u3164 \u115f", " \u2800 ", "\u202e", "\t\n"]
    assert await _errors(c, [{"type": "chat_message", "message": m} for m in blank]) == [
        "Message is empty"
    ] * len(blank)
    assert await admin.quiet(0.3) == []


async def test_support_text_keeps_its_lines(hub: RunningHub) -> None:
    """Support text keeps line feeds (CR LF -> LF), each line's spaces collapse; a name
    with nothing visible keeps the conversation's default name."""
    admin = await hub.admin()
    c = await hub.customer("sup-1234567")
    await c.send(
        {
            "type": "customer_message",
            "message": "  Order  1042 \r\n arrived\u202e broken  \r\n",
            "customerName": "\u3164",
        }
    )
    got = await admin.expect("customer_message")
    assert got["message"] == "Order 1042\narrived broken"
    assert got["customerName"] == "Customer #34567"
    await admin.send({"type": "staff_message", "sessionId": "sup-1234567", "content": " \u200b "})
    assert (await admin.expect("error"))["message"] == "Message is empty"


# -- rule 5: numbers are numbers ----------------------------------------------------------------


async def test_prices_and_ids_are_checked_numbers(hub: RunningHub) -> None:
    """A price is a finite number from 0 to 1e9; a numeric productId an exact integer.
    Anything else is "Invalid message format", never "Internal server error"."""
    admin = await hub.admin()
    await hub.live(admin)
    huge = 10**400  # json.dumps writes it as 401 digits, as a hostile client would

    def product(price: Any, **more: Any) -> str:
        return json.dumps(
            {"type": "save_product", "product": {"name": "S", "price": price, **more}}
        )

    def pin(**item: Any) -> str:
        return json.dumps({"type": "pin_products", "pinnedProducts": [item]})

    bad = [
        product(huge),
        product(-1),
        product(1_000_000_000.5),
        product("5"),
        product(True),
        json.dumps({"type": "save_product", "product": {"name": "Serum"}}),
        product(1, productId=2**53),
        pin(productId="p1"),
        pin(productId="p1", price=huge),
        pin(productId=-(2**53), price=1),
        pin(productId=1.5, price=1),
    ]
    assert await _errors(admin, bad) == ["Invalid message format"] * len(bad)
    await admin.send(product(1_000_000_000))
    assert (await admin.expect("product_saved"))["product"]["price"] == 1e9
    await admin.send(pin(productId=2**53 - 1, price=0))
    pins = (await admin.expect("pinned_products_updated"))["pinnedProducts"]
    assert pins == [{"productId": 2**53 - 1, "price": 0.0}]


# -- rule 6: nothing grows without bound ----------------------------------------------------


async def test_chat_history_fits_one_frame(hub: RunningHub) -> None:
    """300 long lines: a joining customer gets the newest lines that fit 64 KiB, at most
    200, oldest dropped first."""
    assert hub.app is not None
    got: list[OutboundMessage] = []
    studio = hub.app.connect_local(got.append, "test-studio")
    await studio.register_admin("studio")
    await studio.request({"type": "start_stream", "title": "Long"})
    for i in range(300):
        await studio.request({"type": "chat_message", "message": f"{i:03d} " + "\u00e9" * 480})
    c = await hub.connect()
    await c.send({"type": "register", "sessionId": "late"})
    raw = None
    while True:
        raw = await asyncio.wait_for(c.conn.recv(), 5)
        if json.loads(raw)["type"] == "chat_history":
            break
    assert len(raw.encode() if isinstance(raw, str) else raw) <= 64 * 1024
    lines = json.loads(raw)["messages"]
    assert 0 < len(lines) <= 200
    assert lines[-1]["message"].startswith("299 ")
    numbers = [int(m["message"][:3]) for m in lines]
    assert numbers == list(range(300 - len(lines), 300))
    studio.close()


async def test_the_inbox_is_paged(hub: RunningHub) -> None:
    """120 conversations come in pages of at most `limit`, newest first, with `more` and
    a cursor; threads page backwards by message id; `lastMessage` is cut to 200."""
    assert hub.store is not None
    at = utc_now_iso()
    for i in range(120):
        await hub.store.run(
            repo.add_customer_message, f"u{i}", f"s{i:03d}", None, f"C{i}", f"{i} " + "x" * 300, at
        )
    for j in range(7):
        await hub.store.run(repo.add_customer_message, f"t{j}", "s000", None, "C0", f"m{j}", at)
    admin = await hub.admin()
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        ask: dict[str, Any] = {"type": "get_conversations", "limit": 50}
        if cursor is not None:
            ask["before"] = cursor
        page = await admin.request(ask, "conversations")
        pages += 1
        assert len(page["conversations"]) <= 50
        seen += [c["sessionId"] for c in page["conversations"]]
        assert all(len(c["lastMessage"]) <= 200 for c in page["conversations"])
        if not page["more"]:
            assert "nextCursor" not in page
            break
        cursor = page["nextCursor"]
    assert pages == 3 and len(seen) == len(set(seen)) == 120
    assert seen[0] == "s000"  # its last message is the newest
    assert seen[1:3] == ["s119", "s118"]
    default = await admin.request({"type": "get_conversations"}, "conversations")
    assert len(default["conversations"]) == 50 and default["more"]
    for limit in (0, 101, 1.5, "5"):
        await admin.send({"type": "get_conversations", "limit": limit})
        assert (await admin.expect("error"))["message"] == "Invalid message format"
    newest = await admin.request(
        {"type": "get_conversation", "sessionId": "s000", "limit": 3}, "conversation"
    )
    assert [m["message"] for m in newest["messages"]] == ["m4", "m5", "m6"] and newest["more"]
    older = await admin.request(
        {
            "type": "get_conversation",
            "sessionId": "s000",
            "limit": 100,
            "before": newest["messages"][0]["id"],
        },
        "conversation",
    )
    assert [m["message"][:2] for m in older["messages"]] == ["0 ", "m0", "m1", "m2", "m3"]
    assert older["more"] is False


async def test_staff_ask_for_the_room_instead_of_starting_blind(hub: RunningHub) -> None:
    """`register_admin` answers only `admin_registered`; `get_room` then gives a station
    the stream, the pins and the chat a joining customer would get."""
    admin = await hub.admin()
    await hub.live(admin, "Room")
    await admin.send({"type": "pin_products", "pinnedProducts": [{"productId": "p1", "price": 2}]})
    await admin.send({"type": "chat_message", "message": "hello"})
    await admin.expect("chat_message")
    station = await hub.admin("sam", "staff")
    assert await station.quiet(0.3) == []
    await station.send({"type": "get_room"})
    got = [await station.recv() for _ in range(3)]
    assert [m["type"] for m in got] == ["stream_started", "pinned_products_updated", "chat_history"]
    assert got[0]["streamData"]["title"] == "Room"
    assert [m["message"] for m in got[2]["messages"]] == ["hello"]
    customer = await hub.customer("c")
    await customer.send({"type": "get_room"})
    assert (await customer.expect("error"))["message"] == "Not authorized"
