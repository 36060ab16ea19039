"""Queries, as plain functions of a connection; the Store runs them on its thread."""

from __future__ import annotations

import json
import secrets
import sqlite3
from typing import Any

from wrencos_studio.store.rows import (
    CannedReply,
    ChatLine,
    ConversationSummary,
    CustomerFacts,
    EndedStream,
    PendingReply,
    Product,
    ProductTapCount,
    ProductTaps,
    StreamRow,
    StreamSummary,
    SupportLine,
)

__all__ = [
    "add_chat_message",
    "add_customer_message",
    "add_product_tap",
    "add_staff_message",
    "canned_replies",
    "conversation_messages",
    "conversation_summary",
    "customer_chat",
    "customer_facts",
    "delete_canned_reply",
    "delete_product",
    "end_stream",
    "fill_missing_currency",
    "fts_query",
    "get_or_create_secret_key",
    "get_product",
    "list_conversations",
    "list_products",
    "live_stream",
    "load_pinned",
    "mark_conversation_read",
    "mark_delivered",
    "mark_replies_seen",
    "pinned_taps",
    "product_taps",
    "products_by_ids",
    "recent_chat",
    "replace_pinned",
    "save_canned_reply",
    "save_viewer_seconds",
    "session_public_ids",
    "sessions_with_undelivered",
    "set_like",
    "start_stream",
    "stream_likers",
    "stream_summaries",
    "stream_viewer_seconds",
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
    viewer_seconds: float | None = None,
) -> StreamSummary | None:
    """Record a stream's end and its summary: ``summary`` as another hub computed it,
    or (None) counted here from this database. ``viewer_seconds`` is the integral of the
    viewer count over the show (the hub keeps it; None: what was saved last), from which
    the average viewers come. Returns the summary (None: no such stream)."""
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
        _count_shop_figures(conn, stream_id, viewer_seconds)
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
        conn.execute(
            "UPDATE streams SET average_viewers = ?, support_conversations = ?,"
            " product_taps = ? WHERE id = ?",
            (
                summary.average_viewers,
                summary.support_conversations,
                _taps_json(summary.product_taps),
                stream_id,
            ),
        )
    row = conn.execute(f"{_STREAM_SUMMARY_SELECT} WHERE id = ?", (stream_id,)).fetchone()
    return _stream_summary(row) if row is not None else None


_STREAM_SUMMARY_SELECT = (
    "SELECT rowid, id, title, started_at, ended_at, peak_viewers, likes,"
    " COALESCE(chat_lines, 0) AS chat_lines, COALESCE(chatters, 0) AS chatters,"
    " COALESCE(products_pinned, 0) AS products_pinned,"
    " COALESCE(average_viewers, 0) AS average_viewers,"
    " COALESCE(support_conversations, 0) AS support_conversations,"
    " COALESCE(product_taps, '[]') AS product_taps FROM streams"
)


def _count_shop_figures(
    conn: sqlite3.Connection, stream_id: str, viewer_seconds: float | None
) -> None:
    """The average viewers, support conversations and taps per product of a stream that
    just ended (its ``ended_at`` is set), counted from this database."""
    if viewer_seconds is not None:
        conn.execute(
            "UPDATE streams SET viewer_seconds = ? WHERE id = ?", (viewer_seconds, stream_id)
        )
    row = conn.execute(
        "SELECT started_at, ended_at, viewer_seconds FROM streams WHERE id = ?", (stream_id,)
    ).fetchone()
    if row is None:
        return
    seconds = _exact_seconds(row["started_at"], row["ended_at"])
    average = round(float(row["viewer_seconds"]) / seconds, 1) if seconds > 0 else 0.0
    # A conversation counts when a customer wrote in it while the show was live
    # (timestamps are all ISO 8601 UTC with milliseconds: they compare as text).
    conversations = conn.execute(
        "SELECT COUNT(DISTINCT session_id) FROM support_messages"
        " WHERE sender = 'customer' AND created_at >= ? AND created_at <= ?",
        (row["started_at"], row["ended_at"]),
    ).fetchone()[0]
    taps = conn.execute(
        "SELECT k.product_id, COALESCE(p.name, k.product_id) AS name,"
        " (SELECT COUNT(*) FROM product_taps t WHERE t.stream_id = ?"
        "  AND t.product_id = k.product_id) AS taps"
        " FROM (SELECT product_id FROM stream_pins WHERE stream_id = ?"
        "  UNION SELECT product_id FROM product_taps WHERE stream_id = ?) AS k"
        " LEFT JOIN products p ON p.id = k.product_id"
        " ORDER BY taps DESC, name COLLATE NOCASE, k.product_id",
        (stream_id, stream_id, stream_id),
    ).fetchall()
    counted = [ProductTapCount(r["product_id"], r["name"], int(r["taps"])) for r in taps]
    conn.execute(
        "UPDATE streams SET average_viewers = ?, support_conversations = ?, product_taps = ?"
        " WHERE id = ?",
        (average, int(conversations), _taps_json(counted), stream_id),
    )


def _taps_json(taps: list[ProductTapCount]) -> str:
    return json.dumps(
        [{"productId": t.product_id, "name": t.name, "taps": t.taps} for t in taps],
        ensure_ascii=False,
    )


def _taps_from_json(text: str) -> list[ProductTapCount]:
    try:
        items = json.loads(text)
        return [ProductTapCount(str(i["productId"]), str(i["name"]), int(i["taps"])) for i in items]
    except (ValueError, TypeError, KeyError):
        return []  # a damaged cell loses this figure, never the summary


def _exact_seconds(start: str, end: str) -> float:
    from datetime import datetime

    try:
        delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    except ValueError:
        return 0.0
    return max(0.0, delta.total_seconds())


def save_viewer_seconds(conn: sqlite3.Connection, stream_id: str, viewer_seconds: float) -> None:
    """Keep the live stream's viewer-seconds so far (a restart goes on from there)."""
    conn.execute(
        "UPDATE streams SET viewer_seconds = ? WHERE id = ? AND ended_at IS NULL",
        (viewer_seconds, stream_id),
    )


def stream_viewer_seconds(conn: sqlite3.Connection, stream_id: str) -> float:
    """The viewer-seconds saved for a stream (0 if none)."""
    row = conn.execute("SELECT viewer_seconds FROM streams WHERE id = ?", (stream_id,)).fetchone()
    return float(row["viewer_seconds"]) if row is not None else 0.0


def pinned_taps(conn: sqlite3.Connection, stream_id: str | None) -> list[ProductTapCount]:
    """Each pinned product, in pin order, with its card taps during ``stream_id`` and
    when it was pinned in it (``pinned_at`` None, taps 0 when nothing is live)."""
    rows = conn.execute(
        "SELECT pp.product_id, pp.item, s.pinned_at,"
        " (SELECT COUNT(*) FROM product_taps t WHERE t.stream_id = ?"
        "  AND t.product_id = pp.product_id) AS taps"
        " FROM pinned_products pp LEFT JOIN stream_pins s"
        "  ON s.stream_id = ? AND s.product_id = pp.product_id"
        " ORDER BY pp.position",
        (stream_id or "", stream_id or ""),
    ).fetchall()
    out = []
    for r in rows:
        try:
            name = str(json.loads(r["item"]).get("name") or r["product_id"])
        except (ValueError, AttributeError):
            name = r["product_id"]
        taps = int(r["taps"]) if stream_id else 0
        out.append(ProductTapCount(r["product_id"], name, taps, r["pinned_at"]))
    return out


def _stream_summary(r: sqlite3.Row) -> StreamSummary:
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
        average_viewers=float(r["average_viewers"]),
        support_conversations=int(r["support_conversations"]),
        product_taps=_taps_from_json(r["product_taps"]),
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
        f"{_STREAM_SUMMARY_SELECT} {where} ORDER BY ended_at DESC, rowid DESC LIMIT ?",
        (*args, limit + 1),
    ).fetchall()
    more = len(rows) > limit
    page = rows[:limit]
    cursor = (str(page[-1]["ended_at"]), int(page[-1]["rowid"])) if more else None
    return [_stream_summary(r) for r in page], cursor


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


def _chat_line(r: sqlite3.Row) -> ChatLine:
    """A ``chat_messages`` row (``id, username, message, is_admin, created_at, sender``)."""
    return ChatLine(
        id=r["id"],
        username=r["username"],
        message=r["message"],
        timestamp=r["created_at"],
        is_admin=bool(r["is_admin"]),
        public_id=r["sender"],
    )


def recent_chat(conn: sqlite3.Connection, stream_id: str, limit: int) -> list[ChatLine]:
    """The last ``limit`` lines of a stream that were not deleted, oldest first."""
    rows = conn.execute(
        "SELECT * FROM (SELECT seq, id, username, message, is_admin, created_at, sender"
        " FROM chat_messages WHERE stream_id = ? AND deleted_at IS NULL"
        " ORDER BY seq DESC LIMIT ?) ORDER BY seq",
        (stream_id, limit),
    ).fetchall()
    return [_chat_line(r) for r in rows]


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
    product_id: str | None = None,
    public_id: str | None = None,
) -> str:
    """Store a customer's support message (once per uid), with the product it asks about
    and the publicId the customer wrote under; return the conversation's name."""
    name = _touch_conversation(conn, session_id, customer_name, default_name, at)
    cur = conn.execute(
        "INSERT OR IGNORE INTO support_messages (uid, session_id, sender, message, created_at,"
        " product_id) VALUES (?, ?, 'customer', ?, ?, ?)",
        (uid, session_id, message, at, product_id),
    )
    if cur.rowcount:
        # A customer writing again reopens a resolved conversation.
        conn.execute(
            "UPDATE conversations SET last_seq = ?, status = 'open',"
            " public_id = COALESCE(?, public_id) WHERE session_id = ?",
            (cur.lastrowid, public_id, session_id),
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


def mark_conversation_read(conn: sqlite3.Connection, session_id: str, at: str) -> bool:
    """Mark the customer's lines read (for every staff member); False: no such
    conversation."""
    conn.execute(
        "UPDATE support_messages SET read_at = ? WHERE session_id = ? AND sender = 'customer'"
        " AND read_at IS NULL",
        (at, session_id),
    )
    row = conn.execute("SELECT 1 FROM conversations WHERE session_id = ?", (session_id,)).fetchone()
    return row is not None


def mark_delivered(conn: sqlite3.Connection, uids: list[str], at: str) -> None:
    conn.executemany(
        "UPDATE support_messages SET delivered_at = ? WHERE uid = ? AND delivered_at IS NULL",
        [(at, uid) for uid in uids],
    )


def mark_replies_seen(conn: sqlite3.Connection, session_id: str, uid: str, at: str) -> str | None:
    """The customer's page had staff reply ``uid`` of its own conversation on screen:
    it and every earlier staff reply not yet seen count as seen at ``at``. Returns the
    time the reply counts as seen from (``at``, or an earlier time it was seen); None
    when ``uid`` is not a staff reply of ``session_id`` (nothing changes)."""
    row = conn.execute(
        "SELECT seq, seen_at FROM support_messages WHERE uid = ? AND session_id = ?"
        " AND sender = 'staff'",
        (uid, session_id),
    ).fetchone()
    if row is None:
        return None
    conn.execute(
        "UPDATE support_messages SET seen_at = ? WHERE session_id = ? AND sender = 'staff'"
        " AND seq <= ? AND seen_at IS NULL",
        (at, session_id, row["seq"]),
    )
    return str(row["seen_at"] or at)


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

#: ``get_conversations`` filters: the SQL condition each adds.
FILTER_CONDITIONS = {
    "open": "c.status = 'open'",
    "resolved": "c.status = 'resolved'",
    # Nobody has answered the customer's last line yet.
    "unanswered": "m.sender = 'customer'",
}

_CONVERSATION_SUMMARY_SELECT = (
    "SELECT c.session_id, c.customer_name, c.status, c.last_seq, m.message, m.created_at,"
    " m.sender, m.product_id,"
    " (SELECT COUNT(*) FROM support_messages u WHERE u.session_id = c.session_id"
    "  AND u.sender = 'customer' AND u.read_at IS NULL) AS unread,"
    " (SELECT s.staff_user_id FROM support_messages s WHERE s.session_id = c.session_id"
    "  AND s.sender = 'staff' ORDER BY s.seq DESC LIMIT 1) AS answered_by"
    " FROM conversations c JOIN support_messages m ON m.seq = c.last_seq"
)


def _conversation_summary(r: sqlite3.Row) -> ConversationSummary:
    return ConversationSummary(
        session_id=r["session_id"],
        customer_name=r["customer_name"],
        last_message=r["message"][:LAST_MESSAGE_MAX_CHARS],
        last_timestamp=r["created_at"],
        unread=int(r["unread"]),
        status=r["status"],
        last_from=r["sender"],
        answered_by=r["answered_by"] or None,
        product_id=r["product_id"],
    )


def fts_query(search: str) -> str | None:
    """``search`` as a safe FTS5 query: every word must occur (as a word or the start of
    one); each is quoted, so no FTS5 syntax in it is ever interpreted. None: no words."""
    terms = [t for t in search.split() if t.strip('"')]
    if not terms:
        return None
    return " ".join('"' + term.replace('"', '""') + '"*' for term in terms)


def _like_pattern(search: str) -> str:
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_conversations(
    conn: sqlite3.Connection,
    limit: int = 50,
    before: int | None = None,
    search: str | None = None,
    status_filter: str | None = None,
) -> tuple[list[ConversationSummary], int | None]:
    """One page of the inbox, newest first by last message (ties by arrival order): at
    most ``limit`` conversations whose last message came before position ``before``.
    ``search`` keeps those with a message matching every word of it (full-text, any
    message of the thread) or whose customer name contains it; ``status_filter`` is a
    key of :data:`FILTER_CONDITIONS`. Returns the rows and the position to continue
    from (None: this was the last page)."""
    where = ["c.last_seq < ?"]
    args: list[Any] = [before if before is not None else 2**63 - 1]
    if status_filter is not None:
        where.append(FILTER_CONDITIONS[status_filter])
    if search is not None and search.strip():
        query = fts_query(search)
        by_name = "c.customer_name LIKE ? ESCAPE '\\'"
        args.append(_like_pattern(search.strip()))
        if query is None:
            where.append(f"({by_name})")
        else:
            where.append(
                f"({by_name} OR c.session_id IN (SELECT f.session_id FROM support_messages f"
                " WHERE f.seq IN (SELECT rowid FROM support_fts WHERE support_fts MATCH ?)))"
            )
            args.append(query)
    args.append(limit + 1)
    rows = conn.execute(
        f"{_CONVERSATION_SUMMARY_SELECT} WHERE {' AND '.join(where)}"
        " ORDER BY c.last_seq DESC LIMIT ?",
        args,
    ).fetchall()
    page = [_conversation_summary(r) for r in rows[:limit]]
    more = len(rows) > limit
    return page, (int(rows[limit - 1]["last_seq"]) if more else None)


def conversation_summary(conn: sqlite3.Connection, session_id: str) -> ConversationSummary | None:
    """One conversation as the inbox lists it (None: no such conversation, or no line)."""
    row = conn.execute(
        f"{_CONVERSATION_SUMMARY_SELECT} WHERE c.session_id = ?", (session_id,)
    ).fetchone()
    return _conversation_summary(row) if row is not None else None


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
        "SELECT m.uid, m.sender, m.message, m.created_at, m.staff_user_id, m.product_id,"
        " m.seen_at, c.customer_name"
        " FROM support_messages m JOIN conversations c USING (session_id)"
        " WHERE m.session_id = ? AND m.seq < ? ORDER BY m.seq DESC LIMIT ?",
        (session_id, upper, limit + 1),
    ).fetchall()
    more = len(rows) > limit
    lines = [
        SupportLine(
            r["sender"],
            r["message"],
            r["created_at"],
            r["uid"],
            staff_user_id=(r["staff_user_id"] or None) if r["sender"] == "staff" else None,
            customer_name=r["customer_name"] if r["sender"] == "customer" else None,
            product_id=r["product_id"],
            seen_at=r["seen_at"] if r["sender"] == "staff" else None,
        )
        for r in rows[:limit]
    ]
    lines.reverse()
    return lines, more


# -- the customer as a person ------------------------------------------------------


def add_product_tap(
    conn: sqlite3.Connection,
    uid: str,
    stream_id: str,
    session_id: str,
    public_id: str | None,
    product_id: str,
    at: str,
) -> None:
    """A customer tapped a product card during ``stream_id`` ("" when nothing was live);
    once per uid."""
    conn.execute(
        "INSERT OR IGNORE INTO product_taps (uid, stream_id, session_id, public_id, product_id,"
        " tapped_at) VALUES (?, ?, ?, ?, ?, ?)",
        (uid, stream_id, session_id, public_id, product_id, at),
    )


def product_taps(conn: sqlite3.Connection, session_id: str, stream_id: str) -> list[ProductTaps]:
    """The product cards a session tapped during a stream, first tapped first."""
    rows = conn.execute(
        "SELECT product_id, COUNT(*) AS taps, MIN(tapped_at) AS first_at,"
        " MAX(tapped_at) AS last_at, MIN(rowid) AS first_row FROM product_taps"
        " WHERE session_id = ? AND stream_id = ? GROUP BY product_id ORDER BY first_row",
        (session_id, stream_id),
    ).fetchall()
    return [ProductTaps(r["product_id"], int(r["taps"]), r["first_at"], r["last_at"]) for r in rows]


def session_public_ids(conn: sqlite3.Connection, session_id: str) -> set[str]:
    """The publicIds a session was seen writing or tapping under (a customer with a user
    token has that user's, not the session's)."""
    rows = conn.execute(
        "SELECT public_id FROM conversations WHERE session_id = ? AND public_id IS NOT NULL"
        " UNION SELECT public_id FROM product_taps WHERE session_id = ?"
        " AND public_id IS NOT NULL",
        (session_id, session_id),
    ).fetchall()
    return {r["public_id"] for r in rows}


def customer_facts(
    conn: sqlite3.Connection,
    session_id: str,
    stream_id: str | None,
    public_ids: list[str],
    chat_limit: int = 100,
) -> CustomerFacts:
    """The customer behind a conversation during ``stream_id`` (None: nothing live): the
    publicIds given (the live connections', the anonymous one) and those the store saw
    the session under, with their chat lines and taps of that stream."""
    row = conn.execute(
        "SELECT customer_name FROM conversations WHERE session_id = ?", (session_id,)
    ).fetchone()
    ids = list(dict.fromkeys([*public_ids, *sorted(session_public_ids(conn, session_id))]))
    chat = customer_chat(conn, stream_id, ids, chat_limit) if stream_id is not None else []
    taps = product_taps(conn, session_id, stream_id or "")
    return CustomerFacts(row["customer_name"] if row is not None else None, ids, chat, taps)


def customer_chat(
    conn: sqlite3.Connection, stream_id: str, public_ids: list[str], limit: int = 100
) -> list[ChatLine]:
    """The newest ``limit`` live-chat lines of a stream written under ``public_ids`` (not
    deleted), oldest first."""
    if not public_ids:
        return []
    marks = ", ".join("?" * len(public_ids))
    rows = conn.execute(
        "SELECT * FROM (SELECT seq, id, username, message, is_admin, created_at, sender"
        f" FROM chat_messages WHERE stream_id = ? AND sender IN ({marks})"
        " AND deleted_at IS NULL ORDER BY seq DESC LIMIT ?) ORDER BY seq",
        (stream_id, *public_ids, limit),
    ).fetchall()
    return [_chat_line(r) for r in rows]


# -- products ----------------------------------------------------------------------


def replace_pinned(conn: sqlite3.Connection, items: list[Row], at: str | None = None) -> None:
    """The pinned list; while a stream is live, each product also counts as pinned in
    it (``stream_pins``: when it was pinned this time) for its summary and the studio."""
    before = {r[0] for r in conn.execute("SELECT product_id FROM pinned_products")}
    conn.execute("DELETE FROM pinned_products")
    if items:
        from wrencos_studio.clock import utc_now_iso

        # ``pinned_at`` is when the product was pinned this time: a product pinned again
        # after being unpinned starts again (the studio shows it beside its taps).
        conn.executemany(
            "INSERT INTO stream_pins (stream_id, product_id, pinned_at)"
            " SELECT id, ?, ? FROM streams WHERE ended_at IS NULL"
            " ON CONFLICT (stream_id, product_id) DO UPDATE SET pinned_at = excluded.pinned_at"
            " WHERE ?",
            [
                (pid, at or utc_now_iso(), pid not in before)
                for pid in (str(item.get("productId", "")) for item in items)
            ],
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


# -- canned replies ------------------------------------------------------------------

#: At most this many canned replies are kept (each list goes to every staff member).
CANNED_REPLIES_MAX = 200


def canned_replies(conn: sqlite3.Connection) -> list[CannedReply]:
    """Every canned reply, by shortcut."""
    rows = conn.execute(
        "SELECT shortcut, text, updated_at, updated_by FROM canned_replies ORDER BY shortcut"
    ).fetchall()
    return [CannedReply(r["shortcut"], r["text"], r["updated_at"], r["updated_by"]) for r in rows]


def save_canned_reply(
    conn: sqlite3.Connection,
    shortcut: str,
    text: str,
    at: str,
    by: str | None,
    previous: str | None = None,
) -> bool:
    """Add or replace the canned reply ``shortcut`` (renamed from ``previous``, if
    given: that one is removed). False, and nothing changes, when it would be a new one
    beyond :data:`CANNED_REPLIES_MAX`."""
    exists = conn.execute(
        "SELECT 1 FROM canned_replies WHERE shortcut IN (?, ?)", (shortcut, previous or shortcut)
    ).fetchone()
    if exists is None:
        (count,) = conn.execute("SELECT COUNT(*) FROM canned_replies").fetchone()
        if count >= CANNED_REPLIES_MAX:
            return False
    if previous is not None and previous != shortcut:
        conn.execute("DELETE FROM canned_replies WHERE shortcut = ?", (previous,))
    conn.execute(
        "INSERT INTO canned_replies (shortcut, text, updated_at, updated_by) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (shortcut) DO UPDATE SET text = excluded.text,"
        " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        (shortcut, text, at, by),
    )
    return True


def delete_canned_reply(conn: sqlite3.Connection, shortcut: str) -> bool:
    """Remove canned reply ``shortcut``; False: there was none."""
    cur = conn.execute("DELETE FROM canned_replies WHERE shortcut = ?", (shortcut,))
    return cur.rowcount > 0
