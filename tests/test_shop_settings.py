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
