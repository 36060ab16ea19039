"""The shared `serve` helper itself: a process that never listens fails clearly, with its
stderr, and a process is never left running."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.serve import serving, serving_sync


async def test_a_serve_that_exits_early_fails_with_its_stderr(tmp_path: Path) -> None:
    """An argument `serve` refuses: the failure quotes the command and what it printed."""
    with pytest.raises(AssertionError, match=r"(?s)--bogus.*exit code 2.*unrecognized argum"):
        async with serving(tmp_path, "--bogus"):
            pass


def test_a_serve_is_killed_when_the_block_raises(tmp_path: Path) -> None:
    """An error inside the block leaves no process behind (the sync flavour)."""
    with pytest.raises(RuntimeError), serving_sync(tmp_path) as served:
        assert served.url.startswith("ws://127.0.0.1:") and served.port > 0
        raise RuntimeError("test failed")
    assert served.proc.poll() is not None
