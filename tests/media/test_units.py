"""Media building blocks without a network: stamps, keyframe requests, bounded viewer queues."""

from __future__ import annotations

import time

import av

from wrencos_studio.media import encoder as enc
from wrencos_studio.media.fallback import KIND_AUDIO, KIND_KEY, KIND_VIDEO, avc_codec_string
from wrencos_studio.media.sources import SourceError, parse_source
from wrencos_studio.media.testsrc import BeepGenerator, TestPattern, read_stamp
from wrencos_studio.media.webrtc import Encoded, PacketTrack


def _encoder(w: int = 320, h: int = 180) -> enc.VideoEncoder:
    return enc.VideoEncoder(enc.VideoSettings(width=w, height=h, fps=30, bitrate=500_000))


def test_stamp_survives_h264_at_several_sizes() -> None:
    """The time stamp drawn into the picture is read back after encode + decode."""
    for w, h in ((1280, 720), (640, 360), (320, 180)):
        pattern = TestPattern(w, h)
        e = _encoder(w, h)
        dec = av.CodecContext.create("h264", "r")
        read = []
        for i in range(10):
            ms = 1_764_000_000_000 + i * 33
            for packet in e.encode(pattern.frame(ms), i * 3000):
                for frame in dec.decode(packet):
                    read.append(read_stamp(frame))
        assert read == [1_764_000_000_000 + i * 33 for i in range(10)], (w, h)


def test_busy_pattern_runs_the_encoder_at_its_bitrate_and_keeps_the_stamp() -> None:
    """The plain pattern compresses to almost nothing; the busy one (fresh noise in its
    bottom quarter) fills the configured bitrate, and its stamp still reads back."""
    w, h, fps, bitrate = 640, 360, 30, 1_000_000
    sizes = {}
    for busy in (False, True):
        pattern = TestPattern(w, h, busy=busy)
        e = enc.VideoEncoder(enc.VideoSettings(w, h, fps, bitrate))
        dec = av.CodecContext.create("h264", "r")
        total, stamps = 0, []
        for i in range(60):
            ms = 1_764_000_000_000 + i * 33
            for packet in e.encode(pattern.frame(ms), i * 3000):
                total += packet.size
                stamps += [read_stamp(f) for f in dec.decode(packet)]
        sizes[busy] = total * 8 / 2  # bit/s over 2 s of frames
        assert stamps == [1_764_000_000_000 + i * 33 for i in range(60)], busy
    assert sizes[False] < 0.3 * bitrate
    assert 0.7 * bitrate < sizes[True] < 1.5 * bitrate, sizes


def test_a_picture_without_stamp_reads_as_none() -> None:
    """A frame that is not a test frame carries no stamp (the sync prefix guards it)."""
    frame = av.VideoFrame(320, 180, "yuv420p")
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    assert read_stamp(frame) is None


def test_keyframe_request_is_served_on_the_next_frame_and_coalesced(monkeypatch) -> None:
    """A request gives an IDR at the next frame; requests in a burst give one keyframe."""
    e = _encoder()
    pattern = TestPattern(320, 180)
    keys = []
    for i in range(20):
        if i in (10, 11, 12):
            e.request_keyframe()
        for p in e.encode(pattern.frame(), i * 3000):
            if p.is_keyframe:
                keys.append(i)
        time.sleep(1 / 30)  # real time: the minimum keyframe gap is in seconds
    # 10: served at once; 11 and 12 (one request) wait out the minimum gap, then one more.
    assert keys[:2] == [0, 10] and len(keys) == 3 and keys[2] - 10 <= 9
    # Within the minimum gap the next keyframe waits, but never past 0.3 s.
    t0 = time.monotonic()
    e.request_keyframe()
    got = None
    for i in range(20, 40):
        for p in e.encode(pattern.frame(), i * 3000):
            if p.is_keyframe and got is None:
                got = time.monotonic() - t0
        time.sleep(1 / 30)
    assert got is not None and got <= 0.3


def test_keyframes_carry_sps_and_pps() -> None:
    """Every keyframe repeats SPS/PPS, so a viewer can start on any of them."""
    e = _encoder()
    pattern = TestPattern(320, 180)
    codecs = []
    for i in range(70):
        if i == 40:
            e.request_keyframe()
        for p in e.encode(pattern.frame(), i * 3000):
            if p.is_keyframe:
                codecs.append(avc_codec_string(bytes(p)))
    assert len(codecs) >= 2 and all(c and c.startswith("avc1.42") for c in codecs)


def test_opus_encoder_packet_sizes() -> None:
    """60 ms Opus packets by default (17 a second per viewer instead of 50); 20 ms on ask;
    both decode back to the same amount of audio."""
    for frame_ms, expected in ((60, 10), (20, 30)):
        a = enc.AudioEncoder(frame_ms=frame_ms)
        beep = BeepGenerator()
        packets = [p for _ in range(30) for p in a.encode(beep.frame())]  # 600 ms
        assert expected - 1 <= len(packets) <= expected, (frame_ms, len(packets))
        dec = av.CodecContext.create("opus", "r")
        samples = sum(f.samples for p in packets for f in dec.decode(p))
        assert samples == len(packets) * 48 * frame_ms
    try:
        enc.AudioEncoder(frame_ms=30)
    except ValueError:
        pass
    else:
        raise AssertionError("30 ms is not an Opus frame size here")


class _Socket:
    """Stands in for a viewer's RtpWriter: records frames, reports a settable backlog."""

    def __init__(self) -> None:
        self.frames: list[Encoded] = []
        self.unsent = 0

    def backlog(self) -> int:
        return self.unsent

    def write(self, item: Encoded, ntp_time: int) -> bool:
        self.frames.append(item)
        return True


def test_viewer_that_falls_behind_skips_to_the_next_keyframe() -> None:
    """A viewer whose socket holds more than the bound gets nothing more until it has
    drained, and then starts again at a keyframe (one is requested)."""
    requested = []
    track = PacketTrack("video", lambda: requested.append(1), max_backlog=1000)
    socket = _Socket()
    track.writer = socket  # type: ignore[assignment]
    key = Encoded([b"k"], 0, True, 1)
    delta = Encoded([b"d"], 0, False, 1)
    track.offer(delta, 0)  # before the first keyframe: dropped
    track.offer(key, 0)
    track.offer(delta, 0)
    assert socket.frames == [key, delta]
    socket.unsent = 5000  # the kernel stopped taking packets
    track.offer(delta, 0)
    assert socket.frames == [key, delta] and requested == [1] and track.resyncs == 1
    socket.unsent = 0  # drained: but a delta frame cannot be decoded after a gap
    track.offer(delta, 0)
    assert socket.frames == [key, delta]
    track.offer(key, 0)
    track.offer(delta, 0)
    assert socket.frames == [key, delta, key, delta]
    assert track.sent == 4 and track.dropped == 3


def test_audio_that_falls_behind_loses_packets_without_waiting_for_a_keyframe() -> None:
    track = PacketTrack("audio", lambda: None, max_backlog=1000)
    socket = _Socket()
    track.writer = socket  # type: ignore[assignment]
    a = Encoded([b"a"], 0, True, 1)
    track.offer(a, 0)
    socket.unsent = 5000
    track.offer(a, 0)
    socket.unsent = 0
    track.offer(a, 0)
    assert len(socket.frames) == 2 and track.resyncs == 1


def test_sources_are_parsed_with_clear_errors(tmp_path) -> None:
    """none/testsrc/camera[:DEVICE]/file; a missing file is a clear error."""
    assert parse_source("testsrc").kind == "testsrc"
    assert parse_source("testsrc:busy") == parse_source("testsrc:busy")
    assert parse_source("testsrc:busy").target == "busy"
    try:
        parse_source("testsrc:noisy")
    except SourceError as exc:
        assert "testsrc:busy" in str(exc)
    else:
        raise AssertionError("an unknown test source must be refused")
    assert parse_source("camera:/dev/video3").target == "/dev/video3"
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"x")
    assert parse_source(str(video)).kind == "file"
    try:
        parse_source(str(tmp_path / "missing.mp4"))
    except SourceError as exc:
        assert "no such video file" in str(exc)
    else:
        raise AssertionError("a missing file must be refused")
    assert (KIND_KEY, KIND_VIDEO, KIND_AUDIO) == (1, 2, 3)


def test_fast_ntp_time_matches_aiortcs() -> None:
    """Our replacement for aiortc's per-packet NTP clock gives the same time."""
    from aiortc.clock import current_datetime, datetime_to_ntp

    from wrencos_studio.media.aiortc_patch import fast_ntp_time

    ours = fast_ntp_time()
    theirs = datetime_to_ntp(current_datetime())
    assert abs(ours - theirs) / 2**32 < 0.01  # seconds
