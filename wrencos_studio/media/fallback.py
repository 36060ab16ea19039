"""The fallback path for viewers whose WebRTC cannot connect (an HTTP tunnel carries the
WebSocket but not UDP): the same encoded packets over a WebSocket at ``/media``, for the
browser's WebCodecs decoders. Nothing is re-encoded or re-muxed.

Wire format (see docs/protocol.md): first one text message ``media_init`` with the
codecs, then binary messages ``kind (1 byte) | timestamp µs (8 bytes, big endian) |
payload``: kind 1 = video keyframe, 2 = video delta frame (H.264 Annex B access units,
SPS/PPS in every keyframe), 3 = audio (one Opus packet, 60 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import av
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from wrencos_studio.media.outputs import MediaFrame, OutputStats

__all__ = [
    "KIND_AUDIO",
    "KIND_KEY",
    "KIND_VIDEO",
    "FallbackViewer",
    "avc_codec_string",
    "wire_form",
    "wire_message",
]

log = logging.getLogger(__name__)

KIND_KEY, KIND_VIDEO, KIND_AUDIO = 1, 2, 3
_HEADER = struct.Struct(">BQ")
MAX_QUEUE_VIDEO = 60  # 2 s at 30 fps; further behind restarts at a keyframe


def wire_message(kind: int, packet: av.Packet[Any]) -> bytes:
    """One binary message: ``kind | timestamp µs | payload`` (see the module docstring)."""
    ts = int(packet.pts * packet.time_base * 1_000_000) if packet.pts is not None else 0
    return _HEADER.pack(kind, max(0, ts)) + bytes(packet)


def frame_kind(frame: MediaFrame) -> int:
    """The wire kind of a frame: KIND_KEY, KIND_VIDEO or KIND_AUDIO."""
    if frame.kind == "audio":
        return KIND_AUDIO
    return KIND_KEY if frame.is_keyframe else KIND_VIDEO


def wire_form(frame: MediaFrame) -> bytes:
    """The frame as one binary message: built once per frame for every fallback viewer."""
    return wire_message(frame_kind(frame), frame.packet)


def avc_codec_string(annexb: bytes) -> str | None:
    """``avc1.PPCCLL`` from the SPS in a keyframe (profile, constraints, level)."""
    i = 0
    while True:
        i = annexb.find(b"\x00\x00\x01", i)
        if i == -1 or i + 6 > len(annexb):
            return None
        nal = annexb[i + 3]
        if nal & 0x1F == 7:
            p, c, lvl = annexb[i + 4], annexb[i + 5], annexb[i + 6]
            return f"avc1.{p:02x}{c:02x}{lvl:02x}"
        i += 3


class FallbackViewer:
    """One WebSocket viewer: a bounded queue drained by its own sender task (:meth:`run`).
    An :class:`~wrencos_studio.media.outputs.Output` of the fan-out."""

    def __init__(
        self,
        conn: ServerConnection,
        init: Callable[[], dict[str, Any] | None],
        request_keyframe: Callable[[], None],
    ) -> None:
        self.conn = conn
        self.peer = (
            f"{conn.remote_address[0]}:{conn.remote_address[1]}" if (conn.remote_address) else "?"
        )
        self._init = init
        self._request_keyframe = request_keyframe
        self._queue: deque[tuple[int, bytes]] = deque()
        self._wake = asyncio.Event()
        self._need_key = True
        self._closed = False
        self.connected_at = time.monotonic()
        self.sent_frames = 0
        self.bytes = 0
        self.resyncs = 0
        self.bitrate_kbps = 0.0
        self._last_bytes = 0
        self._last_t = time.monotonic()

    def offer(self, frame: MediaFrame) -> None:
        self.offer_message(frame_kind(frame), frame.form(wire_form))

    def offer_message(self, kind: int, data: bytes) -> None:
        """Queue one wire message of ``kind``, or drop it (waiting for a keyframe; behind:
        the queue is emptied and the viewer starts again at a keyframe)."""
        if kind != KIND_AUDIO:
            if self._need_key:
                if kind != KIND_KEY:
                    return
                self._need_key = False
            video_queued = sum(1 for k, _ in self._queue if k != KIND_AUDIO)
            if video_queued >= MAX_QUEUE_VIDEO:
                self._queue.clear()
                self.resyncs += 1
                self._request_keyframe()
                if kind != KIND_KEY:
                    self._need_key = True
                    return
        elif self._need_key:
            return  # audio starts with the picture
        self._queue.append((kind, data))
        self._wake.set()

    def close(self) -> None:
        self._closed = True
        self._queue.clear()
        self._wake.set()

    def stats(self) -> OutputStats:
        return OutputStats(
            peer_id=self.peer,
            transport="fallback",
            state="connected",
            rtt_ms=None,
            packets_lost=0,
            bitrate_kbps=self.bitrate_kbps,
            resyncs=self.resyncs,
            frames_sent=self.sent_frames,
            bytes_sent=self.bytes,
        )

    async def run(self) -> None:
        """Send init, then frames, until the viewer leaves."""
        deadline = time.monotonic() + 10
        init = self._init()
        while init is None and time.monotonic() < deadline:  # no keyframe seen yet
            self._request_keyframe()
            await asyncio.sleep(0.1)
            init = self._init()
        if init is None:
            await self.conn.close(1011, "no video yet")
            return
        await self.conn.send(json.dumps(init))
        self._request_keyframe()
        reader = asyncio.ensure_future(self._read_until_closed())
        try:
            while not reader.done() and not self._closed:
                if not self._queue:
                    self._wake.clear()
                    waiter = asyncio.ensure_future(self._wake.wait())
                    await asyncio.wait({waiter, reader}, return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    continue
                _kind, data = self._queue.popleft()
                await self.conn.send(data)  # waits while the socket is backed up
                self.sent_frames += 1
                self.bytes += len(data)
                now = time.monotonic()
                if now - self._last_t >= 2.0:
                    self.bitrate_kbps = round(
                        (self.bytes - self._last_bytes) * 8 / (now - self._last_t) / 1000, 1
                    )
                    self._last_bytes, self._last_t = self.bytes, now
        except ConnectionClosed:
            pass
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await reader

    async def _read_until_closed(self) -> None:
        # The viewer says nothing we need; reading keeps pings and the close handshake going.
        with contextlib.suppress(ConnectionClosed):
            async for _ in self.conn:
                pass
