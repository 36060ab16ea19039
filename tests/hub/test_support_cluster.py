"""Support across two hubs sharing a real redis-server: every station on every hub in step."""

from __future__ import annotations

from tests.conftest import RunningHub


async def test_conversation_updated_on_both_hubs(pair: tuple[RunningHub, RunningHub]) -> None:
    """A customer on hub A, staff on A and B: each change reaches both within a second,
    with answeredBy; the customer's tab on B gets `my_message`; taps made on A are in
    B's context."""
    a, b = pair
    alice = await a.admin("alice")
    bob = await b.admin("bob", role="staff")
    tab_a = await a.customer("sess-two-hubs")
    tab_b = await b.customer("sess-two-hubs")
    await tab_a.send({"type": "product_tapped", "productId": "serum"})
    await tab_a.send({"type": "customer_message", "message": "Order 1042?", "customerName": "Ida"})
    for station in (alice, bob):
        got = await station.expect("conversation_updated", timeout=1.0)
        assert (got["sessionId"], got["lastFrom"], got["unread"]) == (
            "sess-two-hubs",
            "customer",
            1,
        )
    mine = await tab_b.expect("my_message", timeout=1.0)
    assert mine["message"] == "Order 1042?"
    assert await tab_a.sync() == []

    await bob.send({"type": "staff_message", "sessionId": "sess-two-hubs", "content": "Shipped"})
    for station in (alice, bob):
        got = await station.expect("conversation_updated", timeout=1.0, lastFrom="staff")
        assert (got["answeredBy"], got["unread"], got["lastMessage"]) == ("bob", 0, "Shipped")
    assert (await tab_a.expect("staff_reply"))["message"] == "Shipped"

    await tab_a.send({"type": "customer_message", "message": "Thanks"})
    for station in (alice, bob):
        await station.expect("conversation_updated", timeout=1.0, lastMessage="Thanks", unread=1)
    await alice.send({"type": "mark_conversation_read", "sessionId": "sess-two-hubs"})
    for station in (alice, bob):
        got = await station.expect("conversation_updated", timeout=1.0, unread=0)
        assert (got["lastFrom"], got["answeredBy"]) == ("customer", "bob")
    await bob.send({"type": "resolve_conversation", "sessionId": "sess-two-hubs", "resolved": True})
    for station in (alice, bob):
        await station.expect("conversation_updated", timeout=1.0, status="resolved")

    # Both hubs' databases say the same; search works on the replica too.
    for station in (alice, bob):
        listing = await station.request(
            {"type": "get_conversations", "search": "1042", "filter": "resolved"}, "conversations"
        )
        [row] = listing["conversations"]
        assert (row["sessionId"], row["unread"], row["answeredBy"]) == ("sess-two-hubs", 0, "bob")
    ctx = await bob.request(
        {"type": "get_customer_context", "sessionId": "sess-two-hubs"}, "customer_context"
    )
    assert [t["productId"] for t in ctx["tapped"]] == ["serum"]
    assert ctx["watching"] is True  # its second tab is on this hub


async def test_typing_seen_and_canned_replies_on_both_hubs(
    pair: tuple[RunningHub, RunningHub],
) -> None:
    """Typing, "seen" and canned replies made on one hub reach the other hub's staff and
    customer tabs; the seen mark and the canned reply are stored on both."""
    a, b = pair
    alice = await a.admin("alice")
    bob = await b.admin("bob", role="staff")
    tab_a = await a.customer("sess-feel-hubs")
    tab_b = await b.customer("sess-feel-hubs")
    await tab_a.send({"type": "customer_message", "message": "Hi", "customerName": "Ida"})
    await bob.expect("conversation_updated", timeout=1.0)
    await tab_a.send({"type": "typing"})
    got = await bob.expect("customer_typing", timeout=1.0)
    assert (got["sessionId"], got["customerName"]) == ("sess-feel-hubs", "Ida")

    await bob.send({"type": "staff_typing", "sessionId": "sess-feel-hubs"})
    for tab in (tab_a, tab_b):
        await tab.expect("shop_typing", timeout=1.0)
    assert (await alice.expect("staff_typing", timeout=1.0))["userId"] == "bob"

    await bob.send({"type": "staff_message", "sessionId": "sess-feel-hubs", "content": "Hello"})
    reply = await tab_a.expect("staff_reply")
    await tab_a.send({"type": "reply_seen", "id": reply["id"]})
    seen = await bob.expect("replies_seen", timeout=1.0)
    assert seen["id"] == reply["id"]

    await alice.send({"type": "save_canned_reply", "shortcut": "hi", "text": "Hello!"})
    got = await bob.expect("canned_replies", timeout=1.0)
    assert [r["shortcut"] for r in got["replies"]] == ["hi"]
    for station in (alice, bob):  # stored on both hubs
        thread = await station.request(
            {"type": "get_conversation", "sessionId": "sess-feel-hubs"}, "conversation"
        )
        assert [m.get("seenAt") for m in thread["messages"] if m["from"] == "staff"] == [
            seen["seenAt"]
        ]
        listed = await station.request({"type": "get_canned_replies"}, "canned_replies")
        assert [r["text"] for r in listed["replies"]] == ["Hello!"]
