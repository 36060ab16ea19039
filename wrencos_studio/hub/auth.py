"""Staff tokens: HS256 JWTs with ``userId`` (or ``sub``), ``role`` and an integer ``exp``."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import jwt

__all__ = ["STAFF_ROLES", "AuthError", "Identity", "mint_token", "parse_ttl", "verify_token"]

#: Roles that may open an admin connection. ``staff`` may not go live or pin.
STAFF_ROLES = frozenset({"admin", "staff"})
_MAX_TOKEN_CHARS = 4096
#: Time claims that, when present, must be JSON integers (``exp`` must be present).
_TIME_CLAIMS = ("exp", "iat", "nbf")


class AuthError(Exception):
    """The token is missing, malformed, expired, wrongly signed or lacks a claim."""


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: str
    role: str


def verify_token(token: str, secret: str) -> Identity:
    """Check signature (HS256 only), ``exp`` (a JSON integer, required; ``iat`` and ``nbf``
    integers when present) and the user claim; return who it is."""
    if len(token) > _MAX_TOKEN_CHARS:
        raise AuthError("token too long")
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], options={"require": ["exp"]}, leeway=5
        )
    except jwt.PyJWTError as exc:
        raise AuthError(str(exc)) from exc
    if not isinstance(claims, dict):
        raise AuthError("claims are not an object")
    # PyJWT reads a time claim with int(), so "exp": "9999999999" or 1e10 would pass; the
    # contract wants a JSON integer, and json.loads gives an int only for a number written
    # without fraction or exponent (a boolean is a bool, not an int, by type()).
    for name in _TIME_CLAIMS:
        if name in claims and type(claims[name]) is not int:
            raise AuthError(f"{name} is not an integer")
    user = claims.get("userId", claims.get("sub"))
    if isinstance(user, bool) or not isinstance(user, (str, int)) or str(user) == "":
        raise AuthError("no userId or sub claim")
    role = claims.get("role")
    if not isinstance(role, str):
        role = ""
    return Identity(user_id=str(user), role=role)


def mint_token(secret: str, user_id: str, role: str = "admin", ttl_s: int = 12 * 3600) -> str:
    """A signed token for ``user_id`` that expires ``ttl_s`` seconds from now."""
    now = int(time.time())
    claims = {"userId": user_id, "sub": user_id, "role": role, "iat": now, "exp": now + ttl_s}
    return jwt.encode(claims, secret, algorithm="HS256")


_TTL = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_ttl(text: str) -> int:
    """``90``, ``45s``, ``30m``, ``12h``, ``7d``, ``2w`` -> seconds."""
    match = _TTL.match(text.lower())
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30m, 12h, 7d)")
    return int(match.group(1)) * _UNITS[match.group(2)]
