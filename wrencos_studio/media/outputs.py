"""The one interface every destination of the encoded stream implements (a WebRTC viewer, a
WebSocket-fallback viewer; next a recorder, HLS, WHIP), and the frame the fan-out hands it.

Adding an output is one module: a class with :meth:`Output.offer`, :meth:`Output.close` and
:meth:`Output.stats`, and, if it needs the frame in a wire form of its own, a function that
builds that form from a :class:`MediaFrame` (passed to :meth:`MediaFrame.form`, so it is
built once per frame however many outputs of that kind there are).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

import av

__all__ = ["MediaFrame", "Output", "OutputStats"]

T = TypeVar("T")


class MediaFrame:
    """One encoded frame, as the fan-out offers it to every output: the packet (H.264 Annex B
    access unit, or one Opus packet), and each output-specific form of it built at most once."""

    __slots__ = ("_forms", "is_keyframe", "kind", "ntp_time", "packet")

    def __init__(
        self, kind: Literal["video", "audio"], packet: av.Packet[Any], ntp_time: int
    ) -> None:
        self.kind = kind
        self.packet = packet
        #: Audio packets count as keyframes: any of them can start a stream.
        self.is_keyframe = bool(packet.is_keyframe) if kind == "video" else True
        #: When the fan-out sent this frame (64-bit NTP), the same for every output.
        self.ntp_time = ntp_time
        self._forms: dict[Callable[[MediaFrame], Any], Any] = {}

    def form(self, build: Callable[[MediaFrame], T]) -> T:
        """``build(self)``, computed on the first call with that ``build`` and shared after."""
        forms = self._forms
        try:
            value: T = forms[build]
        except KeyError:
            value = forms[build] = build(self)
        return value


@dataclass(slots=True)
class OutputStats:
    """One output's figures, for the studio, ``/metrics`` and admins."""

    peer_id: str
    transport: str  # "webrtc", "fallback", ...
    state: str  # "new", "connecting", "connected", ...
    rtt_ms: float | None
    packets_lost: int
    bitrate_kbps: float
    resyncs: int  # times it fell behind and started again (at a keyframe, for video)
    frames_sent: int  # video frames
    bytes_sent: int  # encoded media bytes (payloads, without transport headers)


class Output(Protocol):
    """A destination of the encoded stream. The fan-out calls :meth:`offer` for every frame,
    on the event loop, in one synchronous pass over all outputs: it must not block or await.
    An output that falls behind drops frames and starts again at a keyframe on its own
    (bounded memory), asking the encoder for one through a callback it was given."""

    def offer(self, frame: MediaFrame) -> None:
        """Send, queue (bounded) or drop ``frame`` now. Raising drops this output."""

    def close(self) -> None:
        """Take no more frames; the output lets go of its connection in its own time."""

    def stats(self) -> OutputStats:
        """Figures as of now."""
