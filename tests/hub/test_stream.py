"""Live stream state: start/stop, viewers, likes, pinned products, chat, against a real server."""

from __future__ import annotations

import re

from tests.conftest import RunningHub

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def test_start_stream_reaches_every_registered_client(hub: RunningHub) -> None:
    """All registered clients, the sender included, get `stream_started` with the figures."""
    admin = await hub.admin()
    c1 = await hub.customer("s1")
    c2 = await hub.customer("s2")
    unregistered = await hub.connect()
    await admin.send(
        {
            "type": "start_stream",
            "title": "Serums",
            "description": "New line",
            "streamUrl": "http://x/live",
            "quality": "1080p",
        }
    )
    for client in (admin, c1, c2):
        msg = await client.expect("stream_started")
        data = msg["streamData"]
        assert data["title"] == "Serums"
        assert data["description"] == "New line"
        assert data["streamUrl"] == "http://x/live"
        assert data["quality"] == "1080p"
        assert data["viewerCount"] == 2
        assert data["likes"] == 0 and data["likedBy"] == []
        assert ISO_MS.match(data["startTime"])
        assert re.fullmatch(r"[0-9a-f]{24}", data["streamId"])
    assert await unregistered.quiet() == []


async def test_second_start_and_stop_without_stream_are_refused(hub: RunningHub) -> None:
    """ "Stream already active" and "No active stream"."""
    admin = await hub.admin()
    await admin.send({"type": "stop_stream"})
    assert await admin.recv() == {"type": "error", "message": "No active stream"}
    await hub.live(admin)
    await admin.send({"type": "start_stream", "title": "again"})
    assert await admin.recv() == {"type": "error", "message": "Stream already active"}


async def test_stop_stream_broadcasts_stream_id(hub: RunningHub) -> None:
    """`stream_stopped` carries the streamId to everyone."""
    admin = await hub.admin()
    c = await hub.customer("s1")
    started = await hub.live(admin)
    await c.expect("stream_started")
    await admin.send({"type": "stop_stream"})
    sid = started["streamData"]["streamId"]
    assert await admin.expect("stream_stopped") == {"type": "stream_stopped", "streamId": sid}
    assert await c.expect("stream_stopped") == {"type": "stream_stopped", "streamId": sid}


async def test_late_joiner_gets_state_in_order(hub: RunningHub) -> None:
    """register while live: registered, stream_started, pinned_products_updated, chat_history."""
    admin = await hub.admin()
    await hub.live(admin)
    pins = [
        {
            "productId": "p1",
            "name": "Serum",
            "price": 49.99,
            "image": "/uploads/s.jpg",
            "displayOrder": 1,
        }
    ]
    await admin.send({"type": "pin_products", "pinnedProducts": pins})
    await admin.expect("pinned_products_updated")
    await admin.send({"type": "chat_message", "message": "Welcome!"})
    await admin.expect("chat_message")
    c = await hub.connect()
    await c.send({"type": "register", "sessionId": "late"})
    types = [(await c.recv())["type"] for _ in range(4)]
    assert types == ["registered", "stream_started", "pinned_products_updated", "chat_history"]
    c2 = await hub.connect()
    await c2.send({"type": "register", "sessionId": "late2"})
    await c2.expect("registered")
    started = await c2.recv()
    assert started["streamData"]["viewerCount"] == 2
    pinned = await c2.recv()
    assert pinned["pinnedProducts"] == pins
    history = await c2.recv()
    assert [m["message"] for m in history["messages"]] == ["Welcome!"]
    assert history["messages"][0]["isAdmin"] is True


async def test_viewer_count_counts_distinct_sessions(hub: RunningHub) -> None:
    """Two tabs of one session are one viewer; leaving updates everyone."""
    admin = await hub.admin()
    await hub.live(admin)
    tab1 = await hub.customer("same")
    assert (await admin.expect("stream_update"))["viewerCount"] == 1
    tab2 = await hub.customer("same")
    other = await hub.customer("other")
    update = await admin.expect("stream_update")
    assert update["viewerCount"] == 2
    assert set(update) == {"type", "viewerCount", "likes", "likedBy"}
    await tab1.close()
    await tab2.close()
    assert (await admin.expect("stream_update"))["viewerCount"] == 1
    await other.close()
    assert (await admin.expect("stream_update"))["viewerCount"] == 0


async def test_likes_toggle_once_per_person_with_public_ids(hub: RunningHub) -> None:
    """One like per session; a second toggle takes it back; likedBy holds publicIds."""
    admin = await hub.admin()
    await hub.live(admin)
    c = await hub.connect()
    await c.send({"type": "register", "sessionId": "secret-session-1"})
    public_id = (await c.expect("registered"))["publicId"]
    await c.send({"type": "toggle_like"})
    update = await c.expect("stream_update", likes=1)
    assert update["likedBy"] == [public_id]
    assert "secret-session-1" not in str(update)
    await c.send({"type": "toggle_like"})
    update = await c.expect("stream_update", likes=0)
    assert update["likedBy"] == []


async def test_likes_of_a_logged_in_user_follow_the_user(hub: RunningHub) -> None:
    """With a token, the like belongs to the userId: a second device sees it as liked."""
    from tests.helpers.testutils import token

    admin = await hub.admin()
    await hub.live(admin)
    phone = await hub.connect()
    await phone.send({"type": "register", "sessionId": "phone", "token": token("u1", "customer")})
    pid_phone = (await phone.expect("registered"))["publicId"]
    laptop = await hub.connect()
    await laptop.send({"type": "register", "sessionId": "laptop", "token": token("u1", "customer")})
    pid_laptop = (await laptop.expect("registered"))["publicId"]
    assert pid_phone == pid_laptop
    await phone.send({"type": "toggle_like"})
    assert (await laptop.expect("stream_update", likes=1))["likedBy"] == [pid_phone]
    await laptop.send({"type": "toggle_like"})
    assert (await phone.expect("stream_update", likes=0))["likedBy"] == []


async def test_like_and_chat_need_a_live_stream(hub: RunningHub) -> None:
    """`toggle_like` and `chat_message` without a stream: "No active stream"."""
    c = await hub.customer("s")
    await c.send({"type": "toggle_like"})
    assert await c.recv() == {"type": "error", "message": "No active stream"}
    await c.send({"type": "chat_message", "message": "hello"})
    assert await c.recv() == {"type": "error", "message": "No active stream"}


async def test_chat_fields_are_set_by_the_server(hub: RunningHub) -> None:
    """The server sets id, timestamp and isAdmin; the client's values are ignored."""
    admin = await hub.admin()
    await hub.live(admin)
    c = await hub.customer("s")
    await c.send(
        {
            "type": "chat_message",
            "username": "Jo",
            "message": "Lovely!",
            "isAdmin": True,
            "timestamp": "1999-01-01T00:00:00.000Z",
            "id": "forged",
        }
    )
    got = await admin.expect("chat_message")
    mine = await c.expect("chat_message")
    assert got == mine
    assert got["isAdmin"] is False
    assert got["timestamp"] != "1999-01-01T00:00:00.000Z" and ISO_MS.match(got["timestamp"])
    assert got["id"] != "forged" and isinstance(got["id"], str)
    assert got["username"] == "Jo" and got["message"] == "Lovely!"
    await admin.send(
        {"type": "chat_message", "username": "Shop", "message": "Thanks", "isAdmin": False}
    )
    assert (await c.expect("chat_message"))["isAdmin"] is True


async def test_chat_history_is_oldest_first_and_bounded(hub: RunningHub) -> None:
    """History on join is the last messages, oldest first."""
    admin = await hub.admin()
    await hub.live(admin)
    for i in range(5):
        await admin.send({"type": "chat_message", "message": f"m{i}"})
        await admin.expect("chat_message")
    c = await hub.connect()
    await c.send({"type": "register", "sessionId": "s"})
    history = await c.expect("chat_history")
    assert [m["message"] for m in history["messages"]] == [f"m{i}" for i in range(5)]
    ids = [m["id"] for m in history["messages"]]
    assert len(set(ids)) == 5


async def test_new_stream_starts_with_empty_chat_and_likes(hub: RunningHub) -> None:
    """Stopping resets chat, likes and pins for the next stream."""
    admin = await hub.admin()
    await hub.live(admin)
    await admin.send({"type": "pin_products", "pinnedProducts": [{"productId": "p"}]})
    await admin.send({"type": "chat_message", "message": "old"})
    await admin.send({"type": "toggle_like"})
    await admin.expect("stream_update")
    await admin.send({"type": "stop_stream"})
    await admin.expect("stream_stopped")
    await hub.live(admin, "second")
    c = await hub.connect()
    await c.send({"type": "register", "sessionId": "s"})
    started = await c.expect("stream_started")
    assert started["streamData"]["likes"] == 0
    assert (await c.expect("pinned_products_updated"))["pinnedProducts"] == []
    assert (await c.expect("chat_history"))["messages"] == []


async def test_pin_products_replaces_the_list_for_everyone(hub: RunningHub) -> None:
    """`pin_products` replaces the list; all get it in the order given."""
    admin = await hub.admin()
    c = await hub.customer("s")
    items = [
        {
            "productId": "b",
            "name": "Balm",
            "price": 12,
            "image": "/uploads/b.png",
            "displayOrder": 2,
        },
        {"productId": 7, "name": "Mask", "price": 9.5, "image": "", "displayOrder": 1},
    ]
    await admin.send({"type": "pin_products", "pinnedProducts": items})
    assert (await c.expect("pinned_products_updated"))["pinnedProducts"] == items
    await admin.send({"type": "pin_products", "pinnedProducts": items[1:]})
    assert (await c.expect("pinned_products_updated"))["pinnedProducts"] == items[1:]


async def test_pin_products_validates_items(hub: RunningHub) -> None:
    """Non-list, items without productId, or wrongly typed fields are invalid."""
    admin = await hub.admin()
    for bad in (
        "x",
        [1],
        [{"name": "no id"}],
        [{"productId": "p", "price": "free"}],
        [{"productId": {"x": 1}}],
    ):
        await admin.send({"type": "pin_products", "pinnedProducts": bad})
        assert await admin.recv() == {"type": "error", "message": "Invalid message format"}


async def test_stream_info_tells_the_last_and_next_stream(hub: RunningHub) -> None:
    """`stream_info`: live or not, the last stream's title, the announced next one."""
    c = await hub.customer("s")
    info = await c.request({"type": "get_stream_info"}, "stream_info")
    assert info["live"] is False and info["lastStream"] is None and info["nextStream"] is None
    admin = await hub.admin()
    await hub.live(admin, "Morning routine")
    info = await c.request({"type": "get_stream_info"}, "stream_info")
    assert info["live"] is True and info["title"] == "Morning routine"
    await admin.send({"type": "stop_stream"})
    await admin.expect("stream_stopped")
    await admin.send(
        {"type": "set_next_stream", "title": "Evening care", "startsAt": "2026-12-01T18:00:00.000Z"}
    )
    assert (await admin.expect("next_stream_set"))["nextStream"]["title"] == "Evening care"
    info = await c.request({"type": "get_stream_info"}, "stream_info")
    assert info["live"] is False
    assert info["lastStream"]["title"] == "Morning routine"
    assert info["nextStream"] == {"title": "Evening care", "startsAt": "2026-12-01T18:00:00.000Z"}
    await c.send({"type": "set_next_stream", "title": "x"})
    assert await c.expect("error") == {"type": "error", "message": "Not authorized"}
