"""The Media Source rung of the page's ladder: the encoder's packets as fragmented MP4 over
the WebSocket at ``/media?f=fmp4``, for ``MediaSource``/``ManagedMediaSource`` in any
context (no secure context needed, unlike WebCodecs). The video is never re-encoded; the
audio is the fan-out's Opus, or, with ``&audio=aac`` (Safari and iOS play AAC in MP4 but
not Opus), the packets of the pipeline's one shared AAC encode.

Wire format (docs/protocol.md, "Media over the WebSocket"): first one text message
``media_init`` with ``format: "fmp4"`` and the ``mime`` to give ``addSourceBuffer``; then
binary messages, each one or more complete top-level MP4 boxes to append as they come:
at every keyframe the init segment (``ftyp``+``moov``) followed by that frame's fragment,
otherwise one ``moof``+``mdat`` per video frame, per Opus packet (60 ms) or per
``AAC_PER_FRAGMENT`` AAC packets (64 ms). The first binary message therefore starts with
the init segment and a keyframe.

One :class:`LivePackager` per fan-out builds each fragment once (with the one box writer,
:func:`~wrencos_studio.media.fmp4.fragment`) for every viewer; each :class:`Fmp4Viewer`
reuses the WebSocket fallback's bounded queue and resync rule.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import av
from websockets.asyncio.server import ServerConnection

from wrencos_studio.media.fallback import KIND_AUDIO, KIND_KEY, KIND_VIDEO, FallbackViewer
from wrencos_studio.media.fmp4 import (
    AAC_FRAME_SAMPLES,
    AUDIO_TRACK_ID,
    OPUS_PRE_SKIP,
    VIDEO_TRACK_ID,
    AacTrack,
    OpusTrack,
    Sample,
    Track,
    TrackRun,
    TrackTimeline,
    VideoTrack,
    annexb_to_avcc,
    fragment,
    init_segment,
    opus_samples,
    parameter_sets,
)
from wrencos_studio.media.outputs import MediaFrame, OutputStats

__all__ = ["AAC_PER_FRAGMENT", "AudioChoice", "Fmp4Viewer", "LiveFragment", "LivePackager"]

#: Each video sample's duration is the frame interval times this (see LivePackager.form):
#: gaps of up to twice as much stay one buffered range in MSE.
VIDEO_DURATION_STRETCH = 4
#: AAC packets (1024 samples, 21.3 ms each) per fragment: 64 ms, about as often as the
#: 60 ms Opus packets, so a viewer gets ~16 audio messages a second, not 47.
AAC_PER_FRAGMENT = 3
#: What a viewer of ``/media?f=fmp4`` asked for with ``&audio=``.
AudioChoice = Literal["opus", "aac", "none"]


@dataclass(frozen=True, slots=True)
class LiveFragment:
    """One ``moof``+``mdat`` (``data``) of a video frame or of audio; for a keyframe also
    its SPS/PPS (``parameter_sets``, Annex B) so a viewer can be sent the matching init
    segment."""

    data: bytes
    keyframe: bool
    kind: str
    parameter_sets: bytes = b""


class LivePackager:
    """Turns the fan-out's frames (and the shared AAC packets) into fMP4 fragments on one
    timeline shared by every viewer: each track's packet timestamps are anchored to the
    wall clock at its first packet (video 90 kHz, audio 48 kHz, counted from this
    packager's creation), so audio and video line up however long the encoders ran
    before, and re-anchored if they jump by more than ``RESYNC_AFTER_S`` (a new source).
    Runs on the event loop; not thread-safe. ``width``/``height``: the encoded picture
    (the encoder's settings); ``aac``: the AAC track (the shared encoder's
    AudioSpecificConfig), None when this stream has no AAC encode."""

    def __init__(
        self,
        width: int,
        height: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        aac: AacTrack | None = None,
    ) -> None:
        self.width = width
        self.height = height
        self.aac = aac
        self._timeline = TrackTimeline(clock(), clock)
        self._last: dict[str, int] = {"video": -1, "audio": -1, "aac": -1}
        self._sequence = itertools.count(1)
        self._inits: dict[tuple[bytes, str], bytes] = {}
        self._aac_waiting: list[tuple[bytes, int]] = []
        #: The viewers that asked for AAC: :meth:`on_aac` hands them each AAC fragment.
        self.aac_viewers: set[Fmp4Viewer] = set()
        self.fragments = 0

    @property
    def resyncs(self) -> int:
        """Times a track was anchored to the clock again (a new source or encoder)."""
        return self._timeline.resyncs

    def _media_time(self, kind: str, pts: int) -> int:
        """``pts`` on the shared timeline, always after the track's previous sample."""
        value = self._timeline(kind, pts)
        if value <= self._last[kind]:
            value = self._last[kind] + 1
        self._last[kind] = value
        return value

    def _fragment(self, track_id: int, decode_time: int, samples: list[Sample]) -> bytes:
        self.fragments += 1
        return fragment(next(self._sequence), [TrackRun(track_id, decode_time, samples)])

    def form(self, frame: MediaFrame) -> LiveFragment:
        """The fragment of a video frame or Opus packet; pass this bound method to
        ``frame.form`` so it is built once per frame for all viewers. Raises
        ``ValueError`` on an empty packet."""
        data = bytes(frame.packet)
        pts = frame.packet.pts if frame.packet.pts is not None else 0
        if frame.kind == "audio":
            t = self._media_time("audio", pts + OPUS_PRE_SKIP)
            sample = Sample(data, opus_samples(data))
            return LiveFragment(self._fragment(AUDIO_TRACK_ID, t, [sample]), True, "audio")
        # A frame's duration is not known until the next one; the nominal one, stretched,
        # is written so that a few frames the source skipped under load (the test pattern
        # and cameras skip ahead when behind) stay one buffered range: MSE takes a decode
        # time more than twice the last duration later as a discontinuity and, in
        # ``segments`` mode, drops everything up to the next keyframe (W3C MSE, coded frame
        # processing, step 6). The picture is unaffected: frames are shown at their time.
        duration = (int(frame.packet.duration or 0) or 3000) * VIDEO_DURATION_STRETCH
        t = self._media_time("video", pts)
        key = frame.is_keyframe
        sample = Sample(annexb_to_avcc(data), duration, key)
        sets = parameter_sets(data) if key else b""
        return LiveFragment(self._fragment(VIDEO_TRACK_ID, t, [sample]), key, "video", sets)

    def on_aac(self, packet: av.Packet[Any]) -> None:
        """One packet of the shared AAC encode (a sink of
        ``sources.MediaPipeline.add_aac_sink``, on the event loop): every
        ``AAC_PER_FRAGMENT`` packets make one fragment, built once and offered to each of
        :attr:`aac_viewers`. A jump in the packets' clock starts a new fragment."""
        data = bytes(packet)
        if not data or self.aac is None:
            return
        t = self._media_time("aac", packet.pts if packet.pts is not None else 0)
        waiting = self._aac_waiting
        if waiting and t != waiting[-1][1] + AAC_FRAME_SAMPLES:
            self._aac_flush()
        waiting.append((data, t))
        if len(waiting) >= AAC_PER_FRAGMENT:
            self._aac_flush()

    def _aac_flush(self) -> None:
        waiting, self._aac_waiting = self._aac_waiting, []
        if not waiting or self.aac is None:
            return
        samples = [Sample(d, AAC_FRAME_SAMPLES) for d, _ in waiting]
        piece = LiveFragment(
            self._fragment(self.aac.track_id, waiting[0][1], samples), True, "audio"
        )
        for viewer in list(self.aac_viewers):
            viewer.offer_aac(piece)

    def init(self, sets: bytes, audio: AudioChoice) -> bytes:
        """The init segment for SPS/PPS ``sets`` with the ``audio`` track (``none``: video
        only), built once per distinct pair. ``ValueError`` without an SPS, or for AAC
        on a packager without it."""
        key = (sets, audio)
        init = self._inits.get(key)
        if init is None:
            if len(self._inits) > 8:  # qualities come and go: keep few
                self._inits.clear()
            tracks: list[Track] = [VideoTrack.from_keyframe(sets, self.width, self.height)]
            if audio == "opus":
                tracks.append(OpusTrack())
            elif audio == "aac":
                if self.aac is None:
                    raise ValueError("this stream has no AAC encode")
                tracks.append(self.aac)
            init = self._inits[key] = init_segment(tracks)
        return init


class Fmp4Viewer(FallbackViewer):
    """One viewer of ``/media?f=fmp4``: like :class:`FallbackViewer` (bounded queue, starts
    and restarts at a keyframe, one sender task) but each message is MP4 boxes.

    ``init`` returns the ``media_init`` message (None while it cannot be made yet); its
    ``audio`` (None or not) fixes, for this viewer, whether the init segments have an
    audio track (:attr:`audio`). ``audio_codec`` is what the viewer asked for: Opus
    fragments come from the fan-out (:meth:`offer`), AAC ones from the packager
    (:meth:`offer_aac`; the broadcaster adds the viewer to ``packager.aac_viewers``).
    Nothing is queued before ``media_init``; afterwards audio fragments are dropped for a
    viewer without the track (MSE would refuse them)."""

    def __init__(
        self,
        conn: ServerConnection,
        init: Callable[[], dict[str, Any] | None],
        request_keyframe: Callable[[], None],
        packager: LivePackager,
        audio_codec: AudioChoice = "opus",
    ) -> None:
        #: Whether this viewer's init segments carry audio; None until ``media_init``.
        self.audio: bool | None = None
        self.audio_codec: AudioChoice = audio_codec

        def init_and_decide() -> dict[str, Any] | None:
            message = init()
            if message is not None:
                self.audio = audio_codec != "none" and message.get("audio") is not None
            return message

        super().__init__(conn, init_and_decide, request_keyframe)
        self.packager = packager

    def offer(self, frame: MediaFrame) -> None:
        if self.audio is None:
            return
        if frame.kind == "audio" and not (self.audio and self.audio_codec == "opus"):
            return
        if self._need_key and not (frame.kind == "video" and frame.is_keyframe):
            return  # nothing to build before this viewer's first keyframe
        piece = frame.form(self.packager.form)
        if piece.kind == "audio":
            self.offer_message(KIND_AUDIO, piece.data)
        elif piece.keyframe:
            # Every keyframe carries the init segment: a viewer that (re)starts here, or
            # meets a new SPS (the quality changed), has what it needs in one append.
            audio: AudioChoice = self.audio_codec if self.audio else "none"
            init = self.packager.init(piece.parameter_sets, audio)
            self.offer_message(KIND_KEY, init + piece.data)
        else:
            self.offer_message(KIND_VIDEO, piece.data)

    def offer_aac(self, piece: LiveFragment) -> None:
        """An AAC fragment from the packager (queued like any audio message)."""
        if self.audio and self.audio_codec == "aac":
            self.offer_message(KIND_AUDIO, piece.data)

    def stats(self) -> OutputStats:
        figures = super().stats()
        figures.transport = "fmp4"
        return figures
