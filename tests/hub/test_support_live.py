"""Support's live feel on the wire: typing both ways, "seen" receipts that survive a
restart, and canned replies shared by every staff connection (issue 12)."""

from __future__ import annotations

import asyncio

from tests.conftest import RunningHub
from wrencos_studio.hub.features.support import TYPING_RELAY_S


async def test_customer_typing_reaches_every_admin_and_is_limited(hub: RunningHub) -> None:
    """A customer's `typing` reaches both stations as `customer_typing` with the name it
    wrote under; a burst is passed on once a second, quietly; the other tab hears nothing."""
    alice = await hub.admin("alice")
    sam = await hub.admin("sam", role="staff")
    c = await hub.customer("sess-typing-1")
    other_tab = await hub.customer("sess-typing-1")
    await c.send({"type": "customer_message", "message": "Hi", "customerName": "Anna"})
    for station in (alice, sam):
        await station.expect("conversation_updated", sessionId="sess-typing-1")
    await c.send({"type": "typing"})
    for station in (alice, sam):
        got = await station.expect("customer_typing", timeout=1.0)
        assert got == {
            "type": "customer_typing",
            "sessionId": "sess-typing-1",
            "customerName": "Anna",
            "expiresInMs": 5000,
        }
    for _ in range(10):  # a burst within the relay interval: dropped, no error
        await c.send({"type": "typing", "customerName": "Anna B."})
    assert [m for m in await c.sync() if m["type"] != "my_message"] == []
    assert [m["type"] for m in await alice.quiet(0.2)] == []
    await asyncio.sleep(TYPING_RELAY_S)
    await c.send({"type": "typing", "customerName": "Anna B."})
    assert (await alice.expect("customer_typing", timeout=1.0))["customerName"] == "Anna B."
    assert [m["type"] for m in await other_tab.quiet(0.2)] == ["my_message"]


async def test_staff_typing_reaches_the_customers_tabs_and_other_staff(hub: RunningHub) -> None:
    """`staff_typing` gives every tab of that session `shop_typing` (no staff name), the
    other stations `staff_typing` with the typist; the typist and other customers get
    nothing. The once-a-second limit is per conversation."""
    alice = await hub.admin("alice")
    sam = await hub.admin("sam", role="staff")
    tab1 = await hub.customer("sess-typing-2")
    tab2 = await hub.customer("sess-typing-2")
    stranger = await hub.customer("sess-typing-3")
    await sam.send({"type": "staff_typing", "sessionId": "sess-typing-2"})
    for tab in (tab1, tab2):
        assert await tab.expect("shop_typing", timeout=1.0) == {
            "type": "shop_typing",
            "expiresInMs": 5000,
        }
    got = await alice.expect("staff_typing", timeout=1.0)
    assert (got["sessionId"], got["userId"]) == ("sess-typing-2", "sam")
    assert await sam.sync() == []
    assert await stranger.quiet(0.2) == []
    # Within the second: the same thread again is dropped, another thread is not.
    await sam.send({"type": "staff_typing", "sessionId": "sess-typing-2"})
    await sam.send({"type": "staff_typing", "sessionId": "sess-typing-3"})
    assert await stranger.expect("shop_typing", timeout=1.0)
    assert [m["sessionId"] for m in await alice.quiet(0.3)] == ["sess-typing-3"]
    assert await tab1.quiet(0.2) == []


async def test_typing_checks(hub: RunningHub) -> None:
    """Who may send which, and bad fields, get the usual errors."""
    staff = await hub.admin("sam", role="staff")
    c = await hub.customer("sess-typing-4")
    fresh = await hub.connect()
    await fresh.send({"type": "typing"})
    assert await fresh.recv() == {"type": "error", "message": "Not registered"}
    await staff.send({"type": "typing"})
    assert await staff.recv() == {"type": "error", "message": "Not authorized"}
    await c.send({"type": "staff_typing", "sessionId": "sess-typing-4"})
    assert await c.recv() == {"type": "error", "message": "Not authorized"}
    await staff.send({"type": "staff_typing"})
    assert await staff.recv() == {"type": "error", "message": "Invalid message format"}
    await c.send({"type": "typing", "customerName": "x" * 51})
    assert await c.recv() == {"type": "error", "message": "Message too long"}


async def test_seen_receipts_reach_staff_and_survive_a_restart(hub: RunningHub) -> None:
    """`reply_seen` marks that reply and the earlier ones seen; both stations get
    `replies_seen`; the thread carries `seenAt` after a restart; a second receipt, an
    unknown id or another customer's reply change nothing."""
    alice = await hub.admin("alice")
    sam = await hub.admin("sam", role="staff")
    c = await hub.customer("sess-seen-1")
    intruder = await hub.customer("sess-seen-2")
    await c.send({"type": "customer_message", "message": "Is it vegan?"})
    await sam.send({"type": "staff_message", "sessionId": "sess-seen-1", "content": "Yes"})
    first = await c.expect("staff_reply")
    await sam.send({"type": "staff_message", "sessionId": "sess-seen-1", "content": "All of it"})
    second = await c.expect("staff_reply")
    await c.send({"type": "reply_seen", "id": first["id"]})
    for station in (alice, sam):
        got = await station.expect("replies_seen", timeout=1.0)
        assert (got["sessionId"], got["id"]) == ("sess-seen-1", first["id"])
        assert got["seenAt"].endswith("Z")
    thread = await alice.request(
        {"type": "get_conversation", "sessionId": "sess-seen-1"}, "conversation"
    )
    staff_lines = [m for m in thread["messages"] if m["from"] == "staff"]
    assert "seenAt" in staff_lines[0] and "seenAt" not in staff_lines[1]
    assert all("seenAt" not in m for m in thread["messages"] if m["from"] == "customer")

    await c.send({"type": "reply_seen", "id": first["id"]})  # seen already
    await intruder.send({"type": "reply_seen", "id": second["id"]})  # not theirs
    await c.send({"type": "reply_seen", "id": "no-such-reply"})
    assert await c.sync() == [] and await intruder.sync() == []
    assert [m for m in await alice.quiet(0.3) if m["type"] == "replies_seen"] == []

    await c.send({"type": "reply_seen", "id": second["id"]})
    seen = await alice.expect("replies_seen", timeout=1.0, id=second["id"])
    await hub.restart()
    alice = await hub.admin("alice")
    thread = await alice.request(
        {"type": "get_conversation", "sessionId": "sess-seen-1"}, "conversation"
    )
    assert [m.get("seenAt") for m in thread["messages"] if m["from"] == "staff"][1] == (
        seen["seenAt"]
    )
    c = await hub.customer("sess-seen-1")
    mine = await c.request({"type": "get_my_conversation"}, "my_conversation")
    assert all("seenAt" not in m for m in mine["messages"])


async def test_canned_replies_are_shared_by_every_station(hub: RunningHub) -> None:
    """Save, rename and delete reach every admin connection as the whole list, stored
    (it survives a restart); customers may not touch them; bad shortcuts are refused."""
    alice = await hub.admin("alice")
    sam = await hub.admin("sam", role="staff")
    assert (await sam.request({"type": "get_canned_replies"}, "canned_replies"))["replies"] == []
    await sam.send({"type": "save_canned_reply", "shortcut": "/Ship", "text": " Ships  today\n"})
    for station in (alice, sam):
        [reply] = (await station.expect("canned_replies", timeout=1.0))["replies"]
        assert (reply["shortcut"], reply["text"], reply["updatedBy"]) == (
            "ship",
            "Ships today",
            "sam",
        )
    await alice.send(
        {
            "type": "save_canned_reply",
            "shortcut": "shipping",
            "previousShortcut": "ship",
            "text": "Ships within 24 h",
        }
    )
    await alice.send({"type": "save_canned_reply", "shortcut": "hi", "text": "Hello!"})
    for station in (alice, sam):
        await station.expect("canned_replies", timeout=1.0)
        got = await station.expect("canned_replies", timeout=1.0)
        assert [(r["shortcut"], r["text"]) for r in got["replies"]] == [
            ("hi", "Hello!"),
            ("shipping", "Ships within 24 h"),
        ]
    await sam.send({"type": "delete_canned_reply", "shortcut": "hi"})
    for station in (alice, sam):
        got = await station.expect("canned_replies", timeout=1.0)
        assert [r["shortcut"] for r in got["replies"]] == ["shipping"]

    c = await hub.customer("sess-canned")
    await c.send({"type": "get_canned_replies"})
    assert await c.recv() == {"type": "error", "message": "Not authorized"}
    for bad in ("", "/", "-x", "a b", "x" * 33, "émoji"):
        await sam.send({"type": "save_canned_reply", "shortcut": bad, "text": "t"})
        assert await sam.recv() == {"type": "error", "message": "Invalid message format"}, bad
    await sam.send({"type": "save_canned_reply", "shortcut": "empty", "text": "\u200b "})
    assert await sam.recv() == {"type": "error", "message": "Message is empty"}

    await hub.restart()
    alice = await hub.admin("alice")
    got = await alice.request({"type": "get_canned_replies"}, "canned_replies")
    assert [r["shortcut"] for r in got["replies"]] == ["shipping"]
