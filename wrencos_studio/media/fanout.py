"""Fan-out of encoded media to every viewer: RTP payloads are cut once per packet and shared;
each viewer has a bounded queue and resynchronises at the next keyframe when it falls behind.

aiortc's ``RTCRtpSender`` passes anything that is not an ``av.Frame`` to its encoder's
``pack()``; we give each sender a :class:`SharedPacker` whose ``pack()`` returns the
payloads already cut for everyone, and route its PLI/FIR handling (``_send_keyframe``)
to the shared encoder. Both hooks touch aiortc internals, hence its pinned version.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
from aiortc import RTCRtpSender
from aiortc import clock as aiortc_clock
from aiortc.codecs.h264 import H264Encoder
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from wrencos_studio.media.fallback import (
    KIND_AUDIO,
    KIND_KEY,
    KIND_VIDEO,
    FallbackViewer,
    avc_codec_string,
    wire_message,
)

__all__ = ["Encoded", "Fanout", "PacketTrack", "SharedPacker", "attach_sender"]

VIDEO_CLOCK = Fraction(1, 90000)
AUDIO_CLOCK = Fraction(1, 48000)


class Encoded:
    """One encoded frame, cut into RTP payloads once for all viewers."""

    __slots__ = ("is_keyframe", "payloads", "size", "timestamp")

    def __init__(self, payloads: list[bytes], timestamp: int, is_keyframe: bool, size: int):
        self.payloads = payloads
        self.timestamp = timestamp
        self.is_keyframe = is_keyframe
        self.size = size

    @classmethod
    def video(cls, packet: av.Packet[Any]) -> Encoded:
        data = bytes(packet)
        payloads = H264Encoder._packetize(H264Encoder._split_bitstream(data))
        ts = int(packet.pts * packet.time_base / VIDEO_CLOCK) if packet.pts is not None else 0
        return cls(payloads, ts, bool(packet.is_keyframe), len(data))

    @classmethod
    def audio(cls, packet: av.Packet[Any]) -> Encoded:
        data = bytes(packet)
        ts = int(packet.pts * packet.time_base / AUDIO_CLOCK) if packet.pts is not None else 0
        return cls([data], ts, True, len(data))


class SharedPacker:
    """Stands in for aiortc's per-sender encoder: the work was done once, upstream."""

    def pack(self, item: Encoded) -> tuple[list[bytes], int]:
        return item.payloads, item.timestamp

    def encode(self, frame: Any, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        raise TypeError("SharedPacker only packs pre-encoded media")


_NTP_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01


def _fast_ntp_time() -> int:
    """aiortc's ``clock.current_ntp_time`` without datetime objects: the same value (64-bit
    NTP), computed twice per RTP packet per viewer, so its cost is multiplied by both."""
    t = time.time() + _NTP_OFFSET
    seconds = int(t)
    return (seconds << 32) | int((t - seconds) * (1 << 32))


aiortc_clock.current_ntp_time = _fast_ntp_time


def attach_sender(sender: RTCRtpSender, request_keyframe: Callable[[], None]) -> None:
    """Make ``sender`` use the shared packets and forward PLI/FIR to the shared encoder."""
    sender._RTCRtpSender__encoder = SharedPacker()  # type: ignore[attr-defined]
    sender._send_keyframe = request_keyframe  # type: ignore[method-assign]


class PacketTrack(MediaStreamTrack):
    """A viewer's track: a bounded queue of shared :class:`Encoded` frames."""

    def __init__(self, kind: str, max_queue: int, on_resync: Callable[[], None]) -> None:
        super().__init__()
        self.kind = kind
        self.max_queue = max_queue
        self._on_resync = on_resync
        self._queue: deque[Encoded] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._need_key = kind == "video"
        self.sent = 0
        self.resyncs = 0
        self.dropped = 0
        self.bytes = 0

    def restart(self) -> None:
        """Start again from the next keyframe (a viewer that just connected)."""
        self._queue.clear()
        self._need_key = self.kind == "video"

    def offer(self, item: Encoded) -> None:
        if self.readyState != "live":
            return
        if self._need_key:
            if not item.is_keyframe:
                self.dropped += 1
                return
            self._need_key = False
        if len(self._queue) >= self.max_queue:
            # Behind: never buffer without bound. Video starts again at a keyframe;
            # audio just loses what it could not send in time.
            self.dropped += len(self._queue)
            self._queue.clear()
            self.resyncs += 1
            if self.kind == "video":
                self._need_key = True
                self._on_resync()
                if not item.is_keyframe:
                    return
                self._need_key = False
        self._queue.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def recv(self) -> Encoded:  # type: ignore[override]
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._queue.popleft()
        self.sent += 1
        self.bytes += item.size
        return item

    def stop(self) -> None:
        super().stop()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Fanout:
    """Hands every encoded frame to every live track."""

    def __init__(self, request_keyframe: Callable[[], None]) -> None:
        self.request_keyframe = request_keyframe
        self.video_tracks: set[PacketTrack] = set()
        self.audio_tracks: set[PacketTrack] = set()
        self.fallbacks: set[FallbackViewer] = set()
        self.frames_out = 0
        #: ``avc1.PPCCLL`` of the stream, known from its first keyframe.
        self.codec: str | None = None

    def add(self, track: PacketTrack) -> None:
        (self.video_tracks if track.kind == "video" else self.audio_tracks).add(track)

    def remove(self, track: PacketTrack) -> None:
        self.video_tracks.discard(track)
        self.audio_tracks.discard(track)

    def on_video(self, packet: av.Packet[Any]) -> None:
        if packet.is_keyframe and self.codec is None:
            self.codec = avc_codec_string(bytes(packet))
        self.frames_out += 1
        if self.video_tracks:
            item = Encoded.video(packet)
            for track in list(self.video_tracks):
                track.offer(item)
        if self.fallbacks:
            kind = KIND_KEY if packet.is_keyframe else KIND_VIDEO
            data = wire_message(kind, packet)  # built once for every fallback viewer
            for viewer in list(self.fallbacks):
                viewer.offer(kind, data)

    def on_audio(self, packet: av.Packet[Any]) -> None:
        if self.audio_tracks:
            item = Encoded.audio(packet)
            for track in list(self.audio_tracks):
                track.offer(item)
        if self.fallbacks:
            data = wire_message(KIND_AUDIO, packet)
            for viewer in list(self.fallbacks):
                viewer.offer(KIND_AUDIO, data)
