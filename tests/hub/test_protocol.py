"""The sans-I/O protocol module: decoding, validation, encoding, rate buckets, tokens."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest

from wrencos_studio.hub import protocol as p
from wrencos_studio.hub.auth import AuthError, mint_token, parse_ttl, verify_token
from wrencos_studio.hub.ratelimit import TokenBucket


def build(obj: dict) -> object:
    spec, raw = p.decode(json.dumps(obj))
    return spec.build(raw)


def test_every_message_type_has_a_handler_name_and_access() -> None:
    """Each registered type is a dataclass with an access level."""
    assert {"register", "register_admin", "chat_message", "webrtc_offer"} <= set(p.MESSAGES)
    for spec in p.MESSAGES.values():
        assert isinstance(spec.access, p.Access)


def test_decode_errors_use_the_contract_texts() -> None:
    """Bad JSON / no type: invalid; unknown type: unknown."""
    for raw in ("", "nul", "[]", "{}", '{"type": null}', b"\xff", "1e999", '{"type": Infinity}'):
        with pytest.raises(p.ProtocolError, match="Invalid message format"):
            p.decode(raw)
    with pytest.raises(p.ProtocolError, match="Unknown message type"):
        p.decode('{"type": "teleport"}')


def test_fields_are_typed_and_limited() -> None:
    """Types from the annotations; lengths give "Message too long"; JSON keys are mapped."""
    msg = build({"type": "chat_message", "message": "hi", "username": "  Jo  "})
    assert isinstance(msg, p.ChatMessage) and msg.username == "Jo"
    with pytest.raises(p.ProtocolError, match="Invalid message format"):
        build({"type": "chat_message", "message": True})
    with pytest.raises(p.ProtocolError, match="Message too long"):
        build({"type": "chat_message", "message": "x" * 501})
    reg = build({"type": "register", "sessionId": "abc"})
    assert isinstance(reg, p.Register) and reg.session_id == "abc" and reg.token is None
    with pytest.raises(p.ProtocolError, match="Invalid message format"):
        build({"type": "register", "sessionId": "x" * 201})


def test_booleans_are_not_numbers() -> None:
    """JSON true is not a price."""
    with pytest.raises(p.ProtocolError):
        build({"type": "pin_products", "pinnedProducts": [{"productId": "a", "price": True}]})
    ok = build({"type": "pin_products", "pinnedProducts": [{"productId": "a", "price": 3}]})
    assert ok.pinned_products == [{"productId": "a", "price": 3}]  # type: ignore[attr-defined]


def test_encode_is_ascii_and_never_nan() -> None:
    """Output is ASCII JSON: lone surrogates are escaped, NaN refused."""
    out = p.encode({"m": "é\ud800"})
    assert out == b'{"m":"\\u00e9\\ud800"}'
    with pytest.raises(ValueError):
        p.encode({"x": float("nan")})


def test_clean_text_replaces_only_lone_surrogates() -> None:
    """Valid pairs survive, lone halves become U+FFFD."""
    assert p.clean_text("a\ud83d\ude00b") == "a😀b"
    assert p.clean_text("a\ud800b") == "a\ufffdb"


def test_token_bucket_allows_burst_then_rate() -> None:
    """Burst 10 then 5/s: of 40 within one second at most 15 pass."""
    tb = TokenBucket(5.0, 10)
    t0 = 1000.0
    tb._last = t0
    passed = sum(tb.take(t0 + i * (1.0 / 40)) for i in range(40))
    assert passed <= 20 and passed >= 10
    tb = TokenBucket(5.0, 10)
    tb._last = t0
    assert all(tb.take(t0 + i * 0.2) for i in range(100))  # 5/s sustained, forever


def test_tokens_round_trip_and_fail_closed() -> None:
    """A minted token verifies; the wrong secret or expiry fails."""
    tok = mint_token("k" * 32, "alice", "staff", 60)
    ident = verify_token(tok, "k" * 32)
    assert (ident.user_id, ident.role) == ("alice", "staff")
    with pytest.raises(AuthError):
        verify_token(tok, "x" * 32)
    with pytest.raises(AuthError):
        verify_token(mint_token("k" * 32, "alice", "admin", -60), "k" * 32)
    with pytest.raises(AuthError):
        verify_token("a" * 5000, "k" * 32)


def _signed(claims: dict[str, Any], secret: str = "k" * 32) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def test_token_time_claims_must_be_json_integers() -> None:
    """`exp` is required and a JSON integer (not a string, boolean, fraction or exponent);
    `iat` and `nbf` too when present. PyJWT alone would take "exp": "9999999999"."""
    later = int(time.time()) + 3600
    base = {"userId": "alice", "role": "admin"}
    assert verify_token(_signed({**base, "exp": later}), "k" * 32).user_id == "alice"
    ok = {**base, "exp": later, "iat": later - 3600, "nbf": later - 3600}
    assert verify_token(_signed(ok), "k" * 32).user_id == "alice"
    refused: list[dict[str, Any]] = [
        base,
        {**base, "exp": None},
        {**base, "exp": str(later)},
        {**base, "exp": True},
        {**base, "exp": later + 0.5},
        {**base, "exp": float(later)},
        {**base, "exp": [later]},
        {**base, "exp": {"t": later}},
        {**base, "exp": later, "iat": str(later - 10)},
        {**base, "exp": later, "iat": later - 10.5},
        {**base, "exp": later, "nbf": str(later - 10)},
        {**base, "exp": later, "nbf": False},
    ]
    for claims in refused:
        with pytest.raises(AuthError):
            verify_token(_signed(claims), "k" * 32)
    # Written by hand as JSON text: an exponent is not an integer either.
    header = jwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT"}')
    body = jwt.utils.base64url_encode(b'{"userId":"alice","exp":1e10}')
    signature = jwt.utils.base64url_encode(
        jwt.algorithms.HMACAlgorithm(jwt.algorithms.HMACAlgorithm.SHA256).sign(
            header + b"." + body, b"k" * 32
        )
    )
    with pytest.raises(AuthError):
        verify_token(b".".join((header, body, signature)).decode(), "k" * 32)


def test_parse_ttl() -> None:
    """Durations with units."""
    assert parse_ttl("12h") == 43200 and parse_ttl("30m") == 1800 and parse_ttl("90") == 90
    for bad in ("", "0", "-1h", "soon", "1y"):
        with pytest.raises(ValueError):
            parse_ttl(bad)
