"""Low-Latency HLS of the live stream (RFC 8216bis with its LL-HLS additions), fit for a
shared cache in front: an :class:`~wrencos_studio.media.outputs.Output` of the fan-out that
remuxes the encoder's own packets (no re-encoding) with the shared fMP4 writer
(:mod:`.fmp4`) into parts of ~0.33 s, and groups them into segments of one GOP (~2 s, the
encoder's keyframe interval).

Everything is in memory (the last ``KEEP_SEGMENTS`` segments) and served by the hub's
router (``hub/http.py``) under ``/live/``:

- ``/live/index.m3u8``: a multivariant playlist naming this stream's media playlist,
  ``<prefix>/index.m3u8``. The prefix is new for every stream (random), so a name is never
  reused with other bytes and every part can be cached as immutable.
- ``/live/<prefix>/index.m3u8[?_HLS_msn=N[&_HLS_part=P]]``: the media playlist; with the
  query a *blocking reload* (waits until that part exists; see :meth:`HlsStream.wait_for`).
- ``/live/<prefix>/init.mp4``, ``s<N>.p<P>.m4s`` (a part), ``s<N>.m4s`` (a whole segment).

Audio: Apple's own HLS (iPhones) wants AAC, so with ``audio_codec="aac"`` (what ``app.py``
uses) the stream takes the capture's PCM (:meth:`HlsStream.pcm`, called by the media
pipeline on its capture thread with the same frames the Opus encoder gets) and encodes it
once more with FFmpeg's ``aac`` (:class:`AacEncoder`, ~1 % of a core); the video is never
re-encoded. With ``"opus"`` it muxes the fan-out's Opus packets instead (hls.js plays both).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import re
import secrets
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import IO, Any, Literal, cast

import av

from wrencos_studio.hub.http import LiveBadRequest, LiveUnavailable
from wrencos_studio.media.fallback import avc_codec_string
from wrencos_studio.media.fmp4 import TRACK_RATE, Fmp4Writer, TrackTimeline
from wrencos_studio.media.outputs import MediaFrame, OutputStats

__all__ = [
    "KEEP_SEGMENTS",
    "PART_TARGET_S",
    "AacEncoder",
    "BadRequest",
    "HlsStream",
    "Part",
    "Segment",
    "Unavailable",
    "split_boxes",
]

log = logging.getLogger(__name__)

#: The part target (seconds): the muxer cuts a fragment once it holds at least
#: ``PART_CUT_US`` of media: 10 frames (0.333 s) at 30 fps, so a 2 s GOP is 6 whole
#: parts; 8 frames (0.32 s) at 25 fps, 5 (0.333 s) at 15 fps.
PART_TARGET_S = 0.334
PART_CUT_US = 310_000
#: Segments kept in the playlist and in memory (~12 s at 2 s each).
KEEP_SEGMENTS = 6
#: Segments of the playlist that still list their parts (the spec wants parts for at
#: least the last three target durations).
PARTS_FOR_SEGMENTS = 3
#: Track ids as the fMP4 writer adds the streams (video first).
_VIDEO_TRACK = 1
_AUDIO_TRACK = 2
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


def split_boxes(buf: bytearray) -> list[tuple[bytes, bytes]]:
    """Removes the complete top-level ISO BMFF boxes from the front of ``buf`` and returns
    them as ``(type, whole box)``; an incomplete box stays in ``buf`` for the next call.
    Raises ValueError for a box size the writer never makes (0, 64-bit, or < 8)."""
    out: list[tuple[bytes, bytes]] = []
    pos = 0
    while len(buf) - pos >= 8:
        size = struct.unpack_from(">I", buf, pos)[0]
        if size < 8:
            raise ValueError(f"unsupported MP4 box size {size}")
        if len(buf) - pos < size:
            break
        out.append((bytes(buf[pos + 4 : pos + 8]), bytes(buf[pos : pos + size])))
        pos += size
    del buf[:pos]
    return out


def _children(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """The boxes inside ``data[start:end]`` as (type, payload start, box end)."""
    out = []
    pos = start
    while pos + 8 <= end:
        size = struct.unpack_from(">I", data, pos)[0]
        if size < 8 or pos + size > end:
            break
        out.append((data[pos + 4 : pos + 8], pos + 8, pos + size))
        pos += size
    return out


def fragment_timing(moof: bytes) -> dict[int, tuple[int, int]]:
    """``{track id: (baseMediaDecodeTime, summed sample durations)}`` of one ``moof`` box
    (ISO/IEC 14496-12 8.8: ``tfhd``, ``tfdt``, ``trun``), in each track's time base. A
    track whose durations are not in the fragment (left to ``trex``) sums to 0."""
    timing: dict[int, tuple[int, int]] = {}
    for kind, start, end in _children(moof, 8, len(moof)):
        if kind != b"traf":
            continue
        track, base, total, default = 0, 0, 0, 0
        for sub, s, _end in _children(moof, start, end):
            flags = struct.unpack_from(">I", moof, s)[0] & 0xFFFFFF
            version = moof[s]
            if sub == b"tfhd":
                track = struct.unpack_from(">I", moof, s + 4)[0]
                p = s + 8 + (8 if flags & 0x01 else 0) + (4 if flags & 0x02 else 0)
                if flags & 0x08:
                    default = struct.unpack_from(">I", moof, p)[0]
            elif sub == b"tfdt":
                base = (
                    struct.unpack_from(">Q", moof, s + 4)[0]
                    if version == 1
                    else struct.unpack_from(">I", moof, s + 4)[0]
                )
            elif sub == b"trun":
                count = struct.unpack_from(">I", moof, s + 4)[0]
                p = s + 8 + (4 if flags & 0x01 else 0) + (4 if flags & 0x04 else 0)
                per = 4 * sum(1 for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit)
                if flags & 0x100:
                    for i in range(count):
                        total += struct.unpack_from(">I", moof, p + i * per)[0]
                else:
                    total += default * count
        timing[track] = (base, total)
    return timing


class AacEncoder:
    """FFmpeg's native AAC-LC encoder, 48 kHz stereo: PCM frames of any format in,
    packets (1024 samples each, pts in 1/48000 s) out. ``extradata`` is its
    AudioSpecificConfig (for the MP4 ``esds``). Used by one thread at a time."""

    def __init__(self, bitrate: int = 128_000) -> None:
        cc = av.CodecContext.create("aac", "w")
        cc.sample_rate = 48000
        cc.layout = "stereo"
        cc.format = "fltp"
        cc.bit_rate = bitrate
        cc.time_base = Fraction(1, 48000)
        cc.open()
        self._cc: Any = cc
        self.extradata: bytes = bytes(cc.extradata or b"")
        self._resampler = av.AudioResampler(
            format="fltp", layout="stereo", rate=48000, frame_size=1024
        )

    def encode(self, frame: av.AudioFrame) -> list[av.Packet[Any]]:
        """The packets ``frame`` completes (often none: 1024 samples make one)."""
        packets: list[av.Packet[Any]] = []
        for chunk in self._resampler.resample(frame):
            packets.extend(self._cc.encode(chunk))
        return packets


class HlsStream:
    """The LL-HLS packager of one live stream and the state the router serves.

    An ``Output`` of the fan-out (:meth:`offer`, :meth:`close`, :meth:`stats`), driven on
    the event loop: muxing a packet in memory takes microseconds, so there is no thread.
    It starts at the first video keyframe (asking the encoder for one with
    ``request_keyframe``). ``prefix`` names this stream in every URL. Waiters
    (:meth:`wait_for`) are woken at each new part. Make it on the event loop (it keeps
    that loop for :meth:`pcm`). ``audio_codec="aac"``: audio comes from :meth:`pcm`, not
    from the fan-out. :meth:`offer` raises ``av.FFmpegError`` if the muxer refuses a packet
    (the fan-out then drops this output, and the routes answer 404).
    """

    def __init__(
        self,
        width: int,
        height: int,
        request_keyframe: Callable[[], None] = lambda: None,
        *,
        codec: str | None = None,
        audio: bool = True,
        audio_codec: Literal["opus", "aac"] = "opus",
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
        self._moof = b""
        #: ``opus``: the fan-out's packets; ``aac``: encoded here from :meth:`pcm`.
        self.audio_codec: Literal["opus", "aac"] = audio_codec if audio else "opus"
        self._aac = AacEncoder() if audio and audio_codec == "aac" else None
        self._loop: asyncio.AbstractEventLoop | None = None
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()
        self._writer = Fmp4Writer(
            cast(IO[bytes], self),
            width,
            height,
            audio=audio,
            fragment_us=part_cut_us,
            audio_codec=self.audio_codec,
            audio_extradata=self._aac.extradata if self._aac is not None else None,
        )
        self._buf = bytearray()
        self._ftyp = b""
        self._keyframes: set[int] = set()
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
        """Mux ``frame`` (dropped before the first keyframe and after :meth:`close`)."""
        if self.closed:
            return
        kind = frame.kind
        if self._timeline is None:
            if kind != "video" or not frame.is_keyframe:
                return
            self._timeline = TrackTimeline(self.clock(), self.clock)
            self._wall0 = time.time()
        if kind == "audio" and (not self.audio or self._aac is not None):
            return  # AAC comes from pcm()
        packet = frame.packet
        pts = self._timeline(kind, packet.pts if packet.pts is not None else 0)
        data = bytes(packet)
        self.bytes_in += len(data)
        self._writer.write(kind, data, pts, frame.is_keyframe)
        if kind == "video":
            self.frames += 1
            if frame.is_keyframe:
                # As muxed (the writer nudges a timestamp that does not increase): its
                # fragment, flushed later, starts there (its tfdt) and opens a segment.
                self._keyframes.add(self._writer.last_video_pts)
                if self.codec is None:
                    self.codec = avc_codec_string(data)

    def pcm(self, frame: av.AudioFrame) -> None:
        """Called on the capture thread with each PCM frame the Opus encoder gets: encode it
        as AAC there and hand the packets to the event loop (``audio_codec="aac"`` only)."""
        aac, loop = self._aac, self._loop
        if aac is None or loop is None or self.closed:
            return
        for packet in aac.encode(frame):
            try:
                loop.call_soon_threadsafe(
                    self._offer_aac, bytes(packet), packet.pts if packet.pts is not None else 0
                )
            except RuntimeError:  # the loop is closing
                return

    def _offer_aac(self, data: bytes, pts: int) -> None:
        if self.closed or self._timeline is None:
            return
        self.bytes_in += len(data)
        try:
            self._writer.write("audio", data, self._timeline("audio", pts), True)
        except Exception:  # as the fan-out does for offer(): this output stops, the show not
            log.exception("muxing LL-HLS audio failed; the LL-HLS output stops")
            self.close()

    @property
    def resyncs(self) -> int:
        """Times a track was anchored to the clock again (a new source or encoder)."""
        return self._timeline.resyncs if self._timeline is not None else 0

    def write(self, data: bytes) -> int:
        """The fMP4 writer's sink: cut the byte stream into init and parts."""
        self._buf += data
        for kind, box in split_boxes(self._buf):
            if kind == b"ftyp":
                self._ftyp = box
            elif kind == b"moov":
                self.init = self._ftyp + box
            elif kind == b"moof":
                self._moof = box
            elif kind == b"mdat":
                self._add_part(self._moof, box)
        return len(data)

    def _add_part(self, moof: bytes, mdat: bytes) -> None:
        timing = fragment_timing(moof)
        video = timing.get(_VIDEO_TRACK)
        if video is not None and video[1] > 0:
            start, duration = video[0], video[1] / TRACK_RATE["video"]
            independent = start in self._keyframes
            self._keyframes = {k for k in self._keyframes if k > start}
        else:  # no video in this fragment (a stalled source): audio timing
            audio = timing.get(_AUDIO_TRACK, (0, 0))
            start, duration, independent = -1, audio[1] / TRACK_RATE["audio"], False
        part = Part(moof + mdat, duration, independent)
        current = self.segments[-1] if self.segments else None
        if current is None or independent:
            if current is not None:
                current.complete = True
            msn = current.msn + 1 if current is not None else 0
            started = self._wall0 + (start / TRACK_RATE["video"] if start >= 0 else 0.0)
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
        """Take no more frames; wake every waiter (they answer 503 / 404)."""
        if self.closed:
            return
        self.closed = True
        try:
            self._writer.close()
        except Exception as exc:  # the muxer's last fragment: nothing to lose but it
            log.warning("closing the HLS muxer failed: %s", exc)
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
            audio = ",mp4a.40.2" if self.audio_codec == "aac" else ",opus"
            codecs = self.codec + (audio if self.audio else "")
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
