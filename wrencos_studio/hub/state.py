"""The live stream as the hub keeps it in memory (its likers, moderation and slow mode)."""

from __future__ import annotations

from dataclasses import dataclass, field

from wrencos_studio.hub.events import ModerationState
from wrencos_studio.hub.protocol.outbound import StreamData
from wrencos_studio.store.rows import StreamRow

__all__ = ["LIKED_BY_MAX", "LiveStream"]

#: ``likedBy`` lists at most this many publicIds, the newest likes: a frame to customers
#: stays under 64 KiB however many like (Trust rules, rule 6).
LIKED_BY_MAX = 1000


@dataclass(slots=True)
class LiveStream:
    """The stream that is live now; ``liked_by`` keeps publicIds in like order."""

    stream_id: str
    title: str
    description: str
    stream_url: str
    quality: str
    start_time: str
    peak_viewers: int = 0
    liked_by: dict[str, None] = field(default_factory=dict)
    # Moderation for this stream (publicIds), and slow mode.
    muted: set[str] = field(default_factory=set)
    banned: set[str] = field(default_factory=set)
    slow_mode_s: int = 0
    last_chat: dict[str, float] = field(default_factory=dict)  # publicId -> monotonic s

    def moderation(self) -> ModerationState:
        """The moderation state as events and ``moderation_updated`` carry it."""
        return ModerationState(sorted(self.muted), sorted(self.banned), self.slow_mode_s)

    @classmethod
    def from_data(cls, data: StreamData) -> LiveStream:
        """From the ``streamData`` shape (as events and snapshots carry it)."""
        return cls(
            stream_id=data.stream_id,
            title=data.title,
            description=data.description,
            stream_url=data.stream_url,
            quality=data.quality,
            start_time=data.start_time,
            peak_viewers=data.viewer_count,
            liked_by=dict.fromkeys(data.liked_by),
        )

    @classmethod
    def from_row(cls, row: StreamRow, likers: list[str]) -> LiveStream:
        """The stream that was live when the process stopped (it goes on)."""
        return cls(
            stream_id=row.id,
            title=row.title,
            description=row.description,
            stream_url=row.stream_url,
            quality=row.quality,
            start_time=row.started_at,
            peak_viewers=row.peak_viewers,
            liked_by=dict.fromkeys(likers),
        )

    def likers(self, also: str | None = None) -> list[str]:
        """The newest :data:`LIKED_BY_MAX` likers, oldest first (plus ``also``, a
        customer's own publicId, if it liked earlier than those)."""
        liked = self.liked_by
        if len(liked) <= LIKED_BY_MAX:
            return list(liked)
        newest = list(liked)[-LIKED_BY_MAX:]
        if also is not None and also in liked and also not in newest:
            newest.insert(0, also)
        return newest

    def data(self, viewer_count: int, for_public_id: str | None = None) -> StreamData:
        """``streamData`` with the given viewer count (``likedBy`` bounded, with the
        receiving customer's own like kept)."""
        return StreamData(
            stream_id=self.stream_id,
            title=self.title,
            description=self.description,
            start_time=self.start_time,
            viewer_count=viewer_count,
            likes=len(self.liked_by),
            liked_by=self.likers(for_public_id),
            stream_url=self.stream_url,
            quality=self.quality,
        )
