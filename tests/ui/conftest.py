"""Fixtures of the window's tests: ``studio``, a real studio and its window, offscreen."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QMessageBox

from tests.helpers.testutils import SECRET
from tests.ui.running import Running


def studio_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **settings: Any
) -> Iterator[Running]:
    """A running studio window (small frames) whose studio settings also hold
    ``settings``; dialogs that ask are answered as a presenter clicking through."""
    monkeypatch.setenv("WRENCOS_JWT_SECRET", SECRET)
    # Confirmation dialogs answer "Yes" (a presenter clicking through them).
    monkeypatch.setattr(
        QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Yes)
    )
    # Information boxes are read and closed (they would wait for a click offscreen).
    monkeypatch.setattr(
        QMessageBox, "information", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Ok)
    )
    data = tmp_path / "data"
    data.mkdir()
    # Small frames: the studio and a decoding viewer share this machine's 2 cores.
    (data / "studio-settings.json").write_text(json.dumps({"video_size": "320x180", **settings}))
    running = Running(data)
    yield running
    running.close()


@pytest.fixture
def studio(tmp_path: Path, qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Running]:
    yield from studio_with(tmp_path, monkeypatch)
