"""CPU of the studio's GUI/loop thread, offscreen with the preview on, idle or under a
chat-and-like load (compare with ``--serve``, the same load against headless serve):

    scripts/netns-run .venv/bin/python scripts/studio_load.py --clients 50 --seconds 15
    scripts/netns-run .venv/bin/python scripts/studio_load.py --clients 50 --serve
    scripts/netns-run .venv/bin/python scripts/studio_load.py --clients 0   # idle preview

Each client registers, then sends a chat line and a like every 250 ms (within the
5/s buckets); every chat line and every like's stream_update reaches every client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wrencos_studio.hub.auth import mint_token  # noqa: E402

SECRET = "studio-load-secret-" + "x" * 24


def cpu_ticks(pid: int) -> dict[str, int]:
    """user+system clock ticks of each thread of ``pid``."""
    ticks = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks[tid] = int(fields[11]) + int(fields[12])
    return ticks


async def customer(url: str, n: int, stop: asyncio.Event, received: list[int]) -> None:
    async with connect(url, max_size=2**22) as ws:
        await ws.send(json.dumps({"type": "register", "sessionId": f"load-{n:05d}-session"}))

        async def read() -> None:
            async for _ in ws:
                received[0] += 1

        reader = asyncio.create_task(read())
        i = 0
        while not stop.is_set():
            line = {"type": "chat_message", "username": f"c{n}", "message": f"hello {i}"}
            await ws.send(json.dumps(line))
            await ws.send(json.dumps({"type": "toggle_like"}))
            i += 1
            await asyncio.sleep(0.25)
        reader.cancel()


def start(serve: bool) -> tuple[subprocess.Popen[str], str]:
    """The studio (offscreen, test pattern preview) or serve; its WebSocket URL."""
    data = Path(tempfile.mkdtemp())
    (data / "studio-settings.json").write_text(json.dumps({"port": 0, "source": "testsrc"}))
    extra = ["serve", "--port", "0", "--source", "testsrc", "--data-dir", str(data)]
    env = {
        **os.environ,
        "WRENCOS_DATA_DIR": str(data),
        "WRENCOS_JWT_SECRET": SECRET,
        "QT_QPA_PLATFORM": "offscreen",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "wrencos_studio", *(extra if serve else [])],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    while "listening" not in line:
        line = proc.stdout.readline()
    return proc, "ws://127.0.0.1:" + line.split()[-1].rstrip("/").rsplit(":", 1)[1]


async def measure(pid: int, url: str, clients: int, seconds: float) -> tuple[float, float, float]:
    """Deliveries per second, the loop thread's and the process's CPU (% of a core)."""
    admin = await connect(url)
    token = mint_token(SECRET, "load", "admin")
    await admin.send(json.dumps({"type": "register_admin", "token": token}))
    await admin.send(json.dumps({"type": "start_stream", "title": "load"}))
    await asyncio.sleep(3)
    stop, received = asyncio.Event(), [0]
    tasks = [asyncio.create_task(customer(url, n, stop, received)) for n in range(clients)]
    await asyncio.sleep(2)
    before, t0, got0 = cpu_ticks(pid), time.monotonic(), received[0]
    await asyncio.sleep(seconds)
    after, elapsed, got = cpu_ticks(pid), time.monotonic() - t0, received[0] - got0
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    await admin.close()
    hz = os.sysconf("SC_CLK_TCK")
    loop = (after[str(pid)] - before[str(pid)]) / hz / elapsed * 100
    total = (sum(after.values()) - sum(before.get(t, 0) for t in after)) / hz / elapsed * 100
    return got / elapsed, loop, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--serve", action="store_true", help="headless serve, not the studio")
    args = parser.parse_args()
    proc, url = start(args.serve)
    try:
        rate, loop, total = asyncio.run(measure(proc.pid, url, args.clients, args.seconds))
    finally:
        proc.terminate()
        proc.wait(20)
    print(
        f"{'serve' if args.serve else 'studio'}: {args.clients} clients, {rate:.0f} "
        f"deliveries/s; GUI/loop thread {loop:.1f}% of a core, process {total:.1f}%"
    )


if __name__ == "__main__":
    main()
