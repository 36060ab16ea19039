"""The SQLite file: whose it is, schema version, ordered migrations, and one writer thread
with group commit."""

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

__all__ = [
    "APPLICATION_ID",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Store",
    "StoreClosedError",
    "StoreError",
    "check_owned",
]

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
    # The shop (issue 11): a product's currency ('' until the hub fills in the shop's),
    # the products pinned during each stream, and each ended stream's summary.
    """
    ALTER TABLE products ADD COLUMN currency TEXT NOT NULL DEFAULT '';
    CREATE TABLE stream_pins (
        stream_id  TEXT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
        product_id TEXT NOT NULL,
        pinned_at  TEXT NOT NULL,
        PRIMARY KEY (stream_id, product_id)
    ) WITHOUT ROWID;
    ALTER TABLE streams ADD COLUMN chat_lines INTEGER;
    ALTER TABLE streams ADD COLUMN chatters INTEGER;
    ALTER TABLE streams ADD COLUMN products_pinned INTEGER;
    CREATE INDEX streams_ended ON streams (ended_at) WHERE ended_at IS NOT NULL;
    """,
    # 3: support, second edition — the product a message asks about, the publicId a
    # conversation's customer writes under, the product cards a customer tapped, and
    # full-text search over every support message (FTS5, kept in step by triggers).
    """
    ALTER TABLE support_messages ADD COLUMN product_id TEXT;
    ALTER TABLE conversations ADD COLUMN public_id TEXT;
    CREATE INDEX support_staff_lines ON support_messages (session_id, seq)
        WHERE sender = 'staff';
    CREATE TABLE product_taps (
        uid        TEXT PRIMARY KEY,
        stream_id  TEXT NOT NULL,
        session_id TEXT NOT NULL,
        public_id  TEXT,
        product_id TEXT NOT NULL,
        tapped_at  TEXT NOT NULL
    );
    CREATE INDEX product_taps_by_session ON product_taps (session_id, stream_id);
    CREATE VIRTUAL TABLE support_fts USING fts5 (
        message,
        content = 'support_messages',
        content_rowid = 'seq',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    INSERT INTO support_fts (rowid, message) SELECT seq, message FROM support_messages;
    CREATE TRIGGER support_fts_insert AFTER INSERT ON support_messages BEGIN
        INSERT INTO support_fts (rowid, message) VALUES (new.seq, new.message);
    END;
    CREATE TRIGGER support_fts_delete AFTER DELETE ON support_messages BEGIN
        INSERT INTO support_fts (support_fts, rowid, message)
            VALUES ('delete', old.seq, old.message);
    END;
    CREATE TRIGGER support_fts_update AFTER UPDATE OF message ON support_messages BEGIN
        INSERT INTO support_fts (support_fts, rowid, message)
            VALUES ('delete', old.seq, old.message);
        INSERT INTO support_fts (rowid, message) VALUES (new.seq, new.message);
    END;
    """,
    # 4: support's live feel (issue 12) — when the customer's page had a staff reply on
    # screen ("Seen"), and the canned replies every staff member shares.
    """
    ALTER TABLE support_messages ADD COLUMN seen_at TEXT;
    CREATE TABLE canned_replies (
        shortcut   TEXT PRIMARY KEY,
        text       TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        updated_by TEXT
    ) WITHOUT ROWID;
    """,
    # 5 (issue 14): each show's recordings (the
    # replay id is the unguessable name of the replay page) and its timeline — pins (the
    # products as they were), chat lines (by id: a deleted line is left out when read),
    # likes — each at its offset into the recording (store/replays.py).
    """
    CREATE TABLE recordings (
        replay_id   TEXT PRIMARY KEY,
        stream_id   TEXT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
        file        TEXT NOT NULL,
        started_at  TEXT NOT NULL,
        ended_at    TEXT,
        duration_ms INTEGER,
        bytes       INTEGER,
        status      TEXT NOT NULL DEFAULT 'recording'
            CHECK (status IN ('recording', 'complete', 'interrupted', 'stopped')),
        note        TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX recordings_by_stream ON recordings (stream_id);
    CREATE INDEX recordings_by_start ON recordings (started_at);
    CREATE TABLE timeline_events (
        seq       INTEGER PRIMARY KEY AUTOINCREMENT,
        replay_id TEXT NOT NULL REFERENCES recordings (replay_id) ON DELETE CASCADE,
        offset_ms INTEGER NOT NULL,
        kind      TEXT NOT NULL CHECK (kind IN ('pins', 'chat', 'like', 'unlike')),
        ref       TEXT,
        data      TEXT
    );
    CREATE INDEX timeline_by_replay ON timeline_events (replay_id, offset_ms);
    """,
    # 6 (issue 11): a show's average viewers (viewer-seconds, kept while live; the average at
    # the end), the support conversations a customer wrote in during it, and its taps per
    # product (JSON: [{"productId", "name", "taps"}]).
    """
    ALTER TABLE streams ADD COLUMN viewer_seconds REAL NOT NULL DEFAULT 0;
    ALTER TABLE streams ADD COLUMN average_viewers REAL;
    ALTER TABLE streams ADD COLUMN support_conversations INTEGER;
    ALTER TABLE streams ADD COLUMN product_taps TEXT;
    CREATE INDEX product_taps_by_stream ON product_taps (stream_id, product_id);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)

#: ``PRAGMA application_id`` of every Wrencos Studio database: "WRNC" read as a big-endian
#: 32-bit integer (0x57524E43). A file with another id is another program's: never written.
APPLICATION_ID = int.from_bytes(b"WRNC", "big")
_SQLITE_MAGIC = b"SQLite format 3\x00"

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


def check_owned(path: Path) -> None:
    """Refuse (StoreError) a file at ``path`` that is not ours to write, reading it only.

    Ours: no file, an empty one, a SQLite database with our ``application_id`` (and a
    schema this build knows), or one from before the id was set (``application_id`` 0)
    that is blank or holds our tables for its ``user_version`` (``migrate`` stamps it).
    Anything else is another program's, or a newer build's, and is left byte for byte:
    it is read through a read-only connection, which can neither change the header
    (as ``journal_mode=WAL`` would) nor checkpoint a ``-wal`` file into it on close.
    """
    try:
        with path.open("rb") as file:
            head = file.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        return
    if not head:
        return  # SQLite treats an empty file as an empty database
    if head != _SQLITE_MAGIC:
        raise StoreError(
            "it is not a SQLite database (another program's file?); refusing to touch it"
        )
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?{_read_only_query(path)}", uri=True)
        try:
            app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            tables = _table_names(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read it ({exc}); refusing to touch it") from exc
    if app_id not in (0, APPLICATION_ID):
        raise StoreError(
            f"it belongs to another application (application_id {app_id & 0xFFFFFFFF:#010x}, "
            f"Wrencos Studio's is {APPLICATION_ID:#010x}); refusing to touch it"
        )
    _check_version(version)
    if app_id == 0 and version == 0 and tables:
        raise StoreError(
            f"it is another application's database (tables {', '.join(sorted(tables)[:5])}; "
            "no Wrencos Studio schema); refusing to touch it"
        )
    if app_id == 0 and not _schema_tables(version) <= tables:
        raise StoreError(
            f"it is not a Wrencos Studio database (user_version {version} without "
            "Wrencos Studio's tables); refusing to touch it"
        )


def _read_only_query(path: Path) -> str:
    # With no journal beside it the file is all there is: read it as immutable, which
    # creates no -shm or -wal (a read-only open of a WAL file would leave both behind).
    # Otherwise a plain read-only open sees what the journal holds, still writing nothing
    # into the file itself.
    if any(path.with_name(path.name + end).exists() for end in ("-wal", "-journal")):
        return "mode=ro"
    return "mode=ro&immutable=1"


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the file to SCHEMA_VERSION, one migration per transaction; return the version.

    Each transaction also sets our ``application_id``, so a new file carries it from its
    first commit; a file of ours from before the id existed is stamped ("adopted").
    Call :func:`check_owned` first: opening read-write already writes to the file.
    """
    app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    if app_id not in (0, APPLICATION_ID):
        raise StoreError("the database belongs to another application; refusing to touch it")
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    _check_version(version)
    if app_id != APPLICATION_ID and version == SCHEMA_VERSION:
        _in_transaction(conn, [f"PRAGMA application_id={APPLICATION_ID}"])
        log.info("database from before application_id adopted (schema %d)", version)
    for index in range(version, SCHEMA_VERSION):
        _in_transaction(
            conn,
            [
                *_statements(MIGRATIONS[index]),
                f"PRAGMA user_version={index + 1}",
                f"PRAGMA application_id={APPLICATION_ID}",
            ],
        )
        log.info("database migrated to schema %d", index + 1)
    return SCHEMA_VERSION


def _check_version(version: int) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the database was written by a newer Wrencos Studio (schema {version}, "
            f"this build knows {SCHEMA_VERSION}); refusing to touch it"
        )


def _in_transaction(conn: sqlite3.Connection, statements: list[str]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in statements:
            conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _table_names(conn: sqlite3.Connection) -> frozenset[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return frozenset(name for (name,) in rows if not name.startswith("sqlite_"))


def _schema_tables(version: int) -> frozenset[str]:
    """The tables our migrations 1..``version`` create (run on an in-memory database)."""
    conn = sqlite3.connect(":memory:")
    try:
        for script in MIGRATIONS[:version]:
            conn.executescript(script)
        return _table_names(conn)
    finally:
        conn.close()


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
            check_owned(self.path)
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
        # A savepoint per job lets one failing job roll back alone; a batch of one job (the
        # common case when nothing queues up) needs none: two statements fewer per write.
        alone = len(batch) == 1
        for fn, args, future in batch:
            if not future.set_running_or_notify_cancel():
                outcomes.append((False, None))
                continue
            if not alone:
                conn.execute("SAVEPOINT job")
            try:
                result = fn(conn, *args)
            except Exception as exc:
                if alone:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    future.set_exception(exc)
                    return
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                outcomes.append((False, exc))
            else:
                if not alone:
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
