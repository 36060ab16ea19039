"""Thousands of malformed messages at a real `serve` process: it stays up, others see only
well-formed messages, and the database stays intact."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.helpers.serve import serving_sync
from tests.helpers.testutils import token
from wrencos_studio.hub.protocol import MESSAGES

pytestmark = pytest.mark.slow

# What a well-formed server message looks like, per type: field -> accepted JSON types.
SERVER_SCHEMA: dict[str, dict[str, tuple[type, ...]]] = {
    "registered": {"sessionId": (str,), "status": (str,), "publicId": (str,)},
    "admin_registered": {"userId": (str,), "status": (str,)},
    "stream_started": {"streamData": (dict,)},
    "stream_stopped": {"streamId": (str,)},
    "stream_update": {"viewerCount": (int,), "likes": (int,), "likedBy": (list,)},
    "chat_message": {
        "id": (str,),
        "username": (str,),
        "message": (str,),
        "timestamp": (str,),
        "isAdmin": (bool,),
    },
    "chat_history": {"messages": (list,)},
    "pinned_products_updated": {"pinnedProducts": (list,)},
    "customer_message": {
        "sessionId": (str,),
        "message": (str,),
        "customerName": (str,),
        "timestamp": (str,),
    },
    "staff_reply": {"message": (str,), "timestamp": (str,)},
    "webrtc_broadcaster_available": {"broadcaster": (str,)},
    "webrtc_broadcast_stopped": {"broadcaster": (str,)},
    "webrtc_new_customer": {"customerId": (str,)},
    "webrtc_registered": {"peerId": (str,), "userType": (str,)},
    "webrtc_offer": {"from": (str,), "to": (str,), "offer": (dict,)},
    "webrtc_answer": {"from": (str,), "to": (str,), "answer": (dict,)},
    "webrtc_ice_candidate": {"from": (str,), "to": (str,)},
    "products": {"products": (list,)},
    "media_stats": {"stats": (dict,)},
    "stream_info": {"live": (bool,)},
    "next_stream_set": {},
    "my_conversation": {"messages": (list,)},
    "chat_message_deleted": {"id": (str,)},
    "chat_settings": {"slowModeSeconds": (int,)},
    "moderation_updated": {"muted": (list,), "banned": (list,)},
    "conversation_status": {"sessionId": (str,)},
    "conversations": {"conversations": (list,)},
    "conversation": {"sessionId": (str,), "messages": (list,)},
    "product_saved": {"product": (dict,)},
    "product_deleted": {"productId": (str,), "deleted": (bool,)},
    "stream_summary": {"summary": (dict,)},
    "stream_summaries": {"summaries": (list,), "more": (bool,)},
    "error": {"message": (str,)},
    "pong": {},
    "customer_typing": {"sessionId": (str,), "customerName": (str,), "expiresInMs": (int,)},
    "shop_typing": {"expiresInMs": (int,)},
    "staff_typing": {"sessionId": (str,), "userId": (str,), "expiresInMs": (int,)},
    "replies_seen": {"sessionId": (str,), "id": (str,), "seenAt": (str,)},
    "canned_replies": {"replies": (list,)},
    "product_taps_updated": {"pins": (list,)},
    "recording_status": {"state": (str,), "message": (str,)},
    "recording_deleted": {"replayId": (str,), "deleted": (bool,)},
}


def check_well_formed(raw: str | bytes) -> dict[str, Any]:
    assert isinstance(raw, str), "the server only sends text frames"
    raw.encode("utf-8")  # valid UTF-8 (no lone surrogates)
    msg = json.loads(raw, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert isinstance(msg, dict) and msg.get("type") in SERVER_SCHEMA, raw[:200]
    for key, kinds in SERVER_SCHEMA[msg["type"]].items():
        assert isinstance(msg.get(key), kinds), (key, raw[:200])
    if msg["type"] == "chat_message":
        assert len(msg["message"]) <= 500 and len(msg["username"]) <= 50
    return msg


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=60),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
field_names = st.sampled_from(
    [
        "sessionId",
        "token",
        "title",
        "message",
        "username",
        "content",
        "customerName",
        "pinnedProducts",
        "peerId",
        "userType",
        "to",
        "from",
        "offer",
        "answer",
        "candidate",
        "isAdmin",
        "timestamp",
        "product",
        "productId",
        "userId",
        "description",
        "quality",
    ]
)
typed_message = st.builds(
    lambda t, fields: {"type": t, **fields},
    st.sampled_from(sorted(MESSAGES)),
    st.dictionaries(field_names, json_value, max_size=6),
)
raw_frame = st.one_of(
    typed_message.map(json.dumps),
    json_value.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=200),
    st.integers(1, 3000).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 3000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.sampled_from(
        [
            '{"type":"chat_message","message":"\\ud800"}',
            '{"type":NaN}',
            '{"type":"ping","x":1e400}',
            "\x00",
            '{"type":"pin_products","pinnedProducts":[{"productId":"p","price":-0.0}]}',
        ]
    ),
    st.integers(50_000, 64_000).map(
        lambda n: json.dumps({"type": "chat_message", "message": "x" * n})
    ),
)


class Watcher(threading.Thread):
    """A registered customer that checks every message it receives."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.ws = _open(url)
        self.ws.send(json.dumps({"type": "register", "sessionId": "fuzz-watcher"}))
        self.received = 0
        self.failures: list[str] = []

    def run(self) -> None:
        try:
            for raw in self.ws:
                try:
                    check_well_formed(raw)
                except Exception as exc:
                    self.failures.append(f"{exc!r}: {str(raw)[:200]}")
                self.received += 1
        except ConnectionClosed:
            pass


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("fuzz")
    with serving_sync(data, log_level=None) as served:
        yield served.url, data
        # The block's end sends SIGTERM: the server must still exit 0 after the fuzzing.


def _open(url: str) -> ClientConnection:
    # Entered by hand: these connections outlive any one `with` block.
    return connect(url, max_size=None).__enter__()


def _session(url: str, admin: bool) -> ClientConnection:
    ws = _open(url)
    if admin:
        ws.send(json.dumps({"type": "register_admin", "token": token("fuzzer")}))
    else:
        ws.send(json.dumps({"type": "register", "sessionId": "fuzz-sender"}))
    check_well_formed(ws.recv(5))
    return ws


@pytest.fixture(scope="module")
def watcher(server: tuple[str, Path]) -> Iterator[Watcher]:
    url, _ = server
    # A live stream, so that chat, likes and pins really fan out to the watcher.
    with connect(url) as admin:
        admin.send(json.dumps({"type": "register_admin", "token": token()}))
        admin.recv(5)
        admin.send(json.dumps({"type": "start_stream", "title": "Fuzz"}))
        admin.recv(5)
    w = Watcher(url)
    w.start()
    yield w
    w.ws.close()
    w.join(5)


def _fire(url: str, admin: bool, frames: list[str | bytes]) -> None:
    ws = _session(url, admin)
    try:
        for frame in frames:
            try:
                ws.send(frame)
            except ConnectionClosed:
                # Only a frame over the size limit or invalid UTF-8 text may close us.
                assert ws.close_code in (1007, 1009), ws.close_code
                ws = _session(url, admin)
        ws.send(json.dumps({"type": "ping"}))
        # Replies come in order; drain them, each must be well-formed, until the pong.
        while True:
            try:
                msg = check_well_formed(ws.recv(10))
            except ConnectionClosed:
                assert ws.close_code in (1007, 1009), ws.close_code
                ws = _session(url, admin)
                ws.send(json.dumps({"type": "ping"}))
                continue
            if msg == {"type": "pong"}:
                break
    finally:
        ws.close()


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(frames=st.lists(raw_frame, min_size=1, max_size=40), as_admin=st.booleans())
def test_fuzzed_frames_never_hurt_the_server(
    server: tuple[str, Path], watcher: Watcher, frames: list[str | bytes], as_admin: bool
) -> None:
    """Random frames from a customer or an admin: answered, contained, server alive."""
    url, _ = server
    _fire(url, as_admin, frames)
    assert watcher.failures == []


def test_fuzz_left_the_database_intact(server: tuple[str, Path], watcher: Watcher) -> None:
    """After the fuzzing the SQLite file passes its integrity check; the watcher saw traffic."""
    url, data = server
    _fire(url, False, [json.dumps({"type": "ping"})] * 3)
    db = sqlite3.connect(data / "wrencos.sqlite3")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()
    assert watcher.failures == []
    assert watcher.received > 0


def test_flood_of_junk_without_reading(server: tuple[str, Path], watcher: Watcher) -> None:
    """5000 junk and valid frames sent as fast as possible; then a ping is still answered."""
    import random

    url, _ = server
    rng = random.Random(1234)
    kinds = [
        lambda: json.dumps({"type": "chat_message", "message": "flood " + str(rng.random())}),
        lambda: json.dumps({"type": rng.choice(sorted(MESSAGES))}),
        lambda: bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64))),
        lambda: "{" * rng.randint(1, 100),
        lambda: json.dumps({"type": "toggle_like"}),
        lambda: json.dumps({"type": "customer_message", "message": "m" * rng.randint(1, 3000)}),
    ]
    frames = [rng.choice(kinds)() for _ in range(5000)]
    _fire(url, False, frames)
    _fire(url, True, frames[:1000])
    assert watcher.failures == []
