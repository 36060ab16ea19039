"""Support search in the store: the FTS5 index is filled by its migration from the rows
already there and kept in step by triggers; user input never becomes FTS5 syntax."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from wrencos_studio.store import Store
from wrencos_studio.store import repositories as repo
from wrencos_studio.store.database import MIGRATIONS

#: The migration that adds the index (found by content: others may be appended).
FTS_MIGRATION = next(i for i, sql in enumerate(MIGRATIONS) if "support_fts" in sql)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "db.sqlite3")
    s.open()
    yield s
    s.close_sync()


def _found(store: Store, search: str, status_filter: str | None = None) -> list[str]:
    rows, _ = store.run_sync(repo.list_conversations, 50, None, search, status_filter)
    return [r.session_id for r in rows]


def test_the_migration_indexes_messages_written_before_it(tmp_path: Path) -> None:
    """A database from before the index: after migrating, its old messages are found."""
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:FTS_MIGRATION]:
        conn.executescript(script)
    conn.execute(f"PRAGMA user_version={FTS_MIGRATION}")
    conn.commit()
    conn.close()
    # Written with the old schema's columns, through the same functions' SQL.
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO conversations (session_id, customer_name, created_at) VALUES (?, ?, ?)",
        ("old", "Ada", "t"),
    )
    conn.execute(
        "INSERT INTO support_messages (uid, session_id, sender, message, created_at)"
        " VALUES ('u1', 'old', 'customer', 'Parcel 1042 is missing', 't')"
    )
    conn.execute(
        "INSERT INTO support_messages (uid, session_id, sender, message, created_at)"
        " VALUES ('u2', 'old', 'customer', 'hello?', 't')"
    )
    conn.execute("UPDATE conversations SET last_seq = 2")
    conn.commit()
    conn.close()
    store = Store(path)
    store.open()
    try:
        assert _found(store, "1042") == ["old"]
        assert _found(store, "missing parcel") == ["old"]
        [row] = store.run_sync(repo.list_conversations)[0]
        assert (row.last_from, row.answered_by, row.unread) == ("customer", None, 2)
    finally:
        store.close_sync()


def test_triggers_keep_the_index_in_step(store: Store) -> None:
    """New messages are found at once; a deleted conversation is not found any more."""
    store.run_sync(repo.add_customer_message, "u1", "s1", "Bo", "C", "Where is 1042?", "t1")
    store.run_sync(repo.add_staff_message, "u2", "s1", "sam", "C", "Shipped today", "t2")
    store.run_sync(repo.add_customer_message, "u3", "s2", None, "C #2", "unrelated", "t3")
    assert _found(store, "1042") == ["s1"]
    assert _found(store, "shipped") == ["s1"]
    assert _found(store, "1042", "unanswered") == []
    assert _found(store, "unrelated", "unanswered") == ["s2"]
    store.run_sync(lambda c: c.execute("DELETE FROM conversations WHERE session_id = 's1'"))
    assert _found(store, "1042") == []
    # FTS5's own check of the index against its content table (raises if out of step).
    store.run_sync(
        lambda c: c.execute("INSERT INTO support_fts (support_fts) VALUES ('integrity-check')")
    )


@pytest.mark.parametrize(
    "search",
    [
        '"',
        '""',
        'a" OR "b',
        "NEAR(a b)",
        "*",
        "a*b",
        "-x",
        "col:x",
        "^x",
        "(",
        ")",
        "AND",
        "OR NOT",
        "\\",
        "%",
        "_",
    ],
)
def test_hostile_search_text_is_only_text(store: Store, search: str) -> None:
    """Nothing a user types is an FTS5 error or a LIKE wildcard."""
    store.run_sync(repo.add_customer_message, "u1", "s1", "Ann", "C", "plain words", "t")
    assert _found(store, search) == []


def test_fts_query_quotes_every_word() -> None:
    """Each word is one quoted prefix term; quotes inside are doubled."""
    assert repo.fts_query('order 1042 "x') == '"order"* "1042"* """x"*'
    assert repo.fts_query('  " ') is None
