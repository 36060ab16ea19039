"""Viewers for bench/media_bench.py, in their own process: many cheap "light" viewers, or the one
decoding viewer (wrencos_studio.media.probe.watch) that measures glass-to-glass latency.

    light_viewer.py ws://127.0.0.1:PORT --viewers 10      # light: count RTP, never decode
    light_viewer.py ws://127.0.0.1:PORT --decode          # one decoding probe viewer

Both join like a browser (register, webrtc_register as customer, answer the broadcaster's
offer) with aiortc, without any STUN/TURN server. The process is driven over stdin/stdout:
each ``snap`` line on stdin is answered by one JSON line on stdout with the counters so far
(and ``time.monotonic()``, which is comparable across processes); ``quit`` (or EOF) closes
every peer connection and exits.

The light viewers' hook (aiortc 1.16): every RTP packet a peer connection receives goes
``RTCDtlsTransport._handle_rtp_data`` (SRTP unprotect, ``RtpPacket.parse``) ->
``RtpRouter.route_rtp`` -> ``await receiver._handle_rtp_packet(packet, arrival_time_ms=...)``.
Right after ``setRemoteDescription`` (the transceivers and their ``RTCRtpReceiver`` exist;
the transports only start in a task afterwards, so no packet can have arrived) each receiver
gets an instance attribute ``_handle_rtp_packet`` that counts packets, bytes, frames (RTP
marker bits and distinct timestamps) and sequence gaps, and returns. So everything aiortc
does below the receiver still runs (ICE, DTLS, SRTP, RTP parsing), and everything above it
never does: no depayloading, no jitter buffer, no decoder (the decoder thread is started by
``receive()`` but idles on its empty queue). Consequence: light viewers send no RTCP feedback
at all (no receiver reports, REMB, NACK or PLI) — for the sender they are silent viewers;
the decoding viewer is a full aiortc receiver and sends all of it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import secrets
import sys
import time
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from websockets.asyncio.client import connect

CONNECT_TIMEOUT_S = 30.0


class RtpCounter:
    """Counts one receiver's RTP stream (ignores RTX, which only a NACK would trigger)."""

    __slots__ = (
        "bytes",
        "first_frame_t",
        "frames",
        "last_ts",
        "max_seq",
        "packets",
        "receiver",
        "rtx_types",
        "seq_base",
        "timestamps",
    )

    def __init__(self, receiver: Any) -> None:
        self.receiver = receiver
        self.packets = 0
        self.bytes = 0
        self.frames = 0  # marker bits: the last packet of each video frame
        self.timestamps = 0  # distinct RTP timestamps (a cross-check of ``frames``)
        self.last_ts: int | None = None
        self.first_frame_t: float | None = None
        self.seq_base: int | None = None  # extended sequence numbers, for loss
        self.max_seq = 0
        self.rtx_types: set[int] | None = None

    async def handle(self, packet: Any, arrival_time_ms: int = 0) -> None:
        if self.rtx_types is None:
            codecs = getattr(self.receiver, "_RTCRtpReceiver__codecs", {}) or {}
            self.rtx_types = {pt for pt, c in codecs.items() if c.name.lower() == "rtx"}
        if packet.payload_type in self.rtx_types:
            return
        self.packets += 1
        self.bytes += len(packet.payload)
        seq = packet.sequence_number
        if self.seq_base is None:
            self.seq_base = self.max_seq = seq
        else:
            ext = self.max_seq + ((seq - self.max_seq + 32768) % 65536 - 32768)
            if ext > self.max_seq:
                self.max_seq = ext
        if packet.timestamp != self.last_ts:
            self.last_ts = packet.timestamp
            self.timestamps += 1
        if packet.marker:
            self.frames += 1
            if self.first_frame_t is None:
                self.first_frame_t = time.monotonic()

    def snapshot(self) -> dict[str, Any]:
        expected = 0 if self.seq_base is None else self.max_seq - self.seq_base + 1
        return {
            "packets": self.packets,
            "bytes": self.bytes,
            "frames": self.frames,
            "timestamps": self.timestamps,
            "lost": max(0, expected - self.packets),
            "firstFrameT": self.first_frame_t,
        }


class LightViewer:
    def __init__(self, url: str) -> None:
        self.url = url
        self.peer_id = f"light-{secrets.token_hex(4)}"
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.counters: dict[str, RtpCounter] = {}
        self.started = time.monotonic()
        self.offer_t: float | None = None
        self.error: str | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            async with connect(self.url, max_size=2**20) as ws:
                await ws.send(json.dumps({"type": "register", "sessionId": f"s-{self.peer_id}"}))
                await ws.send(
                    json.dumps(
                        {"type": "webrtc_register", "peerId": self.peer_id, "userType": "customer"}
                    )
                )
                async for raw in ws:
                    msg = json.loads(raw)
                    if msg.get("type") != "webrtc_offer":
                        continue
                    self.offer_t = time.monotonic()
                    await self.pc.setRemoteDescription(RTCSessionDescription(**msg["offer"]))
                    for transceiver in self.pc.getTransceivers():
                        receiver = transceiver.receiver
                        counter = RtpCounter(receiver)
                        self.counters[transceiver.kind] = counter
                        receiver._handle_rtp_packet = counter.handle  # the hook (see above)
                    await self.pc.setLocalDescription(await self.pc.createAnswer())
                    await ws.send(
                        json.dumps(
                            {
                                "type": "webrtc_answer",
                                "to": msg["from"],
                                "answer": {"type": "answer", "sdp": self.pc.localDescription.sdp},
                            }
                        )
                    )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # reported in the snapshot, never fatal for the others
            self.error = f"{type(exc).__name__}: {exc}"

    def snapshot(self) -> dict[str, Any]:
        video = self.counters.get("video")
        audio = self.counters.get("audio")
        return {
            "peerId": self.peer_id,
            "state": self.pc.connectionState,
            "error": self.error,
            "video": video.snapshot() if video else None,
            "audioPackets": audio.packets if audio else 0,
            "startedT": self.started,
        }

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pc.close(), 5)


class DecodingViewer:
    """``probe.watch`` as is, observed through its module globals: ``read_stamp`` is wrapped
    to time every decoded frame, and ``RTCPeerConnection`` gets an empty ICE server list
    (aiortc's default would be a public STUN server)."""

    def __init__(self, url: str) -> None:
        from wrencos_studio.media import probe
        from wrencos_studio.media.testsrc import stamp_age_ms

        self.url = url
        self.frames = 0
        self.stamped = 0
        self.first_frame_t: float | None = None
        self.latencies: list[float] = []  # since the previous snapshot
        self.result: dict[str, Any] | None = None
        self.error: str | None = None
        original = probe.read_stamp

        def read_stamp(frame: Any) -> int | None:
            stamp = original(frame)
            self.frames += 1
            if self.first_frame_t is None:
                self.first_frame_t = time.monotonic()
            if stamp is not None:
                self.stamped += 1
                self.latencies.append(stamp_age_ms(stamp))
            return stamp

        probe.read_stamp = read_stamp
        probe.RTCPeerConnection = lambda: RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._probe = probe
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            # Watches "forever": the bench ends it with ``quit`` once its window is over.
            self.result = await self._probe.watch(self.url, seconds=3600)
            self.error = self.result.get("error")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def snapshot(self) -> dict[str, Any]:
        lat, self.latencies = self.latencies, []
        return {
            "frames": self.frames,
            "stamped": self.stamped,
            "firstFrameT": self.first_frame_t,
            "error": self.error,
            "latenciesMs": lat,
        }

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._task, 10)


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--viewers", type=int, default=1, help="light viewers in this process")
    parser.add_argument("--decode", action="store_true", help="one decoding probe viewer")
    parser.add_argument(
        "--nice", type=int, default=0, help="lower this process's CPU priority (a load generator)"
    )
    args = parser.parse_args(argv)
    if args.nice > 0:
        os.nice(args.nice)
        # With autogroup scheduling each session competes as a whole, whatever its nice:
        # lower this session's weight too (a no-op where autogroup is off or unwritable).
        with contextlib.suppress(OSError), open("/proc/self/autogroup", "w") as fh:
            fh.write(str(args.nice))

    viewers: list[Any]
    if args.decode:
        viewers = [DecodingViewer(args.url)]
    else:
        viewers = [LightViewer(args.url) for _ in range(args.viewers)]
    for v in viewers:
        v.start()
    try:
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            cmd = line.strip()
            if not line or cmd == "quit":
                break
            if cmd == "snap":
                out = {
                    "t": time.monotonic(),
                    "cpuS": _cpu_s(),
                    "viewers": [v.snapshot() for v in viewers],
                }
                sys.stdout.write(json.dumps(out) + "\n")
                sys.stdout.flush()
    finally:
        await asyncio.gather(*(v.close() for v in viewers), return_exceptions=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main(sys.argv[1:])))
