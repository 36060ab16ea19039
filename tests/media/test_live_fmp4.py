"""The one fMP4 packager (issue 15): hand-built init segments and fragments around the
encoder's own packets (H.264, Opus, AAC), checked by demuxing and decoding them with PyAV
(FFmpeg's MP4 demuxer); the muxer the recorder and LL-HLS use; the live packager's shared
timeline; and ``/media?f=fmp4&audio=aac`` on a real server, decoded. The Opus route and
Chromium's MSE are tested in tests/media/test_broadcast.py and
tests/web/test_media_source.py."""

from __future__ import annotations

import asyncio
import io
import json
import os
import struct
from pathlib import Path
from typing import Any

import av
import pytest
from websockets.asyncio.client import connect

from tests.helpers.recordings import encoded_show
from tests.helpers.serve import serving
from wrencos_studio.media.encoder import AacEncoder, AudioEncoder, VideoEncoder, VideoSettings
from wrencos_studio.media.fallback import avc_codec_string
from wrencos_studio.media.fmp4 import (
    OPUS_PRE_SKIP,
    AacTrack,
    Fmp4Muxer,
    Fragment,
    OpusTrack,
    Sample,
    TrackRun,
    VideoTrack,
    annexb_to_avcc,
    avc_config,
    fragment,
    init_segment,
    opus_samples,
)
from wrencos_studio.media.live_fmp4 import LivePackager
from wrencos_studio.media.outputs import MediaFrame
from wrencos_studio.media.testsrc import BeepGenerator, TestPattern, read_stamp


def _encode(frames: int = 45, audio_frames: int = 75) -> list[tuple[str, Any]]:
    """Real packets from the studio's own encoders: the test pattern at 320x180 (its
    stamps readable after decoding) and 20 ms of beep per audio frame."""
    settings = VideoSettings(width=320, height=180)
    video, audio = VideoEncoder(settings), AudioEncoder()
    pattern, beep = TestPattern(320, 180), BeepGenerator()
    packets: list[tuple[str, Any]] = []
    for i in range(frames):
        packets += [("video", p) for p in video.encode(pattern.frame(), i * 3000)]
    for _ in range(audio_frames):
        packets += [("audio", p) for p in audio.encode(beep.frame())]
    return packets


def _boxes(data: bytes) -> list[tuple[bytes, int]]:
    out, i = [], 0
    while i < len(data):
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        out.append((kind, size))
        i += size
    assert i == len(data)
    return out


def test_annexb_to_avcc_length_prefixes_and_leaves_parameter_sets_out() -> None:
    sps, pps, aud = b"\x67\x42\xc0\x1f\xaa", b"\x68\xce\x3c\x80", b"\x09\xf0"
    idr, sei = b"\x65\x88\x84\x00\x10", b"\x06\x05\x01\x02"
    annexb = (
        b"\x00\x00\x00\x01" + aud + b"\x00\x00\x00\x01" + sps + b"\x00\x00\x01" + pps
        + b"\x00\x00\x00\x01" + sei + b"\x00\x00\x01" + idr
    )  # fmt: skip
    assert annexb_to_avcc(annexb) == struct.pack(">I", 4) + sei + struct.pack(">I", 5) + idr
    assert annexb_to_avcc(b"") == b""
    config = avc_config(b"\x00\x00\x00\x01" + sps + b"\x00\x00\x00\x01" + pps)
    assert config == bytes([1, 0x42, 0xC0, 0x1F, 0xFF, 0xE1, 0, 5]) + sps + bytes([1, 0, 4]) + pps
    with pytest.raises(ValueError, match="no SPS"):
        avc_config(b"\x00\x00\x01" + pps)


def test_opus_samples_from_the_toc_byte() -> None:
    assert opus_samples(bytes([(3 << 3) | 0, 0])) == 2880  # SILK 60 ms, one frame
    assert opus_samples(bytes([(31 << 3) | 1, 0])) == 1920  # CELT 20 ms, two frames
    assert opus_samples(bytes([(16 << 3) | 3, 3, 0])) == 360  # CELT 2.5 ms, three frames
    with pytest.raises(ValueError, match="empty"):
        opus_samples(b"")


def _trun(frag: bytes, nth: int = 0) -> tuple[int, int, int, bytes]:
    """(flags, sample count, data offset, per-sample fields) of the ``nth`` trun."""
    at = -1
    for _ in range(nth + 1):
        at = frag.index(b"trun", at + 1)
    size = struct.unpack(">I", frag[at - 4 : at])[0]
    flags = struct.unpack(">I", frag[at + 4 : at + 8])[0] & 0xFFFFFF
    count, offset = struct.unpack(">Ii", frag[at + 8 : at + 16])
    return flags, count, offset, frag[at + 16 : at - 4 + size]


def test_fragment_points_its_data_offsets_at_the_samples() -> None:
    """One run of one sample, and two tracks of several samples in one moof: each trun's
    data offset (from the moof) points at its samples in the one mdat, with per-sample
    durations, sizes and flags."""
    sample = b"\x00\x00\x00\x03abc"
    frag = fragment(7, [TrackRun(1, 123_456, [Sample(sample, 3000, sync=False)])])
    assert [k for k, _ in _boxes(frag)] == [b"moof", b"mdat"]
    moof_size = _boxes(frag)[0][1]
    flags, count, offset, fields = _trun(frag)
    assert flags == 0x000701 and count == 1
    assert struct.unpack(">III", fields) == (3000, len(sample), 0x01010000)
    assert frag[offset : offset + len(sample)] == sample and offset == moof_size + 8
    at = frag.index(b"tfdt")
    assert struct.unpack(">Q", frag[at + 8 : at + 16])[0] == 123_456
    video = [Sample(b"V1" * 5, 3000, True), Sample(b"V2" * 7, 3001, False)]
    audio = [Sample(b"A" * n, 1024) for n in (3, 4, 5)]
    frag = fragment(8, [TrackRun(1, 90_000, video), TrackRun(2, 0, []), TrackRun(3, 48_000, audio)])
    assert frag.count(b"traf") == 2  # the empty run is left out
    for nth, samples in enumerate((video, audio)):
        flags, count, offset, fields = _trun(frag, nth)
        assert count == len(samples)
        for i, s in enumerate(samples):
            duration, size, _flags = struct.unpack(">III", fields[12 * i : 12 * i + 12])
            assert (duration, size) == (s.duration, len(s.data))
            assert frag[offset : offset + size] == s.data
            offset += size
    for bad in ((0, 0, 1), (1, -1, 1), (1, 0, -1)):
        with pytest.raises(ValueError):
            fragment(bad[0], [TrackRun(1, bad[1], [Sample(sample, bad[2])])])
    with pytest.raises(ValueError):
        fragment(1, [TrackRun(1, 0, [])])


def test_composition_offsets_go_in_a_version_1_trun_and_shift_presentation() -> None:
    """A run with composition offsets gets them per sample (signed, trun version 1);
    FFmpeg then presents each frame that much after its decode time."""
    packets = [p for k, p in _encode(frames=10, audio_frames=0) if k == "video"]
    track = VideoTrack.from_keyframe(bytes(packets[0]), 320, 180)
    samples = [
        Sample(annexb_to_avcc(bytes(p)), 3000, bool(p.is_keyframe), composition_offset=1500)
        for p in packets
    ]
    frag = fragment(1, [TrackRun(1, 0, samples)])
    flags, count, _, fields = _trun(frag)
    assert flags & 0x800 and count == 10 and len(fields) == 16 * 10
    assert frag[frag.index(b"trun") + 4] == 1  # version 1
    with av.open(io.BytesIO(init_segment([track]) + frag)) as container:
        pts = [f.pts for f in container.decode(video=0)]
    assert pts == [i * 3000 + 1500 for i in range(10)]


def test_init_and_one_fragment_per_packet_demux_and_decode() -> None:
    """init_segment + a fragment per packet is an MP4 FFmpeg reads: every video frame
    decodes (with its stamp) at the time written, every Opus packet decodes."""
    packets = _encode()
    key = next(bytes(p) for k, p in packets if k == "video" and p.is_keyframe)
    init = init_segment([VideoTrack.from_keyframe(key, 320, 180), OpusTrack()])
    assert [k for k, _ in _boxes(init)] == [b"ftyp", b"moov"]
    assert VideoTrack.from_keyframe(key, 320, 180).codec == avc_codec_string(key)
    with pytest.raises(ValueError, match="SPS"):
        VideoTrack.from_keyframe(b"\x00\x00\x01\x65\x88", 320, 180)
    with pytest.raises(ValueError):
        init_segment([])
    stream = bytearray(init)
    for seq, (kind, p) in enumerate(packets, 1):
        data = bytes(p)
        if kind == "video":
            sample = Sample(annexb_to_avcc(data), 3000, p.is_keyframe)
            stream += fragment(seq, [TrackRun(1, p.pts, [sample])])
        else:
            sample = Sample(data, opus_samples(data))
            stream += fragment(seq, [TrackRun(2, p.pts + 312, [sample])])
    container = av.open(io.BytesIO(bytes(stream)))
    video_pts, stamps, audio = [], 0, 0
    for frame in container.decode(video=0, audio=0):
        if isinstance(frame, av.VideoFrame):
            video_pts.append(frame.pts)
            stamps += read_stamp(frame) is not None
        else:
            audio += 1
    assert video_pts == [i * 3000 for i in range(45)]
    assert stamps == 45
    assert audio == sum(1 for k, _ in packets if k == "audio") > 20


def test_packager_builds_each_fragment_once_on_one_timeline() -> None:
    """However many viewers ask, a frame's fragment is built once; audio and video whose
    encoders started at very different times land on one wall-clock timeline; a jump in
    a track's timestamps (a new source) is re-anchored, never written backwards."""
    now = [100.0]
    packager = LivePackager(320, 180, clock=lambda: now[0])
    packets = _encode(frames=3, audio_frames=6)
    video = [p for k, p in packets if k == "video"]
    sound = [p for k, p in packets if k == "audio"]
    for p in video:
        p.pts += 90000 * 600  # the camera ran ten minutes before Go Live
    times: dict[str, list[int]] = {"video": [], "audio": []}
    for i, (kind, p) in enumerate([("video", video[0]), ("audio", sound[0]), ("video", video[1])]):
        now[0] = 100.0 + i * 0.033
        frame = MediaFrame(kind, p, 0)  # type: ignore[arg-type]
        pieces = {id(frame.form(packager.form)) for _ in range(5)}
        assert len(pieces) == 1
        piece = frame.form(packager.form)
        moof = piece.data
        at = moof.index(b"tfdt")
        times[kind].append(struct.unpack(">Q", moof[at + 8 : at + 16])[0])
    assert packager.fragments == 3
    assert times["video"] == [0, 3000]
    assert abs(times["audio"][0] / 48000 - 0.033) < 0.01  # the wall clock, not pts 0
    video[2].pts -= 90000 * 60  # a new source restarts its clock: re-anchored, forward
    now[0] = 100.2
    moof = MediaFrame("video", video[2], 0).form(packager.form).data
    at = moof.index(b"tfdt")
    assert struct.unpack(">Q", moof[at + 8 : at + 16])[0] == int(0.2 * 90000)
    assert packager.resyncs == 1
    key = MediaFrame("video", video[0], 0).form(packager.form)
    assert key.keyframe and key.parameter_sets
    assert packager.init(key.parameter_sets, "opus") is packager.init(key.parameter_sets, "opus")
    with pytest.raises(ValueError, match="AAC"):
        packager.init(key.parameter_sets, "aac")  # made without an AAC track


def _aac_packets(seconds: float) -> tuple[AacEncoder, list[Any]]:
    from wrencos_studio.media.testsrc import BeepGenerator

    aac, beep = AacEncoder(), BeepGenerator()
    packets = [p for _ in range(int(seconds / 0.02)) for p in aac.encode(beep.frame())]
    return aac, packets


def _left_channel(frames: list[Any]) -> list[float]:
    """The left channel of decoded AAC frames (planar float: ``fltp``)."""
    import array

    out: list[float] = []
    for f in frames:
        assert f.format.name == "fltp"
        out += array.array("f", bytes(f.planes[0]))[: f.samples]
    return out


def _tone_ratio(samples: Any, rate: int = 48000) -> float:
    """How much louder the 1 kHz beep is than 3 kHz (no beep there): the test pattern's
    sound is a 1 kHz tone 100 ms each second (a Goertzel filter at both)."""
    import math

    def power(freq: float) -> float:
        coeff = 2 * math.cos(2 * math.pi * freq / rate)
        s1 = s2 = 0.0
        for x in samples:
            s1, s2 = x + coeff * s1 - s2, s1
        return s1 * s1 + s2 * s2 - coeff * s1 * s2

    return power(1000) / max(power(3000), 1e-12)


def test_aac_track_with_esds_from_the_encoders_config_decodes() -> None:
    """An init segment with ``mp4a``/``esds`` built from the AAC encoder's
    AudioSpecificConfig, and fragments of several AAC packets each: FFmpeg reads the
    config back as the decoder's extradata and decodes every sample, the beep audible."""
    aac, packets = _aac_packets(2.0)
    key = next(bytes(p) for k, p in _encode(frames=1, audio_frames=0) if k == "video")
    track = AacTrack(aac.extradata)
    assert track.codec == "mp4a.40.2"
    body = bytearray(init_segment([VideoTrack.from_keyframe(key, 320, 180), track]))
    for seq, i in enumerate(range(0, len(packets), 3), 1):
        group = packets[i : i + 3]
        samples = [Sample(bytes(p), 1024) for p in group]
        body += fragment(seq, [TrackRun(2, i * 1024, samples)])
    with av.open(io.BytesIO(bytes(body))) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "aac"
        assert bytes(stream.codec_context.extradata) == aac.extradata
        frames = list(container.decode(audio=0))
    assert sum(f.samples for f in frames) == 1024 * len(packets)
    left = _left_channel(frames)
    assert _tone_ratio(left[: 48000 + 4800]) > 100  # the first beep, not noise


def test_the_muxer_cuts_at_keyframes_and_by_duration_and_everything_decodes() -> None:
    """The recorder's and LL-HLS's muxer: the init segment at the first keyframe (nothing
    before it), fragments of many samples cut at every keyframe and once the video spans
    the fragment length, each sample lasting until the next one; the concatenation
    decodes to every frame at its own time and every Opus packet."""
    show = list(encoded_show(4.0))
    muxer = Fmp4Muxer(320, 180, OpusTrack(), fragment_us=500_000)
    delta = next(p for k, p, _ in show if k == "video" and not p.is_keyframe)
    assert muxer.add("video", bytes(delta), 0, False) == [] and not muxer.started
    out: list[bytes | Fragment] = []
    for kind, packet, pts in show:
        out += muxer.add(kind, bytes(packet), pts, kind == "audio" or bool(packet.is_keyframe))
    last = muxer.flush()
    assert last is not None and muxer.flush() is None
    out.append(last)
    assert isinstance(out[0], bytes) and out[0] == muxer.init
    cuts = [c for c in out[1:] if isinstance(c, Fragment)]
    assert len(cuts) == len(out) - 1
    # 2 s GOPs cut into 0.5 s fragments: 15 frames each, a keyframe every 4th.
    assert [round(c.video_duration / 3000) for c in cuts] == [15] * 8
    assert [c.independent for c in cuts] == [True, False, False, False] * 2
    assert [c.video_start for c in cuts] == [i * 45000 for i in range(8)]
    body = b"".join(c if isinstance(c, bytes) else c.data for c in out)
    with av.open(io.BytesIO(body)) as container:
        video_pts = [f.pts for f in container.decode(video=0)]
    with av.open(io.BytesIO(body)) as container:
        audio = sum(f.samples for f in container.decode(audio=0))
    assert video_pts == [i * 3000 for i in range(120)]
    opus = [p for k, p, _ in show if k == "audio"]
    # All of it, but the encoder's delay the decoder skips (dOps PreSkip).
    assert audio == sum(opus_samples(bytes(p)) for p in opus) - OPUS_PRE_SKIP


def test_the_muxer_cuts_audio_alone_when_the_video_stalls() -> None:
    """No video for a while (a stalled source): the audio is cut on its own after twice
    the fragment length, so a player still gets sound."""
    show = list(encoded_show(0.5))
    muxer = Fmp4Muxer(320, 180, OpusTrack(), fragment_us=300_000)
    cuts = []
    for kind, packet, pts in show:
        muxer.add(kind, bytes(packet), pts, kind == "audio" or bool(packet.is_keyframe))
    opus = AudioEncoder()
    from wrencos_studio.media.testsrc import BeepGenerator

    beep, t = BeepGenerator(), 48000
    for _ in range(60):  # 1.2 s of sound, no picture
        for packet in opus.encode(beep.frame()):
            t += 2880
            cuts += [
                c for c in muxer.add("audio", bytes(packet), t, True) if isinstance(c, Fragment)
            ]
    assert cuts, "audio alone was never cut"
    assert cuts[-1].video_start is None and cuts[-1].audio_duration >= 0.6 * 48000


# -- /media?f=fmp4&audio=aac on a real server ----------------------------------------------------

netns = pytest.mark.skipif(
    os.environ.get("WRENCOS_NETNS") != "1",
    reason="media tests that go live run only inside a private network namespace",
)


async def _collect(url: str, seconds: float) -> tuple[dict[str, Any], list[bytes]]:
    async with connect(url, max_size=None) as ws:
        init = json.loads(await ws.recv())
        out: list[bytes] = []
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            data = await asyncio.wait_for(ws.recv(), 5)
            assert isinstance(data, bytes)
            out.append(data)
        return init, out


@netns
async def test_media_source_rung_with_aac_decodes_with_the_beep(tmp_path: Path) -> None:
    """``/media?f=fmp4&audio=aac`` (for Safari/iOS Media Source, which plays AAC in MP4
    but not Opus): ``media_init`` names ``mp4a.40.2``; the messages, concatenated as MSE
    appends them, decode with FFmpeg to stamped video and AAC sound with the test
    pattern's 1 kHz beep; two AAC viewers get the same fragment bytes (one AAC encode,
    built once); ``&audio=none`` gets video only."""
    from wrencos_studio.media.testsrc import read_stamp

    async with serving(
        tmp_path / "data", "--source", "testsrc", "--video-size", "320x180"
    ) as served:
        base = served.url.rstrip("/") + "/media?f=fmp4"
        (init, a), (_, b), (quiet, c) = await asyncio.gather(
            _collect(base + "&audio=aac", 3.0),
            _collect(base + "&audio=aac", 3.0),
            _collect(base + "&audio=none", 2.0),
        )
    assert init["format"] == "fmp4"
    assert init["mime"].startswith('video/mp4; codecs="avc1.42') and init["mime"].endswith(
        ', mp4a.40.2"'
    )
    assert init["audio"]["codec"] == "mp4a.40.2"
    assert set(a[5:40]) & set(b)  # the same fragments, byte for byte
    assert (quiet["audio"] is None and quiet["mime"].endswith('42c01f"')) or "," not in quiet[
        "mime"
    ]
    with av.open(io.BytesIO(b"".join(a))) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
        video = stamped = 0
        for frame in container.decode(video=0):
            video += 1
            stamped += read_stamp(frame) is not None
    with av.open(io.BytesIO(b"".join(a))) as container:
        sound = list(container.decode(audio=0))
    assert video >= 60 and stamped == video
    samples = sum(f.samples for f in sound)
    assert samples >= 48000 * 2.2, samples  # ~3 s of sound, bar the start
    left = _left_channel(sound)
    assert _tone_ratio(left) > 10  # the beep, heard through AAC
    with av.open(io.BytesIO(b"".join(c))) as container:
        assert len(container.streams.audio) == 0
        assert sum(1 for _ in container.decode(video=0)) >= 30
