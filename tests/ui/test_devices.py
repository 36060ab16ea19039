"""Honest devices in the studio window: a missing camera and a missing microphone are said
in words with what to do, the stream goes on with a still picture, and the sound meter
shows only when a sound can come."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.testutils import SECRET
from tests.ui.running import Running
from wrencos_studio.media import sources
from wrencos_studio.ui.panels.broadcast import device_advice

pytestmark = pytest.mark.slow


@pytest.fixture
def open_studio_with(tmp_path: Path, qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Start a studio whose settings pick ``source``; this machine shows ``cameras`` and
    a microphone or not."""
    monkeypatch.setenv("WRENCOS_JWT_SECRET", SECRET)
    made: list[Running] = []

    def start(source: str, *, cameras: list[str], mic: bool) -> Running:
        monkeypatch.setattr(sources, "list_cameras", lambda: list(cameras))
        monkeypatch.setattr(sources, "microphone_present", lambda: mic)
        data = tmp_path / f"data{len(made)}"
        data.mkdir()
        settings = {"video_size": "320x180", "source": source}
        (data / "studio-settings.json").write_text(json.dumps(settings))
        made.append(Running(data))
        return made[-1]

    yield start
    for running in made:
        running.close()


def test_advice_in_words() -> None:
    """Each problem the media layer reports becomes a sentence with what to do."""
    missing = device_advice("camera", "camera /dev/video0 not found", None, cameras=0, mic=True)
    assert missing == [
        "No camera found. Connect one and pick it under Source. Customers see a still "
        "picture meanwhile; the stream goes on."
    ]
    busy = device_advice(
        "camera", "camera x is busy (used by another program)", None, cameras=1, mic=True
    )
    assert "used by another program" in busy[0] and "Close it" in busy[0]
    lost = device_advice("screen", "screen :0 was lost (boom)", None, cameras=0, mic=True)
    assert lost[0].startswith("The screen was lost")
    assert "No microphone found" in device_advice("camera", None, None, cameras=1, mic=False)[0]
    assert "could not be opened" in device_advice("camera", None, "no mic", cameras=1, mic=True)[0]
    assert device_advice("testsrc", None, None, cameras=0, mic=False)[0].startswith(
        "No camera found on this machine"
    )
    assert device_advice("testsrc", None, None, cameras=1, mic=False) == []
    assert device_advice("camera", None, None, cameras=1, mic=True) == []


def test_a_missing_camera_is_said_and_the_stream_goes_on(open_studio_with: Any) -> None:
    """The chosen camera is not there: the window says so in words, the preview keeps
    getting (still) frames, and going live works."""
    studio = open_studio_with("camera:/dev/video-missing", cameras=[], mic=False)
    panel = studio.window.broadcast
    studio.until(lambda: "No camera found" in panel.device_label.text(), timeout=10)
    assert panel.device_label.isVisible()
    assert "still picture" in panel.device_label.text()
    assert "No microphone found" in panel.device_label.text()
    assert not panel.meter.isVisible()  # no microphone: no meter
    assert not panel.mic.isEnabled() and panel.mic.currentText() == "No microphone found"
    frames: list[int] = []
    studio.studio.preview_ready.connect(lambda: frames.append(1))
    studio.until(lambda: len(frames) >= 3)
    studio.run(studio.studio.go_live("On a still", ""))
    assert studio.studio.hub is not None and studio.studio.hub.stream is not None


def test_no_camera_on_the_machine_is_said_over_the_test_pattern(open_studio_with: Any) -> None:
    """No camera at all: the test pattern runs and the window says why, with what to do;
    the screen and a video file are offered as sources; with a microphone, its meter."""
    studio = open_studio_with("testsrc", cameras=[], mic=True)
    panel = studio.window.broadcast
    assert panel.device_label.isVisible()
    assert panel.device_label.text().startswith("No camera found on this machine")
    items = [panel.source.itemText(i) for i in range(panel.source.count())]
    assert "Test pattern" in items and "Video file…" in items
    assert ("Screen" in items) is sources.screen_available()
    assert panel.meter.isVisible()
    panel.mic.setCurrentIndex(panel.mic.findData("none"))  # no microphone picked: no meter
    assert not panel.meter.isVisible()


def test_a_camera_with_a_microphone_has_its_meter(open_studio_with: Any) -> None:
    """With a microphone and a (here missing) camera: the meter stays, no mic warning."""
    studio = open_studio_with("camera:/dev/video-missing", cameras=["/dev/video-missing"], mic=True)
    panel = studio.window.broadcast
    studio.until(lambda: "No camera found" in panel.device_label.text(), timeout=10)
    assert panel.mic.isEnabled() and panel.mic.currentText() == "Default microphone"
    assert "No microphone" not in panel.device_label.text()


def test_a_camera_lost_while_live_is_said_and_the_show_goes_on(
    open_studio_with: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Live on a camera that stops sending (a short clip stands in for it): the window
    says it was lost and what to do; frames keep reaching the preview; still live."""
    from tests.media.test_sources import _short_clip

    clip = tmp_path / "camera.mkv"
    _short_clip(clip, frames=30)
    monkeypatch.setattr(sources, "_camera_input", lambda _device: (str(clip), "matroska"))
    studio = open_studio_with("camera:/dev/video0", cameras=["/dev/video0"], mic=False)
    studio.run(studio.studio.go_live("Camera show", ""))
    panel = studio.window.broadcast
    studio.until(lambda: "The camera was lost" in panel.device_label.text(), timeout=15)
    assert "Plug it back in" in panel.device_label.text()
    frames: list[int] = []
    studio.studio.preview_ready.connect(lambda: frames.append(1))
    studio.until(lambda: len(frames) >= 3)
    assert panel.live and studio.studio.hub is not None and studio.studio.hub.stream
