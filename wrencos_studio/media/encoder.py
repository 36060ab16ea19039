"""Encode once: one H.264 (libx264) and one Opus encoder for all viewers, with keyframe
requests coalesced so a joining viewer or a PLI gets a keyframe within 0.3 s; and one AAC
encoder of the same sound, for the outputs whose players need AAC (LL-HLS for Apple's own
players, the Media Source rung where Opus in MP4 does not play), run only while one of
them is there (``sources.MediaPipeline.add_aac_sink``)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

__all__ = ["AacEncoder", "AudioEncoder", "VideoEncoder", "VideoSettings"]

VIDEO_TIME_BASE = Fraction(1, 90000)
# A forced keyframe at most this often: a storm of PLIs must not become a storm of
# keyframes (each is ~10x a normal frame), yet every request is served within 0.3 s.
MIN_KEYFRAME_GAP_S = 0.25


@dataclass(slots=True)
class VideoSettings:
    width: int = 1280
    height: int = 720
    fps: int = 30
    bitrate: int = 2_500_000
    preset: str = "veryfast"
    keyframe_interval_s: float = 2.0


class VideoEncoder:
    """libx264, constrained baseline, zerolatency: no B-frames, no lookahead, Annex B out.

    ``request_keyframe`` may be called from any thread; the next frame is then an IDR
    (carrying SPS/PPS, so a viewer can start on it) unless one went out less than
    ``MIN_KEYFRAME_GAP_S`` ago, in which case the first frame after the gap is.
    """

    def __init__(self, settings: VideoSettings) -> None:
        self.settings = settings
        cc = av.CodecContext.create("libx264", "w")
        cc.width = settings.width
        cc.height = settings.height
        cc.pix_fmt = "yuv420p"
        cc.time_base = VIDEO_TIME_BASE
        cc.framerate = Fraction(settings.fps, 1)
        cc.bit_rate = settings.bitrate
        gop = max(1, int(settings.fps * settings.keyframe_interval_s))
        cc.gop_size = gop
        cc.options = {
            "preset": settings.preset,
            "tune": "zerolatency",
            "profile": "baseline",
            "level": "31" if settings.width * settings.height <= 1280 * 720 else "40",
            # Repeat SPS/PPS before every IDR; no scene-cut keyframes between ours.
            "x264-params": f"repeat-headers=1:scenecut=0:keyint={gop}:min-keyint={gop}",
        }
        self._cc = cc
        self._lock = threading.Lock()
        self._wanted = False
        self._last_key = 0.0
        self.frames = 0
        self.keyframes = 0
        self.encode_ms_total = 0.0

    def request_keyframe(self) -> None:
        with self._lock:
            self._wanted = True

    def encode(self, frame: av.VideoFrame, pts: int) -> list[av.Packet[Any]]:
        """Encode one frame (pts in 1/90000 s); returns zero or more packets."""
        now = time.monotonic()
        with self._lock:
            force = self._wanted and now - self._last_key >= MIN_KEYFRAME_GAP_S
            if force:
                self._wanted = False
        if (
            frame.width != self.settings.width
            or frame.height != self.settings.height
            or (frame.format.name != "yuv420p")
        ):
            frame = frame.reformat(self.settings.width, self.settings.height, "yuv420p")
        frame.pts = pts
        frame.time_base = VIDEO_TIME_BASE
        frame.pict_type = (
            av.video.frame.PictureType.I if force else (av.video.frame.PictureType.NONE)
        )
        t0 = time.perf_counter()
        packets = list(self._cc.encode(frame))
        self.encode_ms_total += (time.perf_counter() - t0) * 1000
        self.frames += 1
        for packet in packets:
            packet.time_base = VIDEO_TIME_BASE
            if packet.is_keyframe:
                self.keyframes += 1
                with self._lock:
                    self._last_key = now
        return packets


class AudioEncoder:
    """libopus, 48 kHz stereo, 60 ms frames by default.

    Each audio packet costs every viewer the same RTP, SRTP and send work as a video
    packet, and at 20 ms audio is most of a viewer's packets (50 a second). 60 ms frames
    cut that to 17 a second (and the header overhead with it) for 40 ms more audio
    latency, which a live show does not notice; browsers decode 60 ms Opus frames.
    """

    def __init__(self, bitrate: int = 64000, frame_ms: int = 60) -> None:
        if frame_ms not in (20, 40, 60):
            raise ValueError("Opus frames here are 20, 40 or 60 ms")
        cc = av.CodecContext.create("libopus", "w")
        cc.sample_rate = 48000
        cc.layout = "stereo"
        cc.format = "s16"
        cc.bit_rate = bitrate
        cc.time_base = Fraction(1, 48000)
        cc.options = {"frame_duration": str(frame_ms)}
        self._cc = cc
        self.frame_ms = frame_ms
        self._resampler = av.AudioResampler(
            format="s16", layout="stereo", rate=48000, frame_size=48 * frame_ms
        )

    def encode(self, frame: av.AudioFrame) -> list[av.Packet[Any]]:
        packets: list[av.Packet[Any]] = []
        for chunk in self._resampler.resample(frame):
            for packet in self._cc.encode(chunk):
                packet.time_base = Fraction(1, 48000)
                packets.append(packet)
        return packets


class AacEncoder:
    """FFmpeg's native AAC-LC encoder, 48 kHz stereo: PCM frames of any format in,
    packets of 1024 samples out, ``pts`` in 1/48000 s counted from ``first_pts`` (the
    caller's sample count when this encoder started, so a later encoder continues the
    clock). ``extradata`` is its AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1, for the
    MP4 ``esds``). ~1 % of a core. Used by one thread at a time."""

    def __init__(self, bitrate: int = 128_000, first_pts: int = 0) -> None:
        cc = av.CodecContext.create("aac", "w")
        cc.sample_rate = 48000
        cc.layout = "stereo"
        cc.format = "fltp"
        cc.bit_rate = bitrate
        cc.time_base = Fraction(1, 48000)
        cc.open()
        self._cc: Any = cc
        self.bitrate = bitrate
        self.first_pts = first_pts
        self._next_pts = first_pts
        self.extradata: bytes = bytes(cc.extradata or b"")
        self._resampler = av.AudioResampler(
            format="fltp", layout="stereo", rate=48000, frame_size=1024
        )

    def encode(self, frame: av.AudioFrame) -> list[av.Packet[Any]]:
        """The packets ``frame`` completes (often none: 1024 samples make one)."""
        packets: list[av.Packet[Any]] = []
        for chunk in self._resampler.resample(frame):
            for packet in self._cc.encode(chunk):
                # Counted here, not taken from the frames (a device's or generator's own
                # clock): every AAC-LC packet is 1024 samples, one after the other.
                packet.pts = packet.dts = self._next_pts
                packet.time_base = Fraction(1, 48000)
                self._next_pts += 1024
                packets.append(packet)
        return packets
