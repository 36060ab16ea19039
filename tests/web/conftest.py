"""What the page tests share: Debian's headless Chromium, and a hub on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningHub
from tests.helpers.browser import chromium
from tests.helpers.testutils import free_port


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """One headless Chromium (tests/helpers/browser.py), closed after the test."""
    async with chromium() as b:
        yield b


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[RunningHub]:
    """A hub serving the customer page on a free port of 127.0.0.1."""
    running = RunningHub(tmp_path / "data", port=free_port())
    await running.start()
    try:
        yield running
    finally:
        await running.stop()
