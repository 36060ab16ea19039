"""Devices that are missing, lost or grabbed: a camera that is not there or stops sending
goes on as a still picture with the reason in ``error``; the screen is grabbed with PyAV's
x11grab (under a real Xvfb)."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import av
import pytest

from wrencos_studio.media import sources
from wrencos_studio.media.encoder import VideoSettings
from wrencos_studio.media.sources import MediaPipeline, StillPicture, parse_source
from wrencos_studio.media.testsrc import TestPattern

SMALL = VideoSettings(160, 120, 15, 200_000)


class Collected:
    """What a pipeline hands over: encoded video packets and preview frames (luma means)."""

    def __init__(self) -> None:
        self.video = 0
        self.preview_luma: list[float] = []

    def on_video(self, _packet: Any) -> None:
        self.video += 1

    def on_preview(self, frame: av.VideoFrame) -> None:
        gray = frame.reformat(format="gray")
        data = bytes(gray.planes[0])
        self.preview_luma.append(sum(data) / len(data))


def _pipeline(spec: str, got: Collected) -> MediaPipeline:
    pipe = MediaPipeline(
        parse_source(spec), SMALL, asyncio.get_running_loop(), got.on_video, lambda _p: None
    )
    pipe.microphone = "none"
    pipe.on_preview = got.on_preview
    return pipe


async def _until(predicate: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_screen_sources_parse() -> None:
    """``screen`` and ``screen:DISPLAY`` are sources; the error lists them."""
    assert parse_source("screen") == sources.SourceSpec("screen", "")
    assert parse_source("screen::99").target == ":99"
    with pytest.raises(sources.SourceError, match=r"screen\[:DISPLAY\]"):
        parse_source("/no/such/clip.mp4")


def test_still_picture_is_the_last_frame_dimmed() -> None:
    """Luma 200 becomes 108 (halfway to black, 16); chroma is kept; every call is a new
    frame of the stream's size; without a last frame it is dark grey."""
    bright = av.VideoFrame(160, 120, "yuv420p")
    for plane, value in zip(bright.planes, (200, 90, 160), strict=True):
        plane.update(bytes([value]) * plane.buffer_size)
    still = StillPicture(160, 120, bright)
    a, b = still.frame(), still.frame()
    assert a is not b and (a.width, a.height) == (160, 120)
    assert set(bytes(a.planes[0])[:160]) == {108}
    assert set(bytes(a.planes[1])[:80]) == {90} and set(bytes(a.planes[2])[:80]) == {160}
    dark = StillPicture(160, 120).frame()
    assert set(bytes(dark.planes[0])[:160]) == {40}


async def test_a_missing_camera_goes_on_as_a_still_picture() -> None:
    """No such camera: ``error`` says "not found" and the stream still gets frames."""
    got = Collected()
    pipe = _pipeline("camera:/dev/video-missing", got)
    pipe.start()
    try:
        await _until(lambda: got.video >= 10)
        assert pipe.error is not None and "not found" in pipe.error
    finally:
        pipe.stop()


def _short_clip(path: Path, frames: int = 8) -> None:
    """A bright 160x120 clip of ``frames`` frames at 15 fps."""
    pattern = TestPattern(160, 120)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=15)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(frames):
            frame = pattern.frame()
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


async def test_a_lost_camera_keeps_its_last_picture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A camera that stops sending (here a short clip stands in for the device): the
    reason is in ``error``, frames keep coming, and the preview shows it dimmed."""
    clip = tmp_path / "camera.mkv"
    _short_clip(clip)
    monkeypatch.setattr(sources, "_camera_input", lambda _device: (str(clip), "matroska"))
    got = Collected()
    pipe = _pipeline("camera:/dev/video0", got)
    pipe.start()
    try:
        await _until(lambda: pipe.error is not None)
        assert "was lost" in pipe.error and "stopped sending pictures" in pipe.error
        live_luma = max(got.preview_luma)
        sent = got.video
        await _until(lambda: got.video >= sent + 10)
        await _until(lambda: len(got.preview_luma) >= 3 and got.preview_luma[-1] < live_luma)
    finally:
        pipe.stop()


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="needs Xvfb (Debian: xvfb)")
async def test_the_screen_is_grabbed_under_xvfb(tmp_path: Path) -> None:
    """``screen::N`` grabs a real X display with PyAV's x11grab: frames, no error."""
    display = ":87"
    xvfb = subprocess.Popen(  # noqa: ASYNC220 (a server kept running, not waited on)
        ["Xvfb", display, "-screen", "0", "320x240x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await _until(lambda: Path(f"/tmp/.X11-unix/X{display[1:]}").exists(), 10)
        got = Collected()
        pipe = _pipeline(f"screen:{display}", got)
        pipe.start()
        try:
            await _until(lambda: got.video >= 10)
            assert pipe.error is None
        finally:
            pipe.stop()
    finally:
        xvfb.terminate()
        xvfb.wait(10)


@pytest.mark.skipif(
    not Path("/usr/share/alsa/alsa.conf").is_file(), reason="no system ALSA configuration"
)
def test_pyavs_alsa_is_pointed_at_the_system_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The wheel's alsa-lib gets the system's alsa.conf (its own build path exists
    nowhere); a value the user set is kept."""
    import os

    for name in ("ALSA_CONFIG_DIR", "ALSA_CONFIG_PATH", "ALSA_PLUGIN_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALSA_CONFIG_DIR", "/etc/my-alsa")
    sources._use_system_alsa_config()
    assert os.environ["ALSA_CONFIG_PATH"] == "/usr/share/alsa/alsa.conf"
    assert os.environ["ALSA_CONFIG_DIR"] == "/etc/my-alsa"


async def test_one_aac_encode_is_shared_and_runs_only_while_wanted() -> None:
    """The pipeline's AAC encode (LL-HLS and the Media Source rung's AAC viewers): one
    encoder for every sink, each getting the same packets; none before the first sink or
    after the last; started again later, its clock goes on where the sound is (no jump
    back), so the outputs' timelines need no resync."""
    pipe = MediaPipeline(
        parse_source("testsrc"), SMALL, asyncio.get_running_loop(), lambda _p: None, lambda _p: None
    )
    first: list[Any] = []
    second: list[Any] = []
    pipe.start()
    try:
        await asyncio.sleep(0.5)
        assert pipe.aac_starts == 0  # nobody wants AAC: no encoder
        pipe.add_aac_sink(first.append)
        pipe.add_aac_sink(second.append)
        await _until(lambda: len(first) >= 40)  # ~0.9 s of sound
        pipe.remove_aac_sink(first.append)
        pipe.remove_aac_sink(second.append)
        await asyncio.sleep(0.3)  # packets already handed to the loop may still come
        assert pipe.aac_starts == 1
        assert [id(p) for p in first] == [id(p) for p in second]  # the same packets
        pts = [p.pts for p in first]
        assert all(b - a == 1024 for a, b in itertools.pairwise(pts)), pts[:10]
        stopped_at = len(first)
        await asyncio.sleep(0.5)
        assert len(first) == stopped_at  # the encoder stopped with the last sink
        again: list[Any] = []
        pipe.add_aac_sink(again.append)
        await _until(lambda: len(again) >= 10)
        assert pipe.aac_starts == 2
        # The clock counts the sound captured meanwhile (~0.5 s) and never goes back.
        gap_s = (again[0].pts - pts[-1]) / 48000
        assert 0.3 < gap_s < 1.5, gap_s
        assert bytes(again[0]) and again[0].time_base == first[0].time_base
    finally:
        pipe.stop()


async def test_before_go_live_the_test_pattern_draws_only_what_the_preview_shows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not encoding (the preview before Go Live), the synthetic camera draws only the
    frames the preview takes (every third at 30 fps) and makes only the sound frames the
    meter reads; the capture still counts every frame, and the bar keeps its pace.
    Encoding, it draws every frame."""
    drawn: list[int] = []
    real_frame = TestPattern.frame

    def counted(self: TestPattern, ms: int | None = None) -> av.VideoFrame:
        drawn.append(self._frame_index)
        return real_frame(self, ms)

    monkeypatch.setattr(TestPattern, "frame", counted)
    settings = VideoSettings(160, 120, 30, 200_000)
    got = Collected()
    levels: list[float] = []
    pipe = MediaPipeline(
        parse_source("testsrc"), settings, asyncio.get_running_loop(), got.on_video, lambda _p: None
    )
    pipe.on_preview = got.on_preview
    pipe.on_audio_level = levels.append
    pipe.encoding = False
    pipe.start()
    try:
        await _until(lambda: pipe.stats.video_frames >= 30)
        frames, previews = pipe.stats.video_frames, len(got.preview_luma)
        assert len(drawn) == previews and abs(frames / 3 - previews) <= 1, (frames, previews)
        assert all(b - a == 3 for a, b in itertools.pairwise(drawn)), drawn  # the bar's pace
        assert got.video == 0
        assert max(levels) > 0.2  # frame 0 is in the beep (the first 100 ms of a second)
        assert abs(pipe.stats.audio_frames / 5 - len(levels)) <= 1  # the meter: every fifth
        pipe.set_encoding(True)
        before = len(drawn)
        start = pipe.stats.video_frames
        await _until(lambda: pipe.stats.video_frames >= start + 15)
        assert len(drawn) - before >= pipe.stats.video_frames - start - 1  # every frame now
        await _until(lambda: got.video > 0)
    finally:
        pipe.stop()
