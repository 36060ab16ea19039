"""Recordings and show timelines (migration 5): the rows the replay page is made from.

Every function takes the connection first and runs on the store's writer thread
(``Store.run``). Offsets are milliseconds into the recording. A chat line is kept by id
and read from ``chat_messages``, so a line deleted after the show (or by a ban) is left
out of every replay from then on.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from wrencos_studio.store.repositories import products_by_ids
from wrencos_studio.store.rows import Recording

__all__ = [
    "TIMELINE_KINDS",
    "add_timeline_event",
    "delete_recording",
    "finish_recording",
    "get_recording",
    "interrupt_unfinished",
    "latest_recording",
    "list_recordings",
    "replay_ids_of",
    "start_recording",
    "timeline",
]

TIMELINE_KINDS = frozenset({"pins", "chat", "like", "unlike"})

_SELECT = (
    "SELECT r.replay_id, r.stream_id, s.title, r.file, r.started_at, r.ended_at,"
    " r.duration_ms, r.bytes, r.status, r.note"
    " FROM recordings r JOIN streams s ON s.id = r.stream_id"
)


def _recording(r: sqlite3.Row) -> Recording:
    return Recording(*tuple(r))


def start_recording(
    conn: sqlite3.Connection, replay_id: str, stream_id: str, file: str, started_at: str
) -> None:
    """A recording of ``stream_id`` began (status ``recording``)."""
    conn.execute(
        "INSERT INTO recordings (replay_id, stream_id, file, started_at) VALUES (?, ?, ?, ?)",
        (replay_id, stream_id, file, started_at),
    )


def finish_recording(
    conn: sqlite3.Connection,
    replay_id: str,
    ended_at: str,
    duration_ms: int,
    size: int,
    status: str = "complete",
    note: str = "",
) -> None:
    """A recording ended: ``complete`` with its show, or ``stopped`` early (``note``)."""
    conn.execute(
        "UPDATE recordings SET ended_at = ?, duration_ms = ?, bytes = ?, status = ?, note = ?"
        " WHERE replay_id = ?",
        (ended_at, duration_ms, size, status, note, replay_id),
    )


def interrupt_unfinished(conn: sqlite3.Connection) -> int:
    """At start-up: recordings left ``recording`` by a process that died are
    ``interrupted`` (their files play up to the last fragment); how many."""
    cur = conn.execute(
        "UPDATE recordings SET status = 'interrupted', note = 'the studio stopped while "
        "recording' WHERE status = 'recording'"
    )
    return cur.rowcount


def add_timeline_event(
    conn: sqlite3.Connection,
    replay_id: str,
    offset_ms: int,
    kind: str,
    ref: str | None = None,
    data: Any = None,
) -> None:
    """One moment of the show: ``pins`` (``data``: the pinned products as they were),
    ``chat`` (``ref``: the chat line's id), ``like``/``unlike`` (``ref``: the publicId).
    ValueError for another kind or a negative offset."""
    if kind not in TIMELINE_KINDS:
        raise ValueError(f"not a timeline event kind: {kind!r}")
    if offset_ms < 0:
        raise ValueError(f"negative offset: {offset_ms}")
    conn.execute(
        "INSERT INTO timeline_events (replay_id, offset_ms, kind, ref, data)"
        " VALUES (?, ?, ?, ?, ?)",
        (replay_id, offset_ms, kind, ref, json.dumps(data) if data is not None else None),
    )


def get_recording(conn: sqlite3.Connection, replay_id: str) -> Recording | None:
    """The recording named ``replay_id``; None if there is none."""
    row = conn.execute(_SELECT + " WHERE r.replay_id = ?", (replay_id,)).fetchone()
    return _recording(row) if row is not None else None


def latest_recording(conn: sqlite3.Connection) -> Recording | None:
    """The newest recording that is no longer being made (for the live page while
    nothing is live); None if there is none."""
    row = conn.execute(
        _SELECT + " WHERE r.status != 'recording' ORDER BY r.started_at DESC LIMIT 1"
    ).fetchone()
    return _recording(row) if row is not None else None


def list_recordings(conn: sqlite3.Connection, limit: int = 100) -> list[Recording]:
    """Finished recordings, newest first (at most ``limit``)."""
    rows = conn.execute(
        _SELECT + " WHERE r.status != 'recording' ORDER BY r.started_at DESC LIMIT ?", (limit,)
    ).fetchall()
    return [_recording(r) for r in rows]


def replay_ids_of(conn: sqlite3.Connection, stream_ids: list[str]) -> dict[str, str]:
    """The replay id of each of these streams that has a recording (its longest one, when
    a restart split it), by stream id."""
    found: dict[str, str] = {}
    for start in range(0, len(stream_ids), 500):
        chunk = stream_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT stream_id, replay_id FROM recordings WHERE stream_id IN ({marks})"
            " ORDER BY COALESCE(duration_ms, 0), started_at",
            chunk,
        )
        for r in rows:
            found[r["stream_id"]] = r["replay_id"]  # the last one wins: the longest
    return found


def delete_recording(conn: sqlite3.Connection, replay_id: str) -> Recording | None:
    """Forget a recording and its timeline; the row it was (its file is the caller's to
    delete), or None if there was none."""
    found = get_recording(conn, replay_id)
    if found is not None:
        conn.execute("DELETE FROM recordings WHERE replay_id = ?", (replay_id,))
    return found


def timeline(conn: sqlite3.Connection, replay_id: str) -> dict[str, Any]:
    """The replay's timeline as the page reads it (camelCase, JSON-ready)::

        {"pins": [{"offsetMs", "products": [pin, ...]}],      # each change, the whole set
         "chapters": [{"offsetMs", "productId", "name"}],     # each product newly pinned
         "chat": [{"offsetMs", "id", "username", "message", "isAdmin"}],  # not deleted
         "likes": [offsetMs, ...],                            # likes (unlikes subtract)
         "catalog": {productId: {"name", "price", "currency", "url", "image"}}}

    ``catalog`` is today's catalog entry of every product ever pinned in the show (a
    product since deleted from the catalog is absent: the page shows the pin as it was).
    """
    pins: list[dict[str, Any]] = []
    chapters: list[dict[str, Any]] = []
    likes: list[int] = []
    shown: set[str] = set()
    rows = conn.execute(
        "SELECT offset_ms, kind, ref, data FROM timeline_events"
        " WHERE replay_id = ? AND kind != 'chat' ORDER BY offset_ms, seq",
        (replay_id,),
    )
    for r in rows:
        if r["kind"] == "pins":
            products = json.loads(r["data"]) if r["data"] else []
            pins.append({"offsetMs": r["offset_ms"], "products": products})
            now = {str(p.get("productId")) for p in products}
            for p in products:
                pid = str(p.get("productId"))
                if pid not in shown:
                    chapters.append(
                        {"offsetMs": r["offset_ms"], "productId": pid, "name": p.get("name", "")}
                    )
            shown = now
        elif r["kind"] == "like":
            likes.append(r["offset_ms"])
        else:  # unlike: the newest like goes
            if likes:
                likes.pop()
    chat = [
        {
            "offsetMs": r["offset_ms"],
            "id": r["id"],
            "username": r["username"],
            "message": r["message"],
            "isAdmin": bool(r["is_admin"]),
        }
        for r in conn.execute(
            "SELECT t.offset_ms, c.id, c.username, c.message, c.is_admin"
            " FROM timeline_events t JOIN chat_messages c ON c.id = t.ref"
            " WHERE t.replay_id = ? AND t.kind = 'chat' AND c.deleted_at IS NULL"
            " ORDER BY t.offset_ms, t.seq",
            (replay_id,),
        )
    ]
    ids = sorted({str(p.get("productId")) for ev in pins for p in ev["products"]})
    catalog = {
        pid: {
            "name": prod.name,
            "price": prod.price,
            "currency": prod.currency,
            "url": prod.url,
            "image": prod.image,
        }
        for pid, prod in products_by_ids(conn, ids).items()
    }
    return {"pins": pins, "chapters": chapters, "chat": chat, "likes": likes, "catalog": catalog}
