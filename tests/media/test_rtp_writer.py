"""The fan-out's own RTP path (RtpWriter) against a real aiortc viewer: what aiortc's sender
loop used to do — sender reports, round-trip time, getStats, NACK retransmissions — still
happens, over the direct UDP path and over aioice's awaitable send (used for TURN pairs)."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pylibsrtp
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from websockets.asyncio.client import connect

from tests.conftest import RunningHub
from wrencos_studio.media import aiortc_patch
from wrencos_studio.media.aiortc_patch import fast_ntp_time
from wrencos_studio.media.encoder import VideoSettings
from wrencos_studio.media.sources import parse_source

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("WRENCOS_NETNS") != "1",
        reason="media tests run only inside a private network namespace (./run-tests does it)",
    ),
]


class LossyUnprotect:
    """The viewer's SRTP session, losing the next packet of one stream (as a network would:
    before decryption, so the retransmission is not a replay)."""

    def __init__(self, inner: Any, ssrc: int) -> None:
        self.inner = inner
        self.ssrc = ssrc
        self.dropped: int | None = None

    def unprotect(self, data: bytes) -> bytes:
        if self.dropped is None and int.from_bytes(data[8:12]) == self.ssrc:
            self.dropped = int.from_bytes(data[2:4])
            raise pylibsrtp.Error("lost on purpose")
        return bytes(self.inner.unprotect(data))

    def unprotect_rtcp(self, data: bytes) -> bytes:
        return bytes(self.inner.unprotect_rtcp(data))


async def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check`` (a function, or a coroutine function) until it returns something true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("path", ["direct", "awaitable"])
async def test_writer_keeps_reports_stats_and_retransmissions(
    tmp_path: Path, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if path == "awaitable":
        # What a TURN pair gets (its protocol is not aioice's plain UDP StunProtocol):
        # every packet through aioice's Connection.send, in order.
        monkeypatch.setattr(aiortc_patch, "StunProtocol", type("NotPlainUdp", (), {}))
    hub = RunningHub(tmp_path / "d")
    await hub.start()
    assert hub.app is not None
    pc = RTCPeerConnection()
    frames = 0
    received: list[int] = []
    extensions: list[tuple[str | None, int | None]] = []
    readers: list[asyncio.Future[None]] = []

    async def read(track: Any) -> None:
        nonlocal frames
        try:
            while True:
                await track.recv()
                if track.kind == "video":
                    frames += 1
        except MediaStreamError:
            pass

    pc.on("track", lambda track: readers.append(asyncio.ensure_future(read(track))))
    try:
        b = await hub.app.start_broadcaster(
            parse_source("testsrc"), VideoSettings(320, 180, 30, 300_000)
        )
        async with connect(hub.url) as ws:
            await ws.send(json.dumps({"type": "register", "sessionId": "s-rtp"}))
            await ws.send(
                json.dumps({"type": "webrtc_register", "peerId": "rtp", "userType": "customer"})
            )
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("type") == "webrtc_offer":
                    break
            await pc.setRemoteDescription(RTCSessionDescription(**msg["offer"]))
            receiver = next(r for r in pc.getReceivers() if r.track.kind == "video")
            handle = receiver._handle_rtp_packet

            async def spy(packet: Any, arrival_time_ms: int) -> None:
                received.append(packet.sequence_number)
                extensions.append((packet.extensions.mid, packet.extensions.abs_send_time))
                await handle(packet, arrival_time_ms)

            receiver._handle_rtp_packet = spy  # type: ignore[method-assign]
            await pc.setLocalDescription(await pc.createAnswer())
            answer = {"type": "answer", "sdp": pc.localDescription.sdp}
            await ws.send(
                json.dumps({"type": "webrtc_answer", "to": msg["from"], "answer": answer})
            )

            await until(lambda: frames >= 30, 20, "30 decoded frames")
            viewer = b.viewers["rtp"]
            writer = viewer.video.writer
            assert writer is not None and writer.packets > 0
            assert writer.slow_packets == (0 if path == "direct" else writer.packets)
            assert viewer.video.sent >= 30 and viewer.video.dropped >= 0

            # Header extensions: the video mid, and a current abs-send-time (6.18 fixed-point
            # seconds of the NTP clock, modulo 64 s).
            mid, sent_at = extensions[-1]
            assert mid == next(t.mid for t in pc.getTransceivers() if t.kind == "video")
            assert sent_at is not None
            now = (fast_ntp_time() >> 14) & 0xFFFFFF
            assert (now - sent_at) % (1 << 24) < (1 << 18), "abs-send-time is not current"

            # Lose one packet on the way in: the viewer NACKs it and gets it again.
            dtls = receiver.transport
            lossy = LossyUnprotect(dtls._rx_srtp, writer.ssrc)
            dtls._rx_srtp = lossy
            await until(lambda: lossy.dropped is not None, 5, "a packet to lose")
            await until(lambda: lossy.dropped in received, 5, "the retransmission")
            assert writer.retransmitted >= 1
            retransmitted = writer.retransmitted
            # A NACK for something long gone is ignored, not answered with a wrong packet.
            stale = (writer.sequence - 5000) & 0xFFFF
            await receiver._send_rtcp_nack(writer.ssrc, [stale])
            await asyncio.sleep(0.3)
            assert writer.retransmitted == retransmitted and stale not in received

            # The viewer gets sender reports carrying our counters and a current clock.
            async def sender_report() -> Any:
                report = await receiver.getStats()
                return next((s for s in report.values() if s.type == "remote-outbound-rtp"), None)

            sr = await until(sender_report, 5, "an RTCP sender report")
            assert 0 < sr.packetsSent <= writer.packets and 0 < sr.bytesSent <= writer.octets
            age = time.time() - sr.remoteTimestamp.timestamp()
            assert -1 < age < 5, f"sender report clock is {age:.1f} s off"

            # Our getStats sees the packets, and receiver reports echo the SR: an RTT.
            sender = next(s for s in viewer.pc.getSenders() if s.kind == "video")
            out = next(s for s in (await sender.getStats()).values() if s.type == "outbound-rtp")
            assert out.packetsSent == writer.packets and out.bytesSent == writer.octets
            await until(lambda: viewer.rtt_ms is not None, 10, "a round-trip time")
            assert 0 <= viewer.rtt_ms < 500  # type: ignore[operator]
    finally:
        for r in readers:
            r.cancel()
        await pc.close()
        await hub.stop()  # stops the broadcaster first
