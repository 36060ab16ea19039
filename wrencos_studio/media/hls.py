"""Low-Latency HLS of the live stream (RFC 8216bis with its LL-HLS additions), fit for a
shared cache in front: an :class:`~wrencos_studio.media.outputs.Output` of the fan-out that
packages the encoder's own packets (no re-encoding) with the one fMP4 packager
(:class:`~wrencos_studio.media.fmp4.Fmp4Muxer`) into parts of ~0.33 s, and groups them
into segments of one GOP (~2 s, the encoder's keyframe interval).

Everything is in memory (the last ``KEEP_SEGMENTS`` segments) and served by the hub's
router (``hub/http.py``) under ``/live/``:

- ``/live/index.m3u8``: a multivariant playlist naming this stream's media playlist,
  ``<prefix>/index.m3u8``. The prefix is new for every stream (random), so a name is never
  reused with other bytes and every part can be cached as immutable.
- ``/live/<prefix>/index.m3u8[?_HLS_msn=N[&_HLS_part=P]]``: the media playlist; with the
  query a *blocking reload* (waits until that part exists; see :meth:`HlsStream.wait_for`).
- ``/live/<prefix>/init.mp4``, ``s<N>.p<P>.m4s`` (a part), ``s<N>.m4s`` (a whole segment).

Audio: Apple's own HLS (iPhones) wants AAC, so with an ``aac`` track (what ``app.py``
gives it) the stream takes the packets of the pipeline's one shared AAC encode
(:meth:`HlsStream.on_aac`, a sink of ``sources.MediaPipeline.add_aac_sink``, the same
packets the Media Source rung's AAC viewers get); the video is never re-encoded. Without
it, it muxes the fan-out's Opus packets instead (hls.js plays both).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av

from wrencos_studio.hub.http import LiveBadRequest, LiveUnavailable
from wrencos_studio.media.fallback import avc_codec_string
from wrencos_studio.media.fmp4 import (
    TRACK_RATE,
    AacTrack,
    Fmp4Muxer,
    Fragment,
    OpusTrack,
    TrackTimeline,
)
from wrencos_studio.media.outputs import MediaFrame, OutputStats

__all__ = [
    "KEEP_SEGMENTS",
    "PART_TARGET_S",
    "BadRequest",
    "HlsStream",
    "Part",
    "Segment",
    "Unavailable",
]

log = logging.getLogger(__name__)

#: The part target (seconds): the packager cuts a fragment once it holds at least
#: ``PART_CUT_US`` of video: 10 frames (0.333 s) at 30 fps, so a 2 s GOP is 6 whole
#: parts; 8 frames (0.32 s) at 25 fps, 5 (0.333 s) at 15 fps.
PART_TARGET_S = 0.334
PART_CUT_US = 310_000
#: Segments kept in the playlist and in memory (~12 s at 2 s each).
KEEP_SEGMENTS = 6
#: Segments of the playlist that still list their parts (the spec wants parts for at
#: least the last three target durations).
PARTS_FOR_SEGMENTS = 3
#: The default audio track: the fan-out's Opus packets.
_OPUS = OpusTrack()
_PART_NAME = re.compile(r"s(\d{1,12})\.p(\d{1,4})\.m4s")
_SEGMENT_NAME = re.compile(r"s(\d{1,12})\.m4s")


#: A blocking reload the rules forbid (400); see :class:`~wrencos_studio.hub.http.LiveBadRequest`.
BadRequest = LiveBadRequest
#: Not there within three target durations, or the stream ended (503).
Unavailable = LiveUnavailable


@dataclass(slots=True)
class Part:
    """One fMP4 fragment (``moof``+``mdat``): ``duration`` in seconds of video,
    ``independent`` when it starts with a keyframe; ``requests`` counts how often the
    router served it (alone or inside its segment), for the cache-fan-out figures."""

    data: bytes
    duration: float
    independent: bool
    requests: int = 0


@dataclass(slots=True)
class Segment:
    """Parts of one GOP; ``msn`` its media sequence number, ``started`` the wall-clock
    time (Unix seconds) of its first frame (``EXT-X-PROGRAM-DATE-TIME``)."""

    msn: int
    started: float
    parts: list[Part] = field(default_factory=list)
    complete: bool = False
    requests: int = 0

    @property
    def duration(self) -> float:
        """Seconds of video in the parts so far."""
        return sum(p.duration for p in self.parts)


class HlsStream:
    """The LL-HLS packager of one live stream and the state the router serves.

    An ``Output`` of the fan-out (:meth:`offer`, :meth:`close`, :meth:`stats`), driven on
    the event loop: packaging a packet in memory takes microseconds, so there is no
    thread. It starts at the first video keyframe (asking the encoder for one with
    ``request_keyframe``). ``prefix`` names this stream in every URL. Waiters
    (:meth:`wait_for`) are woken at each new part. ``audio``: the audio track — Opus
    (the fan-out's packets, the default), AAC (an :class:`~wrencos_studio.media.fmp4.AacTrack`
    with the shared encoder's AudioSpecificConfig: the packets come to :meth:`on_aac`,
    the fan-out's Opus is left out) or None (video only). :meth:`offer` raises
    ``ValueError`` for a packet the packager cannot read (the fan-out then drops this
    output, and the routes answer 404).
    """

    def __init__(
        self,
        width: int,
        height: int,
        request_keyframe: Callable[[], None] = lambda: None,
        *,
        codec: str | None = None,
        audio: OpusTrack | AacTrack | None = _OPUS,
        part_cut_us: int = PART_CUT_US,
        keep_segments: int = KEEP_SEGMENTS,
        keyframe_interval_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.width = width
        self.height = height
        self.request_keyframe = request_keyframe
        #: ``avc1.PPCCLL`` for the multivariant playlist's CODECS (None: left out).
        self.codec = codec
        self.audio = audio
        self.keep_segments = keep_segments
        self.prefix = base64.b32encode(secrets.token_bytes(5)).decode().lower()
        self.init: bytes | None = None
        self.segments: deque[Segment] = deque()
        self.closed = False
        #: ``EXT-X-TARGETDURATION`` (s): a segment is one GOP, never longer than the
        #: encoder's keyframe interval (forced keyframes only make it shorter).
        self.target_duration = max(1, math.ceil(keyframe_interval_s - 1e-3))
        #: Monotonic seconds (replaced in tests that feed packets faster than real time).
        self.clock = clock
        self._muxer = Fmp4Muxer(width, height, audio, fragment_us=part_cut_us)
        #: Both tracks on one timeline from the first keyframe (None before it).
        self._timeline: TrackTimeline | None = None
        self._wall0 = 0.0
        self._changed = asyncio.Event()
        self.frames = 0
        self.bytes_in = 0
        self.parts_made = 0
        #: Part and segment responses served (router), and the most any one part was served.
        self.part_requests = 0
        self.max_part_requests = 0
        #: Media playlist responses served (router), blocking or not.
        self.playlist_requests = 0
        request_keyframe()

    # -- the fan-out side ------------------------------------------------------------------

    def offer(self, frame: MediaFrame) -> None:
        """Package ``frame`` (dropped before the first keyframe and after :meth:`close`;
        Opus dropped unless the audio track is Opus)."""
        if self.closed:
            return
        kind = frame.kind
        if self._timeline is None:
            if kind != "video" or not frame.is_keyframe:
                return
            self._timeline = TrackTimeline(self.clock(), self.clock)
            self._wall0 = time.time()
        if kind == "audio" and not isinstance(self.audio, OpusTrack):
            return  # AAC comes to on_aac()
        packet = frame.packet
        pts = self._timeline(kind, packet.pts if packet.pts is not None else 0)
        data = bytes(packet)
        self.bytes_in += len(data)
        if kind == "video":
            self.frames += 1
            if frame.is_keyframe and self.codec is None:
                self.codec = avc_codec_string(data)
        self._take(self._muxer.add(kind, data, pts, frame.is_keyframe))

    def on_aac(self, packet: av.Packet[Any]) -> None:
        """One packet of the shared AAC encode (on the event loop; ``pts`` in 1/48000 s on
        the encoder's clock): packaged when the audio track is AAC, else ignored."""
        if self.closed or self._timeline is None or not isinstance(self.audio, AacTrack):
            return
        data = bytes(packet)
        self.bytes_in += len(data)
        pts = self._timeline("aac", packet.pts if packet.pts is not None else 0)
        try:
            self._take(self._muxer.add("audio", data, pts, True))
        except Exception:  # as the fan-out does for offer(): this output stops, the show not
            log.exception("packaging LL-HLS audio failed; the LL-HLS output stops")
            self.close()

    def _take(self, pieces: list[bytes | Fragment]) -> None:
        for piece in pieces:
            if isinstance(piece, Fragment):
                self._add_part(piece)
            else:
                self.init = piece

    @property
    def resyncs(self) -> int:
        """Times a track was anchored to the clock again (a new source or encoder)."""
        return self._timeline.resyncs if self._timeline is not None else 0

    def _add_part(self, cut: Fragment) -> None:
        part = Part(cut.data, cut.duration_s, cut.independent)
        current = self.segments[-1] if self.segments else None
        if current is None or cut.independent:
            if current is not None:
                current.complete = True
            msn = current.msn + 1 if current is not None else 0
            start = cut.video_start
            started = self._wall0 + (start / TRACK_RATE["video"] if start is not None else 0.0)
            self.segments.append(Segment(msn, started))
            while len(self.segments) > self.keep_segments:
                self.segments.popleft()
        self.segments[-1].parts.append(part)
        self.parts_made += 1
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def close(self) -> None:
        """Take no more frames; wake every waiter (they answer 503 / 404). What the
        packager holds (less than a part) is let go: no player could ask for it."""
        if self.closed:
            return
        self.closed = True
        self._wake()

    def stats(self) -> OutputStats:
        """Figures as of now (``frames_sent``: video frames muxed)."""
        return OutputStats(
            peer_id=f"hls-{self.prefix}",
            transport="hls",
            state="closed" if self.closed else ("live" if self.segments else "starting"),
            rtt_ms=None,
            packets_lost=0,
            bitrate_kbps=0.0,
            resyncs=self.resyncs,
            frames_sent=self.frames,
            bytes_sent=self.bytes_in,
        )

    # -- the router side ---------------------------------------------------------------------

    @property
    def last_position(self) -> tuple[int, int] | None:
        """(msn, part index) of the newest part; None before the first."""
        if not self.segments or not self.segments[-1].parts:
            return None
        last = self.segments[-1]
        return last.msn, len(last.parts) - 1

    def has(self, msn: int, part: int | None) -> bool:
        """True once part ``part`` of segment ``msn`` (or, with None, the whole segment)
        exists; a part index past the end of a finished segment counts as there
        (RFC 8216bis 6.2.5.2: the next segment's part 0 stands for it)."""
        if not self.segments:
            return False
        last = self.segments[-1]
        if msn < last.msn:
            return True
        if msn > last.msn:
            return False
        if part is None:
            return last.complete
        return part < len(last.parts)

    async def wait_for(self, msn: int, part: int | None, within_s: float | None = None) -> None:
        """Return once :meth:`has` (``msn``, ``part``). Raises :class:`BadRequest` when
        ``msn`` is more than two segments past the newest (or negative), and
        :class:`Unavailable` after ``within_s`` seconds (default: three target durations)
        or when the stream ends first."""
        if msn < 0 or (part is not None and part < 0):
            raise BadRequest("_HLS_msn and _HLS_part are counted from 0")
        newest = self.segments[-1].msn if self.segments else 0
        if msn > newest + 2:
            raise BadRequest(f"_HLS_msn={msn} is more than two segments ahead of {newest}")
        deadline = time.monotonic() + (3 * self.target_duration if within_s is None else within_s)
        while not self.has(msn, part):
            if self.closed:
                raise Unavailable("the stream ended")
            left = deadline - time.monotonic()
            if left <= 0:
                raise Unavailable("not there in time")
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                raise Unavailable("not there in time") from None

    def find_segment(self, msn: int) -> Segment | None:
        """The segment ``msn`` if still kept."""
        for seg in self.segments:
            if seg.msn == msn:
                return seg
        return None

    async def media(self, name: str) -> bytes | None:
        """The bytes of ``init.mp4``, a part ``s<N>.p<P>.m4s`` or a complete segment
        ``s<N>.m4s``; None if there is no such thing (or no longer). The next part
        announced by the preload hint (or the one after) is waited for like a blocking
        reload (:class:`Unavailable` if it does not come); counts part requests."""
        if name == "init.mp4":
            return self.init
        m = _PART_NAME.fullmatch(name)
        if m is not None:
            msn, index = int(m[1]), int(m[2])
            last = self.last_position
            if last is not None and (msn, index) in ((last[0], last[1] + 1), (last[0] + 1, 0)):
                await self.wait_for(msn, index)
            seg = self.find_segment(msn)
            if seg is None or index >= len(seg.parts):
                return None
            part = seg.parts[index]
            part.requests += 1
            self._count(part.requests)
            return part.data
        m = _SEGMENT_NAME.fullmatch(name)
        if m is not None:
            seg = self.find_segment(int(m[1]))
            if seg is None or not seg.complete:
                return None
            seg.requests += 1
            self._count(seg.requests)
            return b"".join(p.data for p in seg.parts)
        return None

    def _count(self, n: int) -> None:
        self.part_requests += 1
        self.max_part_requests = max(self.max_part_requests, n)

    def multivariant(self) -> str:
        """``/live/index.m3u8``: the one variant of this stream."""
        seg = self.segments[-2] if len(self.segments) > 1 else None
        bandwidth = 2_500_000
        if seg is not None and seg.duration > 0:
            bandwidth = max(64_000, int(sum(len(p.data) for p in seg.parts) * 8 / seg.duration))
        attrs = f"BANDWIDTH={bandwidth},RESOLUTION={self.width}x{self.height}"
        if self.codec:
            codecs = self.codec + (f",{self.audio.codec}" if self.audio is not None else "")
            attrs += f',CODECS="{codecs}"'
        return (
            "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n"
            f"#EXT-X-STREAM-INF:{attrs}\n{self.prefix}/index.m3u8\n"
        )

    def playlist(self) -> str:
        """The media playlist as of now (RFC 8216bis section 4 with LL-HLS tags)."""
        part_hold_back = 3 * PART_TARGET_S
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:9",
            f"#EXT-X-TARGETDURATION:{self.target_duration}",
            f"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={part_hold_back:.3f}",
            f"#EXT-X-PART-INF:PART-TARGET={PART_TARGET_S:.3f}",
            f"#EXT-X-MEDIA-SEQUENCE:{self.segments[0].msn if self.segments else 0}",
            '#EXT-X-MAP:URI="init.mp4"',
        ]
        with_parts = len(self.segments) - PARTS_FOR_SEGMENTS
        for i, seg in enumerate(self.segments):
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seg.started))
            millis = int(seg.started * 1000) % 1000
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{stamp}.{millis:03d}Z")
            if i >= with_parts:
                for j, part in enumerate(seg.parts):
                    independent = ",INDEPENDENT=YES" if part.independent else ""
                    lines.append(
                        f"#EXT-X-PART:DURATION={part.duration:.5f},"
                        f'URI="s{seg.msn}.p{j}.m4s"{independent}'
                    )
            if seg.complete:
                lines.append(f"#EXTINF:{seg.duration:.5f},")
                lines.append(f"s{seg.msn}.m4s")
        if self.segments and not self.closed:
            last = self.segments[-1]
            lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="s{last.msn}.p{len(last.parts)}.m4s"')
        return "\n".join(lines) + "\n"

    @property
    def ready(self) -> bool:
        """True once a playlist can be served (the init segment and a part exist)."""
        return self.init is not None and self.last_position is not None
