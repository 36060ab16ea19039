"""Small shared test utilities: the test secret and tokens, free ports, Chromium's launch
options, and the `probe` viewer process."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

from wrencos_studio.hub.auth import mint_token

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "SECRET",
    "chromium_options",
    "free_port",
    "run_probe",
    "token",
]

SECRET = "test-secret-0123456789abcdef0123456789abcdef"


def token(user_id: str = "alice", role: str = "admin", ttl: int = 3600) -> str:
    """A staff token signed with :data:`SECRET` (what every test hub and `serve` trusts)."""
    return mint_token(SECRET, user_id, role, ttl)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for servers that must keep one port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As root in a closed network: no sandbox, and nothing in the background phoning home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_options() -> dict[str, Any]:
    """Keyword arguments for Playwright's ``chromium.launch()`` and
    ``launch_persistent_context()``: Debian's headless Chromium with :data:`CHROMIUM_ARGS`."""
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (apt-get install chromium)"
    return {"executable_path": CHROMIUM, "headless": True, "args": list(CHROMIUM_ARGS)}


async def run_probe(url: str, *args: str, timeout: float = 90) -> list[dict[str, Any]]:
    """Run ``wrencos_studio.media.probe`` (viewers in another process) against ``url``;
    its report, one JSON object per viewer."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wrencos_studio.media.probe",
        url,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
