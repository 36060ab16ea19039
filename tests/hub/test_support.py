"""Customer support both ways, with delivery to customers who were offline."""

from __future__ import annotations

import asyncio

from tests.conftest import RunningHub


async def test_customer_message_reaches_every_admin_with_session_and_time(
    hub: RunningHub,
) -> None:
    """Every admin connection (admin and staff) gets `customer_message`; customers do not."""
    a1 = await hub.admin("alice")
    a2 = await hub.admin("sam", role="staff")
    other = await hub.customer("bystander")
    c = await hub.customer("sess-12345")
    await c.send(
        {"type": "customer_message", "message": "Where is my order?", "customerName": "Dana"}
    )
    for admin in (a1, a2):
        msg = await admin.expect("customer_message")
        assert msg["sessionId"] == "sess-12345"
        assert msg["message"] == "Where is my order?"
        assert msg["customerName"] == "Dana"
        assert msg["timestamp"].endswith("Z")
    assert await other.quiet() == []


async def test_default_customer_name(hub: RunningHub) -> None:
    """Without a name the conversation is "Customer #<last 5 of the sessionId>"."""
    a = await hub.admin()
    c = await hub.customer("sess-uuid-12345")
    await c.send({"type": "customer_message", "message": "hi"})
    assert (await a.expect("customer_message"))["customerName"] == "Customer #12345"


async def test_staff_reply_reaches_only_that_customer_in_all_tabs(hub: RunningHub) -> None:
    """`staff_message` goes to that session's connections as `staff_reply`, nobody else."""
    a = await hub.admin()
    tab1 = await hub.customer("s1")
    tab2 = await hub.customer("s1")
    other = await hub.customer("s2")
    await a.send({"type": "staff_message", "sessionId": "s1", "content": "On its way!"})
    for tab in (tab1, tab2):
        reply = await tab.expect("staff_reply")
        assert reply["message"] == "On its way!"
        assert reply["timestamp"].endswith("Z")
        assert "sessionId" not in reply
    assert await other.quiet() == []


async def test_offline_customer_gets_replies_in_order_on_return(hub: RunningHub) -> None:
    """Replies sent while the customer was away arrive, in order, after registering again."""
    a = await hub.admin()
    c = await hub.customer("away")
    await c.send({"type": "customer_message", "message": "help"})
    await a.expect("customer_message")
    await c.close()
    await asyncio.sleep(0.1)
    for i in range(3):
        await a.send({"type": "staff_message", "sessionId": "away", "content": f"reply {i}"})
    await a.send({"type": "ping"})
    await a.expect("pong")
    back = await hub.connect()
    await back.send({"type": "register", "sessionId": "away"})
    assert (await back.recv())["type"] == "registered"
    got = [await back.recv() for _ in range(3)]
    assert [m["message"] for m in got] == ["reply 0", "reply 1", "reply 2"]
    assert all(m["type"] == "staff_reply" for m in got)
    # Delivered once (confirmed by the client's pong): a second return gets nothing more.
    await back.sync()
    await asyncio.sleep(0.1)
    again = await hub.connect()
    await again.send({"type": "register", "sessionId": "away"})
    await again.expect("registered")
    assert [m for m in await again.quiet() if m["type"] == "staff_reply"] == []


async def test_offline_replies_survive_a_restart(hub: RunningHub) -> None:
    """A reply to an offline customer is kept in the database across a restart."""
    a = await hub.admin()
    await a.send({"type": "staff_message", "sessionId": "later", "content": "We restocked"})
    await a.send({"type": "ping"})
    await a.expect("pong")
    await hub.restart()
    c = await hub.connect()
    await c.send({"type": "register", "sessionId": "later"})
    await c.expect("registered")
    assert (await c.expect("staff_reply"))["message"] == "We restocked"


async def test_conversations_newest_first_with_unread_counts(hub: RunningHub) -> None:
    """`conversations` lists each session newest first with last line and unread count."""
    a = await hub.admin()
    c1 = await hub.customer("one")
    c2 = await hub.customer("two")
    await c1.send({"type": "customer_message", "message": "first", "customerName": "Ann"})
    await a.expect("customer_message")
    await c2.send({"type": "customer_message", "message": "second", "customerName": "Ben"})
    await a.expect("customer_message")
    await c1.send({"type": "customer_message", "message": "third"})
    await a.expect("customer_message")
    listing = await a.request({"type": "get_conversations"}, "conversations")
    convs = listing["conversations"]
    assert [c["sessionId"] for c in convs] == ["one", "two"]
    assert convs[0]["customerName"] == "Ann"
    assert convs[0]["lastMessage"] == "third"
    assert convs[0]["unread"] == 2
    assert convs[1]["unread"] == 1
    assert convs[0]["lastTimestamp"].endswith("Z")
    await a.send({"type": "staff_message", "sessionId": "two", "content": "hello Ben"})
    await c2.expect("staff_reply")
    convs = (await a.request({"type": "get_conversations"}, "conversations"))["conversations"]
    assert [c["sessionId"] for c in convs] == ["two", "one"]
    assert convs[0]["unread"] == 0
    assert convs[0]["lastMessage"] == "hello Ben"


async def test_conversation_thread_oldest_first(hub: RunningHub) -> None:
    """`conversation` returns both sides, oldest first; an unknown session is empty."""
    a = await hub.admin()
    c = await hub.customer("thread")
    await c.send({"type": "customer_message", "message": "Is it vegan?"})
    await a.expect("customer_message")
    await a.send({"type": "staff_message", "sessionId": "thread", "content": "Yes!"})
    await c.expect("staff_reply")
    conv = await a.request({"type": "get_conversation", "sessionId": "thread"}, "conversation")
    assert conv["sessionId"] == "thread"
    assert [(m["from"], m["message"]) for m in conv["messages"]] == [
        ("customer", "Is it vegan?"),
        ("staff", "Yes!"),
    ]
    empty = await a.request({"type": "get_conversation", "sessionId": "nobody"}, "conversation")
    assert empty["messages"] == []


async def test_support_validation(hub: RunningHub) -> None:
    """Missing or non-string texts are invalid, blank ones empty; 2000 characters is the
    limit."""
    a = await hub.admin()
    c = await hub.customer("v")
    for bad in (
        {"type": "customer_message"},
        {"type": "customer_message", "message": 5},
    ):
        await c.send(bad)
        assert await c.recv() == {"type": "error", "message": "Invalid message format"}
    await c.send({"type": "customer_message", "message": "   "})
    assert await c.recv() == {"type": "error", "message": "Message is empty"}
    await c.send({"type": "customer_message", "message": "x" * 2001})
    assert await c.recv() == {"type": "error", "message": "Message too long"}
    await c.send({"type": "customer_message", "message": "x" * 2000, "customerName": "n" * 51})
    assert await c.recv() == {"type": "error", "message": "Message too long"}
    await c.send({"type": "customer_message", "message": "x" * 2000})
    assert len((await a.expect("customer_message"))["message"]) == 2000
    # (conversation_updated may arrive in between: expect() skips it)
    await a.send({"type": "staff_message", "sessionId": "v"})
    assert await a.expect("error") == {"type": "error", "message": "Invalid message format"}
    await a.send({"type": "staff_message", "sessionId": "v", "content": "y" * 2001})
    assert await a.expect("error") == {"type": "error", "message": "Message too long"}


async def test_no_other_customers_session_id_leaks(hub: RunningHub) -> None:
    """Nothing a customer receives carries another customer's sessionId."""
    a = await hub.admin()
    await hub.live(a)
    watcher = await hub.customer("watcher-session")
    victim = await hub.customer("victim-secret-session")
    await victim.send({"type": "chat_message", "message": "hi"})
    await victim.send({"type": "toggle_like"})
    await victim.send({"type": "customer_message", "message": "help"})
    await a.expect("customer_message")
    await a.send({"type": "staff_message", "sessionId": "victim-secret-session", "content": "ok"})
    await victim.expect("staff_reply")
    seen = await watcher.quiet(0.5)
    assert seen, "the watcher should have seen chat and likes"
    assert "victim-secret-session" not in repr(seen)


async def test_reply_to_a_connection_that_never_reads_it_is_sent_again(hub: RunningHub) -> None:
    """Delivery needs proof (a pong after the reply); a dead connection's reply is resent."""
    a = await hub.admin()
    ghost = await hub.customer("flaky")
    ghost.conn.transport.pause_reading()  # half-open: nothing read, no pong
    await a.send({"type": "staff_message", "sessionId": "flaky", "content": "Did you get this?"})
    await asyncio.sleep(0.3)
    ghost.conn.transport.abort()
    await asyncio.sleep(0.2)
    back = await hub.connect()
    await back.send({"type": "register", "sessionId": "flaky"})
    await back.expect("registered")
    reply = await back.expect("staff_reply")
    assert reply["message"] == "Did you get this?"
    assert isinstance(reply["id"], str)
    # Now it is confirmed (the client answers pings): a later return gets nothing more.
    await back.sync()
    await asyncio.sleep(0.2)
    again = await hub.customer("flaky")
    assert [m for m in again.joined if m["type"] == "staff_reply"] == []


async def test_customer_reads_its_own_thread_after_a_reload(hub: RunningHub) -> None:
    """`get_my_conversation`: both sides of this session's thread, nobody else's."""
    a = await hub.admin()
    c = await hub.customer("mine")
    await c.send({"type": "customer_message", "message": "Do you ship to Oslo?"})
    await a.expect("customer_message")
    await a.send({"type": "staff_message", "sessionId": "mine", "content": "We do!"})
    reply = await c.expect("staff_reply")
    other = await hub.customer("someone-else")
    await other.send({"type": "customer_message", "message": "private"})
    await a.expect("customer_message")
    reloaded = await hub.customer("mine")
    thread = await reloaded.request({"type": "get_my_conversation"}, "my_conversation")
    assert [(m["from"], m["message"]) for m in thread["messages"]] == [
        ("customer", "Do you ship to Oslo?"),
        ("staff", "We do!"),
    ]
    assert thread["messages"][1]["id"] == reply["id"]
    stranger = await hub.connect()
    await stranger.send({"type": "get_my_conversation"})
    assert await stranger.recv() == {"type": "error", "message": "Not registered"}
    await a.send({"type": "get_my_conversation"})
    assert await a.expect("error") == {"type": "error", "message": "Not authorized"}
