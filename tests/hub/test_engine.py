"""The engine's shape: handler tables checked at start-up, typed messages both ways, brokers."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.testutils import SECRET
from wrencos_studio.app import App
from wrencos_studio.codec import CodecError, camel, from_json, to_json
from wrencos_studio.config import Settings
from wrencos_studio.hub import events as ev
from wrencos_studio.hub import protocol as p
from wrencos_studio.hub.broker import LocalBroker
from wrencos_studio.hub.engine import Feature, Hub, handles
from wrencos_studio.hub.features import FEATURES, Page
from wrencos_studio.store import Store
from wrencos_studio.store.rows import (
    CannedReply,
    ChatLine,
    ConversationSummary,
    Product,
    ProductTapCount,
    ProductTaps,
    StreamSummary,
    SupportLine,
)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = Store(tmp_path / "db.sqlite3")
    s.open()
    yield s
    s.close_sync()


def _settings(tmp_path: Path) -> Settings:
    return Settings.from_env(host="127.0.0.1", port=0, data_dir=tmp_path, jwt_secret=SECRET)


def test_every_inbound_type_has_exactly_one_handler(tmp_path: Path, store: Store) -> None:
    """The full hub builds; its handler table covers every registered message type."""
    hub = Hub(_settings(tmp_path), store)
    assert set(hub._handlers) == set(p.MESSAGES)


def test_a_missing_handler_stops_the_hub_from_starting(tmp_path: Path, store: Store) -> None:
    """Without the feature that answers ``ping`` the hub refuses to start and names it."""
    without_page = [f for f in FEATURES if f is not Page]
    with pytest.raises(RuntimeError, match="'ping'"):
        Hub(_settings(tmp_path), store, features=without_page)


def test_two_handlers_for_one_type_stop_the_hub(tmp_path: Path, store: Store) -> None:
    """A second feature handling ``ping`` is refused at start-up."""

    class SecondPing(Feature):
        @handles(p.Ping)
        async def ping(self, client: Any, msg: p.Ping) -> None:
            raise AssertionError("never called")

    with pytest.raises(RuntimeError, match="two handlers for 'ping'"):
        Hub(_settings(tmp_path), store, features=[*FEATURES, SecondPing])


def test_wire_keys_are_camel_case_made_in_one_place() -> None:
    """Rows are snake_case; the codec makes the wire's camelCase and reads it back."""
    assert camel("stream_id") == "streamId" and camel("from_") == "from"
    line = ChatLine("1", "Ana", "hi", "2026-01-01T00:00:00.000Z", False, "abc")
    wire = p.ChatPosted(line).to_wire()
    assert wire == {
        "type": "chat_message",
        "id": "1",
        "username": "Ana",
        "message": "hi",
        "timestamp": "2026-01-01T00:00:00.000Z",
        "isAdmin": False,
        "publicId": "abc",
    }
    assert p.parse(wire) == p.ChatPosted(line)
    assert to_json(SupportLine("staff", "ok", "t", "u1")) == {
        "from": "staff",
        "message": "ok",
        "timestamp": "t",
        "id": "u1",
    }


SUMMARY = StreamSummary(
    "s", "Show", "t1", "t2", 60, 3, 2, 5, 2, 1, 1.5, 2, [ProductTapCount("p1", "Serum", 4)]
)


def test_every_outbound_type_round_trips(tmp_path: Path) -> None:
    """Each server -> client definition parses back from its own wire form."""
    product = Product("p1", "Serum", 9.5, "", "", "", "t")
    samples: list[p.OutboundMessage] = [
        p.Registered("s1", "connected", "pid"),
        p.AdminRegistered("alice", "connected", "admin"),
        p.Pong(),
        p.Error("Slow mode is on", 2.5),
        p.StreamStarted(p.StreamData("s", "t", "d", "x", 1, 0, [], "", "720p")),
        p.StreamStopped("s"),
        p.StreamSummaryReady(SUMMARY),
        p.StreamSummaryReady(dataclasses.replace(SUMMARY, replay_id="r" * 22)),
        p.StreamSummaries([SUMMARY], True, "2026-01-01T00:00:00.000Z~3"),
        p.StreamUpdate(2, 1, ["a"]),
        p.PinnedProductsUpdated([{"productId": "p1"}]),
        p.ChatPosted(ChatLine("2", "b", "m", "t", False, "pid")),
        p.ChatHistory([ChatLine("1", "a", "m", "t", True, None)]),
        p.ChatMessageDeleted("1"),
        p.ChatSettings(10),
        p.ModerationUpdated(["a"], [], 0, "a", "mute"),
        p.CustomerMessageReceived("s1", "hello", "Ana", "t"),
        p.MyMessage("hello", "t", "u1", "p1"),
        p.ConversationUpdated(
            ConversationSummary("s1", "Ana", "hi", "t", 1, "open", "staff", "sam")
        ),
        p.CustomerContext(
            "s1", "Ana", True, "t", "pid", "st", [], False, [ProductTaps("p1", 2, "t", "t")]
        ),
        p.StaffReply("hi", "t", "u1"),
        p.Conversations([], True, "c12"),
        p.ConversationThread("s1", [SupportLine("customer", "m", "t", "u")]),
        p.MyConversation([]),
        p.ConversationStatus("s1", None),
        p.Products([product]),
        p.ProductSaved(product),
        p.ProductDeleted("p1", True),
        p.StreamInfo(False, None, None, None, ""),
        p.NextStreamSet(None),
        p.MediaStats({"source": "none"}),
        p.ProductTapsUpdated(
            "st", [ProductTapCount("p1", "Serum", 3, "t"), ProductTapCount("p2", "x", 0)]
        ),
        p.RecordingStatus("low_disk", "Disk almost full", "r" * 22, 10),
        p.RecordingStatus("stopped", "No room"),
        p.RecordingDeleted("r" * 22, True),
        p.WebrtcRegistered("peer", "customer"),
        p.WebrtcBroadcasterAvailable("b"),
        p.WebrtcBroadcastStopped("b"),
        p.WebrtcNewCustomer("c"),
        p.WebrtcCustomerLeft("c"),
        p.WebrtcRelay("webrtc_answer", "c", "b", {"type": "answer", "sdp": "v=0"}),
        p.CustomerIsTyping("s1", "Ana"),
        p.ShopIsTyping(),
        p.StaffIsTyping("s1", "sam"),
        p.RepliesSeen("s1", "u1", "t"),
        p.CannedReplies([CannedReply("ship", "Ships today", "t", "sam")]),
    ]
    assert {type(m) for m in samples} == set(p.OUTBOUND.values())
    for message in samples:
        assert p.parse(message.to_wire()) == message
    assert p.Error("x").to_wire() == {"type": "error", "message": "x"}
    with pytest.raises(CodecError):
        p.parse({"type": "stream_stopped"})  # missing streamId
    assert p.parse({"type": "something_newer"}) is None


def test_events_round_trip_between_hubs() -> None:
    """An event crosses to another hub as JSON and comes back as the same dataclass."""
    state = ev.ModerationState(["a"], ["b"], 5)
    samples: list[ev.Event] = [
        ev.ChatPosted("s", ChatLine("1", "a", "m", "t", False, "pid")),
        ev.ModerationChanged("s", state, "b", "ban", ["1"]),
        ev.ProductSaved(Product("p1", "Serum", 9.5, "", "", "", "t", "USD")),
        ev.StreamStopped("s", "t2", 3, SUMMARY),
        ev.StreamStopped("s", "t2", 3),
        ev.BroadcasterChanged(None, stopped="peer"),
        ev.PeerMessage("node", "peer", {"type": "webrtc_new_customer", "customerId": "c"}),
    ]
    for event in samples:
        obj = ev.event_to_json(event, "node-1")
        assert obj["e"] == event.KIND and obj["n"] == "node-1"
        assert ev.event_from_json(obj) == event
    assert ev.event_from_json({"e": "unheard_of"}) is None
    with pytest.raises(CodecError):
        from_json(ev.LikeChanged, {"stream_id": "s"}, use_camel=False)


def test_local_broker_counts_sessions_at_once() -> None:
    """Alone, a session's first and last connection change the total synchronously."""
    broker = LocalBroker()
    totals: list[int] = []
    broker.count_session("a", +1, totals.append)
    broker.count_session("b", +1, totals.append)
    broker.count_session("a", -1, totals.append)
    assert totals == [1, 2, 1]


async def test_in_process_clients_get_typed_messages_without_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The studio's and the broadcaster's connections never make or read JSON text."""
    app = App(_settings(tmp_path))
    await app.start()
    try:
        got: list[p.OutboundMessage] = []
        conn = app.connect_local(got.append, "test")

        def no_json(*_args: Any, **_kwargs: Any) -> Any:
            raise AssertionError("JSON made for an in-process client")

        monkeypatch.setattr(p, "encode", no_json)  # what Outgoing.payload calls
        monkeypatch.setattr(p, "decode", no_json)  # what Hub.handle calls
        await conn.register_admin("alice")
        await conn.request({"type": "start_stream", "title": "Spring"})
        await conn.request({"type": "chat_message", "message": "Hello"})
        await conn.request({"type": "chat_message", "message": ""})  # refused, typed too
        kinds = [type(m) for m in got]
        assert kinds == [p.AdminRegistered, p.StreamStarted, p.ChatPosted, p.Error]
        chat = got[2]
        assert isinstance(chat, p.ChatPosted) and chat.line.is_admin
        assert chat.line.message == "Hello"
        conn.close()
    finally:
        await app.stop()


async def test_a_local_connection_handed_over_on_its_loop_gets_messages_on_the_next_tick(
    tmp_path: Path,
) -> None:
    """A connection handed over on the hub's own loop (``receiver_loop``): nothing runs
    inside the hub's send, and the messages arrive together, in order, on the next loop
    tick."""
    app = App(_settings(tmp_path))
    await app.start()
    try:
        got: list[p.OutboundMessage] = []
        conn = app.connect_local(got.append, "window", receiver_loop=asyncio.get_running_loop())
        await conn.register_admin("alice")
        await conn.request({"type": "ping"})
        assert got == []
        await asyncio.sleep(0)
        assert [type(m) for m in got] == [p.AdminRegistered, p.Pong]
        conn.close()
    finally:
        await app.stop()
