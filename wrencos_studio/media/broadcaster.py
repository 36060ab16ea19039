"""The WebRTC broadcaster: an in-process admin client of the hub that offers the one encoded
stream to every customer peer, using the seed's signalling messages.

It knows the hub only as a :class:`SignallingChannel` (``request`` a client -> server
message) and through :meth:`Broadcaster.on_hub_message` (the hub's typed messages); the
composition root (``wrencos_studio/app.py``) connects the two and registers the channel
as staff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

from wrencos_studio.hub import protocol as p
from wrencos_studio.media import aiortc_patch
from wrencos_studio.media.encoder import VideoSettings
from wrencos_studio.media.fallback import FallbackViewer
from wrencos_studio.media.fanout import Fanout
from wrencos_studio.media.fmp4 import AacTrack
from wrencos_studio.media.live_fmp4 import AudioChoice, Fmp4Viewer, LivePackager
from wrencos_studio.media.outputs import Output, OutputStats
from wrencos_studio.media.sources import MediaPipeline, SourceSpec, aac_audio_specific_config
from wrencos_studio.media.webrtc import PacketTrack, WebRtcViewer, attach_sender
from wrencos_studio.media.whip import WhipPublisher

__all__ = ["Broadcaster", "SignallingChannel", "parse_ice_servers"]

log = logging.getLogger(__name__)

#: A viewer that has not connected by then is freed (the contract's Trust rules, rule 3).
CONNECT_TIMEOUT_S = 15.0


def parse_ice_servers(text: str | None) -> list[RTCIceServer]:
    """``stun:host:port,turn:user:pass@host:port`` (comma list); empty: none at all.
    Raises ValueError with a clear text for anything else."""
    servers: list[RTCIceServer] = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        scheme, _, rest = part.partition(":")
        if scheme not in ("stun", "stuns", "turn", "turns") or not rest:
            raise ValueError(
                f"not an ICE server: {part!r} (use stun:HOST:PORT or turn:USER:PASS@HOST:PORT)"
            )
        if part.startswith(("turn:", "turns:")) and "@" in part:
            scheme, _, rest = part.partition(":")
            cred, _, host = rest.rpartition("@")
            user, _, password = cred.partition(":")
            servers.append(
                RTCIceServer(urls=f"{scheme}:{host}", username=user, credential=password)
            )
        else:
            servers.append(RTCIceServer(urls=part))
    return servers


class SignallingChannel(Protocol):
    """An admin connection to the hub (``hub.local.LocalConnection`` in this process)."""

    async def request(self, message: dict[str, Any]) -> None:
        """Send one client -> server message (its JSON object)."""
        ...


def check_aiortc() -> bool:
    """Log a clear error for every aiortc/aioice internal our RTP path relies on that the
    installed versions lack (WebRTC viewers would fail in odd ways). True if all are there."""
    problems = aiortc_patch.check_internals()
    for problem in problems:
        log.error(
            "WebRTC viewers will not work with the installed %s: %s "
            "(install the versions pyproject.toml pins)",
            aiortc_patch.versions(),
            problem,
        )
    return not problems


class Broadcaster:
    """Goes live on the hub as a WebRTC peer and serves each customer peer an offer."""

    def __init__(
        self,
        spec: SourceSpec,
        video: VideoSettings | None = None,
        ice_servers: list[RTCIceServer] | None = None,
        max_viewers: int = 200,
    ) -> None:
        self.spec = spec
        self.video_settings = video or VideoSettings()
        self.ice_servers = ice_servers or []
        self.max_viewers = max_viewers
        self.peer_id = f"studio-{secrets.token_hex(4)}"
        self.viewers: dict[str, WebRtcViewer] = {}
        self.fallbacks: set[FallbackViewer] = set()
        self.pipeline: MediaPipeline | None = None
        self.fanout: Fanout | None = None
        #: Builds the fMP4 fragments of ``/media?f=fmp4`` once per frame (one per fan-out).
        self.packager: LivePackager | None = None
        self.channel: SignallingChannel | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._bytes_of_gone = 0  # bytes sent to viewers who left (bytesOut is a counter)
        self.announced = False
        #: Called on the capture thread with small RGB frames (~10 a second), for a preview.
        self.on_preview: Callable[[Any], None] | None = None
        #: Called on the capture thread with the audio peak level (0..1), for a meter.
        self.on_audio_level: Callable[[float], None] | None = None
        #: Microphone for camera sources (None: the environment's WRENCOS_MIC or default).
        self.microphone: str | None = None
        self._stats_task: asyncio.Task[None] | None = None
        #: Publishes the stream elsewhere while it is announced (WHIP egress, set by
        #: ``App``): added to the fan-out and started on announce, stopped on withdraw.
        self.whip: WhipPublisher | None = None

    # -- lifecycle -------------------------------------------------------------------

    async def start(self, channel: SignallingChannel, announce: bool = True) -> None:
        """Start capturing and encoding and register as a WebRTC peer on ``channel`` (an
        admin connection whose messages reach :meth:`on_hub_message`); with ``announce``
        also offer the stream to viewers (the studio starts without it, for its preview,
        and announces on Go Live)."""
        check_aiortc()
        aiortc_patch.install_fast_ntp_clock()
        loop = asyncio.get_running_loop()
        self.fanout = Fanout()
        self.packager = None
        self.pipeline = MediaPipeline(
            self.spec, self.video_settings, loop, self.fanout.on_video, self.fanout.on_audio
        )
        self.pipeline.on_preview = self.on_preview
        self.pipeline.on_audio_level = self.on_audio_level
        if self.microphone is not None:
            self.pipeline.microphone = self.microphone
        # Before Go Live only the preview runs: nothing is encoded until announce().
        self.pipeline.encoding = announce
        self.pipeline.start()
        self.channel = channel
        await self._say({"type": "webrtc_register", "peerId": self.peer_id, "userType": "admin"})
        if announce:
            await self.announce()
        self._stats_task = asyncio.create_task(self._poll_stats(), name="media-stats")
        log.info("broadcasting %s as peer %s", self.spec.kind, self.peer_id)

    async def announce(self) -> None:
        """Offer the stream: every customer peer, now and later, gets an offer."""
        self.announced = True
        if self.pipeline is not None:
            self.pipeline.set_encoding(True)
        await self._say({"type": "webrtc_broadcast_start", "peerId": self.peer_id})
        if self.whip is not None and self.fanout is not None:
            self.fanout.add(self.whip)
            self.whip.start()

    async def withdraw(self) -> None:
        """Stop offering the stream and let go of every viewer (capture goes on)."""
        if self.channel is not None and self.announced:
            await self._say({"type": "webrtc_broadcast_stop", "peerId": self.peer_id})
        self.announced = False
        if self.whip is not None:
            if self.fanout is not None:
                self.fanout.remove(self.whip)
            await self.whip.stop()  # DELETE the WHIP session: the show ended
        if self.pipeline is not None:
            self.pipeline.set_encoding(False)  # the preview needs no encoder
        for viewer in list(self.viewers.values()):
            self.viewers.pop(viewer.peer_id, None)
            await self._drop(viewer)
        for fallback in list(self.fallbacks):
            self.fallbacks.discard(fallback)
            if self.fanout is not None:
                self.fanout.remove(fallback)
            await fallback.conn.close(1001, "the broadcast ended")

    async def stop(self) -> None:
        if self._stats_task is not None:
            self._stats_task.cancel()
        await self.withdraw()
        for task in list(self._tasks):
            task.cancel()
        if self.pipeline is not None:
            await asyncio.to_thread(self.pipeline.stop)
        self.channel = None

    async def _say(self, message: dict[str, Any]) -> None:
        assert self.channel is not None
        await self.channel.request(message)

    def _request_keyframe(self) -> None:
        if self.pipeline is not None:
            self.pipeline.request_keyframe()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- signalling ------------------------------------------------------------------

    def on_hub_message(self, msg: p.OutboundMessage) -> None:
        """A message from the hub for this peer (called on the event loop's thread)."""
        if isinstance(msg, p.WebrtcCustomerLeft):
            viewer = self.viewers.pop(msg.customer_id, None)
            if viewer is not None:  # its connection closed or let the peer go: free it now
                self._spawn(self._drop(viewer))
        elif isinstance(msg, p.WebrtcNewCustomer):
            if self.announced:
                self._spawn(self._offer(msg.customer_id))
        elif isinstance(msg, p.WebrtcRelay):
            if msg.kind == "webrtc_answer":
                self._spawn(self._answer(msg.from_, msg.payload))
            elif msg.kind == "webrtc_ice_candidate":
                self._spawn(self._candidate(msg.from_, msg.payload))
        elif isinstance(msg, p.Error):
            log.warning("hub refused a broadcaster message: %s", msg.message)

    async def _offer(self, customer: str) -> None:
        old = self.viewers.pop(customer, None)
        if old is not None:  # the same peer again (a reconnect): start over
            await self._drop(old)
        if len(self.viewers) >= self.max_viewers:
            log.warning("viewer limit (%d) reached; not serving %s", self.max_viewers, customer)
            return
        assert self.fanout is not None
        pc = RTCPeerConnection(RTCConfiguration(iceServers=self.ice_servers))
        video = PacketTrack("video", self._request_keyframe)
        audio = PacketTrack("audio", lambda: None)
        viewer = WebRtcViewer(customer, pc, video, audio)
        self.viewers[customer] = viewer
        vsender = pc.addTrack(video)
        asender = pc.addTrack(audio)
        for transceiver in pc.getTransceivers():
            kind = transceiver.kind
            caps = RTCRtpSender.getCapabilities(kind).codecs
            wanted = "video/H264" if kind == "video" else "audio/opus"
            prefs = [c for c in caps if c.mimeType == wanted]
            if kind == "video":
                prefs = [c for c in prefs if "packetization-mode=1" in _fmtp(c)] or prefs
            transceiver.setCodecPreferences(prefs)
        attach_sender(vsender, video, self._request_keyframe)
        attach_sender(asender, audio, lambda: None)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            viewer.state = pc.connectionState
            if pc.connectionState == "connected":
                viewer.connected_at = time.monotonic()
                video.restart()
                self._request_keyframe()
            elif pc.connectionState in ("failed", "closed"):
                if self.viewers.get(customer) is viewer:
                    del self.viewers[customer]
                await self._drop(viewer)

        self.fanout.add(viewer)
        offer = await pc.createOffer()
        await pc.setLocalDescription(offer)
        await self._say(
            {
                "type": "webrtc_offer",
                "to": customer,
                "offer": {"type": "offer", "sdp": pc.localDescription.sdp},
            }
        )
        self._spawn(self._expire_if_unconnected(viewer))

    async def _expire_if_unconnected(self, viewer: WebRtcViewer) -> None:
        await asyncio.sleep(CONNECT_TIMEOUT_S)
        if viewer.connected_at is None and self.viewers.get(viewer.peer_id) is viewer:
            del self.viewers[viewer.peer_id]
            await self._drop(viewer)

    async def _answer(self, peer_id: str, answer: Any) -> None:
        viewer = self.viewers.get(peer_id)
        if viewer is None or not isinstance(answer, dict) or not isinstance(answer.get("sdp"), str):
            return
        try:
            await viewer.pc.setRemoteDescription(
                RTCSessionDescription(sdp=answer["sdp"], type="answer")
            )
        except Exception as exc:
            log.warning("bad answer from %s: %s", viewer.peer_id, exc)
            self.viewers.pop(viewer.peer_id, None)
            await self._drop(viewer)

    async def _candidate(self, peer_id: str, cand: Any) -> None:
        viewer = self.viewers.get(peer_id)
        if viewer is None or not isinstance(cand, dict):
            return
        text = cand.get("candidate")
        if not isinstance(text, str) or not text:
            return
        try:
            candidate = candidate_from_sdp(text.removeprefix("candidate:"))
            candidate.sdpMid = cand.get("sdpMid")
            candidate.sdpMLineIndex = cand.get("sdpMLineIndex")
            await viewer.pc.addIceCandidate(candidate)
        except Exception as exc:
            log.debug("ignoring candidate from %s: %s", viewer.peer_id, exc)

    async def _drop(self, viewer: WebRtcViewer) -> None:
        if viewer.video.readyState == "live":
            self._bytes_of_gone += viewer.bytes_sent
        if self.fanout is not None:
            self.fanout.remove(viewer)
        viewer.close()
        with contextlib.suppress(Exception):
            await viewer.pc.close()

    # -- the WebSocket fallback ------------------------------------------------------

    async def serve_fallback(self, conn: Any) -> None:
        """Serve one viewer over the WebSocket at ``/media`` until it leaves."""
        assert self.fanout is not None
        if not self.announced:
            # Capturing for the studio's preview is not broadcasting: nothing leaves.
            await conn.close(1008, "not live")
            return
        viewer: FallbackViewer
        audio = _fmp4_audio(conn)
        if audio is not None:
            packager = self.packager
            if packager is None:
                s = self.video_settings
                aac = AacTrack(aac_audio_specific_config())
                packager = self.packager = LivePackager(s.width, s.height, aac=aac)
            viewer = Fmp4Viewer(
                conn, lambda: self._fmp4_init(audio), self._request_keyframe, packager, audio
            )
            if audio == "aac":  # the one shared AAC encode runs while someone needs it
                packager.aac_viewers.add(viewer)
                if self.pipeline is not None:
                    self.pipeline.add_aac_sink(packager.on_aac)
        else:
            viewer = FallbackViewer(conn, self._fallback_init, self._request_keyframe)
        self.fallbacks.add(viewer)
        self.fanout.add(viewer)
        log.info("fallback viewer %s joined", viewer.peer)
        try:
            await viewer.run()
        finally:
            self.fallbacks.discard(viewer)
            self.fanout.remove(viewer)
            if self.packager is not None and viewer in self.packager.aac_viewers:
                self.packager.aac_viewers.discard(viewer)
                if not self.packager.aac_viewers and self.pipeline is not None:
                    self.pipeline.remove_aac_sink(self.packager.on_aac)
            self._bytes_of_gone += viewer.bytes
            log.info("fallback viewer %s left", viewer.peer)

    def _fallback_init(self) -> dict[str, Any] | None:
        if self.fanout is None or self.fanout.codec is None:
            return None
        s = self.video_settings
        return {
            "type": "media_init",
            "video": {
                "codec": self.fanout.codec,
                "width": s.width,
                "height": s.height,
                "fps": s.fps,
            },
            "audio": {"codec": "opus", "sampleRate": 48000, "numberOfChannels": 2},
        }

    def _fmp4_init(self, choice: AudioChoice = "opus") -> dict[str, Any] | None:
        init = self._fallback_init()
        if init is None or self.fanout is None:
            return None
        # Whether the stream has sound decides the init segment's tracks for good: in the
        # first second of a broadcast, wait for the first audio packet rather than leave
        # an early viewer without sound for the whole show.
        audio = choice != "none" and self.fanout.audio_packets > 0
        if choice != "none" and not audio and self.fanout.frames_out < self.video_settings.fps:
            return None
        codec = "mp4a.40.2" if choice == "aac" else "opus"
        codecs = init["video"]["codec"] + (f", {codec}" if audio else "")
        init["format"] = "fmp4"
        init["mime"] = f'video/mp4; codecs="{codecs}"'
        if not audio:
            init["audio"] = None
        else:
            init["audio"]["codec"] = codec
        return init

    # -- stats -----------------------------------------------------------------------

    async def _poll_stats(self) -> None:
        while True:
            await asyncio.sleep(2.0)
            for viewer in list(self.viewers.values()):
                await viewer.refresh_stats()

    def stats(self) -> dict[str, Any]:
        """Per viewer and overall figures, for the studio, /metrics and admins."""
        pipe = self.pipeline
        enc = pipe.video if pipe is not None else None
        outputs: list[Output] = [*self.viewers.values(), *self.fallbacks]
        figures = [o.stats() for o in outputs]
        return {
            "source": self.spec.kind,
            "error": pipe.error if pipe is not None else None,
            "audioError": pipe.audio_error if pipe is not None else None,
            "encodeFps": round(pipe.stats.fps, 1) if pipe is not None else 0.0,
            "encodeMsPerFrame": round(enc.encode_ms_total / enc.frames, 2)
            if enc is not None and enc.frames
            else 0.0,
            "keyframes": enc.keyframes if enc is not None else 0,
            "bytesOut": self._bytes_of_gone + sum(f.bytes_sent for f in figures),
            "viewersByTransport": {
                "webrtc": sum(1 for v in self.viewers.values() if v.state == "connected"),
                "fallback": len(self.fallbacks),
            },
            "viewers": [_viewer_entry(f) for f in figures],
            **({"whip": self.whip.status()} if self.whip is not None else {}),
        }


def _fmp4_audio(conn: Any) -> AudioChoice | None:
    """None unless the viewer asked for ``/media?f=fmp4`` (the Media Source rung); then
    the audio it asked for with ``&audio=``: ``opus`` (the default, also for a value not
    known here), ``aac`` or ``none``."""
    request = getattr(conn, "request", None)
    if request is None:
        return None
    query = parse_qs(urlsplit(request.path).query)
    if query.get("f", [""])[0] != "fmp4":
        return None
    audio = query.get("audio", ["opus"])[0]
    return audio if audio in ("aac", "none") else "opus"


def _viewer_entry(stats: OutputStats) -> dict[str, Any]:
    return {
        "peerId": stats.peer_id,
        "transport": stats.transport,
        "state": stats.state,
        "rttMs": stats.rtt_ms,
        "packetsLost": stats.packets_lost,
        "bitrateKbps": stats.bitrate_kbps,
        "resyncs": stats.resyncs,
        "framesSent": stats.frames_sent,
    }


def _fmtp(codec: Any) -> str:
    params = getattr(codec, "parameters", {}) or {}
    return ";".join(f"{k}={v}" for k, v in params.items())
