"""WHIP egress in the studio: the settings dialog's publish/playback fields (checked, saved)
and a WHIP endpoint's trouble said in the health line while live, the local stream
untouched."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox

from tests.helpers.testutils import free_port
from tests.ui.conftest import studio_with
from tests.ui.running import Running

pytestmark = pytest.mark.skipif(
    os.environ.get("WRENCOS_NETNS") != "1",
    reason="UI tests with media run only inside a private network namespace",
)


def test_settings_dialog_checks_and_saves_the_delivery_urls(studio: Running) -> None:
    from wrencos_studio.ui.dialogs import SettingsDialog
    from wrencos_studio.ui.studio import StudioSettings

    dialog = SettingsDialog(studio.window, studio.studio)
    assert dialog.whip_token.echoMode() == dialog.whip_token.EchoMode.Password
    warnings: list[str] = []
    original = QMessageBox.warning
    QMessageBox.warning = staticmethod(lambda *a, **k: warnings.append(a[2]))  # type: ignore[method-assign]
    try:
        dialog.whip_url.setText("sfu.example.com/whip")
        dialog.accept()
        dialog.whip_url.setText("")
        dialog.whip_token.setText("secret")
        dialog.accept()
        dialog.whip_url.setText("https://sfu.example.com/whip/endpoint/shop")
        dialog.whep_url.setText("ftp://sfu.example.com/whep")
        dialog.accept()
    finally:
        QMessageBox.warning = original  # type: ignore[method-assign]
    assert "Publish to WHIP URL='sfu.example.com/whip' is not an absolute" in warnings[0]
    assert warnings[1] == "A WHIP token needs a WHIP URL"
    assert "WHEP URL='ftp://sfu.example.com/whep'" in warnings[2]
    assert StudioSettings(studio.studio.data_dir)["whip_url"] == ""  # nothing saved yet
    dialog.whep_url.setText(" https://sfu.example.com/whep/shop ")
    dialog.public_hls_url.setText("https://cdn.example.com/live/index.m3u8")
    dialog.accept()
    again = StudioSettings(studio.studio.data_dir)
    assert again["whip_url"] == "https://sfu.example.com/whip/endpoint/shop"
    assert again["whip_token"] == "secret"
    assert again["whep_url"] == "https://sfu.example.com/whep/shop"
    assert again["public_hls_url"] == "https://cdn.example.com/live/index.m3u8"


@pytest.fixture
def whip_studio(tmp_path: Path, qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Running]:
    """A studio whose WHIP URL (from its settings) points at a closed port."""
    yield from studio_with(
        tmp_path,
        monkeypatch,
        whip_url=f"http://127.0.0.1:{free_port()}/whip/endpoint/shop",
        whip_token="t",
    )


def test_an_unreachable_whip_endpoint_is_said_in_the_health_line(whip_studio: Running) -> None:
    """Live with an unreachable WHIP endpoint: the health line says so (and that it will
    try again); on End the publisher stops and the line no longer speaks of WHIP."""
    studio = whip_studio
    w = studio.window
    broadcaster = studio.studio.broadcaster
    assert broadcaster is not None and broadcaster.whip is not None
    assert broadcaster.whip.state == "stopped"  # the preview alone publishes nothing
    studio.run(studio.studio.go_live("Serums", ""))
    studio.until(lambda: "cannot reach the WHIP endpoint" in w.health_label.text(), timeout=15)
    assert "retrying in" in w.health_label.text()
    assert "encode" in w.health_label.text()  # the rest of the line as before
    studio.run(studio.studio.end())
    assert broadcaster.whip.state == "stopped"
    studio.until(lambda: "WHIP" not in w.health_label.text(), timeout=5)  # not live: quiet
