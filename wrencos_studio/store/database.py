"""The SQLite file: schema version, ordered migrations, and one writer thread with group commit."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Store", "StoreClosedError", "StoreError"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Ordered migrations: index i upgrades user_version i -> i + 1. Never edit a shipped
# entry; append a new one.
MIGRATIONS: list[str] = [
    # 1: the first schema.
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE streams (
        id           TEXT PRIMARY KEY,
        title        TEXT NOT NULL,
        description  TEXT NOT NULL DEFAULT '',
        stream_url   TEXT NOT NULL DEFAULT '',
        quality      TEXT NOT NULL DEFAULT '720p',
        started_at   TEXT NOT NULL,
        ended_at     TEXT,
        peak_viewers INTEGER NOT NULL DEFAULT 0,
        likes        INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX streams_live ON streams (ended_at) WHERE ended_at IS NULL;
    CREATE TABLE stream_likes (
        stream_id TEXT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
        public_id TEXT NOT NULL,
        liked_at  TEXT NOT NULL,
        ord       INTEGER NOT NULL,
        PRIMARY KEY (stream_id, public_id)
    ) WITHOUT ROWID;
    CREATE TABLE chat_messages (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        id         TEXT NOT NULL UNIQUE,
        stream_id  TEXT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
        username   TEXT NOT NULL,
        message    TEXT NOT NULL,
        is_admin   INTEGER NOT NULL,
        sender     TEXT,
        created_at TEXT NOT NULL,
        deleted_at TEXT
    );
    CREATE INDEX chat_by_stream ON chat_messages (stream_id, seq);
    CREATE TABLE conversations (
        session_id    TEXT PRIMARY KEY,
        customer_name TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        last_seq      INTEGER NOT NULL DEFAULT 0,
        status        TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved'))
    );
    CREATE INDEX conversations_recent ON conversations (last_seq DESC);
    CREATE TABLE support_messages (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        uid           TEXT NOT NULL UNIQUE,
        session_id    TEXT NOT NULL REFERENCES conversations (session_id) ON DELETE CASCADE,
        sender        TEXT NOT NULL CHECK (sender IN ('customer', 'staff')),
        staff_user_id TEXT,
        message       TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        delivered_at  TEXT,
        read_at       TEXT
    );
    CREATE INDEX support_by_session ON support_messages (session_id, seq);
    CREATE INDEX support_undelivered ON support_messages (session_id)
        WHERE sender = 'staff' AND delivered_at IS NULL;
    CREATE TABLE products (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        price       REAL NOT NULL DEFAULT 0,
        image       TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT '',
        url         TEXT NOT NULL DEFAULT '',
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    );
    CREATE TABLE pinned_products (
        position   INTEGER PRIMARY KEY,
        product_id TEXT NOT NULL,
        item       TEXT NOT NULL
    );
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)

# How many queued jobs one transaction may take: a group commit bounds its latency.
MAX_BATCH = 256


class StoreError(Exception):
    """The database could not do what was asked (it is left as it was)."""


class StoreClosedError(StoreError):
    """The store was closed; nothing more is accepted."""


_Job = tuple[Callable[..., Any], tuple[Any, ...], concurrent.futures.Future[Any]]
_STOP = object()


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a commit survives the process being killed (the OS has it);
    # only a power cut can lose the last commits, never corrupt the file.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the file to SCHEMA_VERSION, one migration per transaction; return the version."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the database was written by a newer Wrencos Studio (schema {version}, "
            f"this build knows {SCHEMA_VERSION}); refusing to touch it"
        )
    for index in range(version, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[index]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={index + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        log.info("database migrated to schema %d", index + 1)
    return SCHEMA_VERSION


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT on its own; split so the migration stays one transaction.
    parts: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                parts.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        parts.append(buffer.strip())
    return parts


class Store:
    """One SQLite file, owned by one thread.

    Every job runs on the store's thread, in submission order, inside its own
    savepoint; jobs queued together share one transaction (group commit), so a
    burst of chat messages costs one commit, and the event loop never waits on
    the disk. A job's future resolves only after its transaction committed:
    what a client was told happened is on disk.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._queue: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self.commits = 0
        self.jobs_done = 0

    # -- lifecycle -----------------------------------------------------------------

    def open(self) -> None:
        """Open (creating and migrating if needed) and start the writer thread."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="wrencos-store", daemon=True
        )
        self._thread.start()
        ready.result()

    async def close(self) -> None:
        """Finish the queued jobs, checkpoint, and close the file."""
        await asyncio.get_running_loop().run_in_executor(None, self.close_sync)

    def close_sync(self) -> None:
        if self._thread is None or self._closed:
            self._closed = True
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    # -- submitting work -----------------------------------------------------------

    def submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        """Queue ``fn(conn, *args)``; the future resolves after its commit."""
        if self._closed or self._thread is None:
            raise StoreClosedError("the store is closed")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put((fn, args, future))
        return future

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` on the store's thread and wait for its commit."""
        return await asyncio.wrap_future(self.submit(fn, *args))

    def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """The same, blocking: for start-up and tools, never from the event loop."""
        return self.submit(fn, *args).result()

    # -- the thread ----------------------------------------------------------------

    def _run(self, ready: concurrent.futures.Future[None]) -> None:
        try:
            conn = _connect(self.path)
            migrate(conn)
            quick = conn.execute("PRAGMA quick_check").fetchone()[0]
            if quick != "ok":
                raise StoreError(f"database integrity check failed: {quick}")
        except BaseException as exc:
            self._closed = True
            ready.set_exception(exc if isinstance(exc, Exception) else StoreError(str(exc)))
            return
        self._conn = conn
        ready.set_result(None)
        stopping = False
        while not stopping:
            item = self._queue.get()
            batch: list[_Job] = []
            if item is _STOP:
                stopping = True
            else:
                batch.append(item)  # type: ignore[arg-type]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    continue
                batch.append(item)  # type: ignore[arg-type]
            if batch:
                self._run_batch(conn, batch)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("PRAGMA optimize")
        except sqlite3.Error:
            log.warning("checkpoint at close failed", exc_info=True)
        conn.close()
        self._conn = None

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            for _fn, _args, future in batch:
                future.set_exception(StoreError(f"could not start a transaction: {exc}"))
            return
        for fn, args, future in batch:
            if not future.set_running_or_notify_cancel():
                outcomes.append((False, None))
                continue
            conn.execute("SAVEPOINT job")
            try:
                result = fn(conn, *args)
            except Exception as exc:
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                outcomes.append((False, exc))
            else:
                conn.execute("RELEASE job")
                outcomes.append((True, result))
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("commit failed: %s", exc)
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            for (_fn, _args, future), _outcome in zip(batch, outcomes, strict=True):
                if future.running():
                    future.set_exception(StoreError(f"commit failed: {exc}"))
            return
        self.commits += 1
        self.jobs_done += len(batch)
        for (_fn, _args, future), (ok, value) in zip(batch, outcomes, strict=True):
            if not future.running():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
