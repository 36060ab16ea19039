"""Time stamps as the protocol writes them: ISO-8601 UTC with milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["utc_now_iso"]


def utc_now_iso() -> str:
    """``2024-02-01T18:05:00.000Z`` for now."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
