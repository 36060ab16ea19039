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
