"""The SQLite store: whose file it is, migrations, group commit, a failing job rolls back
alone, order."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wrencos_studio.store import Store, StoreClosedError, StoreError
from wrencos_studio.store import repositories as repo
from wrencos_studio.store.database import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION
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


def _pragma(path: Path, name: str) -> int:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute(f"PRAGMA {name}").fetchone()[0])
    finally:
        conn.close()


def _write_old_build_file(path: Path) -> None:
    """A database as builds before application_id wrote it: schema 1, id 0, some data."""
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("PRAGMA user_version=1")
    conn.execute(
        "INSERT INTO products (id, name, price, created_at, updated_at)"
        " VALUES ('p1', 'Serum', 9.5, 't', 't')"
    )
    conn.commit()
    conn.close()


def test_new_file_carries_our_application_id(tmp_path: Path) -> None:
    """A new database is stamped with APPLICATION_ID ("WRNC") along with its schema."""
    path = tmp_path / "db.sqlite3"
    Store(path).open()
    assert APPLICATION_ID == 0x57524E43
    assert _pragma(path, "application_id") == APPLICATION_ID
    assert _pragma(path, "user_version") == SCHEMA_VERSION


def test_our_file_from_before_application_id_is_adopted(tmp_path: Path) -> None:
    """Id 0 with our user_version and our tables: stamped, data kept."""
    path = tmp_path / "db.sqlite3"
    _write_old_build_file(path)
    assert _pragma(path, "application_id") == 0
    store = Store(path)
    store.open()
    try:
        assert [p.name for p in store.run_sync(repo.list_products)] == ["Serum"]
    finally:
        store.close_sync()
    assert _pragma(path, "application_id") == APPLICATION_ID


def _another_apps_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript("PRAGMA application_id=0x4D504253; CREATE TABLE moz_places (id INTEGER);")
    conn.close()


def _unstamped_foreign_tables(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE notes (id INTEGER, body TEXT); INSERT INTO notes VALUES (1, 'x');"
    )
    conn.close()


def _our_user_version_without_our_tables(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE meta (k TEXT); PRAGMA user_version=1;")
    conn.close()


def _newer_build(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.close()


def _newer_build_of_ours(path: Path) -> None:
    _write_old_build_file(path)
    conn = sqlite3.connect(path)
    conn.executescript(f"PRAGMA application_id={APPLICATION_ID}; PRAGMA user_version=99;")
    conn.close()


def _not_sqlite(path: Path) -> None:
    path.write_bytes(b"this is not sqlite" * 100)


def _sqlite_header_then_garbage(path: Path) -> None:
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_another_apps_database, "another application"),
        (_unstamped_foreign_tables, "another application"),
        (_our_user_version_without_our_tables, "not a Wrencos Studio database"),
        (_newer_build, "newer"),
        (_newer_build_of_ours, "newer"),
        (_not_sqlite, "not a SQLite database"),
        (_sqlite_header_then_garbage, "cannot read"),
    ],
)
def test_a_file_that_is_not_ours_is_refused_byte_for_byte(
    tmp_path: Path, make: Callable[[Path], None], reason: str
) -> None:
    """Another program's database, a newer build's, or not SQLite at all: StoreError
    naming why; the file's bytes are the same and no journal or WAL file appears."""
    path = tmp_path / "db.sqlite3"
    make(path)
    before = _snapshot(tmp_path)
    with pytest.raises(StoreError, match=reason):
        Store(path).open()
    assert _snapshot(tmp_path) == before


def test_a_foreign_wal_database_in_use_is_refused_untouched(tmp_path: Path) -> None:
    """Another program's WAL database with uncheckpointed pages: neither the file nor its
    -wal changes (a read-write open would checkpoint the WAL into it on close)."""
    path = tmp_path / "db.sqlite3"
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.executescript(
            "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
            "PRAGMA application_id=1234; CREATE TABLE t (x); INSERT INTO t VALUES (1);"
        )
        files = ("db.sqlite3", "db.sqlite3-wal")
        before = {name: _sha(tmp_path / name) for name in files}
        with pytest.raises(StoreError, match="another application"):
            Store(path).open()
        assert {name: _sha(tmp_path / name) for name in files} == before
    finally:
        other.close()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.name: _sha(p) for p in _files(folder)}


def _files(folder: Path) -> Iterator[Path]:
    return (p for p in sorted(folder.iterdir()) if p.is_file())


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


async def test_a_failing_job_alone_in_its_batch_leaves_no_trace(tmp_path: Path) -> None:
    """A job written on its own (no savepoint) that fails is rolled back whole; the store
    goes on."""
    store = Store(tmp_path / "db.sqlite3")
    store.open()

    def insert_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO meta (key, value) VALUES ('half', 'v')")
        raise ValueError("boom")

    try:
        with pytest.raises(ValueError, match="boom"):
            await store.run(insert_then_fail)
        await store.run(lambda c: c.execute("INSERT INTO meta (key, value) VALUES ('ok', 'v')"))
        keys = await store.run(lambda c: [r[0] for r in c.execute("SELECT key FROM meta")])
        assert "half" not in keys and "ok" in keys
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
