"""The comparison sender for bench/media_bench.py: the same test source sent through aiortc's
standard path, on the same hub signalling, so the same viewers (and probe) can watch it.

    aiortc_default_sender.py [--video-size 1280x720] [--fps 30] [--unbuffered-relay]

prints ``listening on http://127.0.0.1:PORT`` like ``wrencos-studio serve``, and serves until
SIGINT/SIGTERM. The hub runs in this process (as in tests/conftest.py RunningHub, on port 0,
data in ``$WRENCOS_DATA_DIR``); the sender is an in-process admin client of it, like
wrencos_studio.media.broadcaster.Broadcaster, but media go the way aiortc's examples send
them: one source track per kind, ``MediaRelay().subscribe(track)`` for each viewer and
``pc.addTrack`` of that proxy, so every viewer's ``RTCRtpSender`` runs its own encoder
(aiortc's H264Encoder: libx264, default preset, 1 Mbps start, REMB-driven; Opus for audio).
Video is forced to H.264 (packetization-mode=1) with ``setCodecPreferences``, as ours is.
No STUN/TURN server is configured.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import logging
import os
import secrets
import signal
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import candidate_from_sdp

from wrencos_studio.app import App
from wrencos_studio.config import Settings
from wrencos_studio.hub.local import LocalConnection
from wrencos_studio.hub.protocol import OutboundMessage
from wrencos_studio.media import aiortc_patch
from wrencos_studio.media.testsrc import AUDIO_RATE, BeepGenerator, TestPattern

log = logging.getLogger("aiortc_default_sender")

VIDEO_TIME_BASE = Fraction(1, 90000)


class TestSourceVideo(MediaStreamTrack):
    """The test pattern at ``fps``, paced on a fixed grid (frames dropped, never queued, when
    behind), drawn in a thread like our capture thread does; pts in 1/90000 s."""

    kind = "video"

    def __init__(self, width: int, height: int, fps: int, busy: bool = False) -> None:
        super().__init__()
        self.pattern = TestPattern(width, height, busy=busy)
        self.interval = 1.0 / fps
        self.t0: float | None = None
        self.index = 0
        self.frames = 0
        # Its own thread, like a camera: the default executor is where aiortc's encoders
        # run, and a source queued behind them would slow down with them.
        self._drawer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="testsrc")

    async def recv(self) -> av.VideoFrame:  # type: ignore[override]
        if self.readyState != "live":
            raise MediaStreamError
        if self.t0 is None:
            self.t0 = time.monotonic()
        while True:
            target = self.t0 + self.index * self.interval
            delay = target - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
                break
            if delay < -self.interval * 3:  # fell behind: skip ahead, stay live
                self.index = int((time.monotonic() - self.t0) / self.interval)
                continue
            break
        t = self.index * self.interval
        self.index += 1
        loop = asyncio.get_running_loop()
        frame = await loop.run_in_executor(self._drawer, self.pattern.frame)  # stamped now
        frame.pts = int(t * 90000)
        frame.time_base = VIDEO_TIME_BASE
        self.frames += 1
        return frame


class TestSourceAudio(MediaStreamTrack):
    """The beep, 20 ms frames on a fixed grid."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.beep = BeepGenerator()
        self.t0: float | None = None

    async def recv(self) -> av.AudioFrame:  # type: ignore[override]
        if self.readyState != "live":
            raise MediaStreamError
        if self.t0 is None:
            self.t0 = time.monotonic()
        target = self.t0 + self.beep.sample / AUDIO_RATE
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        return self.beep.frame()


class DefaultSender:
    """Broadcaster's signalling, aiortc's media path: MediaRelay + one encoder per viewer."""

    def __init__(
        self, app: App, width: int, height: int, fps: int, buffered: bool, busy: bool
    ) -> None:
        self.app = app
        self.video = TestSourceVideo(width, height, fps, busy)
        self.audio = TestSourceAudio()
        self.relay = MediaRelay()
        self.buffered = buffered
        self.peer_id = f"aiortc-{secrets.token_hex(4)}"
        self.pcs: dict[str, RTCPeerConnection] = {}
        self.client: LocalConnection | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self.client = self.app.connect_local(self._on_hub_message, "aiortc-sender")
        await self.client.register_admin("aiortc-sender")
        await self._say({"type": "webrtc_register", "peerId": self.peer_id, "userType": "admin"})
        await self._say({"type": "webrtc_broadcast_start", "peerId": self.peer_id})

    async def stop(self) -> None:
        if self.client is not None:
            await self._say({"type": "webrtc_broadcast_stop", "peerId": self.peer_id})
        for pc in list(self.pcs.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pc.close(), 5)
        self.pcs.clear()
        for task in list(self._tasks):
            task.cancel()
        self.video.stop()
        self.audio.stop()
        self.video._drawer.shutdown(wait=False)
        if self.client is not None:
            self.client.close()
            self.client = None

    async def _say(self, message: dict[str, Any]) -> None:
        assert self.client is not None
        await self.client.request(message)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_hub_message(self, typed: OutboundMessage) -> None:
        msg = typed.to_wire()  # the seed's shape, as a browser sender would see it
        kind = msg.get("type")
        if kind == "webrtc_new_customer":
            self._spawn(self._offer(str(msg["customerId"])))
        elif kind == "webrtc_answer":
            self._spawn(self._answer(msg))
        elif kind == "webrtc_ice_candidate":
            self._spawn(self._candidate(msg))
        elif kind == "error":
            log.warning("hub refused a sender message: %s", msg.get("message"))

    async def _offer(self, customer: str) -> None:
        old = self.pcs.pop(customer, None)
        if old is not None:
            await old.close()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pcs[customer] = pc
        pc.addTrack(self.relay.subscribe(self.video, buffered=self.buffered))
        pc.addTrack(self.relay.subscribe(self.audio, buffered=self.buffered))
        for transceiver in pc.getTransceivers():
            kind = transceiver.kind
            caps = RTCRtpSender.getCapabilities(kind).codecs
            wanted = "video/H264" if kind == "video" else "audio/opus"
            prefs = [c for c in caps if c.mimeType == wanted]
            if kind == "video":
                prefs = [
                    c for c in prefs if (c.parameters or {}).get("packetization-mode") in (1, "1")
                ] or prefs
            transceiver.setCodecPreferences(prefs)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed") and self.pcs.get(customer) is pc:
                del self.pcs[customer]
                with contextlib.suppress(Exception):
                    await pc.close()

        await pc.setLocalDescription(await pc.createOffer())
        await self._say(
            {
                "type": "webrtc_offer",
                "to": customer,
                "offer": {"type": "offer", "sdp": pc.localDescription.sdp},
            }
        )

    async def _answer(self, msg: dict[str, Any]) -> None:
        pc = self.pcs.get(str(msg.get("from")))
        answer = msg.get("answer")
        if pc is None or not isinstance(answer, dict) or not isinstance(answer.get("sdp"), str):
            return
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        except Exception as exc:
            log.warning("bad answer from %s: %s", msg.get("from"), exc)

    async def _candidate(self, msg: dict[str, Any]) -> None:
        pc = self.pcs.get(str(msg.get("from")))
        cand = msg.get("candidate")
        if pc is None or not isinstance(cand, dict) or not cand.get("candidate"):
            return
        with contextlib.suppress(Exception):
            candidate = candidate_from_sdp(str(cand["candidate"]).removeprefix("candidate:"))
            candidate.sdpMid = cand.get("sdpMid")
            candidate.sdpMLineIndex = cand.get("sdpMLineIndex")
            await pc.addIceCandidate(candidate)


async def run(width: int, height: int, fps: int, buffered: bool, busy: bool) -> int:
    data_dir = Path(os.environ.get("WRENCOS_DATA_DIR") or tempfile.mkdtemp(prefix="aiortc-bench-"))
    settings = Settings.from_env(
        host="127.0.0.1",
        port=0,
        data_dir=data_dir,
        jwt_secret=os.environ.get("WRENCOS_JWT_SECRET") or secrets.token_urlsafe(32),
    )
    # The same NTP clock our broadcaster installs, so the comparison is of the send paths.
    aiortc_patch.install_fast_ntp_clock()
    app = App(settings)
    await app.start()
    sender = DefaultSender(app, width, height, fps, buffered, busy)
    await sender.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"listening on http://127.0.0.1:{app.port}", flush=True)
    await stop.wait()
    await sender.stop()
    await app.stop()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video-size", default="1280x720", metavar="WxH")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument(
        "--unbuffered-relay",
        action="store_true",
        help="MediaRelay.subscribe(..., buffered=False): a slow viewer skips frames "
        "(aiortc's default, buffered=True, queues them without bound)",
    )
    parser.add_argument("--busy", action="store_true", help="the busy test picture")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    logging.basicConfig(level=getattr(logging, args.log_level), stream=sys.stderr)
    width, height = (int(x) for x in args.video_size.lower().split("x"))
    return asyncio.run(run(width, height, args.fps, not args.unbuffered_relay, args.busy))


if __name__ == "__main__":
    sys.exit(main())
