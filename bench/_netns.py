"""The media benchmarks' one way into the private network namespace.

WebRTC/ICE gathers candidates on every interface of the machine, so a benchmark that runs a
live server or browser media must run inside ``scripts/netns-run`` (loopback plus a veth
pair, 10.200.0.1/.2; no STUN server anywhere), as the media tests do."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NETNS_RUN = REPO / "scripts" / "netns-run"


def run_inside_netns(script: str, python: str | None = None) -> None:
    """Re-execute ``script`` (a path) with this process's arguments under ``python`` (default:
    this interpreter) inside ``scripts/netns-run``; return only when already inside
    (``WRENCOS_NETNS=1``, which netns-run sets). Never returns otherwise: ``os.execv``
    replaces this process (OSError if netns-run cannot be run)."""
    if os.environ.get("WRENCOS_NETNS") == "1":
        return
    netns = str(NETNS_RUN)
    os.execv(netns, [netns, python or sys.executable, str(Path(script).resolve()), *sys.argv[1:]])
