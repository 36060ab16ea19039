"""The replay actions of a past show (issue 14): link and QR, "Export MP4" on a worker
thread with a progress bar, and delete after a confirmation."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import av
import pytest
from PySide6.QtWidgets import QMessageBox

from tests.helpers.recordings import write_recording
from wrencos_studio.ui.widgets.replay_actions import ReplayActions

URL = "http://192.0.2.7:3000/replay/AbCdEfGhIjKlMnOpQrStUv"


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    return write_recording(tmp_path / "AbCdEfGhIjKlMnOpQrStUv.mp4", 3.0)


def test_link_and_qr_code(qtbot: Any, recording: Path) -> None:
    """The link is shown and copied; the QR code is drawn."""
    from PySide6.QtGui import QGuiApplication

    widget = ReplayActions("AbCdEfGhIjKlMnOpQrStUv", URL, recording)
    qtbot.addWidget(widget)
    assert widget.link.text() == URL
    assert not widget.qr.pixmap().isNull() and widget.qr.pixmap().width() > 50
    widget.copy_button.click()
    assert QGuiApplication.clipboard().text() == URL


def test_export_makes_an_mp4_of_the_same_length(
    qtbot: Any, recording: Path, tmp_path: Path
) -> None:
    """Export runs off the GUI thread, shows progress, and the file plays for 3 s with
    its index first."""
    widget = ReplayActions("AbCdEfGhIjKlMnOpQrStUv", URL, recording)
    qtbot.addWidget(widget)
    target = tmp_path / "export.mp4"
    with qtbot.waitSignal(widget.export_finished, timeout=20000) as done:
        widget.export_to(target)
        assert widget.exporting and widget.progress.isVisibleTo(widget)
        assert widget.export_button.text() == "Cancel export"
    path, duration = done.args
    assert Path(path) == target and abs(duration - 3.0) < 0.1
    assert not widget.exporting and widget.export_button.text() == "Export MP4…"
    assert "Exported 0:03" in widget.status.text()
    with av.open(str(target)) as c:
        assert abs(c.duration / av.time_base - 3.0) < 0.1
    data = target.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")


def test_export_of_a_missing_file_says_why(qtbot: Any, tmp_path: Path) -> None:
    """A recording that is not on this computer: nothing to export, and it says so."""
    widget = ReplayActions("AbCdEfGhIjKlMnOpQrStUv", URL, tmp_path / "gone.mp4")
    qtbot.addWidget(widget)
    assert not widget.export_button.isEnabled()
    assert "not on this computer" in widget.status.text()


def test_delete_asks_first(qtbot: Any, recording: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No: nothing happens. Yes: delete_requested with the replay id; mark_deleted after."""
    widget = ReplayActions("AbCdEfGhIjKlMnOpQrStUv", URL, recording)
    qtbot.addWidget(widget)
    asked: list[str] = []
    answer = [QMessageBox.StandardButton.No]

    def question(*args: Any, **kwargs: Any) -> QMessageBox.StandardButton:
        asked.append(args[2])
        return answer[0]

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    with qtbot.assertNotEmitted(widget.delete_requested):
        widget.delete_button.click()
    assert "removed for good" in asked[0]
    answer[0] = QMessageBox.StandardButton.Yes
    with qtbot.waitSignal(widget.delete_requested) as deleted:
        widget.delete_button.click()
    assert deleted.args == ["AbCdEfGhIjKlMnOpQrStUv"]
    widget.mark_deleted()
    assert widget.status.text() == "Replay deleted."
    assert not widget.delete_button.isVisibleTo(widget)


def test_a_show_without_recording(qtbot: Any) -> None:
    """No replay: it says so and offers nothing."""
    widget = ReplayActions(None)
    qtbot.addWidget(widget)
    assert widget.status.text() == "This show was not recorded."
    assert not widget.export_button.isVisibleTo(widget)


def test_the_bridge_turns_recording_messages_into_signals(qtbot: Any) -> None:
    """`recording_status` and `recording_deleted` reach the window as signals."""
    from wrencos_studio.hub import protocol as p
    from wrencos_studio.ui.bridge import HubBridge

    bridge = HubBridge()
    with qtbot.waitSignal(bridge.recording_status) as status:
        bridge.dispatch(p.RecordingStatus("low_disk", "Disk almost full", "r" * 22, 5))
    assert status.args == [
        {"state": "low_disk", "message": "Disk almost full", "replayId": "r" * 22, "freeBytes": 5}
    ]
    with qtbot.waitSignal(bridge.recording_deleted) as deleted:
        bridge.dispatch(p.RecordingDeleted("r" * 22, True))
    assert deleted.args == ["r" * 22, True]


def test_recording_is_a_studio_setting(studio: Any) -> None:
    """On by default in the running studio; the settings dialog turns it off (and the
    listing on) for the next start."""
    from wrencos_studio.ui.dialogs import SettingsDialog
    from wrencos_studio.ui.studio import StudioSettings

    assert studio.studio.app.settings.recording is True
    assert studio.studio.app.settings.list_replays is False
    dialog = SettingsDialog(studio.window, studio.studio)
    assert dialog.record_shows.isChecked() and not dialog.list_replays.isChecked()
    dialog.record_shows.setChecked(False)
    dialog.list_replays.setChecked(True)
    dialog.accept()
    again = StudioSettings(studio.studio.data_dir)
    assert again["record_shows"] is False and again["list_replays"] is True


def test_past_shows_offers_the_chosen_shows_replay(
    qtbot: Any, recording: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past shows puts the chosen show's replay actions in its actions area: the link and
    file from the studio's ``replay_location``, delete sent to the hub as
    ``delete_recording`` after the confirmation, ``recording_deleted`` shown; where
    replays may not be deleted (a staff station) there is no Delete."""
    from wrencos_studio.ui.bridge import HubBridge

    sent: list[dict[str, Any]] = []

    class Recorded(HubBridge):
        async def request(self, message: dict[str, Any]) -> None:
            sent.append(message)

    bridge = Recorded()
    rid = "AbCdEfGhIjKlMnOpQrStUv"
    asked: list[str] = []

    def location(replay_id: str) -> tuple[str, Path | None]:
        asked.append(replay_id)
        return f"http://192.0.2.7:3000/replay/{replay_id}", recording

    loop = asyncio.new_event_loop()  # what the dialog spawns runs here (no qasync needed)
    asyncio.set_event_loop(loop)
    try:
        _past_shows_flow(qtbot, loop, bridge, sent, location, asked, rid, monkeypatch)
    finally:
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
        asyncio.set_event_loop(None)


def _past_shows_flow(
    qtbot: Any,
    loop: asyncio.AbstractEventLoop,
    bridge: Any,
    sent: list[dict[str, Any]],
    location: Any,
    asked: list[str],
    rid: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from wrencos_studio.hub import protocol as p
    from wrencos_studio.ui.dialogs.past_shows import PastShowsDialog

    dialog = PastShowsDialog(None, bridge, location, can_delete_replays=True)
    qtbot.addWidget(dialog)
    dialog.show_details({"streamId": "s1", "title": "Spring", "replayId": rid})
    actions = dialog.replay_actions
    assert actions is not None and asked == [rid]
    assert actions.link.text() == URL and actions.export_button.isEnabled()
    assert actions.delete_button.isVisibleTo(dialog)
    monkeypatch.setattr(
        QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Yes)
    )
    actions.delete_button.click()
    loop.run_until_complete(asyncio.sleep(0.05))
    assert {"type": "delete_recording", "replayId": rid} in sent
    bridge.dispatch(p.RecordingDeleted(rid, True))
    assert not actions.link.isVisibleTo(dialog)  # marked deleted: no link to share

    dialog.show_details({"streamId": "s2", "title": "Unrecorded"})
    assert dialog.replay_actions is not actions
    assert dialog.replay_actions.status.text() == "This show was not recorded."

    station = PastShowsDialog(None, bridge, location, can_delete_replays=False)
    qtbot.addWidget(station)
    station.show_details({"streamId": "s1", "title": "Spring", "replayId": rid})
    assert station.replay_actions is not None
    assert not station.replay_actions.delete_button.isVisibleTo(station)
