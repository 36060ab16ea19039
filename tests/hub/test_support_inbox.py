"""Support at the inbox's level: staff in step, search and filters, the customer's other
tabs, and the customer behind a conversation."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import RunningHub
from tests.helpers.clients import WsClient
from tests.helpers.testutils import token

SUMMARY_KEYS = {
    "type",
    "sessionId",
    "customerName",
    "lastMessage",
    "lastTimestamp",
    "lastFrom",
    "unread",
    "status",
}


async def updated(staff: WsClient, sid: str, **match: Any) -> dict[str, Any]:
    """The next `conversation_updated` of ``sid`` (matching ``match``), within 1 s."""
    return await staff.expect("conversation_updated", timeout=1.0, sessionId=sid, **match)


async def test_every_change_reaches_every_staff_connection(hub: RunningHub) -> None:
    """Customer message, reply, read, resolve and reopen each reach both stations as
    `conversation_updated`, with lastFrom, unread, status and answeredBy."""
    alice = await hub.admin("alice")
    sam = await hub.admin("sam", role="staff")
    c = await hub.customer("sess-sync-1")
    await c.send({"type": "customer_message", "message": "Where is #1042?", "customerName": "Dana"})
    for station in (alice, sam):
        got = await updated(station, "sess-sync-1")
        assert set(got) == SUMMARY_KEYS  # no answeredBy while nobody answered
        assert (got["customerName"], got["lastMessage"], got["lastFrom"]) == (
            "Dana",
            "Where is #1042?",
            "customer",
        )
        assert (got["unread"], got["status"]) == (1, "open")
    await c.send({"type": "customer_message", "message": "Hello?"})
    for station in (alice, sam):
        assert (await updated(station, "sess-sync-1", lastMessage="Hello?"))["unread"] == 2

    await sam.send({"type": "staff_message", "sessionId": "sess-sync-1", "content": "On it"})
    for station in (alice, sam):
        got = await updated(station, "sess-sync-1", lastFrom="staff")
        assert (got["answeredBy"], got["unread"], got["lastMessage"]) == ("sam", 0, "On it")

    await c.send({"type": "customer_message", "message": "Thanks!"})
    for station in (alice, sam):
        got = await updated(station, "sess-sync-1", lastMessage="Thanks!")
        assert (got["lastFrom"], got["unread"], got["answeredBy"]) == ("customer", 1, "sam")

    await alice.send({"type": "mark_conversation_read", "sessionId": "sess-sync-1"})
    for station in (alice, sam):
        assert (await updated(station, "sess-sync-1", unread=0))["lastFrom"] == "customer"

    await alice.send({"type": "resolve_conversation", "sessionId": "sess-sync-1", "resolved": True})
    for station in (alice, sam):
        assert (await updated(station, "sess-sync-1", status="resolved"))["answeredBy"] == "sam"
    await c.send({"type": "customer_message", "message": "One more thing"})
    for station in (alice, sam):
        got = await updated(station, "sess-sync-1", lastMessage="One more thing")
        assert (got["status"], got["unread"]) == ("open", 1)

    # The list says the same, and the read state was stored.
    await hub.restart()
    alice = await hub.admin("alice")
    [row] = (await alice.request({"type": "get_conversations"}, "conversations"))["conversations"]
    assert (row["lastFrom"], row["answeredBy"], row["unread"], row["status"]) == (
        "customer",
        "sam",
        1,
        "open",
    )


async def test_mark_read_checks_and_customers_never_see_updates(hub: RunningHub) -> None:
    """`mark_conversation_read` is staff-only; an unknown session changes nothing; customers
    get no `conversation_updated`."""
    staff = await hub.admin("sam", role="staff")
    c = await hub.customer("sess-quiet")
    await c.send({"type": "mark_conversation_read", "sessionId": "sess-quiet"})
    assert await c.recv() == {"type": "error", "message": "Not authorized"}
    await staff.send({"type": "mark_conversation_read"})
    assert await staff.recv() == {"type": "error", "message": "Invalid message format"}
    await staff.send({"type": "mark_conversation_read", "sessionId": "nobody"})
    assert await staff.sync() == []
    await c.send({"type": "customer_message", "message": "hi"})
    await updated(staff, "sess-quiet")
    assert [m["type"] for m in await c.quiet()] == []


async def test_thread_names_who_wrote_each_line(hub: RunningHub) -> None:
    """Staff lines carry staffUserId, customer lines the customer's name and productId;
    the customer's own view does not name staff."""
    sam = await hub.admin("sam", role="staff")
    c = await hub.customer("sess-who")
    await c.send(
        {
            "type": "customer_message",
            "message": "Is it vegan?",
            "customerName": "Noor",
            "productId": 1042,
        }
    )
    got = await sam.expect("customer_message")
    assert (got["productId"], got["customerName"], got["id"]) == ("1042", "Noor", got["id"])
    assert (await updated(sam, "sess-who"))["productId"] == "1042"
    await sam.send({"type": "staff_message", "sessionId": "sess-who", "content": "Yes"})
    await c.expect("staff_reply")
    thread = await sam.request(
        {"type": "get_conversation", "sessionId": "sess-who"}, "conversation"
    )
    first, second = thread["messages"]
    assert first["id"] == got["id"]
    assert (first["customerName"], first["productId"], "staffUserId" in first) == (
        "Noor",
        "1042",
        False,
    )
    assert (second["staffUserId"], "customerName" in second) == ("sam", False)
    mine = await c.request({"type": "get_my_conversation"}, "my_conversation")
    assert all("staffUserId" not in m for m in mine["messages"])
    assert mine["messages"][0]["productId"] == "1042"


async def test_product_id_is_validated_like_a_catalog_id(hub: RunningHub) -> None:
    """A productId that is not a string or an exact integer is refused, nothing stored."""
    staff = await hub.admin()
    c = await hub.customer("sess-pid")
    for bad in (True, 1.5, 2**53, "", "   ", "x" * 201, {"id": 1}, [1]):
        await c.send({"type": "customer_message", "message": "q", "productId": bad})
        assert await c.recv() == {"type": "error", "message": "Invalid message format"}, bad
        await c.send({"type": "product_tapped", "productId": bad})
        assert await c.recv() == {"type": "error", "message": "Invalid message format"}, bad
    await c.send({"type": "product_tapped"})
    assert await c.recv() == {"type": "error", "message": "Invalid message format"}
    assert [m for m in await staff.quiet(0.2) if m["type"] == "customer_message"] == []


async def test_search_finds_a_word_of_the_first_message(hub: RunningHub) -> None:
    """`search` looks through every message of a thread (full text), not the last line."""
    staff = await hub.admin()
    c = await hub.customer("sess-order")
    await c.send({"type": "customer_message", "message": "My order #1042 never came"})
    await c.send({"type": "customer_message", "message": "Hello??"})
    other = await hub.customer("sess-other")
    await other.send({"type": "customer_message", "message": "Order 10420 is fine, ty"})
    await other.send({"type": "customer_message", "message": "1043 too", "customerName": "Zoë"})
    for _ in range(4):
        await staff.expect("customer_message")
    await staff.send(
        {"type": "staff_message", "sessionId": "sess-order", "content": "Sorry! Crème on us"}
    )
    await staff.sync()

    async def found(search: str, **extra: Any) -> list[str]:
        q = {"type": "get_conversations", "search": search, **extra}
        return [x["sessionId"] for x in (await staff.request(q, "conversations"))["conversations"]]

    assert await found("1042") == ["sess-order", "sess-other"]  # 10420 starts with 1042
    assert await found("#1042 never") == ["sess-order"]
    assert await found("NEVER came") == ["sess-order"]
    assert await found("zoë") == ["sess-other"]  # the name, case-insensitively
    assert await found("TOO") == ["sess-other"]
    assert await found("crème") == await found("CREME") == ["sess-order"]  # accents folded
    assert await found("sorry") == ["sess-order"]  # staff lines too
    assert await found("parcel") == []
    assert await found("  ") == ["sess-order", "sess-other"]
    # FTS5 syntax is text: nothing here is an error.
    for hostile in ('"', 'x" OR "y', "NEAR(a b)", "a*", "-1042", "col:1042", "^1042", "(", "AND"):
        assert isinstance(await found(hostile), list), hostile
    await staff.send({"type": "get_conversations", "search": "x" * 201})
    assert await staff.recv() == {"type": "error", "message": "Message too long"}


async def test_filters_and_paging(hub: RunningHub) -> None:
    """open / resolved / unanswered narrow the list; it stays newest first and paged."""
    staff = await hub.admin("sam", role="staff")
    customers = [await hub.customer(f"sess-f{i}") for i in range(6)]
    for i, c in enumerate(customers):
        await c.send({"type": "customer_message", "message": f"question {i} about 1042"})
        await staff.expect("customer_message")
    for i in (1, 3):  # answered
        await staff.send({"type": "staff_message", "sessionId": f"sess-f{i}", "content": "ok"})
    for i in (3, 4):
        await staff.send(
            {"type": "resolve_conversation", "sessionId": f"sess-f{i}", "resolved": True}
        )
    await staff.sync()

    async def all_pages(**query: Any) -> list[str]:
        out: list[str] = []
        before = None
        while True:
            q = {"type": "get_conversations", "limit": 2, **query}
            if before is not None:
                q["before"] = before
            page = await staff.request(q, "conversations")
            assert len(page["conversations"]) <= 2
            out += [x["sessionId"] for x in page["conversations"]]
            if not page["more"]:
                assert "nextCursor" not in page
                return out
            before = page["nextCursor"]

    # Order of last lines: f0 f2 f5 ... then replies to f1, f3 came last.
    assert await all_pages() == ["sess-f3", "sess-f1", "sess-f5", "sess-f4", "sess-f2", "sess-f0"]
    assert await all_pages(filter="resolved") == ["sess-f3", "sess-f4"]
    assert await all_pages(filter="open") == ["sess-f1", "sess-f5", "sess-f2", "sess-f0"]
    assert await all_pages(filter="unanswered") == ["sess-f5", "sess-f4", "sess-f2", "sess-f0"]
    assert await all_pages(filter="unanswered", search="question 1042") == [
        "sess-f5",
        "sess-f4",
        "sess-f2",
        "sess-f0",
    ]
    assert await all_pages(filter="open", search="question 2") == ["sess-f2"]
    await staff.send({"type": "get_conversations", "filter": "spam"})
    assert await staff.recv() == {"type": "error", "message": "Invalid message format"}


async def test_the_customers_other_tabs_show_the_question(hub: RunningHub) -> None:
    """A customer_message reaches the session's other tabs as `my_message`; not the tab
    that wrote it, not other customers."""
    staff = await hub.admin()
    tab1 = await hub.customer("sess-tabs")
    tab2 = await hub.customer("sess-tabs")
    tab3 = await hub.customer("sess-tabs")
    stranger = await hub.customer("sess-stranger")
    await tab1.send(
        {"type": "customer_message", "message": "Is this in stock?", "productId": "serum"}
    )
    got = await staff.expect("customer_message")
    for tab in (tab2, tab3):
        mine = await tab.expect("my_message")
        assert mine == {
            "type": "my_message",
            "message": "Is this in stock?",
            "timestamp": got["timestamp"],
            "id": got["id"],
            "productId": "serum",
        }
    assert await tab1.sync() == []
    assert await stranger.quiet(0.2) == []
    # The id is the one the thread shows, so a page renders it once.
    thread = await tab2.request({"type": "get_my_conversation"}, "my_conversation")
    assert [m["id"] for m in thread["messages"]] == [got["id"]]


async def test_customer_context(hub: RunningHub) -> None:
    """`get_customer_context`: watching and since, their chat lines of this stream (not
    others'), liked, tapped products; after they leave, not watching."""
    admin = await hub.admin()
    customer = await hub.customer("sess-ctx")
    other = await hub.customer("sess-ctx-other")
    await other.send({"type": "product_tapped", "productId": "early"})  # nothing live yet
    await hub.live(admin)
    await customer.send({"type": "chat_message", "message": "Love it", "username": "Kim"})
    await other.send({"type": "chat_message", "message": "Meh", "username": "Lou"})
    await customer.send({"type": "toggle_like"})
    for product in ("serum", "cream", "serum"):
        await customer.send({"type": "product_tapped", "productId": product})
    await customer.send(
        {"type": "customer_message", "message": "Ship to Oslo?", "customerName": "Kim"}
    )
    await admin.expect("customer_message")
    await customer.sync()
    second_tab = await hub.customer("sess-ctx")  # a later tab does not move "since"

    ctx = await admin.request(
        {"type": "get_customer_context", "sessionId": "sess-ctx"}, "customer_context"
    )
    assert ctx["watching"] is True and ctx["since"].endswith("Z")
    assert ctx["customerName"] == "Kim"
    assert ctx["publicId"] == customer.joined[0]["publicId"]
    assert ctx["streamId"] is not None
    assert [(m["username"], m["message"]) for m in ctx["chat"]] == [("Kim", "Love it")]
    assert ctx["liked"] is True
    assert [(t["productId"], t["taps"]) for t in ctx["tapped"]] == [("serum", 2), ("cream", 1)]
    since = ctx["since"]

    await customer.close()
    await second_tab.close()
    await asyncio.sleep(0.2)
    away = await admin.request(
        {"type": "get_customer_context", "sessionId": "sess-ctx"}, "customer_context"
    )
    assert (away["watching"], away["since"]) == (False, None)
    assert away["chat"] == ctx["chat"] and away["liked"] is True and away["tapped"] == ctx["tapped"]
    back = await hub.customer("sess-ctx")
    again = await admin.request(
        {"type": "get_customer_context", "sessionId": "sess-ctx"}, "customer_context"
    )
    assert again["watching"] is True and again["since"] > since
    await back.close()

    nobody = await admin.request(
        {"type": "get_customer_context", "sessionId": "never"}, "customer_context"
    )
    assert (nobody["watching"], nobody["customerName"], nobody["chat"], nobody["liked"]) == (
        False,
        None,
        [],
        False,
    )
    assert nobody["tapped"] == []
    await other.send({"type": "get_customer_context", "sessionId": "sess-ctx"})
    assert await other.expect("error") == {"type": "error", "message": "Not authorized"}


async def test_context_follows_a_customer_with_a_user_token(hub: RunningHub) -> None:
    """A customer registered with a user token chats under the user's publicId; the context
    finds those lines by the session."""
    admin = await hub.admin()
    await hub.live(admin)
    member = await hub.customer("sess-member", token=token("u-77", "customer"))
    anonymous_id = (await hub.customer("sess-probe")).joined[0]["publicId"]
    assert member.joined[0]["publicId"] != anonymous_id
    await member.send({"type": "chat_message", "message": "Member here", "username": "Mo"})
    await member.send({"type": "toggle_like"})
    await member.sync()
    ctx = await admin.request(
        {"type": "get_customer_context", "sessionId": "sess-member"}, "customer_context"
    )
    assert ctx["publicId"] == member.joined[0]["publicId"]
    assert [m["message"] for m in ctx["chat"]] == ["Member here"] and ctx["liked"] is True


async def test_product_tapped_needs_a_registered_customer_and_is_rate_limited(
    hub: RunningHub,
) -> None:
    """Unregistered: "Not registered"; staff: "Not authorized"; a burst is cut by the
    `like` bucket."""
    staff = await hub.admin()
    fresh = await hub.connect()
    await fresh.send({"type": "product_tapped", "productId": "p1"})
    assert await fresh.recv() == {"type": "error", "message": "Not registered"}
    await staff.send({"type": "product_tapped", "productId": "p1"})
    assert await staff.recv() == {"type": "error", "message": "Not authorized"}
    c = await hub.customer("sess-burst")
    for _ in range(40):
        await c.send({"type": "product_tapped", "productId": "p1"})
    errors = [m for m in await c.sync() if m == {"type": "error", "message": "Rate limit exceeded"}]
    assert 20 <= len(errors) < 40
    ctx = await staff.request(
        {"type": "get_customer_context", "sessionId": "sess-burst"}, "customer_context"
    )
    assert ctx["tapped"][0]["taps"] == 40 - len(errors)
