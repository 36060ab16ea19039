"""Prices: ISO 4217 codes, formatting and parsing for a locale (Babel, never by hand)."""

from __future__ import annotations

import os
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

__all__ = [
    "DEFAULT_CURRENCY",
    "DEFAULT_LOCALE",
    "PriceError",
    "check_locale",
    "format_price",
    "is_currency",
    "parse_price",
    "shop_currency",
    "shop_locale",
]

#: The shop's currency when ``WRENCOS_CURRENCY`` is not set.
DEFAULT_CURRENCY = "EUR"
#: How prices are written when neither ``WRENCOS_LOCALE`` nor the system names a locale.
DEFAULT_LOCALE = "en_US"

_CODE = re.compile(r"[A-Z]{3}")
_LOCALE_NAME = re.compile(r"[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,8}){0,3}")
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


def check_locale(value: str, setting: str = "WRENCOS_LOCALE") -> str:
    """A locale name as Babel knows it (``de_DE``, ``de-DE``, ``fr_CH``, ``en``),
    normalised to Babel's spelling (``de_DE``). ValueError, naming ``setting``, for
    anything Babel does not know (``xx_YY``, ``german``, empty)."""
    text = value.strip()
    try:
        # Babel's parser is lenient ("en_US;x" reads as "en"): the shape is checked first.
        if not _LOCALE_NAME.fullmatch(text):
            raise ValueError("not a locale name")
        return str(Locale.parse(text.replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValueError(
            f"{setting}={value!r} is not a locale Babel knows (e.g. en_US, de_DE, fr_FR)"
        ) from None


def shop_locale(environ: dict[str, str] | os._Environ[str] | None = None) -> str:
    """How the studio writes prices: ``WRENCOS_LOCALE`` when set (a bad value raises
    ValueError, see :func:`check_locale`); else the system's locale (``LC_ALL``,
    ``LC_MONETARY``, ``LANG``) when it names a real one; else :data:`DEFAULT_LOCALE`."""
    env = os.environ if environ is None else environ
    if env.get("WRENCOS_LOCALE"):
        return check_locale(env["WRENCOS_LOCALE"])
    for name in ("LC_ALL", "LC_MONETARY", "LANG"):
        system = env.get(name, "").split(".")[0].split("@")[0]
        if system and system not in ("C", "POSIX"):
            try:
                return check_locale(system, name)
            except ValueError:
                break  # an odd system setting is not the shop's mistake: the default
    return DEFAULT_LOCALE


def shop_currency(environ: dict[str, str] | os._Environ[str] | None = None) -> str:
    """The shop's currency: ``WRENCOS_CURRENCY`` (an ISO 4217 code, any case; anything
    else raises ValueError) or :data:`DEFAULT_CURRENCY` (the contract's default)."""
    env = os.environ if environ is None else environ
    value = env.get("WRENCOS_CURRENCY") or DEFAULT_CURRENCY
    code = value.strip().upper()
    if not is_currency(code):
        raise ValueError(
            f"WRENCOS_CURRENCY={value!r} is not an ISO 4217 currency code (e.g. EUR, USD)"
        )
    return code


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
