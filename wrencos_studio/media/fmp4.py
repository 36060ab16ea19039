"""The one fragmented-MP4 packager: ISO BMFF boxes built by hand around the encoder's own
packets (H.264 Annex B, Opus, AAC), sans-I/O — bytes in, bytes out, no muxer library, no
decoding, no second encoder.

Three layers, each used by the next:

- **Tracks and boxes.** :class:`VideoTrack` (``avc1``/``avcC`` from the stream's own
  SPS/PPS), :class:`OpusTrack` (``Opus``/``dOps``), :class:`AacTrack` (``mp4a``/``esds``
  from the AAC encoder's AudioSpecificConfig); :func:`init_segment` makes the
  ``ftyp``+``moov`` for any set of them, :func:`fragment` one ``moof``+``mdat`` holding
  one or many :class:`Sample` per track (ISO/IEC 14496-12 section 8.8; ISO/IEC 14496-14;
  "Encapsulation of Opus in ISO Base Media File Format" v0.8.1; ISO/IEC 14496-15 for
  ``avcC``).
- **A muxer.** :class:`Fmp4Muxer` takes packets on one timeline and cuts fragments of
  about ``fragment_us`` and at every keyframe, each sample lasting until the next one of
  its track. The recorder (:mod:`.recording`, ~1 s fragments to a file) and LL-HLS
  (:mod:`.hls`, ~0.33 s parts in memory) use it.
- The live Media Source rung (:mod:`.live_fmp4`) calls :func:`fragment` itself, one
  fragment per frame, so no viewer waits for the next frame.

:class:`TrackTimeline` is the one rule that puts the tracks' packet timestamps on one
timeline; every output that muxes both tracks uses it.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

__all__ = [
    "AAC_FRAME_SAMPLES",
    "AUDIO_TIME_BASE",
    "AUDIO_TRACK_ID",
    "FRAGMENT_US",
    "OPUS_PRE_SKIP",
    "RESYNC_AFTER_S",
    "TRACK_RATE",
    "VIDEO_TIME_BASE",
    "VIDEO_TRACK_ID",
    "AacTrack",
    "Fmp4Muxer",
    "Fragment",
    "OpusTrack",
    "Sample",
    "Track",
    "TrackRun",
    "TrackTimeline",
    "VideoTrack",
    "annexb_to_avcc",
    "avc_config",
    "fragment",
    "init_segment",
    "opus_samples",
    "parameter_sets",
]

VIDEO_TIME_BASE = Fraction(1, 90000)
AUDIO_TIME_BASE = Fraction(1, 48000)
#: A fragment at least this often (µs), and at every keyframe (the recorder's default).
FRAGMENT_US = 1_000_000
#: libopus's encoder delay at 48 kHz (its ``initial_padding``): the samples a player skips.
OPUS_PRE_SKIP = 312
#: PCM samples in one AAC-LC frame (ISO/IEC 14496-3: 1024 per raw_data_block).
AAC_FRAME_SAMPLES = 1024

#: Ticks a second of each track's time base: ``video`` the H.264 packets, ``audio`` the
#: Opus packets, ``aac`` the shared AAC encoder's packets (its own clock: see
#: ``sources.MediaPipeline.add_aac_sink``).
TRACK_RATE = {"video": int(1 / VIDEO_TIME_BASE), "audio": 48000, "aac": 48000}
#: A track whose timestamps stray this far from the wall clock (a new source, a new
#: encoder) is re-anchored to the wall clock.
RESYNC_AFTER_S = 2.0

#: Track ids in every init segment here: video first, then audio.
VIDEO_TRACK_ID = 1
AUDIO_TRACK_ID = 2
#: ``trun`` sample flags (ISO/IEC 14496-12 8.8.3.1): a sync sample (depends on nothing),
#: and a non-sync one that depends on others (``sample_depends_on=1``,
#: ``sample_is_non_sync_sample=1``).
SYNC_SAMPLE_FLAGS = 0x02000000
NON_SYNC_SAMPLE_FLAGS = 0x01010000


class TrackTimeline:
    """Each track's packet timestamps on one timeline that starts at ``start`` (seconds on
    ``clock``), for the outputs that mux both tracks (recording, LL-HLS, the live fMP4).

    A track is anchored to the clock at its first packet and then follows its own
    timestamps, so the encoder's spacing is kept; when they stray more than
    ``RESYNC_AFTER_S`` from the clock (the broadcaster got a new source or encoder) it is
    anchored again and :attr:`resyncs` counts it. Timestamps in and out are in the
    track's time base (:data:`TRACK_RATE`: video 1/90000 s, audio and aac 1/48000 s)."""

    def __init__(self, start: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.start = start
        self.clock = clock
        self._anchor: dict[str, tuple[int, int]] = {}  # kind -> (packet pts, timeline pts)
        self.resyncs = 0

    def __call__(self, kind: str, pts: int) -> int:
        """Packet ``pts`` of track ``kind`` (a key of :data:`TRACK_RATE`) on the timeline."""
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


# -- H.264 and Opus packets ---------------------------------------------------------------

#: Opus frame sizes in 48 kHz samples by TOC configuration (RFC 6716 section 3.1).
_OPUS_FRAME_SAMPLES = (
    [480, 960, 1920, 2880] * 3  # SILK NB/MB/WB: 10, 20, 40, 60 ms
    + [480, 960] * 2  # hybrid SWB/FB: 10, 20 ms
    + [120, 240, 480, 960] * 4  # CELT: 2.5, 5, 10, 20 ms
)


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


def parameter_sets(annexb: bytes) -> bytes:
    """The SPS and PPS NAL units (Annex B, with start codes) of an H.264 keyframe access
    unit; ``b""`` if it carries none. :meth:`VideoTrack.from_keyframe` makes ``avcC`` of them."""
    return b"".join(
        b"\x00\x00\x00\x01" + nal for nal in _nal_units(annexb) if nal[0] & 0x1F in (7, 8)
    )


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


# -- boxes ----------------------------------------------------------------------------------


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *payload)


#: The unity matrix of ``mvhd``/``tkhd`` (ISO/IEC 14496-12 8.2.2, 8.3.2).
_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
#: ``mdhd`` language "und" (ISO 639-2/T, packed 5 bits a letter).
_UND = ((ord("u") - 0x60) << 10) | ((ord("n") - 0x60) << 5) | (ord("d") - 0x60)


def _audio_sample_entry(kind: bytes, channels: int, rate: int, *children: bytes) -> bytes:
    """An ``AudioSampleEntry`` (ISO/IEC 14496-12 12.2.3, version 0)."""
    return _box(
        kind,
        b"\x00" * 6,
        struct.pack(">H", 1),  # data_reference_index
        b"\x00" * 8,  # reserved
        struct.pack(">HHHHI", channels, 16, 0, 0, rate << 16),
        *children,
    )


def _descriptor(tag: int, *payload: bytes) -> bytes:
    """An MPEG-4 descriptor (ISO/IEC 14496-1 8.3.3): tag, size (expandable), payload."""
    body = b"".join(payload)
    size = len(body)
    if size >= 1 << 28:
        raise ValueError("descriptor too large")
    length = bytes(
        [0x80 | ((size >> 21) & 0x7F), 0x80 | ((size >> 14) & 0x7F), 0x80 | ((size >> 7) & 0x7F)]
    ) + bytes([size & 0x7F])
    return bytes([tag]) + length + body


@dataclass(frozen=True, slots=True)
class VideoTrack:
    """An H.264 track (``avc1`` with ``avcC``) at 90 kHz: ``config`` is the
    ``AVCDecoderConfigurationRecord`` (:func:`avc_config`), ``width``/``height`` the
    picture in pixels. Use :meth:`from_keyframe` to make one from the stream itself."""

    config: bytes
    width: int
    height: int
    track_id: int = VIDEO_TRACK_ID
    timescale: int = 90000
    handler = b"vide"

    @classmethod
    def from_keyframe(
        cls, keyframe: bytes, width: int, height: int, track_id: int = VIDEO_TRACK_ID
    ) -> VideoTrack:
        """The track for an Annex B IDR access unit's own SPS/PPS (not an encoder's
        defaults: a strict player reads the profile from ``avcC``). ``ValueError`` if
        ``keyframe`` carries no SPS."""
        sets = parameter_sets(keyframe)
        if not sets:
            raise ValueError("a video track needs a keyframe with SPS and PPS")
        return cls(avc_config(sets), width, height, track_id)

    @property
    def codec(self) -> str:
        """The RFC 6381 ``codecs`` name, ``avc1.PPCCLL``."""
        return "avc1." + self.config[1:4].hex()

    def sample_entry(self) -> bytes:
        """The ``avc1`` VisualSampleEntry (ISO/IEC 14496-12 12.1.3, 14496-15 5.4.2)."""
        return _box(
            b"avc1",
            b"\x00" * 6,
            struct.pack(">H", 1),  # data_reference_index
            b"\x00" * 16,  # pre_defined, reserved
            struct.pack(">HH", self.width, self.height),
            struct.pack(">II", 0x00480000, 0x00480000),  # 72 dpi
            b"\x00" * 4,
            struct.pack(">H", 1),  # frame_count
            b"\x00" * 32,  # compressorname
            struct.pack(">Hh", 0x0018, -1),  # depth, pre_defined
            _box(b"avcC", self.config),
        )


@dataclass(frozen=True, slots=True)
class OpusTrack:
    """An Opus track (``Opus`` with ``dOps``, "Encapsulation of Opus in ISO Base Media
    File Format" 4.3) at 48 kHz; ``pre_skip`` in 48 kHz samples (the encoder's delay)."""

    track_id: int = AUDIO_TRACK_ID
    channels: int = 2
    pre_skip: int = OPUS_PRE_SKIP
    input_rate: int = 48000
    timescale: int = 48000
    handler = b"soun"
    codec = "opus"

    def sample_entry(self) -> bytes:
        """The ``Opus`` AudioSampleEntry with its ``dOps`` (big-endian, unlike OpusHead;
        mapping family 0: mono or stereo)."""
        dops = struct.pack(">BBHIhB", 0, self.channels, self.pre_skip, self.input_rate, 0, 0)
        return _audio_sample_entry(b"Opus", self.channels, 48000, _box(b"dOps", dops))


@dataclass(frozen=True, slots=True)
class AacTrack:
    """An AAC track (``mp4a`` with ``esds``, ISO/IEC 14496-14 5.6) at ``rate`` Hz:
    ``config`` is the encoder's AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1, FFmpeg's
    ``extradata``); ``bitrate`` in bit/s for the decoder config (informative)."""

    config: bytes
    track_id: int = AUDIO_TRACK_ID
    channels: int = 2
    rate: int = 48000
    bitrate: int = 128_000
    handler = b"soun"

    @property
    def timescale(self) -> int:
        """Ticks a second: the sample rate."""
        return self.rate

    @property
    def codec(self) -> str:
        """The RFC 6381 ``codecs`` name: ``mp4a.40.`` + the audio object type (2: AAC-LC)."""
        aot = self.config[0] >> 3 if self.config else 2
        return f"mp4a.40.{aot}"

    def sample_entry(self) -> bytes:
        """The ``mp4a`` AudioSampleEntry with its ``esds`` (ES_Descriptor with a
        DecoderConfigDescriptor for Audio ISO/IEC 14496-3, objectTypeIndication 0x40)."""
        decoder_config = _descriptor(
            0x04,
            bytes([0x40, 0x15]),  # 14496-3 audio; streamType 5 (audio) << 2 | reserved 1
            b"\x00\x00\x00",  # bufferSizeDB
            struct.pack(">II", self.bitrate, self.bitrate),  # max, average bit rate
            _descriptor(0x05, self.config),  # DecoderSpecificInfo: AudioSpecificConfig
        )
        es = _descriptor(0x03, struct.pack(">HB", 0, 0), decoder_config, _descriptor(0x06, b"\x02"))
        esds = _full_box(b"esds", 0, 0, es)
        return _audio_sample_entry(b"mp4a", self.channels, self.rate, esds)


Track = VideoTrack | OpusTrack | AacTrack


def _trak(track: Track) -> bytes:
    video = isinstance(track, VideoTrack)
    tkhd = _full_box(
        b"tkhd",
        0,
        0x000003,  # enabled, in movie
        struct.pack(">IIIII", 0, 0, track.track_id, 0, 0),  # times, id, reserved, duration
        b"\x00" * 8,
        struct.pack(">hhhH", 0, 0, 0 if video else 0x0100, 0),  # layer, group, volume
        _MATRIX,
        struct.pack(">II", track.width << 16, track.height << 16)
        if isinstance(track, VideoTrack)
        else b"\x00" * 8,
    )
    mdhd = _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, track.timescale, 0, _UND, 0))
    name = b"VideoHandler\x00" if video else b"SoundHandler\x00"
    hdlr = _full_box(b"hdlr", 0, 0, struct.pack(">I4s", 0, track.handler), b"\x00" * 12, name)
    header = (
        _full_box(b"vmhd", 0, 1, b"\x00" * 8) if video else _full_box(b"smhd", 0, 0, b"\x00" * 4)
    )
    dinf = _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1)))
    stbl = _box(
        b"stbl",
        _full_box(b"stsd", 0, 0, struct.pack(">I", 1), track.sample_entry()),
        _full_box(b"stts", 0, 0, struct.pack(">I", 0)),
        _full_box(b"stsc", 0, 0, struct.pack(">I", 0)),
        _full_box(b"stsz", 0, 0, struct.pack(">II", 0, 0)),
        _full_box(b"stco", 0, 0, struct.pack(">I", 0)),
    )
    return _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, _box(b"minf", header, dinf, stbl)))


def init_segment(tracks: Sequence[Track]) -> bytes:
    """The init segment (``ftyp``+``moov``) for ``tracks``: no samples in the ``moov``
    (they all come in fragments), one ``trak`` and one ``trex`` per track in the order
    given. ``ftyp`` says ``iso5`` (``default-base-is-moof``, which :func:`fragment`
    uses). ``ValueError`` without tracks or with two tracks sharing an id."""
    if not tracks:
        raise ValueError("an init segment needs at least one track")
    ids = [t.track_id for t in tracks]
    if len(set(ids)) != len(ids) or min(ids) <= 0:
        raise ValueError(f"track ids must be distinct and > 0: {ids}")
    ftyp = _box(b"ftyp", b"iso5", struct.pack(">I", 512), b"iso5iso6mp41")
    mvhd = _full_box(
        b"mvhd",
        0,
        0,
        struct.pack(">IIII", 0, 0, 1000, 0),  # times, timescale (ms), duration (fragments)
        struct.pack(">IH", 0x00010000, 0x0100),  # rate 1.0, volume 1.0
        b"\x00" * 10,
        _MATRIX,
        b"\x00" * 24,  # pre_defined
        struct.pack(">I", max(ids) + 1),  # next_track_ID
    )
    trex = [_full_box(b"trex", 0, 0, struct.pack(">IIIII", t.track_id, 1, 0, 0, 0)) for t in tracks]
    moov = _box(b"moov", mvhd, *(_trak(t) for t in tracks), _box(b"mvex", *trex))
    return ftyp + moov


@dataclass(frozen=True, slots=True)
class Sample:
    """One sample: ``data`` as stored (video: :func:`annexb_to_avcc`; audio: the packet),
    ``duration`` in its track's timescale, ``sync`` for a keyframe (every audio sample),
    ``composition_offset`` (presentation minus decode time, ticks; 0 without B-frames)."""

    data: bytes
    duration: int
    sync: bool = True
    composition_offset: int = 0


@dataclass(frozen=True, slots=True)
class TrackRun:
    """The samples of one track in a fragment, the first decoded at ``decode_time``
    (``tfdt``, in the track's timescale) and each next one ``duration`` later."""

    track_id: int
    decode_time: int
    samples: Sequence[Sample]


def _traf(run: TrackRun, data_offset: int) -> bytes:
    samples = run.samples
    offsets = any(s.composition_offset for s in samples)
    # data-offset, per-sample duration, size and flags (+ composition offset) present.
    flags = 0x000701 | (0x000800 if offsets else 0)
    per_sample = bytearray()
    for s in samples:
        per_sample += struct.pack(
            ">III",
            s.duration,
            len(s.data),
            SYNC_SAMPLE_FLAGS if s.sync else NON_SYNC_SAMPLE_FLAGS,
        )
        if offsets:
            per_sample += struct.pack(">i", s.composition_offset)
    # Version 1: composition offsets are signed.
    trun = _full_box(
        b"trun",
        1 if offsets else 0,
        flags,
        struct.pack(">Ii", len(samples), data_offset),
        bytes(per_sample),
    )
    tfhd = _full_box(b"tfhd", 0, 0x020000, struct.pack(">I", run.track_id))  # base is moof
    tfdt = _full_box(b"tfdt", 1, 0, struct.pack(">Q", run.decode_time))
    return _box(b"traf", tfhd, tfdt, trun)


def fragment(sequence: int, runs: Sequence[TrackRun]) -> bytes:
    """One ``moof``+``mdat``: a ``traf`` per run (tracks with no samples are left out),
    the samples' data in one ``mdat`` in run order. ``sequence`` is the ``mfhd`` number
    (> 0, counting up per stream). Data offsets are relative to the ``moof``
    (``default-base-is-moof``), as MSE and CMAF want. ``ValueError`` for a sequence ≤ 0,
    a negative decode time or duration, or nothing to put in it."""
    runs = [r for r in runs if r.samples]
    if sequence <= 0 or not runs:
        raise ValueError("fragment: sequence must be > 0 and some run must hold samples")
    for run in runs:
        if run.decode_time < 0 or any(s.duration < 0 for s in run.samples):
            raise ValueError("fragment: decode times and durations must be >= 0")
    mfhd = _full_box(b"mfhd", 0, 0, struct.pack(">I", sequence & 0xFFFFFFFF))
    # The moof's size does not depend on the offsets: build once with 0 to measure it.
    moof_size = len(_box(b"moof", mfhd, *(_traf(r, 0) for r in runs)))
    trafs = []
    offset = moof_size + 8  # the first sample starts after the mdat header
    for run in runs:
        trafs.append(_traf(run, offset))
        offset += sum(len(s.data) for s in run.samples)
    mdat = _box(b"mdat", *(s.data for run in runs for s in run.samples))
    return _box(b"moof", mfhd, *trafs) + mdat


# -- the muxer ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fragment:
    """A fragment :class:`Fmp4Muxer` cut: ``data`` (``moof``+``mdat``); its video
    ``video_start`` (decode time, 90 kHz; None without video) and ``video_duration``
    (ticks), ``audio_duration`` (audio ticks), ``independent`` when its first video sample
    is a keyframe (a player can start there)."""

    data: bytes
    video_start: int | None
    video_duration: int
    audio_duration: int
    independent: bool

    @property
    def duration_s(self) -> float:
        """Seconds of media: the video's, or the audio's in a fragment without video."""
        if self.video_start is not None:
            return self.video_duration / TRACK_RATE["video"]
        return self.audio_duration / TRACK_RATE["audio"]


@dataclass(slots=True)
class _Waiting:
    """A sample waiting for its fragment: ``pts`` on the timeline, ``duration`` 0 while
    unknown (the newest video frame's)."""

    data: bytes
    pts: int
    duration: int
    sync: bool


@dataclass(slots=True)
class _Pending:
    """One track's samples waiting for the next fragment."""

    samples: list[_Waiting] = field(default_factory=list)
    last_pts: int = -1

    def span(self) -> int:
        """Ticks from the first sample's start to the last one's end."""
        if not self.samples:
            return 0
        return self.samples[-1].pts + self.samples[-1].duration - self.samples[0].pts


class Fmp4Muxer:
    """Packets in, init segment and fragments out (sans-I/O): the recorder and LL-HLS.

    Starts at the first video keyframe (its SPS/PPS make the video track; anything before
    is dropped: :attr:`started`); ``audio`` is the audio track (Opus or AAC; None: video
    only). :meth:`add` takes a packet with its timestamp on the output's timeline (the
    track's time base: video 1/90000 s, audio 1/48000 s, increasing per track; one that
    does not is nudged one tick past the last). A sample lasts until the next sample of
    its track; an audio sample at the end of a fragment lasts its own length (Opus: its
    TOC, AAC: 1024). A fragment is cut before every keyframe and before a video frame
    once the video waiting spans ``fragment_us``; audio alone (video stalled) after twice
    that. Not thread-safe."""

    def __init__(
        self,
        width: int,
        height: int,
        audio: OpusTrack | AacTrack | None = None,
        *,
        fragment_us: int = FRAGMENT_US,
    ) -> None:
        self.width = width
        self.height = height
        self.audio = audio
        self.fragment_us = fragment_us
        #: The init segment once started (``ftyp``+``moov``); None before.
        self.init: bytes | None = None
        self.video: VideoTrack | None = None
        self._video = _Pending()
        self._audio = _Pending()
        self._sequence = 0
        self._cut_video = fragment_us * TRACK_RATE["video"] // 1_000_000
        self._cut_audio = 2 * fragment_us * TRACK_RATE["audio"] // 1_000_000
        self._last_video_duration = 3000
        #: The largest video timestamp taken (1/90000 s), for the duration so far.
        self.last_video_pts = 0
        self.packets = 0
        self.fragments = 0

    @property
    def started(self) -> bool:
        """True once the first keyframe made the init segment."""
        return self.init is not None

    def add(self, kind: str, data: bytes, pts: int, keyframe: bool) -> list[bytes | Fragment]:
        """Take one packet (``kind`` ``"video"``: an Annex B access unit; ``"audio"``: one
        Opus or AAC packet); what is ready to write, in order: the init segment (bytes,
        once) and any :class:`Fragment` cut. Audio on a muxer without it, and anything
        before the first keyframe, is dropped (an empty list)."""
        out: list[bytes | Fragment] = []
        if self.init is None:
            if kind != "video" or not keyframe:
                return out
            self.video = VideoTrack.from_keyframe(data, self.width, self.height)
            tracks: list[Track] = [self.video]
            if self.audio is not None:
                tracks.append(self.audio)
            self.init = init_segment(tracks)
            out.append(self.init)
        if kind == "video":
            track = self._video
            pts = max(pts, track.last_pts + 1)
            if track.samples:
                last = track.samples[-1]
                last.duration = self._last_video_duration = pts - last.pts
                if keyframe or track.span() >= self._cut_video:
                    out.append(self._cut())
            track.samples.append(_Waiting(annexb_to_avcc(data), pts, 0, keyframe))
            track.last_pts = self.last_video_pts = pts
        else:
            if self.audio is None or not data:
                return out  # no audio track, or an empty packet (nothing to decode)
            track = self._audio
            pts = max(pts, track.last_pts + 1)
            if track.samples:
                track.samples[-1].duration = pts - track.samples[-1].pts
            own = (
                opus_samples(data)
                if isinstance(self.audio, OpusTrack)
                else AAC_FRAME_SAMPLES * self.audio.timescale // 48000
            )
            track.samples.append(_Waiting(data, pts, own, True))
            track.last_pts = pts
            if track.span() >= self._cut_audio:
                out.append(self._cut())
        self.packets += 1
        return out

    def flush(self) -> Fragment | None:
        """Cut what is waiting (the end of the stream): None if nothing is."""
        if not (self._video.samples or self._audio.samples):
            return None
        return self._cut()

    def _cut(self) -> Fragment:
        video, audio = self._video.samples, self._audio.samples
        if video and video[-1].duration == 0:  # the newest frame's length is not known yet
            video[-1].duration = self._last_video_duration
        runs = []
        if video:
            samples = [Sample(w.data, w.duration, w.sync) for w in video]
            runs.append(TrackRun(VIDEO_TRACK_ID, video[0].pts, samples))
        if audio and self.audio is not None:
            samples = [Sample(w.data, w.duration) for w in audio]
            runs.append(TrackRun(self.audio.track_id, audio[0].pts, samples))
        self._sequence += 1
        cut = Fragment(
            fragment(self._sequence, runs),
            video[0].pts if video else None,
            self._video.span(),
            self._audio.span(),
            bool(video and video[0].sync),
        )
        self._video.samples = []
        self._audio.samples = []
        self.fragments += 1
        return cut
