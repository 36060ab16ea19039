"""Idle memory per registered WebSocket connection (VmRSS delta / N): baseline vs ours."""

import argparse
import asyncio
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from websockets.asyncio.client import connect

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("WRENCOS_SHARED", REPO.parent / "shared" / "bench"))
TARGET_KIB = 30.0
SECRET = "idle-bench-secret-0123456789abcdef"


def vmrss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def start_server(argv: list[str], tmp: str) -> tuple[subprocess.Popen, int]:
    """Starts the server on a free loopback port; returns once it printed its listening line."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data, log = Path(tmp, "data"), Path(tmp, "server.log")
    data.mkdir()
    argv = [a.replace("{port}", str(port)).replace("{data}", str(data)) for a in argv]
    env = {**os.environ, "WRENCOS_JWT_SECRET": SECRET, "WRENCOS_DATA_DIR": str(data)}
    with open(log, "wb") as out:  # a file, not a pipe: a chatty server never blocks on it
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + 20
    while "listening on" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            raise RuntimeError(f"server did not start: {log.read_text(errors='replace')[-300:]}")
        time.sleep(0.05)
    time.sleep(0.5)
    return proc, port


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def open_client(url: str, sid: str):
    """Connects, registers as customer sid, waits for `registered`; the connection or None."""
    ws = None
    try:
        async with asyncio.timeout(15):
            ws = await connect(url, compression=None, ping_interval=None, open_timeout=None)
            await ws.send(json.dumps({"type": "register", "sessionId": sid}))
            while json.loads(await ws.recv()).get("type") != "registered":
                pass
        return ws
    except Exception:
        if ws is not None:
            await ws.close()
        return None


async def hold_clients(url: str, n: int, batch: int, pid: int) -> tuple[int, int]:
    """Opens n idle registered clients in batches, waits 2 s; (registered, VmRSS KiB then)."""
    clients = []
    try:
        for i in range(0, n, batch):
            count = min(n, i + batch) - i
            jobs = (open_client(url, f"idle-{uuid.uuid4().hex}") for _ in range(count))
            clients += [c for c in await asyncio.gather(*jobs) if c is not None]
        await asyncio.sleep(2)
        return len(clients), vmrss_kib(pid)
    finally:
        if clients:
            await asyncio.wait([asyncio.ensure_future(c.close()) for c in clients], timeout=10)


def measure(name: str, argv: list[str], n: int, batch: int) -> dict:
    res: dict = {"kind": "idle_memory", "server": name, "clients": n, "connected": 0}
    with tempfile.TemporaryDirectory(prefix="idlemem.") as tmp:
        try:
            proc, port = start_server(argv, tmp)
        except RuntimeError as exc:
            return {**res, "error": str(exc)}
        try:
            res["rss_before_kib"] = before = vmrss_kib(proc.pid)
            job = hold_clients(f"ws://127.0.0.1:{port}", n, batch, proc.pid)
            res["connected"], after = asyncio.run(asyncio.wait_for(job, 180))
            res["rss_after_kib"], res["kib_per_conn"] = after, round((after - before) / n, 2)
            if res["connected"] != n:
                res["error"] = f"only {res['connected']}/{n} registered"
        except Exception as exc:  # report it, never hang
            res["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            stop_server(proc)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--jsonl", help="also append the two result lines to this file")
    args = ap.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    prep = subprocess.run([str(SHARED / "prepare.sh")], check=True, capture_output=True, text=True)
    node_dir = prep.stdout.strip()
    ours = os.environ.get("WRENCOS_BIN", str(REPO / ".venv" / "bin" / "wrencos-studio"))
    servers = {
        "baseline": [
            "node",
            f"{node_dir}/baseline/server.js",
            "--port",
            "{port}",
            "--host",
            "127.0.0.1",
        ],
        "ours": [ours, "serve", "--host", "127.0.0.1", "--port", "{port}", "--data-dir", "{data}"],
    }
    results = {}
    for name, argv in servers.items():
        results[name] = r = measure(name, argv, args.clients, args.batch)
        print(
            f"idle memory {name:8}: {r['connected']}/{r['clients']} registered, VmRSS "
            f"{r.get('rss_before_kib')} -> {r.get('rss_after_kib')} KiB = "
            f"{r.get('kib_per_conn')} KiB/conn" + (f"  ERROR: {r['error']}" if "error" in r else "")
        )
        if args.jsonl:
            with open(args.jsonl, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(r) + "\n")
    b, o = results["baseline"].get("kib_per_conn"), results["ours"].get("kib_per_conn")
    if b and o is not None:
        print(f"idle memory ours/baseline: x{o / b:.2f}")
    ok = o is not None and o <= TARGET_KIB and "error" not in results["ours"]
    print(
        f"{'PASS' if ok else 'FAIL'}  ours at most {TARGET_KIB:.0f} KiB per idle connection "
        f"({o} KiB)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
