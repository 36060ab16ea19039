"""Chat moderation and inbox status: delete a line, mute, ban, slow mode, resolve."""

from __future__ import annotations

import asyncio

from tests.conftest import RunningHub


async def test_deleting_a_line_removes_it_for_everyone(hub: RunningHub) -> None:
    """`delete_chat_message`: everyone gets `chat_message_deleted`; history drops it."""
    admin = await hub.admin()
    await hub.live(admin)
    c = await hub.customer("c1")
    await c.send({"type": "chat_message", "message": "spam spam"})
    line = await admin.expect("chat_message")
    await admin.send({"type": "delete_chat_message", "id": line["id"]})
    assert await c.expect("chat_message_deleted") == {
        "type": "chat_message_deleted",
        "id": line["id"],
    }
    late = await hub.customer("late")
    history = next(m for m in late.joined if m["type"] == "chat_history")
    assert history["messages"] == []
    await c.send({"type": "delete_chat_message", "id": line["id"]})
    assert (await c.expect("error"))["message"] == "Not authorized"


async def test_mute_and_ban_for_the_stream(hub: RunningHub) -> None:
    """Muted: no chat. Banned: no chat, no likes, and their lines disappear. Clear lifts it."""
    admin = await hub.admin()
    await hub.live(admin)
    troll = await hub.customer("troll")
    fan = await hub.customer("fan")
    await troll.send({"type": "chat_message", "message": "first"})
    first = await fan.expect("chat_message")
    assert first["publicId"] == troll.joined[0]["publicId"]
    await admin.send({"type": "moderate_customer", "publicId": first["publicId"], "action": "mute"})
    assert (await admin.expect("moderation_updated"))["muted"] == [first["publicId"]]
    await troll.send({"type": "chat_message", "message": "still here"})
    assert (await troll.expect("error"))["message"] == "You cannot chat in this stream"
    await admin.send({"type": "moderate_customer", "publicId": first["publicId"], "action": "ban"})
    assert await fan.expect("chat_message_deleted") == {
        "type": "chat_message_deleted",
        "id": first["id"],
    }
    await troll.send({"type": "toggle_like"})
    assert (await troll.expect("error"))["message"] == "Not authorized"
    await admin.send(
        {"type": "moderate_customer", "publicId": first["publicId"], "action": "clear"}
    )
    await admin.expect("moderation_updated", action="clear")
    await troll.send({"type": "chat_message", "message": "sorry"})
    assert (await fan.expect("chat_message"))["message"] == "sorry"
    await fan.send({"type": "moderate_customer", "publicId": "x", "action": "ban"})
    assert (await fan.expect("error"))["message"] == "Not authorized"
    await admin.send({"type": "moderate_customer", "publicId": "x", "action": "explode"})
    assert (await admin.expect("error"))["message"] == "Invalid message format"


async def test_moderation_survives_a_restart(hub: RunningHub) -> None:
    """A ban is kept with the stream across a restart of the hub."""
    admin = await hub.admin()
    await hub.live(admin)
    troll = await hub.customer("troll")
    pid = troll.joined[0]["publicId"]
    await admin.send({"type": "moderate_customer", "publicId": pid, "action": "ban"})
    await admin.expect("moderation_updated")
    await hub.restart()
    again = await hub.customer("troll")
    await again.send({"type": "chat_message", "message": "back"})
    assert (await again.expect("error"))["message"] == "You cannot chat in this stream"


async def test_slow_mode(hub: RunningHub) -> None:
    """Slow mode: one line per customer per N seconds; everyone is told; staff are exempt."""
    admin = await hub.admin()
    await hub.live(admin)
    c = await hub.customer("talker")
    await admin.send({"type": "set_slow_mode", "seconds": 2})
    assert await c.expect("chat_settings") == {"type": "chat_settings", "slowModeSeconds": 2}
    await c.send({"type": "chat_message", "message": "one"})
    await c.expect("chat_message")
    await c.send({"type": "chat_message", "message": "two"})
    err = await c.expect("error")
    assert err["message"] == "Slow mode is on" and 0 < err["retryAfterSeconds"] <= 2
    for i in range(3):
        await admin.send({"type": "chat_message", "message": f"staff {i}"})
    for _ in range(3):
        await c.expect("chat_message")
    late = await hub.customer("late")
    assert {"type": "chat_settings", "slowModeSeconds": 2} in late.joined
    await asyncio.sleep(2.1)
    await c.send({"type": "chat_message", "message": "three"})
    assert (await c.expect("chat_message"))["message"] == "three"
    await admin.send({"type": "set_slow_mode", "seconds": 0})
    assert (await c.expect("chat_settings"))["slowModeSeconds"] == 0
    for bad in (-1, 301, 1.5, "3"):
        await admin.send({"type": "set_slow_mode", "seconds": bad})
        assert (await admin.expect("error"))["message"] == "Invalid message format"


async def test_resolving_and_reopening_a_conversation(hub: RunningHub) -> None:
    """Resolved shows in the list; the customer writing again reopens it."""
    staff = await hub.admin("sam", role="staff")
    c = await hub.customer("needs-help")
    await c.send({"type": "customer_message", "message": "help"})
    await staff.expect("customer_message")
    await staff.send({"type": "resolve_conversation", "sessionId": "needs-help", "resolved": True})
    assert (await staff.expect("conversation_status"))["status"] == "resolved"
    convs = await staff.request({"type": "get_conversations"}, "conversations")
    assert convs["conversations"][0]["status"] == "resolved"
    await c.send({"type": "customer_message", "message": "one more thing"})
    await staff.expect("customer_message")
    convs = await staff.request({"type": "get_conversations"}, "conversations")
    assert convs["conversations"][0]["status"] == "open"
    await staff.send({"type": "resolve_conversation", "sessionId": "nobody", "resolved": True})
    assert (await staff.expect("conversation_status"))["status"] is None
