"""The SQLite store: migrations, group commit, a failing job rolls back alone, order."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from wrencos_studio.store import Store, StoreClosedError, StoreError
from wrencos_studio.store import repositories as repo
from wrencos_studio.store.database import SCHEMA_VERSION
from wrencos_studio.store.rows import Product


def test_new_file_is_migrated_to_the_current_schema_in_wal_mode(tmp_path: Path) -> None:
    """Opening creates the file at SCHEMA_VERSION, in WAL mode, with foreign keys on."""
    store = Store(tmp_path / "db.sqlite3")
    store.open()
    try:
        assert store.run_sync(lambda c: c.execute("PRAGMA user_version").fetchone()[0]) == (
            SCHEMA_VERSION
        )
        assert store.run_sync(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
        assert store.run_sync(lambda c: c.execute("PRAGMA foreign_keys").fetchone()[0]) == 1
    finally:
        store.close_sync()


def test_reopening_keeps_data_and_does_not_migrate_again(tmp_path: Path) -> None:
    """A second open of the same file finds what the first wrote."""
    path = tmp_path / "db.sqlite3"
    store = Store(path)
    store.open()
    store.run_sync(repo.upsert_product, Product("p1", "Serum", 9.5, "", "", "", "t"))
    store.close_sync()
    store = Store(path)
    store.open()
    try:
        assert [p.name for p in store.run_sync(repo.list_products)] == ["Serum"]
    finally:
        store.close_sync()


def test_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    """A file from a newer build is not opened and not changed."""
    path = tmp_path / "db.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store(path).open()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 99
    conn.close()


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    """Garbage in place of the database raises, it is not overwritten."""
    path = tmp_path / "db.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(sqlite3.DatabaseError):
        Store(path).open()
    assert path.read_bytes().startswith(b"this is not sqlite")


async def test_failing_job_rolls_back_alone_within_its_batch(tmp_path: Path) -> None:
    """Jobs queued together share a commit; one that fails leaves no trace, others land."""
    store = Store(tmp_path / "db.sqlite3")
    store.open()

    def insert(conn: sqlite3.Connection, key: str) -> None:
        conn.execute("INSERT INTO meta (key, value) VALUES (?, 'v')", (key,))

    def insert_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO meta (key, value) VALUES ('half', 'v')")
        raise ValueError("boom")

    try:
        results = await asyncio.gather(
            store.run(insert, "a"),
            store.run(insert_then_fail),
            store.run(insert, "b"),
            return_exceptions=True,
        )
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], ValueError)
        keys = await store.run(lambda c: [r[0] for r in c.execute("SELECT key FROM meta")])
        assert sorted(keys) == ["a", "b"]
        assert store.commits < store.jobs_done  # at least two jobs shared a transaction
    finally:
        await store.close()


async def test_results_come_back_in_submission_order(tmp_path: Path) -> None:
    """Completions resolve in the order the jobs were queued."""
    store = Store(tmp_path / "db.sqlite3")
    store.open()
    order: list[int] = []

    async def job(i: int) -> None:
        await store.run(lambda c: None)
        order.append(i)

    try:
        await asyncio.gather(*(job(i) for i in range(200)))
        assert order == list(range(200))
    finally:
        await store.close()


async def test_closed_store_refuses_new_work(tmp_path: Path) -> None:
    """After close, submitting raises StoreClosedError instead of hanging."""
    store = Store(tmp_path / "db.sqlite3")
    store.open()
    await store.close()
    with pytest.raises(StoreClosedError):
        await store.run(lambda c: None)


def test_conversation_ordering_ties_by_arrival(tmp_path: Path) -> None:
    """Same time stamp: the conversation whose last message arrived later comes first."""
    store = Store(tmp_path / "db.sqlite3")
    store.open()
    try:
        at = "2024-02-01T10:00:00.000Z"
        store.run_sync(repo.add_customer_message, "u1", "s1", None, "C1", "first", at)
        store.run_sync(repo.add_customer_message, "u2", "s2", None, "C2", "second", at)
        store.run_sync(repo.add_customer_message, "u3", "s3", "Named", "C3", "third", at)
        # The same uid again (a replica's copy) is not a second message.
        store.run_sync(repo.add_customer_message, "u1", "s1", None, "C1", "first", at)
        rows, next_at = store.run_sync(repo.list_conversations)
        assert next_at is None
        assert [r.session_id for r in rows] == ["s3", "s2", "s1"]
        assert rows[0].customer_name == "Named"
        assert [r.unread for r in rows] == [1, 1, 1]
    finally:
        store.close_sync()
