"""What a product is: the rules the hub (``save_product``, ``pin_products``) and the CSV
import apply alike."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from wrencos_studio.catalog.money import is_currency

__all__ = [
    "ID_MAX_CHARS",
    "MAX_PRICE",
    "MAX_SAFE_INTEGER",
    "NAME_MAX_CHARS",
    "TEXT_MAX_CHARS",
    "ProductError",
    "check_currency",
    "check_price",
    "check_url",
    "normalize_product",
]

NAME_MAX_CHARS = 200
ID_MAX_CHARS = 200
TEXT_MAX_CHARS = 2000
#: Prices are finite numbers from 0 to this, in the shop's currency (Trust rules, rule 5).
MAX_PRICE = 1_000_000_000
#: Numeric ids must survive JavaScript's doubles exactly (2^53 - 1).
MAX_SAFE_INTEGER = 2**53 - 1


class ProductError(ValueError):
    """A product field breaks a rule; ``str(exc)`` says which, for a person.

    ``too_long`` marks a length limit (the hub answers "Message too long" for those,
    "Invalid message format" for the rest)."""

    def __init__(self, reason: str, *, too_long: bool = False) -> None:
        super().__init__(reason)
        self.too_long = too_long


def check_price(value: Any) -> float:
    """A finite JSON number from 0 to :data:`MAX_PRICE` (a bool is not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProductError("price must be a number")
    # An int is compared before float(): float(10**400) would overflow.
    if not 0 <= value <= MAX_PRICE or (isinstance(value, float) and not math.isfinite(value)):
        raise ProductError("price must be from 0 to 1,000,000,000")
    return float(value)


def check_url(value: str) -> str:
    """``""`` (no link) or an absolute http/https URL with a host; nothing else, so a
    card can never become a ``javascript:`` or relative link."""
    if value == "":
        return value
    if len(value) > TEXT_MAX_CHARS:
        raise ProductError("url is longer than 2000 characters", too_long=True)
    if any(ch.isspace() or ord(ch) < 0x20 or ch in '<>"\\' for ch in value):
        raise ProductError(f"url {value!r} is not an absolute http(s) URL")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise ProductError(f"url {value!r} is not an absolute http(s) URL")
    return value


def check_currency(value: str) -> str:
    """Three capital letters naming an ISO 4217 currency (``EUR``); ``""``: the shop's."""
    if value != "" and not is_currency(value):
        raise ProductError(f"currency {value!r} is not an ISO 4217 code such as EUR")
    return value


def _text(raw: Mapping[str, Any], key: str, limit: int) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ProductError(f"{key} must be text")
    value = value.strip()
    if len(value) > limit:
        raise ProductError(f"{key} is longer than {limit} characters", too_long=True)
    return value


def normalize_product(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A catalog product, checked: ``productId`` (string; ``""`` = make one), ``name``
    (not blank), ``price`` (required, rule 5), ``image``, ``description``, ``url``
    (absolute http/https or ``""``), ``currency`` (ISO 4217 or ``""`` = the shop's).

    Text is trimmed; lone surrogates must be cleaned by the caller first. Raises
    :class:`ProductError`."""
    pid = raw.get("productId")
    if pid is None:
        product_id = ""
    elif isinstance(pid, bool) or not isinstance(pid, (str, int)):
        raise ProductError("productId must be text or an integer")
    elif isinstance(pid, int):
        if abs(pid) > MAX_SAFE_INTEGER:
            raise ProductError("productId is too large")
        product_id = str(pid)
    else:
        product_id = pid.strip()
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ProductError("a product needs a name")
    out: dict[str, Any] = {
        "productId": product_id,
        "name": name.strip(),
        "price": check_price(raw.get("price")),
        "image": _text(raw, "image", TEXT_MAX_CHARS),
        "description": _text(raw, "description", TEXT_MAX_CHARS),
        "url": _text(raw, "url", TEXT_MAX_CHARS),
        "currency": _text(raw, "currency", 8),
    }
    if len(out["name"]) > NAME_MAX_CHARS:
        raise ProductError("name is longer than 200 characters", too_long=True)
    if len(product_id) > ID_MAX_CHARS:
        raise ProductError("productId is longer than 200 characters", too_long=True)
    check_url(out["url"])
    check_currency(out["currency"])
    return out
