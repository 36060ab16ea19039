"""The shop's currency setting (WRENCOS_CURRENCY) and the catalog's store rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from wrencos_studio.config import Settings
from wrencos_studio.store import repositories as repo
from wrencos_studio.store.database import MIGRATIONS, Store


def test_currency_comes_from_the_environment_and_is_checked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Default EUR; an ISO 4217 code (any case) is taken; anything else refuses to start."""
    monkeypatch.delenv("WRENCOS_CURRENCY", raising=False)
    assert Settings.from_env(data_dir=tmp_path, jwt_secret="x").currency == "EUR"
    monkeypatch.setenv("WRENCOS_CURRENCY", "chf")
    assert Settings.from_env(data_dir=tmp_path, jwt_secret="x").currency == "CHF"
    for bad in ("EURO", "XYZ", "€"):
        monkeypatch.setenv("WRENCOS_CURRENCY", bad)
        with pytest.raises(ValueError, match="not an ISO 4217 currency code"):
            Settings.from_env(data_dir=tmp_path, jwt_secret="x")


def test_products_from_before_currencies_get_the_shops(tmp_path: Path) -> None:
    """A database made by the first schema keeps its products; after the migration they
    have no currency until the hub fills in the shop's."""
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {int.from_bytes(b'WRNC', 'big')}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO products (id, name, price, created_at, updated_at)"
        " VALUES ('p1', 'Serum', 9.5, 't', 't')"
    )
    conn.commit()
    conn.close()
    store = Store(path)
    store.open()
    try:
        store.run_sync(repo.fill_missing_currency, "GBP")
        [product] = store.run_sync(repo.list_products)
        assert (product.product_id, product.price, product.currency) == ("p1", 9.5, "GBP")
    finally:
        store.close_sync()


def test_price_locale_comes_from_wrencos_locale_or_the_system(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """WRENCOS_LOCALE wins (Babel's spelling); else the system's LANG; C/POSIX: en_US."""
    for name in ("WRENCOS_LOCALE", "LC_ALL", "LC_MONETARY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    assert Settings.from_env(data_dir=tmp_path, jwt_secret="x").price_locale == "en_US"
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    assert Settings.from_env(data_dir=tmp_path, jwt_secret="x").price_locale == "fr_FR"
    monkeypatch.setenv("WRENCOS_LOCALE", "de-CH")
    assert Settings.from_env(data_dir=tmp_path, jwt_secret="x").price_locale == "de_CH"


def test_a_bad_locale_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Not a silent en_US: the setting and the bad value are named."""
    for bad in ("xx_YY", "german", "en_US;rm"):
        monkeypatch.setenv("WRENCOS_LOCALE", bad)
        with pytest.raises(ValueError, match=r"WRENCOS_LOCALE=.* is not a locale Babel knows"):
            Settings.from_env(data_dir=tmp_path, jwt_secret="x")


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("WRENCOS_LOCALE", "klingon", "not a locale Babel knows"),
        ("WRENCOS_CURRENCY", "EURO", "not an ISO 4217 currency code"),
    ],
)
def test_serve_refuses_a_bad_shop_setting_in_words(
    tmp_path: Path, name: str, value: str, said: str
) -> None:
    """`serve` exits 2 with the reason on stderr, no traceback."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "WRENCOS_DATA_DIR": str(tmp_path), name: value}
    out = subprocess.run(
        [sys.executable, "-m", "wrencos_studio", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 2
    assert said in out.stderr and name in out.stderr and "Traceback" not in out.stderr


def test_studio_prices_use_the_shop_currency_and_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    """The studio's price texts: WRENCOS_CURRENCY for products naming none, written the
    WRENCOS_LOCALE way (Babel)."""
    from wrencos_studio.catalog.money import format_price, shop_currency, shop_locale

    monkeypatch.setenv("WRENCOS_CURRENCY", "chf")
    monkeypatch.setenv("WRENCOS_LOCALE", "de_CH")
    currency, locale = shop_currency(), shop_locale()
    assert (currency, locale) == ("CHF", "de_CH")
    assert format_price(1234.5, currency, locale) == "CHF\u00a01'234.50"
    monkeypatch.setenv("WRENCOS_LOCALE", "fr_FR")
    assert format_price(14.9, "EUR", shop_locale()) == "14,90\u00a0€"
