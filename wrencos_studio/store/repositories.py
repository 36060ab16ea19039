"""Queries, as plain functions of a connection; the Store runs them on its thread."""

from __future__ import annotations

import json
import secrets
import sqlite3
from typing import Any

from wrencos_studio.store.rows import (
    ChatLine,
    ConversationSummary,
    EndedStream,
    PendingReply,
    Product,
    StreamRow,
    StreamSummary,
    SupportLine,
)

__all__ = [
    "add_chat_message",
    "add_customer_message",
    "add_staff_message",
    "conversation_messages",
    "delete_product",
    "end_stream",
    "fill_missing_currency",
    "get_or_create_secret_key",
    "get_product",
    "list_conversations",
    "list_products",
    "live_stream",
    "load_pinned",
    "mark_conversation_read",
    "mark_delivered",
    "products_by_ids",
    "recent_chat",
    "replace_pinned",
    "sessions_with_undelivered",
    "set_like",
    "start_stream",
    "stream_likers",
    "stream_summaries",
    "undelivered_replies",
    "update_stream_peak",
    "upsert_product",
]

Row = dict[str, Any]


def get_or_create_secret_key(conn: sqlite3.Connection, key: str) -> str:
    """A random secret kept in the database (e.g. the key that derives publicIds)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    if row is not None:
        return str(row["value"])
    value = secrets.token_hex(32)
    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
    return value


# -- streams -----------------------------------------------------------------------


def start_stream(
    conn: sqlite3.Connection,
    stream_id: str,
    title: str,
    description: str,
    stream_url: str,
    quality: str,
    started_at: str,
    viewers: int,
) -> None:
    """Record a stream going live (once per id: another hub's copy may be there)."""
    conn.execute(
        "INSERT OR IGNORE INTO streams (id, title, description, stream_url, quality, started_at,"
        " peak_viewers, likes) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
        (stream_id, title, description, stream_url, quality, started_at, viewers),
    )
    # Products pinned before going live are pinned in this stream too (its summary).
    conn.execute(
        "INSERT OR IGNORE INTO stream_pins (stream_id, product_id, pinned_at)"
        " SELECT ?, product_id, ? FROM pinned_products",
        (stream_id, started_at),
    )


def end_stream(
    conn: sqlite3.Connection,
    stream_id: str,
    ended_at: str,
    peak: int,
    summary: StreamSummary | None = None,
) -> StreamSummary | None:
    """Record a stream's end and its summary: ``summary`` as another hub computed it,
    or (None) counted here from this database. Returns the summary (None: no such
    stream)."""
    conn.execute(
        "UPDATE streams SET ended_at = ?, peak_viewers = MAX(peak_viewers, ?) WHERE id = ?",
        (ended_at, peak, stream_id),
    )
    # Pins belong to a stream: the next one starts with an empty strip.
    conn.execute("DELETE FROM pinned_products")
    if summary is None:
        conn.execute(
            "UPDATE streams SET"
            " chat_lines = (SELECT COUNT(*) FROM chat_messages"
            "  WHERE stream_id = streams.id AND deleted_at IS NULL),"
            " chatters = (SELECT COUNT(DISTINCT sender) FROM chat_messages"
            "  WHERE stream_id = streams.id AND is_admin = 0 AND sender IS NOT NULL),"
            " products_pinned = (SELECT COUNT(*) FROM stream_pins"
            "  WHERE stream_id = streams.id)"
            " WHERE id = ?",
            (stream_id,),
        )
    else:
        conn.execute(
            "UPDATE streams SET peak_viewers = MAX(peak_viewers, ?), likes = MAX(likes, ?),"
            " chat_lines = ?, chatters = ?, products_pinned = ? WHERE id = ?",
            (
                summary.peak_viewers,
                summary.likes,
                summary.chat_lines,
                summary.chatters,
                summary.products_pinned,
                stream_id,
            ),
        )
    row = conn.execute(f"{_SUMMARY_SELECT} WHERE id = ?", (stream_id,)).fetchone()
    return _summary(row) if row is not None else None


_SUMMARY_SELECT = (
    "SELECT rowid, id, title, started_at, ended_at, peak_viewers, likes,"
    " COALESCE(chat_lines, 0) AS chat_lines, COALESCE(chatters, 0) AS chatters,"
    " COALESCE(products_pinned, 0) AS products_pinned FROM streams"
)


def _summary(r: sqlite3.Row) -> StreamSummary:
    return StreamSummary(
        stream_id=r["id"],
        title=r["title"],
        started_at=r["started_at"],
        ended_at=r["ended_at"],
        duration_seconds=_seconds_between(r["started_at"], r["ended_at"]),
        peak_viewers=int(r["peak_viewers"]),
        likes=int(r["likes"]),
        chat_lines=int(r["chat_lines"]),
        chatters=int(r["chatters"]),
        products_pinned=int(r["products_pinned"]),
    )


def _seconds_between(start: str, end: str) -> int:
    from datetime import datetime

    try:
        delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    except ValueError:
        return 0
    return max(0, round(delta.total_seconds()))


def stream_summaries(
    conn: sqlite3.Connection, limit: int = 50, before: tuple[str, int] | None = None
) -> tuple[list[StreamSummary], tuple[str, int] | None]:
    """One page of the shows that ended, newest first: at most ``limit`` that ended
    before position ``before`` (``(ended_at, rowid)``). Returns the summaries and the
    position to continue from (None: this was the last page)."""
    where = "WHERE ended_at IS NOT NULL"
    args: tuple[Any, ...] = ()
    if before is not None:
        where += " AND (ended_at, rowid) < (?, ?)"
        args = before
    rows = conn.execute(
        f"{_SUMMARY_SELECT} {where} ORDER BY ended_at DESC, rowid DESC LIMIT ?",
        (*args, limit + 1),
    ).fetchall()
    more = len(rows) > limit
    page = rows[:limit]
    cursor = (str(page[-1]["ended_at"]), int(page[-1]["rowid"])) if more else None
    return [_summary(r) for r in page], cursor


def update_stream_peak(conn: sqlite3.Connection, stream_id: str, peak: int) -> None:
    conn.execute(
        "UPDATE streams SET peak_viewers = MAX(peak_viewers, ?) WHERE id = ?", (peak, stream_id)
    )


def live_stream(conn: sqlite3.Connection) -> StreamRow | None:
    """The stream that was live when the process last stopped, if any."""
    row = conn.execute(
        "SELECT id, title, description, stream_url, quality, started_at, peak_viewers"
        " FROM streams WHERE ended_at IS NULL ORDER BY started_at DESC LIMIT 1"
    ).fetchone()
    return StreamRow(**dict(row)) if row is not None else None


def last_ended_stream(conn: sqlite3.Connection) -> EndedStream | None:
    """The stream that ended last, if any."""
    row = conn.execute(
        "SELECT title, ended_at FROM streams WHERE ended_at IS NOT NULL"
        " ORDER BY ended_at DESC LIMIT 1"
    ).fetchone()
    return EndedStream(row["title"], row["ended_at"]) if row is not None else None


def get_meta_json(conn: sqlite3.Connection, key: str) -> Any:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return json.loads(row["value"]) if row is not None else None


def set_meta_json(conn: sqlite3.Connection, key: str, value: Any) -> None:
    if value is None:
        conn.execute("DELETE FROM meta WHERE key = ?", (key,))
    else:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET"
            " value = excluded.value",
            (key, json.dumps(value, ensure_ascii=False)),
        )


def set_like(
    conn: sqlite3.Connection, stream_id: str, public_id: str, liked: bool, at: str
) -> None:
    if liked:
        conn.execute(
            "INSERT OR IGNORE INTO stream_likes (stream_id, public_id, liked_at, ord)"
            " VALUES (?, ?, ?, (SELECT COALESCE(MAX(ord), 0) + 1 FROM stream_likes"
            " WHERE stream_id = ?))",
            (stream_id, public_id, at, stream_id),
        )
    else:
        conn.execute(
            "DELETE FROM stream_likes WHERE stream_id = ? AND public_id = ?",
            (stream_id, public_id),
        )
    conn.execute(
        "UPDATE streams SET likes = (SELECT COUNT(*) FROM stream_likes WHERE stream_id = ?)"
        " WHERE id = ?",
        (stream_id, stream_id),
    )


def stream_likers(conn: sqlite3.Connection, stream_id: str) -> list[str]:
    rows = conn.execute(
        "SELECT public_id FROM stream_likes WHERE stream_id = ? ORDER BY ord",
        (stream_id,),
    ).fetchall()
    return [r["public_id"] for r in rows]


# -- chat --------------------------------------------------------------------------


def add_chat_message(conn: sqlite3.Connection, stream_id: str, line: ChatLine) -> None:
    """Store a chat line (once per id); its sender is ``line.public_id``."""
    conn.execute(
        "INSERT OR IGNORE INTO chat_messages (id, stream_id, username, message, is_admin, sender,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            line.id,
            stream_id,
            line.username,
            line.message,
            line.is_admin,
            line.public_id,
            line.timestamp,
        ),
    )


def delete_chat_message(conn: sqlite3.Connection, message_id: str, at: str) -> bool:
    cur = conn.execute(
        "UPDATE chat_messages SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
        (at, message_id),
    )
    return cur.rowcount > 0


def delete_chat_messages(conn: sqlite3.Connection, ids: list[str]) -> None:
    """A replica's copy of deletions made on another hub."""
    from wrencos_studio.clock import utc_now_iso

    at = utc_now_iso()
    for message_id in ids:
        delete_chat_message(conn, message_id, at)


def delete_chat_by_sender(conn: sqlite3.Connection, stream_id: str, sender: str, at: str) -> None:
    conn.execute(
        "UPDATE chat_messages SET deleted_at = ? WHERE stream_id = ? AND sender = ?"
        " AND deleted_at IS NULL",
        (at, stream_id, sender),
    )


def set_conversation_status(conn: sqlite3.Connection, session_id: str, status: str) -> bool:
    cur = conn.execute(
        "UPDATE conversations SET status = ? WHERE session_id = ?", (status, session_id)
    )
    return cur.rowcount > 0


def recent_chat(conn: sqlite3.Connection, stream_id: str, limit: int) -> list[ChatLine]:
    """The last ``limit`` lines of a stream that were not deleted, oldest first."""
    rows = conn.execute(
        "SELECT * FROM (SELECT seq, id, username, message, is_admin, created_at, sender"
        " FROM chat_messages WHERE stream_id = ? AND deleted_at IS NULL"
        " ORDER BY seq DESC LIMIT ?) ORDER BY seq",
        (stream_id, limit),
    ).fetchall()
    return [
        ChatLine(
            id=r["id"],
            username=r["username"],
            message=r["message"],
            timestamp=r["created_at"],
            is_admin=bool(r["is_admin"]),
            public_id=r["sender"],
        )
        for r in rows
    ]


# -- support -----------------------------------------------------------------------


def _touch_conversation(
    conn: sqlite3.Connection, session_id: str, name: str | None, default_name: str, at: str
) -> str:
    row = conn.execute(
        "SELECT customer_name FROM conversations WHERE session_id = ?", (session_id,)
    ).fetchone()
    if row is None:
        final = name or default_name
        conn.execute(
            "INSERT INTO conversations (session_id, customer_name, created_at) VALUES (?, ?, ?)",
            (session_id, final, at),
        )
        return final
    if name and name != row["customer_name"]:
        conn.execute(
            "UPDATE conversations SET customer_name = ? WHERE session_id = ?", (name, session_id)
        )
        return name
    return str(row["customer_name"])


def add_customer_message(
    conn: sqlite3.Connection,
    uid: str,
    session_id: str,
    customer_name: str | None,
    default_name: str,
    message: str,
    at: str,
) -> str:
    """Store a customer's support message (once per uid); return the conversation's name."""
    name = _touch_conversation(conn, session_id, customer_name, default_name, at)
    cur = conn.execute(
        "INSERT OR IGNORE INTO support_messages (uid, session_id, sender, message, created_at)"
        " VALUES (?, ?, 'customer', ?, ?)",
        (uid, session_id, message, at),
    )
    if cur.rowcount:
        # A customer writing again reopens a resolved conversation.
        conn.execute(
            "UPDATE conversations SET last_seq = ?, status = 'open' WHERE session_id = ?",
            (cur.lastrowid, session_id),
        )
    return name


def add_staff_message(
    conn: sqlite3.Connection,
    uid: str,
    session_id: str,
    staff_user_id: str,
    default_name: str,
    message: str,
    at: str,
) -> None:
    """Store a staff reply (undelivered, once per uid); it marks the customer's lines read."""
    _touch_conversation(conn, session_id, None, default_name, at)
    cur = conn.execute(
        "INSERT OR IGNORE INTO support_messages (uid, session_id, sender, staff_user_id, message,"
        " created_at) VALUES (?, ?, 'staff', ?, ?, ?)",
        (uid, session_id, staff_user_id, message, at),
    )
    if cur.rowcount:
        conn.execute(
            "UPDATE conversations SET last_seq = ? WHERE session_id = ?",
            (cur.lastrowid, session_id),
        )
    mark_conversation_read(conn, session_id, at)


def mark_conversation_read(conn: sqlite3.Connection, session_id: str, at: str) -> None:
    conn.execute(
        "UPDATE support_messages SET read_at = ? WHERE session_id = ? AND sender = 'customer'"
        " AND read_at IS NULL",
        (at, session_id),
    )


def mark_delivered(conn: sqlite3.Connection, uids: list[str], at: str) -> None:
    conn.executemany(
        "UPDATE support_messages SET delivered_at = ? WHERE uid = ? AND delivered_at IS NULL",
        [(at, uid) for uid in uids],
    )


def undelivered_replies(conn: sqlite3.Connection, session_id: str) -> list[PendingReply]:
    """Staff replies to a session not yet confirmed read, oldest first."""
    rows = conn.execute(
        "SELECT uid, message, created_at FROM support_messages WHERE session_id = ?"
        " AND sender = 'staff' AND delivered_at IS NULL ORDER BY seq",
        (session_id,),
    ).fetchall()
    return [PendingReply(r["uid"], r["message"], r["created_at"]) for r in rows]


def sessions_with_undelivered(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT DISTINCT session_id FROM support_messages"
        " WHERE sender = 'staff' AND delivered_at IS NULL"
    ).fetchall()
    return {r["session_id"] for r in rows}


#: ``lastMessage`` in the inbox list is cut to this many characters (Trust rules, rule 6).
LAST_MESSAGE_MAX_CHARS = 200


def list_conversations(
    conn: sqlite3.Connection, limit: int = 50, before: int | None = None
) -> tuple[list[ConversationSummary], int | None]:
    """One page of the inbox, newest first by last message (ties by arrival order): at
    most ``limit`` conversations whose last message came before position ``before``.
    Returns the rows and the position to continue from (None: this was the last page)."""
    rows = conn.execute(
        "SELECT c.session_id, c.customer_name, c.status, c.last_seq, m.message, m.created_at,"
        " (SELECT COUNT(*) FROM support_messages u WHERE u.session_id = c.session_id"
        "  AND u.sender = 'customer' AND u.read_at IS NULL) AS unread"
        " FROM conversations c JOIN support_messages m ON m.seq = c.last_seq"
        " WHERE c.last_seq < ? ORDER BY c.last_seq DESC LIMIT ?",
        (before if before is not None else 2**63 - 1, limit + 1),
    ).fetchall()
    page = [
        ConversationSummary(
            session_id=r["session_id"],
            customer_name=r["customer_name"],
            last_message=r["message"][:LAST_MESSAGE_MAX_CHARS],
            last_timestamp=r["created_at"],
            unread=int(r["unread"]),
            status=r["status"],
        )
        for r in rows[:limit]
    ]
    more = len(rows) > limit
    return page, (int(rows[limit - 1]["last_seq"]) if more else None)


def conversation_messages(
    conn: sqlite3.Connection, session_id: str, limit: int = 100, before: str | None = None
) -> tuple[list[SupportLine], bool]:
    """The newest ``limit`` lines of a support conversation older than the line whose id
    is ``before`` (None: the newest), oldest first; and whether older lines exist.
    An unknown ``before`` gives no lines."""
    upper = 2**63 - 1
    if before is not None:
        row = conn.execute(
            "SELECT seq FROM support_messages WHERE uid = ? AND session_id = ?",
            (before, session_id),
        ).fetchone()
        if row is None:
            return [], False
        upper = int(row["seq"])
    rows = conn.execute(
        "SELECT uid, sender, message, created_at FROM support_messages"
        " WHERE session_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
        (session_id, upper, limit + 1),
    ).fetchall()
    more = len(rows) > limit
    lines = [
        SupportLine(r["sender"], r["message"], r["created_at"], r["uid"]) for r in rows[:limit]
    ]
    lines.reverse()
    return lines, more


# -- products ----------------------------------------------------------------------


def replace_pinned(conn: sqlite3.Connection, items: list[Row], at: str | None = None) -> None:
    """The pinned list; while a stream is live, each product also counts as pinned in
    it (``stream_pins``, first time only) for its summary."""
    conn.execute("DELETE FROM pinned_products")
    if items:
        from wrencos_studio.clock import utc_now_iso

        conn.executemany(
            "INSERT OR IGNORE INTO stream_pins (stream_id, product_id, pinned_at)"
            " SELECT id, ?, ? FROM streams WHERE ended_at IS NULL",
            [(str(item.get("productId", "")), at or utc_now_iso()) for item in items],
        )
    conn.executemany(
        "INSERT INTO pinned_products (position, product_id, item) VALUES (?, ?, ?)",
        [
            (i, str(item.get("productId", "")), json.dumps(item, ensure_ascii=False))
            for i, item in enumerate(items)
        ],
    )


def load_pinned(conn: sqlite3.Connection) -> list[Row]:
    rows = conn.execute("SELECT item FROM pinned_products ORDER BY position").fetchall()
    return [json.loads(r["item"]) for r in rows]


def list_products(conn: sqlite3.Connection) -> list[Product]:
    """The catalog, by name."""
    rows = conn.execute("SELECT * FROM products ORDER BY name COLLATE NOCASE, id").fetchall()
    return [_product(r) for r in rows]


def _product(r: sqlite3.Row) -> Product:
    return Product(
        product_id=r["id"],
        name=r["name"],
        price=r["price"],
        image=r["image"],
        description=r["description"],
        url=r["url"],
        updated_at=r["updated_at"],
        currency=r["currency"],
    )


def upsert_product(conn: sqlite3.Connection, product: Product) -> Product:
    """Add or change a product (``updated_at`` is the time of this change); the row as
    stored."""
    conn.execute(
        "INSERT INTO products (id, name, price, image, description, url, created_at, updated_at,"
        " currency) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, price = excluded.price,"
        " image = excluded.image, description = excluded.description, url = excluded.url,"
        " updated_at = excluded.updated_at, currency = excluded.currency",
        (
            product.product_id,
            product.name,
            product.price,
            product.image,
            product.description,
            product.url,
            product.updated_at,
            product.updated_at,
            product.currency,
        ),
    )
    row = conn.execute("SELECT * FROM products WHERE id = ?", (product.product_id,)).fetchone()
    return _product(row)


def delete_product(conn: sqlite3.Connection, product_id: str) -> bool:
    cur = conn.execute("DELETE FROM products WHERE id = ?", (product_id,))
    return cur.rowcount > 0


def get_product(conn: sqlite3.Connection, product_id: str) -> Product | None:
    row = conn.execute("SELECT * FROM products WHERE id = ?", (product_id,)).fetchone()
    return _product(row) if row is not None else None


def products_by_ids(conn: sqlite3.Connection, product_ids: list[str]) -> dict[str, Product]:
    """The catalog products among ``product_ids``, by id."""
    found: dict[str, Product] = {}
    for start in range(0, len(product_ids), 500):
        chunk = product_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for r in conn.execute(f"SELECT * FROM products WHERE id IN ({marks})", chunk):
            found[r["id"]] = _product(r)
    return found


def fill_missing_currency(conn: sqlite3.Connection, currency: str) -> None:
    """Products saved before currencies existed are in the shop's currency."""
    conn.execute("UPDATE products SET currency = ? WHERE currency = ''", (currency,))
