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

import contextlib
import io
import struct
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, Literal

import av

__all__ = [
    "AUDIO_TIME_BASE",
    "AUDIO_TRACK_ID",
    "FRAGMENT_US",
    "RESYNC_AFTER_S",
    "TRACK_RATE",
    "VIDEO_TIME_BASE",
    "VIDEO_TRACK_ID",
    "Fmp4Writer",
    "TrackTimeline",
    "annexb_to_avcc",
    "fragment",
    "init_segment",
    "opus_head",
    "opus_samples",
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


#: Ticks a second of each track's time base.
TRACK_RATE = {"video": int(1 / VIDEO_TIME_BASE), "audio": int(1 / AUDIO_TIME_BASE)}
#: A track whose timestamps stray this far from the wall clock (a new source, a new
#: encoder) is re-anchored to the wall clock.
RESYNC_AFTER_S = 2.0


class TrackTimeline:
    """Each track's packet timestamps on one timeline that starts at ``start`` (seconds on
    ``clock``), for the outputs that mux both tracks (recording, LL-HLS, the live fMP4).

    A track is anchored to the clock at its first packet and then follows its own
    timestamps, so the encoder's spacing is kept; when they stray more than
    ``RESYNC_AFTER_S`` from the clock (the broadcaster got a new source or encoder) it is
    anchored again and :attr:`resyncs` counts it. Timestamps in and out are in the
    track's time base (video 1/90000 s, audio 1/48000 s: :data:`TRACK_RATE`)."""

    def __init__(self, start: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.start = start
        self.clock = clock
        self._anchor: dict[str, tuple[int, int]] = {}  # kind -> (packet pts, timeline pts)
        self.resyncs = 0

    def __call__(self, kind: str, pts: int) -> int:
        """Packet ``pts`` of track ``kind`` (``"video"``/``"audio"``) on the timeline."""
        rate = TRACK_RATE[kind]
        wall = int((self.clock() - self.start) * rate)
        anchor = self._anchor.get(kind)
        if anchor is not None:
            candidate = anchor[1] + pts - anchor[0]
            if abs(candidate - wall) <= RESYNC_AFTER_S * rate:
                return candidate
            self.resyncs += 1
        self._anchor[kind] = (pts, wall)
        return wall


def parameter_sets(annexb: bytes) -> bytes:
    """The SPS and PPS NAL units (Annex B, with start codes) of an H.264 keyframe access
    unit; ``b""`` if it carries none. The MP4 muxer turns them into the ``avcC`` box."""
    return b"".join(
        b"\x00\x00\x00\x01" + nal for nal in _nal_units(annexb) if nal[0] & 0x1F in (7, 8)
    )


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
        self._file: IO[bytes] | None = None  # the file opened here for a path target
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
        target: Any = self.target
        if isinstance(target, str | Path):
            # Unbuffered: each fragment reaches the file as the muxer hands it over, so a
            # killed process leaves every whole fragment behind.
            self._file = target = open(target, "wb", buffering=0)  # noqa: SIM115
        sets = parameter_sets(keyframe)
        if sets:
            # The muxer's avcC would carry its own encoder's SPS (see init_segment): the
            # header goes out with the stream's own parameter sets instead.
            target = _AvcConfigFix(target, avc_config(sets))
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
        file, self._file = self._file, None
        try:
            if container is not None:
                container.close()
        finally:
            if file is not None:
                file.close()


class _AvcConfigFix:
    """A write-only sink in front of ``sink``: holds the muxer's first bytes until its
    ``ftyp``+``moov`` are whole, passes them on with the ``avcC`` body replaced by
    ``avc_config`` (the stream's own SPS/PPS), then passes every later write through."""

    def __init__(self, sink: Any, avc_config: bytes) -> None:
        self.sink = sink
        self.avc_config = avc_config
        self._head: bytearray | None = bytearray()

    def write(self, data: bytes) -> int:
        head = self._head
        if head is None:
            self.sink.write(data)
            return len(data)
        head += data
        end = _moov_end(head)
        if end is not None:
            self._head = None
            fixed = _replace_box(bytes(head[:end]), b"avcC", self.avc_config)
            i = 0
            while i < len(fixed):  # one write per top-level box (ftyp, moov), as the muxer does
                size = int.from_bytes(fixed[i : i + 4], "big")
                self.sink.write(fixed[i : i + size])
                i += size
            if len(head) > end:
                self.sink.write(bytes(head[end:]))
        return len(data)

    def flush(self) -> None:
        flush = getattr(self.sink, "flush", None)
        if flush is not None:
            flush()


def _moov_end(data: bytes | bytearray) -> int | None:
    """Where the top-level ``moov`` box of ``data`` ends; None while it is not whole."""
    i = 0
    while i + 8 <= len(data):
        raw_size, box = struct.unpack(">I4s", data[i : i + 8])
        size = int(raw_size)
        if size < 8:
            raise ValueError(f"bad box {box!r} at {i}")
        if i + size > len(data):
            return None
        i += size
        if box == b"moov":
            return i
    return None


# -- live fragments: one moof+mdat per frame, for the MSE rung (and LL-HLS parts) ----------
#
# The recorder lets the muxer cut fragments (about a second each); a live player wants each
# frame as soon as it is encoded. These functions build the same fMP4 by hand, sans-I/O,
# one fragment per packet: the init segment still comes from the muxer (the same ``avcC``
# and ``dOps`` the recordings carry), the fragments are a few bytes of boxes around the
# sample (ISO/IEC 14496-12 section 8.8: moof/mfhd/traf/tfhd/tfdt/trun, mdat).

#: Track ids in :func:`init_segment`'s ``moov`` (the muxer numbers streams from 1).
VIDEO_TRACK_ID = 1
AUDIO_TRACK_ID = 2
#: ``trun`` sample flags: a sync sample (depends on nothing), and a non-sync one that
#: depends on others (``sample_depends_on=1``, ``sample_is_non_sync_sample=1``).
SYNC_SAMPLE_FLAGS = 0x02000000
NON_SYNC_SAMPLE_FLAGS = 0x01010000
#: Opus frame sizes in 48 kHz samples by TOC configuration (RFC 6716 section 3.1).
_OPUS_FRAME_SAMPLES = (
    [480, 960, 1920, 2880] * 3  # SILK NB/MB/WB: 10, 20, 40, 60 ms
    + [480, 960] * 2  # hybrid SWB/FB: 10, 20 ms
    + [120, 240, 480, 960] * 4  # CELT: 2.5, 5, 10, 20 ms
)


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *payload)


def annexb_to_avcc(annexb: bytes) -> bytes:
    """An H.264 access unit from Annex B (start codes) to the MP4 sample form: each NAL
    unit prefixed by its 4-byte length. SPS, PPS (they live in ``avcC``) and access unit
    delimiters are left out (ISO/IEC 14496-15 section 5.3.2). ``b""`` if no NAL unit is
    left (then the frame has nothing to show)."""
    out = bytearray()
    for nal in _nal_units(annexb):
        if nal[0] & 0x1F not in (7, 8, 9):
            out += struct.pack(">I", len(nal)) + nal
    return bytes(out)


def opus_samples(packet: bytes) -> int:
    """Samples at 48 kHz in one Opus packet, from its TOC byte (RFC 6716 section 3.1);
    ``ValueError`` for an empty or malformed packet."""
    if not packet:
        raise ValueError("empty Opus packet")
    toc = packet[0]
    per_frame = _OPUS_FRAME_SAMPLES[toc >> 3]
    code = toc & 0x03
    if code == 0:
        frames = 1
    elif code in (1, 2):
        frames = 2
    else:
        if len(packet) < 2:
            raise ValueError("Opus code 3 packet without a frame count")
        frames = packet[1] & 0x3F
    return per_frame * frames


def fragment(
    track_id: int, sequence: int, decode_time: int, duration: int, sample: bytes, sync: bool
) -> bytes:
    """One ``moof``+``mdat`` holding one sample of ``track_id``: ``decode_time`` (``tfdt``)
    and ``duration`` in the track's timescale (90 kHz video, 48 kHz audio, as in
    :func:`init_segment`), ``sequence`` the ``mfhd`` number (> 0). Offsets are relative to
    the ``moof`` (``default-base-is-moof``), as MSE and CMAF want."""
    if sequence <= 0 or decode_time < 0 or duration < 0:
        raise ValueError("fragment: sequence must be > 0, times >= 0")
    mfhd = _full_box(b"mfhd", 0, 0, struct.pack(">I", sequence & 0xFFFFFFFF))
    tfhd = _full_box(b"tfhd", 0, 0x020000, struct.pack(">I", track_id))
    tfdt = _full_box(b"tfdt", 1, 0, struct.pack(">Q", decode_time))
    # data-offset, sample-duration, sample-size, sample-flags present; one sample.
    trun_fields = struct.pack(
        ">IiIII",
        1,
        0,  # data offset: patched below once the moof's size is known
        duration,
        len(sample),
        SYNC_SAMPLE_FLAGS if sync else NON_SYNC_SAMPLE_FLAGS,
    )
    trun = _full_box(b"trun", 0, 0x000701, trun_fields)
    moof = bytearray(_box(b"moof", mfhd, _box(b"traf", tfhd, tfdt, trun)))
    data_offset = len(moof) + 8  # the sample starts after the mdat header
    trun_at = moof.find(b"trun") - 4
    struct.pack_into(">i", moof, trun_at + 16, data_offset)
    return bytes(moof) + _box(b"mdat", sample)


def init_segment(keyframe: bytes, width: int, height: int, *, audio: bool = True) -> bytes:
    """The ``ftyp``+``moov`` for :func:`fragment`'s tracks: H.264 (``avcC`` from the SPS
    and PPS of ``keyframe``, an Annex B IDR access unit) as track 1 at 90 kHz, and, with
    ``audio``, Opus 48 kHz stereo (``dOps``) as track 2 at 48 kHz. Made by the same muxer
    as the recordings; ``ValueError`` if ``keyframe`` carries no SPS/PPS."""
    sets = parameter_sets(keyframe)
    if not sets:
        raise ValueError("init_segment needs a keyframe with SPS and PPS")
    sink = io.BytesIO()
    container = av.open(sink, "w", format="mp4", options={"movflags": FRAGMENTED_MOVFLAGS})
    video = container.add_stream("h264")
    video.width = width
    video.height = height
    video.time_base = VIDEO_TIME_BASE
    video.codec_context.extradata = sets
    if audio:
        stream = container.add_stream("opus", rate=48000)
        stream.time_base = AUDIO_TIME_BASE
        stream.codec_context.extradata = opus_head()
    # Opening the stream opens an encoder, which writes its own SPS/PPS into the avcC:
    # the avcC is rebuilt from the stream's own below.
    container.start_encoding()
    head = sink.getvalue()
    # Closing writes an empty trailer fragment (mfra); only the ftyp+moov is kept.
    with contextlib.suppress(av.FFmpegError):
        container.close()
    moov = head.find(b"moov")
    if moov < 4:
        raise ValueError("the muxer wrote no moov")
    end = moov - 4 + struct.unpack(">I", head[moov - 4 : moov])[0]
    return _replace_box(head[:end], b"avcC", avc_config(sets))


def _nal_units(annexb: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (3- or 4-byte start codes), without them."""
    nals = []
    starts: list[tuple[int, int]] = []
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
        if nal < end:
            nals.append(annexb[nal:end])
    return nals


def avc_config(parameter_sets_annexb: bytes) -> bytes:
    """The ``AVCDecoderConfigurationRecord`` (ISO/IEC 14496-15 section 5.3.3.1, the body
    of ``avcC``) from Annex B SPS and PPS NAL units, with 4-byte NAL lengths;
    ``ValueError`` without an SPS."""
    nals = _nal_units(parameter_sets_annexb)
    sps = [n for n in nals if n[0] & 0x1F == 7]
    pps = [n for n in nals if n[0] & 0x1F == 8]
    if not sps or len(sps[0]) < 4:
        raise ValueError("no SPS")
    out = bytearray([1, sps[0][1], sps[0][2], sps[0][3], 0xFF, 0xE0 | len(sps)])
    for n in sps:
        out += struct.pack(">H", len(n)) + n
    out.append(len(pps))
    for n in pps:
        out += struct.pack(">H", len(n)) + n
    return bytes(out)


_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def _replace_box(data: bytes, kind: bytes, payload: bytes) -> bytes:
    """``data`` (a run of boxes) with the body of every ``kind`` box replaced by
    ``payload``, the sizes of the boxes around it fixed up. Looks inside the containers on
    the way to a sample entry (``stsd`` holds ``avc1``, which holds ``avcC``)."""
    out = bytearray()
    i = 0
    while i + 8 <= len(data):
        size, box = struct.unpack(">I4s", data[i : i + 8])
        if size < 8 or i + size > len(data):
            raise ValueError(f"bad box {box!r} at {i}")
        body = data[i + 8 : i + size]
        if box == kind:
            body = payload
        elif box in _CONTAINERS:
            body = _replace_box(body, kind, payload)
        elif box == b"stsd":  # full box header + entry count, then sample entries
            body = body[:8] + _replace_box(body[8:], kind, payload)
        elif box == b"avc1":  # a visual sample entry: 78 bytes before its child boxes
            body = body[:78] + _replace_box(body[78:], kind, payload)
        out += struct.pack(">I4s", 8 + len(body), box) + body
        i += size
    return bytes(out)
