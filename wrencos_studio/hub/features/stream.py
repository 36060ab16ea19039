"""The live stream: going live and ending, the viewer count and the peak."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Iterator

from wrencos_studio.clock import utc_now_iso
from wrencos_studio.hub import events as ev
from wrencos_studio.hub import protocol as p
from wrencos_studio.hub.broker import Snapshot
from wrencos_studio.hub.engine import (
    Client,
    Feature,
    Hub,
    StoreJob,
    applies,
    handles,
    replicates,
)
from wrencos_studio.hub.protocol import ProtocolError
from wrencos_studio.hub.state import LiveStream
from wrencos_studio.store import repositories as repo

__all__ = ["UPDATE_INTERVAL_S", "Stream"]

#: Viewer-count ``stream_update``s are at most 4 a second (Trust rules, rule 2).
UPDATE_INTERVAL_S = 0.25


class Stream(Feature):
    """``start_stream`` / ``stop_stream`` (with the show's summary to staff),
    ``get_stream_summaries``; ``stream_update`` when viewers or likes change."""

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub)
        self._transition = False  # a start/stop is being written
        self._last_count = 0  # the viewer count last sent
        self._peak_flush: asyncio.TimerHandle | None = None
        # Viewer-count updates: at most one per UPDATE_INTERVAL_S (Trust rules, rule 2).
        self._update_timer: asyncio.TimerHandle | None = None
        self._last_update_at = -1e9
        self._held = 0
        # The average viewers of the show: the viewer count integrated over time
        # (viewer-seconds), from the monotonic clock; kept with the peak, once a second.
        self._viewer_seconds = 0.0
        self._counted = 0  # the viewer count since _counted_at
        self._counted_at = time.monotonic()

    def load(self) -> None:
        store = self.hub.store
        live = store.run_sync(repo.live_stream)
        if live is not None:
            # The process stopped while live (crash or restart): the stream goes on.
            likers = store.run_sync(repo.stream_likers, live.id)
            self.hub.stream = LiveStream.from_row(live, likers)
            # Nobody watched while the process was down: the integral goes on from here.
            self._viewer_seconds = store.run_sync(repo.stream_viewer_seconds, live.id)
            self._counted, self._counted_at = 0, time.monotonic()

    async def join(self, snapshot: Snapshot | None) -> None:
        hub = self.hub
        if snapshot is None:
            return
        data = snapshot.stream
        if data is not None:
            if hub.stream is None or hub.stream.stream_id != data.stream_id:
                await hub.store.run(*_start_job(data))
                hub.stream = LiveStream.from_data(data)
        elif hub.stream is not None:
            await hub.broker.claim_stream(hub.stream.data(0))
        hub.viewers = snapshot.viewers
        self._last_count = hub.viewer_count

    # -- going live ---------------------------------------------------------------------

    @handles(p.StartStream)
    async def start_stream(self, client: Client, msg: p.StartStream) -> None:
        hub = self.hub
        if hub.stream is not None or self._transition:
            raise ProtocolError(p.ERR_STREAM_ACTIVE)
        stream = LiveStream(
            stream_id=secrets.token_hex(12),
            title=msg.title,
            description=msg.description or "",
            stream_url=msg.stream_url or "",
            quality=msg.quality or "720p",
            start_time=utc_now_iso(),
        )
        data = stream.data(0)
        self._transition = True
        try:
            if not await hub.broker.claim_stream(data):
                raise ProtocolError(p.ERR_STREAM_ACTIVE)  # live on another hub
            try:
                await hub.store.run(*_start_job(data))
            except BaseException:
                await hub.broker.release_stream(stream.stream_id)
                raise
        finally:
            self._transition = False
        hub.emit(ev.StreamStarted(data))

    @replicates(ev.StreamStarted)
    def _copy_start(self, event: ev.StreamStarted) -> StoreJob:
        return _start_job(event.stream)

    @applies(ev.StreamStarted)
    def _started(self, event: ev.StreamStarted) -> None:
        hub = self.hub
        stream = LiveStream.from_data(event.stream)
        hub.stream = stream
        hub.chat_history.clear()
        hub.feature(Chat).forget_history()
        self._last_count = hub.viewer_count
        stream.peak_viewers = max(stream.peak_viewers, self._last_count)
        self._viewer_seconds, self._counted = 0.0, hub.viewer_count
        self._counted_at = time.monotonic()
        hub.broadcast(p.StreamStarted(stream.data(hub.viewer_count)))
        hub.feature(Customers).taps_changed()  # products pinned before are pinned from now
        if (timeline := timeline_of(hub)) is not None:
            timeline.stream_started(stream.stream_id)  # records it, where it can

    # -- ending -------------------------------------------------------------------------

    @handles(p.StopStream)
    async def stop_stream(self, client: Client, msg: p.StopStream) -> None:
        stream = self.hub.stream
        if stream is None or self._transition:
            raise ProtocolError(p.ERR_NO_STREAM)
        await self._end(stream)

    async def end_for_shutdown(self) -> None:
        """The studio quitting ends its stream (headless ``serve`` keeps it across restarts)."""
        if self.hub.stream is not None and not self._transition:
            await self._end(self.hub.stream)

    async def _end(self, stream: LiveStream) -> None:
        hub = self.hub
        ended = utc_now_iso()
        self._transition = True
        try:
            # The summary is counted in the same job that ends the stream: nothing of the
            # show can be added between the two.
            summary = await hub.store.run(
                repo.end_stream,
                stream.stream_id,
                ended,
                stream.peak_viewers,
                None,
                self.viewer_seconds(),
            )
            await hub.broker.release_stream(stream.stream_id)
        finally:
            self._transition = False
        hub.emit(ev.StreamStopped(stream.stream_id, ended, stream.peak_viewers, summary))

    @replicates(ev.StreamStopped)
    def _copy_stop(self, event: ev.StreamStopped) -> StoreJob:
        return (repo.end_stream, event.stream_id, event.ended_at, event.peak, event.summary)

    @applies(ev.StreamStopped)
    def _stopped(self, event: ev.StreamStopped) -> None:
        hub = self.hub
        if hub.stream is None or hub.stream.stream_id != event.stream_id:
            return
        hub.stream = None
        hub.pinned = []
        hub.chat_history.clear()
        hub.feature(Chat).forget_history()
        self._last_count = 0
        hub.broadcast(p.StreamStopped(event.stream_id))
        summary = event.summary
        if (timeline := timeline_of(hub)) is not None:
            if summary is not None:
                summary = timeline.summary_with_replay(summary)
            timeline.stream_stopped(event.stream_id)
        if summary is not None:
            # Staff only: customers' pages see nothing new.
            hub.broadcast(p.StreamSummaryReady(summary), to=hub.admins)

    # -- past shows -------------------------------------------------------------------

    @handles(p.GetStreamSummaries)
    async def get_stream_summaries(self, client: Client, msg: p.GetStreamSummaries) -> None:
        before = _parse_cursor(msg.before) if msg.before is not None else None
        rows, cursor = await self.hub.store.run(repo.stream_summaries, int(msg.limit or 50), before)
        next_cursor = f"{cursor[0]}~{cursor[1]}" if cursor is not None else None
        if (timeline := timeline_of(self.hub)) is not None:
            rows = await timeline.with_replays(rows)
        self.hub.send(client, p.StreamSummaries(rows, cursor is not None, next_cursor))

    # -- figures ------------------------------------------------------------------------

    def send_update(self) -> None:
        """``stream_update`` (viewers and likes) to everyone, when live."""
        hub = self.hub
        stream = hub.stream
        if stream is None:
            return
        self._last_update_at = asyncio.get_running_loop().time()
        hub.broadcast(p.StreamUpdate(hub.viewer_count, len(stream.liked_by), stream.likers()))

    def viewer_seconds(self) -> float:
        """The live show's viewer count integrated over time so far (viewer-seconds):
        divided by its duration, the average viewers of its summary."""
        now = time.monotonic()
        self._viewer_seconds += self._counted * max(0.0, now - self._counted_at)
        self._counted_at = now
        self._counted = self.hub.viewer_count if self.hub.stream is not None else 0
        return self._viewer_seconds

    @applies(ev.ViewersCounted)
    def _viewers(self, event: ev.ViewersCounted) -> None:
        hub = self.hub
        self.viewer_seconds()  # up to now at the old count
        hub.viewers = event.count
        self._counted = hub.viewer_count if hub.stream is not None else 0
        stream = hub.stream
        if stream is not None:
            if hub.viewer_count > stream.peak_viewers:
                stream.peak_viewers = hub.viewer_count
            self._schedule_peak_flush()
        if not self._held:
            self._viewers_changed()

    @contextlib.contextmanager
    def hold_updates(self) -> Iterator[None]:
        """Viewer changes inside the block make at most one ``stream_update``, at its end
        (a connection registering again under a new sessionId; Trust rules, rule 2)."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            if not self._held:
                self._viewers_changed()

    def _viewers_changed(self) -> None:
        # Throttled, leading and trailing: the first change is sent at once, changes within
        # UPDATE_INTERVAL_S of the last update are sent together when it has passed.
        if self._update_timer is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self._last_update_at + UPDATE_INTERVAL_S - loop.time()
        if wait > 0:
            self._update_timer = loop.call_later(wait, self._send_viewer_update)
        else:
            self._send_viewer_update()

    def _send_viewer_update(self) -> None:
        self._update_timer = None
        hub = self.hub
        count = hub.viewer_count
        if count == self._last_count:
            return
        self._last_count = count
        self.send_update()

    def _schedule_peak_flush(self) -> None:
        # A storm of joins must not be a storm of writes: the peak and the viewer-seconds
        # are saved once a second.
        if self._peak_flush is not None:
            return
        loop = asyncio.get_running_loop()
        self._peak_flush = loop.call_later(1.0, self._flush_peak)

    def _flush_peak(self) -> None:
        self._peak_flush = None
        stream = self.hub.stream
        if stream is not None:
            self.hub.spawn(
                self.hub.store.run(repo.update_stream_peak, stream.stream_id, stream.peak_viewers)
            )
            self.hub.spawn(
                self.hub.store.run(
                    repo.save_viewer_seconds, stream.stream_id, self.viewer_seconds()
                )
            )

    def flush(self) -> None:
        if self._update_timer is not None:
            self._update_timer.cancel()
            self._update_timer = None
        if self._peak_flush is not None:
            self._peak_flush.cancel()
            self._flush_peak()


def _parse_cursor(text: str) -> tuple[str, int]:
    """``nextCursor`` is ``<ended_at>~<n>``; anything else was not made by us."""
    ended_at, sep, n = text.rpartition("~")
    if not sep or not ended_at or not n.isdigit() or len(n) > 18:
        raise ProtocolError(p.ERR_INVALID)
    return ended_at, int(n)


def _start_job(data: p.StreamData) -> StoreJob:
    return (
        repo.start_stream,
        data.stream_id,
        data.title,
        data.description,
        data.stream_url,
        data.quality,
        data.start_time,
        data.viewer_count,
    )


from wrencos_studio.hub.features.chat import Chat  # noqa: E402
from wrencos_studio.hub.features.customers import Customers  # noqa: E402
from wrencos_studio.hub.features.timeline import timeline_of  # noqa: E402
