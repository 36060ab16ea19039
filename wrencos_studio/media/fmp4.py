"""Fragmented MP4 from the encoder's own packets (H.264 Annex B + Opus), remuxed with PyAV:
no decoding, no second encoder.

:class:`Fmp4Writer` is the one place that knows how to turn the fan-out's packets into
fMP4: an ``ftyp``+``moov`` written first (``empty_moov``), then a ``moof``+``mdat`` pair
about every second and at each keyframe, each handed to the sink as soon as it is made
(``flush_packets``). The recorder (:mod:`.recording`) gives it a file, so a process killed
mid-show leaves a file that plays up to its last fragment; a later live MSE / LL-HLS path
can give it any writable object and cut the byte stream at the ``moof`` boxes.
"""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, Literal

import av

__all__ = [
    "AUDIO_TIME_BASE",
    "FRAGMENT_US",
    "VIDEO_TIME_BASE",
    "Fmp4Writer",
    "opus_head",
    "parameter_sets",
]

VIDEO_TIME_BASE = Fraction(1, 90000)
AUDIO_TIME_BASE = Fraction(1, 48000)
#: A fragment at least this often (µs), and at every keyframe.
FRAGMENT_US = 1_000_000
#: libopus's encoder delay at 48 kHz (its ``initial_padding``): the samples a player skips.
OPUS_PRE_SKIP = 312

#: ``frag_keyframe``: a fragment starts at each keyframe (a player can start on any
#: fragment that begins with one); ``empty_moov``: the index goes first and holds no
#: samples, so nothing has to be rewritten at the end; ``default_base_moof``: offsets are
#: relative to each fragment (what MSE wants).
FRAGMENTED_MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"


def parameter_sets(annexb: bytes) -> bytes:
    """The SPS and PPS NAL units (Annex B, with start codes) of an H.264 keyframe access
    unit; ``b""`` if it carries none. The MP4 muxer turns them into the ``avcC`` box."""
    out = bytearray()
    starts: list[tuple[int, int]] = []  # (start of the start code, start of the NAL)
    i = 0
    while True:
        j = annexb.find(b"\x00\x00\x01", i)
        if j == -1:
            break
        code = j - 1 if j > 0 and annexb[j - 1] == 0 else j
        starts.append((code, j + 3))
        i = j + 3
    for n, (_code, nal) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(annexb)
        if nal < len(annexb) and annexb[nal] & 0x1F in (7, 8):
            out += b"\x00\x00\x00\x01" + annexb[nal:end]
    return bytes(out)


def opus_head(channels: int = 2, rate: int = 48000, pre_skip: int = OPUS_PRE_SKIP) -> bytes:
    """The 19-byte ``OpusHead`` (RFC 7845 section 5.1, mapping family 0) the MP4 muxer
    turns into the ``dOps`` box."""
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, pre_skip, rate, 0, 0)


class Fmp4Writer:
    """Muxes packets into fragmented MP4 on ``target`` (a path, or a binary file object).

    Not thread-safe: one thread calls :meth:`write` and :meth:`close` (the recorder's
    writer thread). The container is opened at the first video keyframe, whose SPS/PPS
    it needs; anything before it is dropped (:attr:`started` says whether it has begun).
    Timestamps are in each track's time base (video 1/90000 s, audio 1/48000 s), start
    near 0 and must increase per track; a packet that does not is nudged one tick past
    the last one (the muxer would refuse it). Raises ``av.FFmpegError``/``OSError`` when
    the target cannot be written.
    """

    def __init__(
        self,
        target: str | Path | IO[bytes],
        width: int,
        height: int,
        *,
        audio: bool = True,
        fragment_us: int = FRAGMENT_US,
        audio_codec: Literal["opus", "aac"] = "opus",
        audio_extradata: bytes | None = None,
    ) -> None:
        self.target = target
        #: ``opus`` (the encoder's, ``dOps`` from :func:`opus_head`) or ``aac`` (LL-HLS for
        #: Apple's players; ``audio_extradata``: the encoder's AudioSpecificConfig).
        self.audio_codec = audio_codec
        self.audio_extradata = audio_extradata
        self.width = width
        self.height = height
        self.audio = audio
        self.fragment_us = fragment_us
        self._container: Any = None
        self._video: Any = None
        self._audio: Any = None
        self._last = {"video": -1, "audio": -1}
        #: The largest video timestamp written (1/90000 s), for the duration so far.
        self.last_video_pts = 0
        self.packets = 0

    @property
    def started(self) -> bool:
        """True once the first keyframe opened the container."""
        return self._container is not None

    def _open(self, keyframe: bytes) -> None:
        target = str(self.target) if isinstance(self.target, Path) else self.target
        container = av.open(
            target,
            "w",
            format="mp4",
            options={
                "movflags": FRAGMENTED_MOVFLAGS,
                "frag_duration": str(self.fragment_us),
                # Hand each fragment to the file at once, not when a 32 KiB buffer fills.
                "flush_packets": "1",
                # A show without sound must not hold video back waiting for audio.
                "max_interleave_delta": str(self.fragment_us),
            },
        )
        video = container.add_stream("h264")
        video.width = self.width
        video.height = self.height
        video.time_base = VIDEO_TIME_BASE
        video.codec_context.extradata = parameter_sets(keyframe) or keyframe
        if self.audio:
            audio = container.add_stream(self.audio_codec, rate=48000)
            audio.time_base = AUDIO_TIME_BASE
            if self.audio_codec == "opus":
                audio.codec_context.extradata = opus_head()
            else:
                audio.codec_context.extradata = self.audio_extradata
                audio.codec_context.layout = "stereo"
            self._audio = audio
        self._video = video
        self._container = container

    def write(self, kind: Literal["video", "audio"], data: bytes, pts: int, keyframe: bool) -> bool:
        """Mux one packet; False if it was dropped (before the first keyframe, or audio on
        a writer made without it)."""
        if self._container is None:
            if kind != "video" or not keyframe:
                return False
            self._open(data)
        stream = self._video if kind == "video" else self._audio
        if stream is None:
            return False
        last = self._last[kind]
        if pts <= last:
            pts = last + 1
        self._last[kind] = pts
        packet = av.Packet(data)
        packet.pts = packet.dts = pts
        packet.time_base = stream.time_base
        packet.stream = stream
        if kind == "video":
            packet.is_keyframe = keyframe
            self.last_video_pts = pts
        self._container.mux(packet)
        self.packets += 1
        return True

    def close(self) -> None:
        """Write what the muxer holds (the last fragment) and close. Safe to call twice."""
        container, self._container = self._container, None
        if container is not None:
            container.close()
