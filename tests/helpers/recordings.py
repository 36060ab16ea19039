"""Recordings for tests: a test-pattern show encoded by the real encoders and written as
the recorder writes it (``recording.RecordingFile``, the one fMP4 packager), in a second
or so (no capture threads, no pacing)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wrencos_studio.media.encoder import AudioEncoder, VideoEncoder, VideoSettings
from wrencos_studio.media.recording import RecordingFile
from wrencos_studio.media.testsrc import BeepGenerator, TestPattern

__all__ = ["SMALL_VIDEO", "encoded_show", "write_recording"]

#: Small frames: tests share a 2-core machine.
SMALL_VIDEO = VideoSettings(320, 180, 30, 400_000)


def encoded_show(seconds: float) -> Iterator[tuple[str, Any, int]]:
    """``(kind, packet, pts)`` of a 30 fps test-pattern show with its beeps, interleaved as
    they are live (video pts in 1/90000 s, audio in 1/48000 s)."""
    video, audio = VideoEncoder(SMALL_VIDEO), AudioEncoder()
    pattern, beep = TestPattern(SMALL_VIDEO.width, SMALL_VIDEO.height), BeepGenerator()
    audio_s = 0.0
    for i in range(int(seconds * 30)):
        for packet in video.encode(pattern.frame(), i * 3000):
            yield "video", packet, i * 3000
        while audio_s < (i + 1) / 30:
            audio_s += 0.02
            for packet in audio.encode(beep.frame()):
                yield "audio", packet, int(packet.pts)


def write_recording(path: Path, seconds: float) -> Path:
    """A fragmented MP4 of ``seconds`` of test show at ``path`` (``seconds * 30`` frames)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = RecordingFile(path, SMALL_VIDEO.width, SMALL_VIDEO.height)
    for kind, packet, pts in encoded_show(seconds):
        writer.write(kind, bytes(packet), pts, kind == "audio" or bool(packet.is_keyframe))  # type: ignore[arg-type]
    writer.close()
    return path
