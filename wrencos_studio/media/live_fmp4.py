"""The Media Source rung of the page's ladder: the encoder's packets as fragmented MP4 over
the WebSocket at ``/media?f=fmp4``, for ``MediaSource``/``ManagedMediaSource`` in any
context (no secure context needed, unlike WebCodecs). Nothing is re-encoded.

Wire format (docs/protocol.md, "Media over the WebSocket"): first one text message
``media_init`` with ``format: "fmp4"`` and the ``mime`` to give ``addSourceBuffer``; then
binary messages, each one or more complete top-level MP4 boxes to append as they come:
at every keyframe the init segment (``ftyp``+``moov``) followed by that frame's fragment,
otherwise one ``moof``+``mdat`` per video frame or Opus packet (60 ms). The first binary
message therefore starts with the init segment and a keyframe.

One :class:`LivePackager` per fan-out builds each frame's fragment once
(:meth:`~wrencos_studio.media.outputs.MediaFrame.form`) for every viewer; each
:class:`Fmp4Viewer` reuses the WebSocket fallback's bounded queue and resync rule.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection

from wrencos_studio.media.fallback import KIND_AUDIO, KIND_KEY, KIND_VIDEO, FallbackViewer
from wrencos_studio.media.fmp4 import (
    AUDIO_TRACK_ID,
    OPUS_PRE_SKIP,
    VIDEO_TRACK_ID,
    TrackTimeline,
    annexb_to_avcc,
    fragment,
    init_segment,
    opus_samples,
    parameter_sets,
)
from wrencos_studio.media.outputs import MediaFrame, OutputStats

__all__ = ["Fmp4Viewer", "LiveFragment", "LivePackager"]

#: Each video sample's duration is the frame interval times this (see LivePackager.form):
#: gaps of up to twice as much stay one buffered range in MSE.
VIDEO_DURATION_STRETCH = 4


@dataclass(frozen=True, slots=True)
class LiveFragment:
    """One frame's ``moof``+``mdat`` (``data``); for a keyframe also its SPS/PPS
    (``parameter_sets``, Annex B) so a viewer can be sent the matching init segment."""

    data: bytes
    keyframe: bool
    kind: str
    parameter_sets: bytes = b""


class LivePackager:
    """Turns the fan-out's frames into fMP4 fragments on one timeline shared by every
    viewer: each track's packet timestamps are anchored to the wall clock at its first
    packet (video 90 kHz, audio 48 kHz, counted from this packager's creation), so audio
    and video line up however long the encoders ran before, and re-anchored if they jump
    by more than ``RESYNC_AFTER_S`` (a new source). Runs on the event loop; not
    thread-safe. ``width``/``height``: the encoded picture (the encoder's settings)."""

    def __init__(self, width: int, height: int, clock: Callable[[], float] = time.monotonic):
        self.width = width
        self.height = height
        self._timeline = TrackTimeline(clock(), clock)
        self._last: dict[str, int] = {"video": -1, "audio": -1}
        self._sequence = itertools.count(1)
        self._inits: dict[tuple[bytes, bool], bytes] = {}
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

    def form(self, frame: MediaFrame) -> LiveFragment:
        """The frame's fragment; pass this bound method to ``frame.form`` so it is built
        once per frame for all viewers. Raises ``ValueError`` on an empty packet."""
        data = bytes(frame.packet)
        pts = frame.packet.pts if frame.packet.pts is not None else 0
        self.fragments += 1
        seq = next(self._sequence)
        if frame.kind == "audio":
            samples = opus_samples(data)
            t = self._media_time("audio", pts + OPUS_PRE_SKIP)
            return LiveFragment(
                fragment(AUDIO_TRACK_ID, seq, t, samples, data, True), True, "audio"
            )
        # A frame's duration is not known until the next one; the nominal one, stretched,
        # is written so that a few frames the source skipped under load (the test pattern
        # and cameras skip ahead when behind) stay one buffered range: MSE takes a decode
        # time more than twice the last duration later as a discontinuity and, in
        # ``segments`` mode, drops everything up to the next keyframe (W3C MSE, coded frame
        # processing, step 6). The picture is unaffected: frames are shown at their time.
        duration = (int(frame.packet.duration or 0) or 3000) * VIDEO_DURATION_STRETCH
        t = self._media_time("video", pts)
        key = frame.is_keyframe
        sample = annexb_to_avcc(data)
        sets = parameter_sets(data) if key else b""
        return LiveFragment(
            fragment(VIDEO_TRACK_ID, seq, t, duration, sample, key), key, "video", sets
        )

    def init(self, sets: bytes, audio: bool) -> bytes:
        """The init segment for SPS/PPS ``sets`` (with an Opus track if ``audio``), built
        once per distinct pair."""
        key = (sets, audio)
        init = self._inits.get(key)
        if init is None:
            if len(self._inits) > 8:  # qualities come and go: keep few
                self._inits.clear()
            init = self._inits[key] = init_segment(sets, self.width, self.height, audio=audio)
        return init


class Fmp4Viewer(FallbackViewer):
    """One viewer of ``/media?f=fmp4``: like :class:`FallbackViewer` (bounded queue, starts
    and restarts at a keyframe, one sender task) but each message is MP4 boxes.

    ``init`` returns the ``media_init`` message (None while it cannot be made yet); its
    ``audio`` (None or not) fixes, for this viewer, whether the init segments have the
    Opus track (:attr:`audio`). Nothing is queued before that; afterwards audio fragments
    are dropped for a viewer without the track (MSE would refuse them)."""

    def __init__(
        self,
        conn: ServerConnection,
        init: Callable[[], dict[str, Any] | None],
        request_keyframe: Callable[[], None],
        packager: LivePackager,
    ) -> None:
        #: Whether this viewer's init segments carry audio; None until ``media_init``.
        self.audio: bool | None = None

        def init_and_decide() -> dict[str, Any] | None:
            message = init()
            if message is not None:
                self.audio = message.get("audio") is not None
            return message

        super().__init__(conn, init_and_decide, request_keyframe)
        self.packager = packager

    def offer(self, frame: MediaFrame) -> None:
        if self.audio is None or (frame.kind == "audio" and not self.audio):
            return
        if self._need_key and not (frame.kind == "video" and frame.is_keyframe):
            return  # nothing to build before this viewer's first keyframe
        piece = frame.form(self.packager.form)
        if piece.kind == "audio":
            self.offer_message(KIND_AUDIO, piece.data)
        elif piece.keyframe:
            # Every keyframe carries the init segment: a viewer that (re)starts here, or
            # meets a new SPS (the quality changed), has what it needs in one append.
            init = self.packager.init(piece.parameter_sets, self.audio)
            self.offer_message(KIND_KEY, init + piece.data)
        else:
            self.offer_message(KIND_VIDEO, piece.data)

    def stats(self) -> OutputStats:
        figures = super().stats()
        figures.transport = "fmp4"
        return figures
