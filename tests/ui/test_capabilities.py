"""The studio and a staff station are one window with other capabilities."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QPushButton

from wrencos_studio.ui.capabilities import STATION, STUDIO
from wrencos_studio.ui.studio import Station, Studio
from wrencos_studio.ui.window import MainWindow

EDITING = {"Go Live", "Pin / unpin", "Add…", "Edit…", "Delete", "Import CSV…"}


def _buttons(window: MainWindow) -> set[str]:
    return {b.text() for b in window.findChildren(QPushButton)}


@pytest.mark.parametrize("who", ["studio", "station"])
def test_capabilities_of_studio_and_station(who: str) -> None:
    """The studio may do everything; a station neither broadcasts, pins nor edits the catalog."""
    caps = Studio.capabilities if who == "studio" else Station.capabilities
    assert caps == (STUDIO if who == "studio" else STATION)
    assert caps.can_moderate
    expected = who == "studio"
    assert caps.can_broadcast is caps.can_pin is caps.can_manage_catalog is expected
    assert caps.can_edit_settings is expected


def test_station_window_has_no_go_live_pinning_or_catalog_editing(
    tmp_path: Path, qtbot: Any
) -> None:
    """A station's window: no preview or Go Live, no pin or catalog buttons, no settings
    (its own alerts only), a pinned strip that cannot be dragged; chat and inbox are there."""
    window = MainWindow(Station("ws://127.0.0.1:9/", "token", tmp_path))
    qtbot.addWidget(window)
    assert window.broadcast is None and not window.live
    assert not _buttons(window) & EDITING
    assert {"Send", "Send reply", "Mark resolved"} <= _buttons(window)
    assert window.products.pinned.dragDropMode() == window.products.pinned.DragDropMode.NoDragDrop
    assert "settings" not in window.actions_ and "live" not in window.actions_
    assert not any(f"pin{n}" in window.actions_ for n in range(1, 10))
    menus = {a.text(): a.menu() for a in window.menuBar().actions()}
    # staff may export the catalog and read past shows
    assert [a.text() for a in menus["Catalog"].actions()] == [
        "Export catalog to CSV…",
        "Save CSV template…",
    ]
    # No settings: only the switches of its own alerts.
    assert window.actions_["alerts"].text() == "Alerts…"
    assert "staff station" in window.windowTitle()


def test_studio_window_has_them_all(tmp_path: Path, qtbot: Any) -> None:
    """The studio's window (not started): preview, Go Live, pin and catalog editing."""
    window = MainWindow(Studio(tmp_path, port=0))
    qtbot.addWidget(window)
    assert window.broadcast is not None
    assert _buttons(window) >= EDITING
    pinned = window.products.pinned
    assert pinned.dragDropMode() == pinned.DragDropMode.InternalMove
    assert [a.text() for a in window.menuBar().actions()] == [
        "&File",
        "&Show",
        "Catalog",
        "Shows",
        "&View",
        "&Help",
    ]
    assert window.actions_["settings"].text() == "Settings…"
    assert "alerts" not in window.actions_
