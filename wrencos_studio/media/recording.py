"""Recording every live show: an output of the fan-out that packages the encoder's packets
into fragmented MP4 under ``<data dir>/recordings/`` (no second encoder; the one fMP4
packager, :class:`~wrencos_studio.media.fmp4.Fmp4Muxer`, ~1 s fragments) on its own writer
thread, and the service that starts and stops it and watches the free disk.

The live show never waits for the recording: :meth:`Recorder.offer` only queues (bounded;
behind, it drops to the next keyframe), and a full disk or a write error stops the
recording alone, with a status for the studio (:class:`RecordingStatus`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from wrencos_studio.media.encoder import VideoSettings
from wrencos_studio.media.fmp4 import (
    FRAGMENT_US,
    TRACK_RATE,
    Fmp4Muxer,
    Fragment,
    OpusTrack,
    TrackTimeline,
)
from wrencos_studio.media.outputs import MediaFrame, OutputStats

__all__ = [
    "DISK_CHECK_INTERVAL_S",
    "Recorder",
    "RecordingError",
    "RecordingFacts",
    "RecordingFile",
    "RecordingStatus",
    "Recordings",
]

log = logging.getLogger(__name__)

#: How often the free disk is looked at while recording.
DISK_CHECK_INTERVAL_S = 2.0
#: Queued packets the writer may trail by (~10 s of 30 fps video with its audio);
#: further behind, the queue is dropped up to the next keyframe.
MAX_QUEUED_PACKETS = 500
_STOP = object()


class RecordingError(Exception):
    """A recording could not start (``str(exc)`` says why, for a person to read)."""


@dataclass(frozen=True, slots=True)
class RecordingFacts:
    """A finished recording: its length (ms, by the video's timestamps) and size (bytes);
    ``error`` when it stopped on a failure."""

    duration_ms: int
    bytes: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RecordingStatus:
    """What the studio is told: ``state`` is ``recording``, ``low_disk`` (still
    recording, a warning), ``stopped`` (stopped early: ``message`` says why) or ``off``
    (ended with the show, or recording is switched off); ``free_bytes`` on the disk."""

    state: Literal["recording", "low_disk", "stopped", "off"]
    replay_id: str | None
    message: str
    free_bytes: int | None = None


class RecordingFile:
    """A fragmented MP4 file being written: H.264 and Opus packets in (:meth:`write`),
    the init segment at the first keyframe, then each fragment (~``fragment_us``, and at
    each keyframe) written as soon as it is cut, unbuffered, so a process killed
    mid-show leaves a file that plays up to its last whole fragment. The file is created
    at the first keyframe. Timestamps as :class:`~wrencos_studio.media.fmp4.Fmp4Muxer`
    takes them (video 1/90000 s, audio 1/48000 s, on one timeline). Not thread-safe: one
    thread writes and closes. Raises ``OSError`` when the file cannot be written."""

    def __init__(self, path: Path, width: int, height: int, fragment_us: int = FRAGMENT_US):
        self.path = path
        self.muxer = Fmp4Muxer(width, height, OpusTrack(), fragment_us=fragment_us)
        self._file: Any = None

    @property
    def last_video_pts(self) -> int:
        """The largest video timestamp written (1/90000 s), for the duration so far."""
        return self.muxer.last_video_pts

    def write(self, kind: Literal["video", "audio"], data: bytes, pts: int, keyframe: bool) -> None:
        """Package one packet; write what it completes (nothing before the first keyframe)."""
        for piece in self.muxer.add(kind, data, pts, keyframe):
            self._put(piece.data if isinstance(piece, Fragment) else piece)

    def _put(self, data: bytes) -> None:
        if self._file is None:
            # Unbuffered: each fragment reaches the file in one write as it is cut.
            self._file = open(self.path, "wb", buffering=0)  # noqa: SIM115
        self._file.write(data)

    def close(self) -> None:
        """Write the last fragment (what is waiting) and close. Safe to call twice."""
        try:
            last = self.muxer.flush() if self._file is not None else None
            if last is not None:
                self._put(last.data)
        finally:
            file, self._file = self._file, None
            if file is not None:
                file.close()


class Recorder:
    """One recording file: an :class:`~wrencos_studio.media.outputs.Output` of the fan-out.

    It starts at the first video keyframe (asking the encoder for one); that moment, in
    wall-clock seconds, is :attr:`started_at`, time 0 of the file. Each track's packet
    timestamps are moved to start there, and moved again if they stray from the wall
    clock by more than ``RESYNC_AFTER_S`` (the broadcaster got a new source).
    """

    def __init__(
        self,
        path: Path,
        video: VideoSettings,
        request_keyframe: Callable[[], None],
        *,
        max_queued: int = MAX_QUEUED_PACKETS,
        on_failed: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self.video = video
        #: Asks the encoder for a keyframe (replaced when the broadcaster is).
        self.request_keyframe = request_keyframe
        self._on_failed = on_failed
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queued)
        self._need_key = True
        self._closed = False
        #: The file's timeline (time 0: the first keyframe, on the monotonic clock).
        self._timeline: TrackTimeline | None = None
        #: Wall-clock time (Unix seconds) of the file's time 0; None before the first keyframe.
        self.started_at: float | None = None
        self.error: str | None = None
        self.frames = 0
        self.bytes_queued = 0
        self.dropped = 0
        self._writer = RecordingFile(path, video.width, video.height)
        self._thread = threading.Thread(target=self._run, name="media-recorder", daemon=True)
        self._thread.start()
        request_keyframe()

    # -- the fan-out side (event loop) ------------------------------------------------------

    def offer(self, frame: MediaFrame) -> None:
        """Queue ``frame`` for the writer thread, or drop it (closed, waiting for a
        keyframe, or behind: then everything up to the next keyframe)."""
        if self._closed:
            return
        kind = frame.kind
        if self._need_key:
            if kind != "video" or not frame.is_keyframe:
                return
            self._need_key = False
            if self._timeline is None:
                self._timeline = TrackTimeline(time.monotonic())
                self.started_at = time.time()
        assert self._timeline is not None
        packet = frame.packet
        pts = self._timeline(kind, packet.pts if packet.pts is not None else 0)
        data = bytes(packet)
        try:
            self._queue.put_nowait((kind, data, pts, frame.is_keyframe))
        except queue.Full:
            # The disk is slower than the show: start again at the next keyframe.
            self._drain_queue()
            self._need_key = True
            self.dropped += 1
            self.request_keyframe()
            return
        self.bytes_queued += len(data)
        if kind == "video":
            self.frames += 1

    def _drain_queue(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                item = self._queue.get_nowait()
                if item is _STOP:  # never lose the stop
                    self._queue.put_nowait(item)
                    return

    def close(self) -> None:
        """Take no more frames; the writer thread writes what is queued and closes the file
        (:meth:`wait` for it)."""
        if self._closed:
            return
        self._closed = True
        while True:
            try:
                self._queue.put_nowait(_STOP)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._queue.get_nowait()

    def wait(self, timeout: float = 10.0) -> RecordingFacts:
        """Block until the file is closed (after :meth:`close`); its facts."""
        self._thread.join(timeout)
        return self.facts()

    def facts(self) -> RecordingFacts:
        """The length and size of the file as written so far."""
        try:
            size = self.path.stat().st_size
        except OSError:
            size = 0
        duration = int(self._writer.last_video_pts * 1000 / TRACK_RATE["video"])
        return RecordingFacts(duration, size, self.error)

    def offset_ms(self) -> int:
        """Milliseconds since the file's time 0 (0 before it has started)."""
        if self._timeline is None:
            return 0
        return max(0, int((time.monotonic() - self._timeline.start) * 1000))

    @property
    def resyncs(self) -> int:
        """Times a track was anchored to the clock again (a new source or encoder)."""
        return self._timeline.resyncs if self._timeline is not None else 0

    def stats(self) -> OutputStats:
        """Figures as of now (``frames_sent``: video frames queued for the file)."""
        return OutputStats(
            peer_id="recorder",
            transport="recording",
            state="failed" if self.error else ("closed" if self._closed else "recording"),
            rtt_ms=None,
            packets_lost=self.dropped,
            bitrate_kbps=0.0,
            resyncs=self.resyncs,
            frames_sent=self.frames,
            bytes_sent=self.bytes_queued,
        )

    # -- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        writer = self._writer
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    break
                kind, data, pts, key = item
                writer.write(kind, data, pts, key)
        except Exception as exc:  # a full disk, a vanished directory: the show goes on
            self.error = f"{type(exc).__name__}: {exc}"
            self._closed = True
            log.error("recording %s failed: %s", self.path.name, self.error)
            if self._on_failed is not None:
                self._on_failed(self.error)
        finally:
            try:
                writer.close()
            except Exception as exc:
                self.error = self.error or f"{type(exc).__name__}: {exc}"
                log.error("closing recording %s failed: %s", self.path.name, exc)


class Recordings:
    """Starts and stops the recording of the live show and watches the disk.

    The composition root makes one (``app.py``) with the recordings directory and the
    free-space threshold (bytes): below twice the threshold it warns, below it a
    recording is not started or is stopped cleanly. It :meth:`attach`-es to the running
    broadcaster's fan-out; the hub's timeline feature calls :meth:`start`, :meth:`stop`
    and :meth:`offset_ms`. ``on_status`` gets each :class:`RecordingStatus` on the event
    loop. ``free_bytes`` may be replaced (tests)."""

    def __init__(
        self,
        directory: Path,
        min_free_bytes: int,
        on_status: Callable[[RecordingStatus], None] | None = None,
    ) -> None:
        self.directory = directory
        self.min_free_bytes = min_free_bytes
        self.on_status = on_status
        self.free_bytes: Callable[[Path], int] = _free_bytes
        self.recorder: Recorder | None = None
        self.replay_id: str | None = None
        self._fanout: Any = None
        self._video: VideoSettings | None = None
        self._request_keyframe: Callable[[], None] = lambda: None
        self._watch: asyncio.Task[None] | None = None
        self._early: asyncio.Future[None] | None = None
        self._warned = False
        #: Called with (replay_id, facts) when a recording stops on its own (disk, error).
        self.on_stopped_early: Callable[[str, RecordingFacts], None] | None = None

    # -- the broadcaster ---------------------------------------------------------------------

    @property
    def attached(self) -> bool:
        """True while a broadcaster's fan-out is there to record."""
        return self._fanout is not None

    def attach(
        self, fanout: Any, video: VideoSettings, request_keyframe: Callable[[], None]
    ) -> None:
        """Record from this fan-out (a new broadcaster); a running recording moves to it."""
        self.detach()
        self._fanout = fanout
        self._video = video
        self._request_keyframe = request_keyframe
        if self.recorder is not None:
            self.recorder.request_keyframe = request_keyframe
            fanout.add(self.recorder)
            request_keyframe()

    def detach(self) -> None:
        """The broadcaster stops: the recording (if any) waits, open, for the next one."""
        if self._fanout is not None and self.recorder is not None:
            self._fanout.remove(self.recorder)
        self._fanout = None

    # -- recording ----------------------------------------------------------------------------

    def start(self, replay_id: str) -> str:
        """Start recording to ``<replay_id>.mp4``; its file name. Raises
        :class:`RecordingError` with no broadcaster, or too little free disk."""
        if self._fanout is None or self._video is None:
            raise RecordingError("nothing to record: the broadcaster is not running")
        if self.recorder is not None:
            raise RecordingError("a recording is already running")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            free = self.free_bytes(self.directory)
        except OSError as exc:
            raise RecordingError(f"cannot use {self.directory}: {exc}") from exc
        if free < self.min_free_bytes:
            raise RecordingError(
                f"not recording: only {_mib(free)} free on the disk of {self.directory} "
                f"(at least {_mib(self.min_free_bytes)} needed)"
            )
        name = f"{replay_id}.mp4"
        loop = asyncio.get_running_loop()

        def on_failed(text: str) -> None:  # on the writer thread
            loop.call_soon_threadsafe(self._failed, replay_id, text)

        self.recorder = Recorder(
            self.directory / name, self._video, self._request_keyframe, on_failed=on_failed
        )
        self.replay_id = replay_id
        self._warned = False
        self._fanout.add(self.recorder)
        self._watch = asyncio.create_task(self._watch_disk(), name="recording-disk")
        self._say("recording", "Recording the show", free)
        return name

    def offset_ms(self) -> int | None:
        """Milliseconds into the running recording; None when nothing is recorded."""
        return self.recorder.offset_ms() if self.recorder is not None else None

    async def stop(self, reason: str = "") -> RecordingFacts | None:
        """Stop recording and close the file (its last fragment written); its facts, or
        None if nothing was recording. ``reason``: why it stopped early (else the show
        ended)."""
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            return None
        replay_id, self.replay_id = self.replay_id, None
        if self._watch is not None and self._watch is not asyncio.current_task():
            self._watch.cancel()
        self._watch = None
        if self._fanout is not None:
            self._fanout.remove(recorder)
        recorder.close()
        facts = await asyncio.to_thread(recorder.wait)
        if reason:
            self._say("stopped", reason, None, replay_id)
        else:
            self._say("off", "Recording saved", None, replay_id)
        return facts

    def _failed(self, replay_id: str, text: str) -> None:
        if self.replay_id == replay_id:
            self._early = asyncio.ensure_future(
                self._stop_early(replay_id, f"Recording stopped: {text}")
            )

    async def _stop_early(self, replay_id: str, reason: str) -> None:
        facts = await self.stop(reason)
        if facts is not None and self.on_stopped_early is not None:
            self.on_stopped_early(replay_id, facts)

    async def _watch_disk(self) -> None:
        while self.recorder is not None:
            await asyncio.sleep(DISK_CHECK_INTERVAL_S)
            try:
                free = self.free_bytes(self.directory)
            except OSError as exc:
                log.warning("cannot check the free disk: %s", exc)
                continue
            if free < self.min_free_bytes and self.replay_id is not None:
                reason = (
                    f"Recording stopped: only {_mib(free)} left on the disk (the live show goes on)"
                )
                log.warning("%s", reason)
                self._watch = None
                await self._stop_early(self.replay_id, reason)
                return
            if free < 2 * self.min_free_bytes and not self._warned:
                self._warned = True
                self._say(
                    "low_disk",
                    f"Disk almost full: {_mib(free)} left; recording stops below "
                    f"{_mib(self.min_free_bytes)}",
                    free,
                )

    def _say(
        self, state: Any, message: str, free: int | None, replay_id: str | None = None
    ) -> None:
        if self.on_status is not None:
            self.on_status(RecordingStatus(state, replay_id or self.replay_id, message, free))


def _free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MiB"
