"""Staff tokens over the wire: a time claim that is not a JSON integer is refused."""

from __future__ import annotations

import time

import jwt

from tests.conftest import RunningHub
from tests.helpers.testutils import SECRET


async def test_register_admin_with_a_non_integer_exp_fails(hub: RunningHub) -> None:
    """`exp` as a string, boolean or fraction: "Authentication failed", and no privilege."""
    later = int(time.time()) + 3600
    c = await hub.connect()
    for exp in (str(later), True, later + 0.25, None):
        claims = {"userId": "mallory", "role": "admin", "exp": exp}
        await c.send({"type": "register_admin", "token": jwt.encode(claims, SECRET, "HS256")})
        assert await c.recv() == {"type": "error", "message": "Authentication failed"}
    await c.send({"type": "start_stream", "title": "x"})
    assert await c.recv() == {"type": "error", "message": "Not authorized"}
    claims = {"userId": "alice", "role": "admin", "exp": later}
    await c.send({"type": "register_admin", "token": jwt.encode(claims, SECRET, "HS256")})
    assert (await c.recv())["type"] != "error"
