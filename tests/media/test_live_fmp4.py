"""The live fMP4 packager (issue 15): hand-built fragments around the encoder's own
packets, checked by demuxing and decoding them with PyAV (FFmpeg's MP4 demuxer), and the
packager's shared timeline. The WebSocket route and Chromium's MSE are tested in
tests/media/test_broadcast.py and tests/web/test_media_source.py."""

from __future__ import annotations

import io
import struct
from typing import Any

import av
import pytest

from wrencos_studio.media.encoder import AudioEncoder, VideoEncoder, VideoSettings
from wrencos_studio.media.fmp4 import (
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


def test_fragment_points_its_data_offset_at_the_sample() -> None:
    sample = b"\x00\x00\x00\x03abc"
    frag = fragment(1, 7, 123_456, 3000, sample, sync=False)
    assert [k for k, _ in _boxes(frag)] == [b"moof", b"mdat"]
    moof_size = _boxes(frag)[0][1]
    trun = frag.index(b"trun") - 4
    count, offset, duration, size, flags = struct.unpack(">IiIII", frag[trun + 12 : trun + 32])
    assert (count, duration, size, flags) == (1, 3000, len(sample), 0x01010000)
    assert frag[offset : offset + size] == sample and offset == moof_size + 8
    assert (
        struct.unpack(">Q", frag[frag.index(b"tfdt") + 8 : frag.index(b"tfdt") + 16])[0] == 123_456
    )
    for bad in ((0, 0, 1), (1, -1, 1), (1, 0, -1)):
        with pytest.raises(ValueError):
            fragment(1, bad[0], bad[1], bad[2], sample, sync=True)


def test_init_and_one_fragment_per_packet_demux_and_decode() -> None:
    """init_segment + a fragment per packet is an MP4 FFmpeg reads: every video frame
    decodes (with its stamp) at the time written, every Opus packet decodes."""
    packets = _encode()
    key = next(bytes(p) for k, p in packets if k == "video" and p.is_keyframe)
    init = init_segment(key, 320, 180)
    assert [k for k, _ in _boxes(init)] == [b"ftyp", b"moov"]
    with pytest.raises(ValueError, match="SPS"):
        init_segment(b"\x00\x00\x01\x65\x88", 320, 180)
    stream = bytearray(init)
    for seq, (kind, p) in enumerate(packets, 1):
        data = bytes(p)
        if kind == "video":
            stream += fragment(1, seq, p.pts, 3000, annexb_to_avcc(data), p.is_keyframe)
        else:
            stream += fragment(2, seq, p.pts + 312, opus_samples(data), data, True)
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
    assert packager.init(key.parameter_sets, True) is packager.init(key.parameter_sets, True)
