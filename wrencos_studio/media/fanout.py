"""Fan-out of the encoded stream: each frame is encoded once and offered to every output
(:mod:`.outputs`: WebRTC viewers, WebSocket-fallback viewers, ...) in one synchronous pass,
with no per-output task. The forms an output needs (RTP payloads, wire messages) are built
once per frame, by the first output that asks (:meth:`.MediaFrame.form`)."""

from __future__ import annotations

import logging
from typing import Any

import av

from wrencos_studio.media.aiortc_patch import fast_ntp_time
from wrencos_studio.media.fallback import avc_codec_string
from wrencos_studio.media.outputs import MediaFrame, Output

__all__ = ["Fanout"]

log = logging.getLogger(__name__)


class Fanout:
    """Hands every encoded frame to every output. ``on_video``/``on_audio`` are the
    encoder's callbacks, on the event loop."""

    def __init__(self) -> None:
        self.outputs: set[Output] = set()
        self.frames_out = 0
        #: Audio packets encoded so far (a stream without a microphone has none).
        self.audio_packets = 0
        #: ``avc1.PPCCLL`` of the stream, known from its first keyframe.
        self.codec: str | None = None

    def add(self, output: Output) -> None:
        """Offer ``output`` every frame from the next one on."""
        self.outputs.add(output)

    def remove(self, output: Output) -> None:
        """Stop offering ``output`` frames (no error if it was not added)."""
        self.outputs.discard(output)

    def _offer(self, frame: MediaFrame) -> None:
        for output in list(self.outputs):
            try:
                output.offer(frame)
            except Exception:  # one viewer's broken connection must not stop the others
                log.exception("sending to an output failed; dropping it")
                self.outputs.discard(output)
                output.close()

    def on_video(self, packet: av.Packet[Any]) -> None:
        """One encoded video frame (H.264 Annex B access unit)."""
        if packet.is_keyframe and self.codec is None:
            self.codec = avc_codec_string(bytes(packet))
        self.frames_out += 1
        if self.outputs:
            # One send time per frame, for every viewer.
            self._offer(MediaFrame("video", packet, fast_ntp_time()))

    def on_audio(self, packet: av.Packet[Any]) -> None:
        """One encoded audio packet (Opus)."""
        self.audio_packets += 1
        if self.outputs:
            self._offer(MediaFrame("audio", packet, fast_ntp_time()))
