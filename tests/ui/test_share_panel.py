"""The Share panel's "Share outside this network", driven in the real studio window with
stand-in tunnel clients first on PATH: the address and its QR code appear, a browser
origin from it gets in, stopping or quitting ends the client, and without one installed
the panel says what to install."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest.importorskip("qasync")

from PySide6.QtGui import QImage
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.helpers.testutils import SECRET
from tests.test_tunnel import STANDINS, _gone, _helpers
from tests.ui.running import Running
from wrencos_studio.ui.panels.share import START_TEXT, STOP_TEXT
from wrencos_studio.ui.widgets.qr import qr_pixmap

pytestmark = pytest.mark.slow

PUBLIC = "https://oklahoma-solo-younger-truck.trycloudflare.com"


@pytest.fixture
def standin_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "standin.log"
    monkeypatch.setenv("PATH", f"{STANDINS}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("WRENCOS_STANDIN_LOG", str(log))
    monkeypatch.delenv("WRENCOS_STANDIN_MODE", raising=False)
    return log


@pytest.fixture
def running(tmp_path: Path, qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Running]:
    """A studio and its window; a test may close it itself (quitting)."""
    monkeypatch.setenv("WRENCOS_JWT_SECRET", SECRET)
    data = tmp_path / "data"
    data.mkdir()
    (data / "studio-settings.json").write_text(json.dumps({"video_size": "320x180"}))
    r = Running(data)
    yield r
    if not getattr(r, "closed", False):
        r.close()


def _close(r: Running) -> None:
    r.close()
    r.closed = True  # type: ignore[attr-defined]


async def _pong(url: str, origin: str) -> bool:
    """True if a WebSocket with this Origin gets in (and answers), False on 403."""
    try:
        async with connect(url, origin=origin) as ws:  # type: ignore[arg-type]
            await ws.send('{"type":"ping"}')
            return bool(json.loads(await ws.recv()) == {"type": "pong"})
    except InvalidStatus as exc:
        assert exc.response.status_code == 403
        return False


def test_share_outside_shows_the_address_and_stops(running: Running, standin_log: Path) -> None:
    """One click: the public address and its QR code; its origin gets in; a second click
    stops the client and the origin is refused again."""
    panel = running.window.share
    running.window.show_panel("share")  # the presenter opens the Share dock
    assert panel.public_button.text() == START_TEXT
    assert not running.run(_pong(running.url, PUBLIC))

    panel.public_button.click()
    running.until(lambda: panel.sharing)
    assert panel.public_url.text() == PUBLIC + "/"
    assert panel.public_url.isVisible() and panel.public_qr.isVisible()
    assert panel.public_button.text() == STOP_TEXT
    assert "cloudflared" in panel.public_status.text()
    shown: QImage = panel.public_qr.pixmap().toImage()
    assert not shown.isNull() and shown == qr_pixmap(PUBLIC + "/").toImage()
    assert running.run(_pong(running.url, PUBLIC))
    helpers = _helpers(standin_log)
    assert helpers and not any(_gone(p) for p in helpers)

    panel.public_button.click()
    running.until(lambda: not panel.sharing and panel.public_button.isEnabled())
    assert panel.public_button.text() == START_TEXT
    assert not panel.public_url.isVisible()
    assert "no longer works" in panel.public_status.text()
    running.until(lambda: all(_gone(p) for p in helpers), timeout=5)
    assert not running.run(_pong(running.url, PUBLIC))


def test_quitting_stops_the_tunnel(running: Running, standin_log: Path) -> None:
    """Closing the studio while sharing outside ends the client and everything it started."""
    panel = running.window.share
    running.window.show_panel("share")  # the presenter opens the Share dock
    panel.public_button.click()
    running.until(lambda: panel.sharing)
    tunnel = running.studio.app.tunnel
    assert tunnel is not None
    pids = [tunnel.pid, *_helpers(standin_log)]
    _close(running)
    assert tunnel.process.returncode is not None
    assert all(_gone(p) for p in pids)


def test_no_client_installed_says_what_to_install(
    running: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no tunnel client on PATH the panel names cloudflared, ngrok and tailscale, with
    their download pages, and a click starts nothing."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    panel = running.window.share
    running.window.show_panel("share")  # the presenter opens the Share dock
    panel.public_button.click()
    running.until(lambda: "No tunnel program is installed" in panel.public_status.text())
    text = panel.public_status.text()
    for needle in ("cloudflared", "https://ngrok.com/download", "https://tailscale.com/download"):
        assert needle in text
    assert not panel.sharing and panel.public_button.text() == START_TEXT
    assert running.studio.app.tunnel is None


def test_client_failing_is_said_in_words(
    running: Running, standin_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that exits at once: the panel quotes its last line and offers to try again."""
    monkeypatch.setenv("WRENCOS_STANDIN_MODE", "exit")
    panel = running.window.share
    running.window.show_panel("share")  # the presenter opens the Share dock
    panel.public_button.click()
    running.until(lambda: "Could not share" in panel.public_status.text())
    text = panel.public_status.text()
    assert "cloudflared stopped (exit code 1)" in text
    assert "failed to unmarshal quick Tunnel" in text
    assert panel.public_button.isEnabled() and panel.public_button.text() == START_TEXT
    assert not panel.sharing


def test_client_dying_while_shared_resets_the_panel(running: Running, standin_log: Path) -> None:
    """The client ending by itself: the address disappears, the reason is shown, the
    origin is refused."""
    import signal

    panel = running.window.share
    running.window.show_panel("share")  # the presenter opens the Share dock
    panel.public_button.click()
    running.until(lambda: panel.sharing)
    tunnel = running.studio.app.tunnel
    os.kill(tunnel.pid, signal.SIGKILL)
    running.until(lambda: not panel.sharing)
    assert "stopped working" in panel.public_status.text()
    assert not panel.public_qr.isVisible()
    assert not running.run(_pong(running.url, PUBLIC))
