"""WebRTC viewers as fan-out outputs: each frame is cut into RTP payloads once, and every
viewer's packets are written to its socket synchronously, with no per-viewer task.

aiortc's ``RTCRtpSender`` runs one task per viewer and track and awaits its way to
``sendto`` per packet; at 20 viewers that cost as much CPU as the whole encode. We keep
aiortc for everything around the media (SDP, ICE, DTLS, RTCP, NACK, stats) and replace only
the sender's RTP loop (:func:`attach_sender`, through :mod:`.aiortc_patch`, which holds every
use of aiortc's internals): the loop registers an :class:`RtpWriter` with the viewer's
:class:`PacketTrack`, and the fan-out offers each frame to every :class:`WebRtcViewer`. A
writer builds the RTP header with ``struct``, protects it with the connection's SRTP session
and hands it to the selected candidate pair's UDP socket; it keeps the sender's counters
(RTCP sender reports, ``getStats``) and a history for NACK retransmissions.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av
from aiortc import RTCPeerConnection, RTCRtpCodecParameters, RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.utils import random32

from wrencos_studio.media.aiortc_patch import SenderLink, h264_payloads, install_rtp_loop
from wrencos_studio.media.outputs import MediaFrame, OutputStats

__all__ = [
    "MAX_BACKLOG",
    "Encoded",
    "PacketTrack",
    "RtpWriter",
    "WebRtcViewer",
    "attach_sender",
    "rtp_form",
]

VIDEO_CLOCK = Fraction(1, 90000)
AUDIO_CLOCK = Fraction(1, 48000)
#: Bytes a viewer's socket may hold unsent before we treat the viewer as behind (~1.5 s
#: at 2.5 Mbps). UDP rarely pushes back; when it does, we stop adding rather than buffer.
MAX_BACKLOG = 512 * 1024
RTP_HISTORY = 512  # packets kept per stream for NACK retransmissions (~1.5 s of 720p30)

_RTP_HEADER = struct.Struct("!BBHLL")


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
        ts = int(packet.pts * packet.time_base / VIDEO_CLOCK) if packet.pts is not None else 0
        return cls(h264_payloads(data), ts, bool(packet.is_keyframe), len(data))

    @classmethod
    def audio(cls, packet: av.Packet[Any]) -> Encoded:
        data = bytes(packet)
        ts = int(packet.pts * packet.time_base / AUDIO_CLOCK) if packet.pts is not None else 0
        return cls([data], ts, True, len(data))


def rtp_form(frame: MediaFrame) -> Encoded:
    """The frame's RTP payloads, timestamp (media clock) and size: built once per frame."""
    return Encoded.video(frame.packet) if frame.kind == "video" else Encoded.audio(frame.packet)


class RtpWriter:
    """One viewer's RTP stream of one kind (one ``RTCRtpSender``), written synchronously."""

    def __init__(self, link: SenderLink, codec: RTCRtpCodecParameters) -> None:
        self.link = link
        assert codec.payloadType is not None  # set by the negotiation before send()
        self.payload_type: int = codec.payloadType
        self.ssrc = link.ssrc
        self.sequence = random_sequence_number()
        self.timestamp_origin = random32()
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
        zero = link.header_extension_block(0)
        ones = link.header_extension_block(0xFFFFFF)
        if zero == ones:  # abs-send-time not negotiated: the block never changes
            self._ext_prefix, self._ext_suffix, self._ext_time = zero, b"", False
        else:
            i = next(i for i in range(len(zero)) if zero[i] != ones[i])
            assert ones[i : i + 3] == b"\xff\xff\xff" and zero[i + 3 :] == ones[i + 3 :]
            self._ext_prefix, self._ext_suffix, self._ext_time = zero[:i], zero[i + 3 :], True

    def backlog(self) -> int:
        """Bytes accepted for this viewer but not yet handed to the kernel."""
        return self.link.write_buffer_size() + self._slow_bytes

    def write(self, item: Encoded, ntp_time: int) -> bool:
        """Send one frame's packets now (``ntp_time``: the frame's send time, 64-bit NTP).
        False if the connection cannot carry them."""
        link = self.link
        protect = link.srtp_protect()
        if protect is None:
            return False
        pair = link.selected_pair()
        if pair is None:
            return False
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
        if self._slow or not link.send_direct(pair, out):
            for data in out:
                self._slow.append(data)
                self._slow_bytes += len(data)
            self.slow_packets += len(out)
            if self._slow_task is None or self._slow_task.done():
                self._slow_task = asyncio.ensure_future(self._drain())
        n = len(out)
        link.count_sent(n, sum(map(len, out)))
        self.packets += n
        self.octets += item.payload_bytes
        # What aiortc's loop kept for its RTCP sender reports and getStats().
        link.record_report(ntp_time, timestamp, self.packets, self.octets)
        return True

    async def _drain(self) -> None:
        while self._slow:
            data = self._slow.popleft()
            self._slow_bytes -= len(data)
            try:
                await self.link.send_via_ice(data)
            except ConnectionError:
                self._slow.clear()
                self._slow_bytes = 0
                return

    async def retransmit(self, sequence_number: int) -> None:
        """Answer a NACK: the packet again (wrapped in RTX when negotiated)."""
        packet = self.history[sequence_number % RTP_HISTORY]
        if packet is None or (packet[2] << 8 | packet[3]) != sequence_number:
            return
        if self.link.rtx_payload_type is not None:
            packet = self.link.rtx_packet(packet, self.rtx_sequence)
            self.rtx_sequence = (self.rtx_sequence + 1) & 0xFFFF
        self.retransmitted += 1
        await self.link.send_rtp(packet)


def attach_sender(
    sender: RTCRtpSender, track: PacketTrack, request_keyframe: Callable[[], None]
) -> None:
    """Make ``sender`` take ``track``'s frames from the fan-out (not from its own task) and
    forward PLI/FIR to the shared encoder. Call before the offer is made."""

    async def run(link: SenderLink, codec: RTCRtpCodecParameters) -> None:
        # Instead of pulling frames: register a writer the fan-out pushes to, and wait.
        writer = RtpWriter(link, codec)
        link.answer_nacks(writer.retransmit)
        track.writer = writer
        try:
            await track.ended()
        except asyncio.CancelledError:
            pass
        finally:
            track.writer = None
            track.stop()

    install_rtp_loop(sender, run, request_keyframe)


class PacketTrack(MediaStreamTrack):
    """A viewer's track of one kind. It passes each frame offered to the viewer's
    :class:`RtpWriter` unless the viewer waits for a keyframe or is behind."""

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
        """Write ``item`` now, or drop it (not connected, waiting for a keyframe, behind)."""
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


@dataclass(slots=True, eq=False)
class WebRtcViewer:
    """One customer's peer connection: a video and an audio :class:`PacketTrack`, and its
    figures. An :class:`~wrencos_studio.media.outputs.Output` of the fan-out."""

    peer_id: str
    pc: RTCPeerConnection
    video: PacketTrack
    audio: PacketTrack
    created: float = field(default_factory=time.monotonic)
    connected_at: float | None = None
    state: str = "new"
    rtt_ms: float | None = None
    packets_lost: int = 0
    bitrate_kbps: float = 0.0
    last_bytes: int = 0
    last_t: float = 0.0

    @property
    def bytes_sent(self) -> int:
        """Encoded media bytes sent so far, both kinds."""
        return self.video.bytes + self.audio.bytes

    def offer(self, frame: MediaFrame) -> None:
        track = self.video if frame.kind == "video" else self.audio
        if track.writer is not None:  # connected: the payloads are worth building
            track.offer(frame.form(rtp_form), frame.ntp_time)

    def close(self) -> None:
        self.video.stop()
        self.audio.stop()

    def stats(self) -> OutputStats:
        return OutputStats(
            peer_id=self.peer_id,
            transport="webrtc",
            state=self.state,
            rtt_ms=self.rtt_ms,
            packets_lost=self.packets_lost,
            bitrate_kbps=self.bitrate_kbps,
            resyncs=self.video.resyncs,
            frames_sent=self.video.sent,
            bytes_sent=self.bytes_sent,
        )

    async def refresh_stats(self) -> None:
        """Read round-trip time and loss from the viewer's receiver reports (``getStats``),
        and the bitrate since the last call. Does nothing before the viewer connected."""
        if self.connected_at is None:
            return
        with contextlib.suppress(Exception):
            report = await self.pc.getStats()
            for stat in report.values():
                if stat.type == "remote-inbound-rtp" and stat.kind == "video":
                    if stat.roundTripTime is not None:
                        self.rtt_ms = round(stat.roundTripTime * 1000, 1)
                    self.packets_lost = int(stat.packetsLost or 0)
        now = time.monotonic()
        total = self.bytes_sent
        if self.last_t:
            self.bitrate_kbps = round((total - self.last_bytes) * 8 / (now - self.last_t) / 1000, 1)
        self.last_bytes, self.last_t = total, now
