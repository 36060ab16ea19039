"""The show's recording and timeline: starts the recorder when a stream goes live (on the
hub that has the broadcaster), and writes each pin change, chat line and like with its
offset into the recording (``store/replays.py``), for the replay page.

The recorder is a port (:class:`RecorderPort`) the composition root attaches
(``app.py``: ``media.recording.Recordings``); a hub without one records nothing. The
stream, chat, likes and catalog features tell this one what happened from their
``@applies`` methods (:meth:`Timeline.stream_started`, :meth:`Timeline.chat` ...), so a
line said on another hub is on this hub's timeline too. Nothing here is replicated: the
recording and its timeline live on the hub that recorded them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from wrencos_studio.clock import utc_now_iso
from wrencos_studio.hub import protocol as p
from wrencos_studio.hub.engine import Client, Feature, Hub, handles
from wrencos_studio.hub.protocol import ProtocolError
from wrencos_studio.store import replays
from wrencos_studio.store.rows import ChatLine, StreamSummary

__all__ = ["RecorderPort", "Timeline", "timeline_of"]

log = logging.getLogger(__name__)


class RecorderPort(Protocol):
    """What the hub asks of the recorder (``media.recording.Recordings``)."""

    def start(self, replay_id: str) -> str:
        """Start recording; the file's name. Raises an exception whose text says why not."""
        ...

    def offset_ms(self) -> int | None:
        """Milliseconds into the running recording; None when nothing is recorded."""
        ...

    async def stop(self, reason: str = "") -> Any:
        """Stop and close the file; facts with ``duration_ms``, ``bytes`` and ``error``
        (None if nothing was recording)."""
        ...


class Timeline(Feature):
    """Recording on/off with the stream, its timeline rows, and ``delete_recording``."""

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub)
        self.recorder: RecorderPort | None = None
        #: The replay being recorded now (None: not recording).
        self.replay_id: str | None = None
        self._stream_id: str | None = None

    def load(self) -> None:
        count = self.hub.store.run_sync(replays.interrupt_unfinished)
        if count:
            log.warning("%d recording(s) were cut short by a stop; they play up to the cut", count)

    # -- the recorder -------------------------------------------------------------------------

    def attach_recorder(self, recorder: RecorderPort) -> None:
        """The broadcaster is running: record the live stream (now, if one is live)."""
        self.recorder = recorder
        stream = self.hub.stream
        if stream is not None and self.replay_id is None:
            self._begin(stream.stream_id)

    async def finish(self, status: str = "interrupted", note: str = "") -> None:
        """Stop recording (the process stops while live: ``interrupted``) and write it."""
        await self._close(status, note)

    def _close(self, status: str, note: str) -> Awaitable[None]:
        # Forget the recording now, not when the closing task first runs: a stop that
        # follows at once (the studio quitting right after its show ended) finds nothing
        # left to close and cannot mark a complete show "interrupted".
        replay_id, self.replay_id = self.replay_id, None
        self._stream_id = None
        return self._closed(replay_id, status, note)

    async def _closed(self, replay_id: str | None, status: str, note: str) -> None:
        if replay_id is None or self.recorder is None:
            return
        facts = await self.recorder.stop()
        if facts is not None:
            await self.hub.store.run(
                replays.finish_recording,
                replay_id,
                utc_now_iso(),
                facts.duration_ms,
                facts.bytes,
                "stopped" if facts.error else status,
                facts.error or note,
            )

    def stopped_early(self, replay_id: str, facts: Any) -> None:
        """The recorder stopped on its own (low disk, a write error); the show goes on."""
        if self.replay_id != replay_id:
            return
        self.replay_id = None
        self._submit(
            replays.finish_recording,
            replay_id,
            utc_now_iso(),
            facts.duration_ms,
            facts.bytes,
            "stopped",
            facts.error or "stopped early (low disk)",
        )

    def recording_status(self, state: str, replay_id: str | None, message: str, free: Any) -> None:
        """Tell the staff how recording goes (``recording_status``)."""
        self.hub.broadcast(p.RecordingStatus(state, message, replay_id, free), to=self.hub.admins)

    def _begin(self, stream_id: str) -> None:
        assert self.recorder is not None
        replay_id = secrets.token_urlsafe(16)
        try:
            file = self.recorder.start(replay_id)
        except Exception as exc:
            log.warning("not recording this show: %s", exc)
            self.recording_status("stopped", None, str(exc), None)
            return
        self.replay_id = replay_id
        self._stream_id = stream_id
        self._submit(replays.start_recording, replay_id, stream_id, file, utc_now_iso())
        self.pins(self.hub.pinned)

    def _submit(self, fn: Callable[..., Any], *args: Any) -> None:
        # Submitted in call order: the recording's row is written before its events.
        future = self.hub.store.submit(fn, *args)
        future.add_done_callback(_log_failure)

    def _offset(self) -> int | None:
        if self.replay_id is None or self.recorder is None:
            return None
        return self.recorder.offset_ms()

    # -- what the other features tell ---------------------------------------------------------

    def stream_started(self, stream_id: str) -> None:
        """A stream went live (``Stream`` applies it): record it, if this hub can."""
        if self.recorder is not None and self.replay_id is None:
            self._begin(stream_id)

    def stream_stopped(self, stream_id: str) -> None:
        """The stream ended: close its recording."""
        if self._stream_id == stream_id:
            self.hub.spawn(self._close("complete", ""))

    def pins(self, items: list[dict[str, Any]]) -> None:
        """The pinned products changed (the whole list, as they are now)."""
        offset = self._offset()
        if offset is not None:
            assert self.replay_id is not None
            self._submit(replays.add_timeline_event, self.replay_id, offset, "pins", None, items)

    def chat(self, stream_id: str, line: ChatLine) -> None:
        """A chat line was said (it is stored in ``chat_messages`` by its id)."""
        offset = self._offset()
        if offset is not None and stream_id == self._stream_id:
            assert self.replay_id is not None
            self._submit(replays.add_timeline_event, self.replay_id, offset, "chat", line.id)

    def like(self, stream_id: str, public_id: str, liked: bool) -> None:
        """A customer liked (or unliked) the stream."""
        offset = self._offset()
        if offset is not None and stream_id == self._stream_id:
            assert self.replay_id is not None
            kind = "like" if liked else "unlike"
            self._submit(replays.add_timeline_event, self.replay_id, offset, kind, public_id)

    @handles(p.DeleteRecording)
    async def delete_recording(self, client: Client, msg: p.DeleteRecording) -> None:
        """Delete a replay: its rows (the timeline goes with them), then its file. The one
        being recorded cannot be: "Stream already active"."""
        if msg.replay_id == self.replay_id:
            raise ProtocolError(p.ERR_STREAM_ACTIVE)
        found = await self.hub.store.run(replays.delete_recording, msg.replay_id)
        if found is not None:
            directory = self.hub.settings.recordings_dir.resolve()
            target = (directory / found.file).resolve()
            if target.parent == directory:  # a name we made; never a path elsewhere
                try:
                    await asyncio.to_thread(target.unlink, True)
                except OSError as exc:  # the rows are gone: the replay is, too
                    log.warning("could not delete %s: %s", target, exc)
        self.hub.broadcast(p.RecordingDeleted(msg.replay_id, found is not None), to=self.hub.admins)

    def summary_with_replay(self, summary: StreamSummary) -> StreamSummary:
        """``summary`` with the replay id of the recording just made of it, if any."""
        if summary.stream_id == self._stream_id and self.replay_id is not None:
            return dataclasses.replace(summary, replay_id=self.replay_id)
        return summary

    async def with_replays(self, summaries: list[StreamSummary]) -> list[StreamSummary]:
        """``summaries`` with the replay id of each show that was recorded."""
        if not summaries:
            return summaries
        ids = await self.hub.store.run(replays.replay_ids_of, [s.stream_id for s in summaries])
        return [
            dataclasses.replace(s, replay_id=ids[s.stream_id]) if s.stream_id in ids else s
            for s in summaries
        ]


def timeline_of(hub: Hub) -> Timeline | None:
    """The hub's timeline feature; None on a hub built without it (some tests)."""
    try:
        return hub.feature(Timeline)
    except LookupError:
        return None


def _log_failure(future: concurrent.futures.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("writing the show's timeline failed: %s", future.exception())
