"""Prices: ISO 4217 codes, formatting and parsing for a locale (Babel, never by hand)."""

from __future__ import annotations

import re
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.numbers import (
    NumberFormatError,
    format_currency,
    get_decimal_symbol,
    list_currencies,
    parse_decimal,
)

__all__ = ["DEFAULT_CURRENCY", "PriceError", "format_price", "is_currency", "parse_price"]

#: The shop's currency when ``WRENCOS_CURRENCY`` is not set.
DEFAULT_CURRENCY = "EUR"

_CODE = re.compile(r"[A-Z]{3}")
_KNOWN: frozenset[str] = frozenset(list_currencies())

#: Symbols that name one currency wherever they are written.
_SYMBOLS = {"€": "EUR", "£": "GBP", "₹": "INR", "₩": "KRW", "₺": "TRY", "₽": "RUB", "zł": "PLN"}
_DOLLARS = frozenset({"USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN"})
# What may be left around the number once the currency is taken out.
_SPACES = " \u00a0\u202f\t"


class PriceError(ValueError):
    """A price text that cannot be read; ``str(exc)`` says why, for a person."""


def is_currency(code: object) -> bool:
    """True for three capital letters that Babel knows as an ISO 4217 currency."""
    return isinstance(code, str) and _CODE.fullmatch(code) is not None and code in _KNOWN


def format_price(amount: float | Decimal, currency: str, locale: str = "en_US") -> str:
    """``amount`` in ``currency`` as people of ``locale`` write it: ``14,90 €`` (de_DE),
    ``€14.90`` (en_IE), ``$14.90`` (en_US). An unknown locale falls back to en_US."""
    try:
        return str(format_currency(amount, currency, locale=locale))
    except (UnknownLocaleError, ValueError):
        return str(format_currency(amount, currency, locale="en_US"))


def parse_price(
    text: str, locale: str = "en_US", default_currency: str = DEFAULT_CURRENCY
) -> tuple[Decimal, str | None]:
    """Read a price as a spreadsheet shows it: ``€14.90``, ``14,90 €``, ``EUR 1.234,50``,
    ``1,234.50``. Returns the amount and the currency the text names (None: none named).

    The number is read with ``locale``'s separators (Babel, strict); when that fails it is
    read with the other convention (decimal comma vs decimal point), so ``14,90`` in an
    ``en`` file is 14.90, not 1490. Raises :class:`PriceError` for anything else."""
    original = text
    text = text.strip()
    currency: str | None = None
    code = re.search(r"[A-Za-z]{3}", text)
    if code is not None:
        if not is_currency(code[0].upper()):
            raise PriceError(f"{original!r} is not a price")
        currency = code[0].upper()
        text = text.replace(code[0], "")
    for symbol, iso in _SYMBOLS.items():
        if symbol in text:
            currency = currency or iso
            text = text.replace(symbol, "")
    if "$" in text:
        currency = currency or (default_currency if default_currency in _DOLLARS else "USD")
        text = text.replace("$", "")
    text = text.strip(_SPACES)
    if not text or not re.fullmatch(r"[-+]?[\d.,'\u00a0\u202f ]*\d[\d.,'\u00a0\u202f ]*", text):
        raise PriceError(f"{original!r} is not a price")
    # Spaces and apostrophes only ever group digits (1 234,50 / 1'234.50).
    text = re.sub(r"[ '\u00a0\u202f]", "", text)
    for candidate in _locales(locale):
        try:
            amount = parse_decimal(text, locale=candidate, strict=True)
        except NumberFormatError:
            continue
        if not amount.is_finite():
            break
        return amount, currency
    raise PriceError(f"{original!r} is not a price")


def _locales(locale: str) -> tuple[str, str]:
    try:
        point = get_decimal_symbol(Locale.parse(locale)) == "."
    except (UnknownLocaleError, ValueError):
        locale, point = "en_US", True
    return (locale, "de_DE") if point else (locale, "en_US")
