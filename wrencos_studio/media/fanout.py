"""Fan-out of encoded media to every viewer: each frame is encoded once, cut into RTP
payloads once, and written to every viewer's socket in one pass, with no per-viewer task.

aiortc's ``RTCRtpSender`` runs one task per viewer and track that awaits the next frame,
builds an ``RtpPacket`` object per packet, serialises its header extensions, and goes
through four nested awaits to reach ``sendto``; at 20 viewers that per-packet path cost as
much CPU as the whole encode. We keep aiortc for everything around the media (SDP, ICE,
DTLS, RTCP, NACK, stats) and replace only the sender's RTP loop: :func:`attach_sender`
swaps its ``_run_rtp`` for one that registers an :class:`RtpWriter`, and
:class:`Fanout` calls every writer synchronously for each frame. A writer builds the RTP
header with ``struct``, protects it with the connection's SRTP session and hands it to the
selected candidate pair's UDP transport; it keeps the sender's counters (RTCP sender
reports, ``getStats``) and a history for NACK retransmissions. These hooks touch aiortc
and aioice internals, hence their pinned versions (``tests/media`` exercise every one).
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections import deque
from collections.abc import Callable
from fractions import Fraction
from functools import partial
from typing import Any

import av
from aioice.ice import StunProtocol
from aiortc import RTCRtpCodecParameters, RTCRtpSender
from aiortc import clock as aiortc_clock
from aiortc.codecs.h264 import H264Encoder
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtp import HeaderExtensions, RtpPacket, wrap_rtx
from aiortc.utils import random32

from wrencos_studio.media.fallback import (
    KIND_AUDIO,
    KIND_KEY,
    KIND_VIDEO,
    FallbackViewer,
    avc_codec_string,
    wire_message,
)

__all__ = ["Encoded", "Fanout", "PacketTrack", "RtpWriter", "attach_sender"]

log = logging.getLogger(__name__)

VIDEO_CLOCK = Fraction(1, 90000)
AUDIO_CLOCK = Fraction(1, 48000)
#: Bytes a viewer's socket may hold unsent before we treat the viewer as behind (~1.5 s
#: at 2.5 Mbps). UDP rarely pushes back; when it does, we stop adding rather than buffer.
MAX_BACKLOG = 512 * 1024
RTP_HISTORY = 512  # packets kept per stream for NACK retransmissions (~1.5 s of 720p30)

_RTP_HEADER = struct.Struct("!BBHLL")
_EXT_HEADER = struct.Struct("!HH")


class Encoded:
    """One encoded frame, cut into RTP payloads once for all viewers."""

    __slots__ = ("is_keyframe", "payload_bytes", "payloads", "size", "timestamp")

    def __init__(self, payloads: list[bytes], timestamp: int, is_keyframe: bool, size: int):
        self.payloads = payloads
        self.payload_bytes = sum(len(p) for p in payloads)
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


_NTP_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01


def _fast_ntp_time() -> int:
    """aiortc's ``clock.current_ntp_time`` without datetime objects: the same value (64-bit
    NTP). aiortc calls it for every RTCP report; we call it once per frame."""
    t = time.time() + _NTP_OFFSET
    seconds = int(t)
    return (seconds << 32) | int((t - seconds) * (1 << 32))


aiortc_clock.current_ntp_time = _fast_ntp_time


class RtpWriter:
    """One viewer's RTP stream of one kind (one ``RTCRtpSender``), written synchronously."""

    def __init__(self, sender: RTCRtpSender, codec: RTCRtpCodecParameters) -> None:
        self.sender = sender
        self.dtls = sender.transport
        self.connection = self.dtls.transport._connection  # aioice.Connection
        assert codec.payloadType is not None  # set by the negotiation before send()
        self.payload_type: int = codec.payloadType
        self.ssrc = sender._ssrc
        self.sequence = random_sequence_number()
        self.timestamp_origin = random32()
        self.extensions_map = sender._RTCRtpSender__rtp_header_extensions_map  # type: ignore[attr-defined]
        self.mid: str | None = sender._RTCRtpSender__mid  # type: ignore[attr-defined]
        self.rtx_payload_type: int | None = sender._RTCRtpSender__rtx_payload_type  # type: ignore[attr-defined]
        self.rtx_sequence = random_sequence_number()
        self.history: list[bytes | None] = [None] * RTP_HISTORY
        self.packets = 0
        self.octets = 0
        self.retransmitted = 0
        self.slow_packets = 0  # packets that went the awaitable way
        # Candidate pairs that are not a plain UDP socket (TURN) go through aioice's own
        # (awaitable) send, in order, from one task.
        self._slow: deque[bytes] = deque()
        self._slow_bytes = 0
        self._slow_task: asyncio.Task[None] | None = None
        # The header-extension block (RFC 8285: mid, abs-send-time) as the bytes before
        # and after the 3-byte send time, found once by serialising it with two times.
        zero, ones = self._extension_block(0), self._extension_block(0xFFFFFF)
        if zero == ones:  # abs-send-time not negotiated: the block never changes
            self._ext_prefix, self._ext_suffix, self._ext_time = zero, b"", False
        else:
            i = next(i for i in range(len(zero)) if zero[i] != ones[i])
            assert ones[i : i + 3] == b"\xff\xff\xff" and zero[i + 3 :] == ones[i + 3 :]
            self._ext_prefix, self._ext_suffix, self._ext_time = zero[:i], zero[i + 3 :], True

    def backlog(self) -> int:
        """Bytes accepted for this viewer but not yet handed to the kernel."""
        pair = self.connection._nominated.get(1)
        if pair is None:
            return 0
        transport = getattr(pair.protocol, "transport", None)
        size = transport.get_write_buffer_size() if transport is not None else 0
        return int(size) + self._slow_bytes

    def _extension_block(self, abs_send_time: int) -> bytes:
        profile, value = self.extensions_map.set(
            HeaderExtensions(mid=self.mid, abs_send_time=abs_send_time)
        )
        return _EXT_HEADER.pack(profile, len(value) >> 2) + value if value else b""

    def write(self, item: Encoded, ntp_time: int) -> bool:
        """Send one frame's packets now (``ntp_time``: the frame's send time, 64-bit NTP).
        False if the connection cannot carry them."""
        dtls = self.dtls
        if dtls._state is not DtlsState.CONNECTED:
            return False
        pair = self.connection._nominated.get(1)
        if pair is None:
            return False
        protect = dtls._tx_srtp.protect
        if self._ext_time:
            abs_send_time = (ntp_time >> 14) & 0x00FFFFFF
            extension = self._ext_prefix + abs_send_time.to_bytes(3) + self._ext_suffix
        else:
            extension = self._ext_prefix
        first = 0x90 if extension else 0x80
        timestamp = (self.timestamp_origin + item.timestamp) & 0xFFFFFFFF
        seq = self.sequence
        history = self.history
        last = len(item.payloads) - 1
        pack_header = _RTP_HEADER.pack
        pt, ssrc = self.payload_type, self.ssrc
        out = []
        for i, payload in enumerate(item.payloads):
            packet = (
                pack_header(first, (0x80 | pt) if i == last else pt, seq, timestamp, ssrc)
                + extension
                + payload
            )
            history[seq % RTP_HISTORY] = packet
            out.append(protect(packet))
            seq = (seq + 1) & 0xFFFF
        self.sequence = seq
        protocol = pair.protocol
        if type(protocol) is StunProtocol and not self._slow:
            sendto = protocol.transport.sendto
            addr = pair.remote_addr
            for data in out:
                sendto(data, addr)
        else:
            for data in out:
                self._slow.append(data)
                self._slow_bytes += len(data)
            self.slow_packets += len(out)
            if self._slow_task is None or self._slow_task.done():
                self._slow_task = asyncio.ensure_future(self._drain())
        n = len(out)
        dtls._RTCDtlsTransport__tx_bytes += sum(map(len, out))  # type: ignore[attr-defined]
        dtls._RTCDtlsTransport__tx_packets += n  # type: ignore[attr-defined]
        self.packets += n
        self.octets += item.payload_bytes
        # What aiortc's loop keeps for its RTCP sender reports and getStats().
        sender = self.sender
        sender._RTCRtpSender__ntp_timestamp = ntp_time  # type: ignore[attr-defined]
        sender._RTCRtpSender__rtp_timestamp = timestamp  # type: ignore[attr-defined]
        sender._RTCRtpSender__packet_count = self.packets  # type: ignore[attr-defined]
        sender._RTCRtpSender__octet_count = self.octets  # type: ignore[attr-defined]
        return True

    async def _drain(self) -> None:
        while self._slow:
            data = self._slow.popleft()
            self._slow_bytes -= len(data)
            try:
                await self.connection.send(data)
            except ConnectionError:
                self._slow.clear()
                self._slow_bytes = 0
                return

    async def retransmit(self, sequence_number: int) -> None:
        """Answer a NACK: the packet again (wrapped in RTX when negotiated)."""
        packet = self.history[sequence_number % RTP_HISTORY]
        if packet is None or (packet[2] << 8 | packet[3]) != sequence_number:
            return
        if self.rtx_payload_type is not None:
            parsed = RtpPacket.parse(packet, self.extensions_map)
            packet = wrap_rtx(
                parsed,
                payload_type=self.rtx_payload_type,
                sequence_number=self.rtx_sequence,
                ssrc=self.sender._rtx_ssrc,
            ).serialize(self.extensions_map)
            self.rtx_sequence = (self.rtx_sequence + 1) & 0xFFFF
        self.retransmitted += 1
        await self.dtls._send_rtp(packet)


async def _run_rtp(sender: RTCRtpSender, track: PacketTrack, codec: RTCRtpCodecParameters) -> None:
    """Stands in for ``RTCRtpSender._run_rtp``: instead of pulling frames, register a
    writer that the fan-out pushes to, and wait to be stopped."""
    sender._RTCRtpSender__rtp_started.set()  # type: ignore[attr-defined]
    writer = RtpWriter(sender, codec)
    sender._retransmit = writer.retransmit  # type: ignore[method-assign]
    track.writer = writer
    try:
        await track.ended()
    except asyncio.CancelledError:
        pass
    finally:
        track.writer = None
        track.stop()
        sender._RTCRtpSender__rtp_exited.set()  # type: ignore[attr-defined]


def attach_sender(
    sender: RTCRtpSender, track: PacketTrack, request_keyframe: Callable[[], None]
) -> None:
    """Make ``sender`` take ``track``'s frames from the fan-out (not from its own task) and
    forward PLI/FIR to the shared encoder. Call before the offer is made."""
    sender._run_rtp = partial(_run_rtp, sender, track)  # type: ignore[method-assign]
    sender._send_keyframe = request_keyframe  # type: ignore[method-assign]


class PacketTrack(MediaStreamTrack):
    """A viewer's track. The fan-out offers it every frame; it passes the frame to the
    viewer's :class:`RtpWriter` unless the viewer waits for a keyframe or is behind."""

    def __init__(
        self, kind: str, on_resync: Callable[[], None], max_backlog: int = MAX_BACKLOG
    ) -> None:
        super().__init__()
        self.kind = kind
        self.max_backlog = max_backlog
        self._on_resync = on_resync
        self._need_key = kind == "video"
        self._ended: asyncio.Future[None] | None = None
        self.writer: RtpWriter | None = None
        self.sent = 0
        self.resyncs = 0
        self.dropped = 0
        self.bytes = 0

    def restart(self) -> None:
        """Start again from the next keyframe (a viewer that just connected)."""
        self._need_key = self.kind == "video"

    def offer(self, item: Encoded, ntp_time: int) -> None:
        writer = self.writer
        if writer is None or self.readyState != "live":
            return
        if self._need_key:
            if not item.is_keyframe:
                self.dropped += 1
                return
            self._need_key = False
        if writer.backlog() > self.max_backlog:
            # Behind: never buffer without bound. Video starts again at a keyframe;
            # audio just loses what it could not send in time.
            self.dropped += 1
            self.resyncs += 1
            if self.kind == "video":
                self._need_key = True
                self._on_resync()
            return
        if writer.write(item, ntp_time):
            self.sent += 1
            self.bytes += item.size
        else:
            self.dropped += 1

    async def recv(self) -> Encoded:  # type: ignore[override]
        # Frames are pushed to the writer; nothing pulls them.
        raise MediaStreamError

    async def ended(self) -> None:
        """Wait until the track is stopped."""
        if self.readyState != "live":
            return
        if self._ended is None:
            self._ended = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._ended)

    def stop(self) -> None:
        super().stop()
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(None)


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

    def _offer(self, tracks: set[PacketTrack], item: Encoded) -> None:
        ntp_time = _fast_ntp_time()  # one send time per frame, for every viewer
        for track in list(tracks):
            try:
                track.offer(item, ntp_time)
            except Exception:  # one viewer's broken connection must not stop the others
                log.exception("sending to a viewer failed; dropping that viewer's track")
                tracks.discard(track)
                track.stop()

    def on_video(self, packet: av.Packet[Any]) -> None:
        if packet.is_keyframe and self.codec is None:
            self.codec = avc_codec_string(bytes(packet))
        self.frames_out += 1
        if self.video_tracks:
            self._offer(self.video_tracks, Encoded.video(packet))
        if self.fallbacks:
            kind = KIND_KEY if packet.is_keyframe else KIND_VIDEO
            data = wire_message(kind, packet)  # built once for every fallback viewer
            for viewer in list(self.fallbacks):
                viewer.offer(kind, data)

    def on_audio(self, packet: av.Packet[Any]) -> None:
        if self.audio_tracks:
            self._offer(self.audio_tracks, Encoded.audio(packet))
        if self.fallbacks:
            data = wire_message(KIND_AUDIO, packet)
            for viewer in list(self.fallbacks):
                viewer.offer(KIND_AUDIO, data)
