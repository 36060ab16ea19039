"""Staff stations as first-class windows (the studio's snapshot on connect, only what the
role may do, a refused token said clearly with a non-zero exit), and a taken port as a
question with a way out."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

from tests.helpers.testutils import SECRET, token
from tests.ui.running import Running, join_as_customer, next_of_type
from wrencos_studio.ui.app import next_free_port, open_studio
from wrencos_studio.ui.studio import Station, Studio, StudioSettings
from wrencos_studio.ui.window import MainWindow

pytestmark = pytest.mark.slow


@pytest.fixture
def critical(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Error dialogs as (title, text), answered at once."""
    shown: list[tuple[str, str]] = []

    def record(_parent: Any, title: str, text: str, *_a: Any) -> QMessageBox.StandardButton:
        shown.append((title, text))
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "critical", staticmethod(record))
    return shown


def _buttons(window: MainWindow) -> set[str]:
    return {b.text() for b in window.findChildren(QPushButton) if not b.isHidden()}


def _station(studio: Running, tmp_path: Path, qtbot: Any, tok: str) -> MainWindow:
    station = Station(studio.url, tok, tmp_path / "station")
    window = MainWindow(station)
    qtbot.addWidget(window)
    return window


def _close_station(studio: Running, window: MainWindow) -> None:
    window.live = False
    window.close()
    studio.run(window.studio.shutdown())


def test_station_starts_with_the_studio_snapshot(
    studio: Running, tmp_path: Path, qtbot: Any
) -> None:
    """Live with 2 viewers, a like, a chat line, a pin and a customer question: a station
    connecting then shows all of it at once, and LIVE."""
    bridge = studio.studio.bridge
    studio.run(bridge.save_product({"productId": "serum", "name": "Serum", "price": 12}))
    studio.run(studio.studio.go_live("Snapshot show", ""))

    async def room() -> list[Any]:
        a = await join_as_customer(studio.url, "viewer-a")
        b = await join_as_customer(studio.url, "viewer-b")
        await next_of_type(b, "stream_started")
        await a.send(json.dumps({"type": "toggle_like"}))
        await a.send(json.dumps({"type": "chat_message", "username": "Ana", "message": "Hi!"}))
        await next_of_type(a, "chat_message")
        await b.send(json.dumps({"type": "customer_message", "message": "Is it vegan?"}))
        await bridge.pin_products([{"productId": "serum", "name": "Serum", "price": 12}])
        await next_of_type(a, "pinned_products_updated")
        return [a, b]

    customers = studio.run(room())
    hub = studio.studio.hub
    assert hub is not None
    studio.until(lambda: hub.viewer_count == 2)

    window = _station(studio, tmp_path, qtbot, token("sam", "staff"))
    assert studio.run(open_studio(window, window.studio)) is None
    window.started()
    try:
        studio.until(
            lambda: (
                window.chat.model.rowCount() == 1
                and window.products.pinned_model.rowCount() == 1
                and window.inbox.conversations_model.rowCount() == 1
                and window.viewers == 2
            )
        )
        studio.until(lambda: window.audience.figures.text() == "2 viewers · 1 like")
        assert "Hi!" in window.chat.model.index(0, 0).data()
        assert window.live_badge.text().startswith("● LIVE")
        assert window.show_figures_label.text() == "2 viewers · 1 like"
    finally:
        for ws in customers:
            studio.run(ws.close())
        _close_station(studio, window)


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_a_station_offers_only_what_its_role_may_do(
    studio: Running, tmp_path: Path, qtbot: Any, role: str
) -> None:
    """A staff token: no Pin, Add, Edit or Delete, no pin hotkeys; an admin token may pin
    (button and Ctrl+1…9) but edits no catalog; neither goes live."""
    window = _station(studio, tmp_path, qtbot, token("sam", role))
    buttons = _buttons(window)
    assert not buttons & {"Go Live", "Add…", "Edit…", "Delete", "Import CSV…"}
    assert ("Pin / unpin" in buttons) is (role == "admin")
    assert ("pin1" in window.actions_) is (role == "admin")
    assert "live" not in window.actions_ and "settings" not in window.actions_
    assert ("Ctrl+1" in window.shortcuts_text()) is (role == "admin")
    assert "Ctrl+L" not in window.shortcuts_text()


def _forged(**claims: Any) -> str:
    base = {"userId": "sam", "role": "staff", "exp": 4_000_000_000}
    return jwt.encode({**base, **claims}, SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    ("tok", "said"),
    [
        (
            jwt.encode({"userId": "x", "role": "staff", "exp": 4_000_000_000}, "other" * 8),
            "not signed",
        ),
        (_forged(exp=1_600_000_000), "expired on 2020-09-13"),
        (_forged(role="customer"), "role is 'customer'"),
        ("not-a-token", "not a staff token"),
    ],
)
def test_a_refused_token_is_a_clear_dialog_and_exit_3(
    studio: Running, tmp_path: Path, qtbot: Any, critical: list[Any], tok: str, said: str
) -> None:
    """The station does not open: a dialog says why and what to do; the exit code is 3."""
    window = _station(studio, tmp_path, qtbot, tok)
    assert studio.run(open_studio(window, window.studio)) == 3
    [(title, text)] = critical
    assert title == "Staff token refused"
    assert said in text and "wrencos-studio token" in text
    assert not window.isVisible()
    studio.run(window.studio.shutdown())


def test_the_station_program_exits_3_on_an_expired_token(
    tmp_path: Path, critical: list[Any], capfd: pytest.CaptureFixture[str]
) -> None:
    """`wrencos-studio station` (its ``main``) against a real `serve` process, with an
    expired token: the dialog, the reason on stderr for scripts, exit code 3, no
    traceback."""
    import gc

    from tests.helpers.serve import serving_sync
    from wrencos_studio.ui.app import main

    with serving_sync(tmp_path / "hub") as served:
        code = main(station=(served.url, _forged(exp=1_600_000_000)), data_dir=tmp_path / "st")
    gc.collect()
    asyncio.set_event_loop(None)
    assert code == 3
    assert critical and "expired on 2020-09-13" in critical[0][1]
    err = capfd.readouterr().err
    assert "the token was refused" in err and "expired" in err
    assert "Traceback" not in err


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        yield holder.getsockname()[1]


def _click_later(text: str) -> None:
    """Click the button ``text`` of the dialog that is about to be shown."""

    def click() -> None:
        box = QApplication.activeModalWidget()
        if box is None:
            QTimer.singleShot(20, click)
            return
        for button in box.findChildren(QPushButton):
            if button.text() == text:
                button.click()
                return
        raise AssertionError(f"no button {text!r} in {box.windowTitle()!r}")

    QTimer.singleShot(20, click)


def test_port_in_use_offers_the_next_free_port(
    studio: Running,
    tmp_path: Path,
    qtbot: Any,
    taken_port: int,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A second studio on a taken port: a dialog offers the next free port; taking it
    starts the studio there and keeps it in the settings; no traceback anywhere."""
    data = tmp_path / "second"
    data.mkdir()
    (data / "studio-settings.json").write_text(json.dumps({"port": taken_port}))
    second = Studio(data)
    window = MainWindow(second)
    qtbot.addWidget(window)
    free = next_free_port(taken_port)
    assert free is not None and free > taken_port
    _click_later(f"Use port {free}")
    try:
        assert studio.run(open_studio(window, second)) is None
        assert second.port == free
        assert StudioSettings(data)["port"] == free
        texts = window.port_box.text() + window.port_box.informativeText()
        assert f"Port {taken_port} is already in use" in texts
        assert {b.text() for b in window.port_box.buttons()} == {
            f"Use port {free}",
            "Settings…",
            "Quit",
        }
    finally:
        window.close()
        studio.run(second.shutdown())
    captured = capfd.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert not [r for r in caplog.records if r.exc_info]  # nothing logged a traceback


def test_port_in_use_quit_ends_with_code_2(
    studio: Running, tmp_path: Path, qtbot: Any, taken_port: int
) -> None:
    """Quit in the port dialog: the studio does not start; exit code 2."""
    data = tmp_path / "third"
    data.mkdir()
    (data / "studio-settings.json").write_text(json.dumps({"port": taken_port}))
    third = Studio(data)
    window = MainWindow(third)
    qtbot.addWidget(window)
    _click_later("Quit")
    assert studio.run(open_studio(window, third)) == 2
    assert third.app is None


def test_port_in_use_settings_lets_the_presenter_pick_the_port(
    studio: Running, tmp_path: Path, qtbot: Any, taken_port: int
) -> None:
    """Settings… in the port dialog opens the settings; the port saved there is used."""
    from wrencos_studio.ui.dialogs import SettingsDialog

    data = tmp_path / "fourth"
    data.mkdir()
    (data / "studio-settings.json").write_text(json.dumps({"port": taken_port}))
    fourth = Studio(data)
    window = MainWindow(fourth)
    qtbot.addWidget(window)
    chosen = next_free_port(taken_port + 5)
    assert chosen is not None

    def fill_settings() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, SettingsDialog):
            QTimer.singleShot(20, fill_settings)
            return
        dialog.port.setValue(chosen)
        dialog.accept()

    _click_later("Settings…")
    QTimer.singleShot(60, fill_settings)
    try:
        assert studio.run(open_studio(window, fourth)) is None
        assert fourth.port == chosen and StudioSettings(data)["port"] == chosen
    finally:
        window.close()
        studio.run(fourth.shutdown())


def test_a_refused_token_dialog_closes_by_itself_when_nobody_clicks(
    studio: Running, tmp_path: Path, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real dialog, unattended (a script started the station): it closes by itself
    and the station still ends with code 3."""
    from wrencos_studio.ui import window as window_module

    monkeypatch.setattr(window_module, "REFUSED_DIALOG_S", 1)
    window = _station(studio, tmp_path, qtbot, "not-a-token")
    assert studio.run(open_studio(window, window.studio), timeout=15) == 3
    assert QApplication.activeModalWidget() is None
    studio.run(window.studio.shutdown())
