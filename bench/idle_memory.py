"""Idle memory per registered WebSocket connection (VmRSS delta / N): Node baseline vs ours, in one run."""

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def open_client(url: str, sid: str, timeout: float):
    """Connect, register as customer sid, wait for `registered`; returns the connection or None."""
    ws = None
    try:
        async with asyncio.timeout(timeout):
            ws = await connect(url, compression=None, ping_interval=None, open_timeout=None)
            await ws.send(json.dumps({"type": "register", "sessionId": sid}))
            while json.loads(await ws.recv()).get("type") != "registered":
                pass
        return ws
    except Exception:
        if ws is not None:
            await ws.close()
        return None


async def measure(name: str, argv: list[str], n: int, batch: int) -> dict:
    """Starts one server, measures its RSS before/after n idle registered clients, stops it."""
    res: dict = {"kind": "idle_memory", "server": name, "clients": n, "connected": 0}
    with tempfile.TemporaryDirectory(prefix="idlemem.") as tmp:
        data, log = Path(tmp, "data"), Path(tmp, "server.log")
        data.mkdir()
        port = free_port()
        argv = [a.replace("{port}", str(port)).replace("{data}", str(data)) for a in argv]
        env = {**os.environ, "WRENCOS_JWT_SECRET": SECRET, "WRENCOS_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"}
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, start_new_session=True)
        clients: list = []
        try:
            deadline = time.monotonic() + 20
            while "listening on" not in log.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {log.read_text(errors='replace')[-500:]}")
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            res["rss_before_kib"] = before = vmrss_kib(proc.pid)
            url = f"ws://127.0.0.1:{port}"
            t0 = time.monotonic()
            for i in range(0, n, batch):
                got = await asyncio.gather(*(open_client(url, f"idle-{uuid.uuid4().hex}", 15)
                                             for _ in range(i, min(n, i + batch))))
                clients += [c for c in got if c is not None]
            res["connected"], res["register_s"] = len(clients), round(time.monotonic() - t0, 2)
            await asyncio.sleep(2)
            res["rss_after_kib"] = after = vmrss_kib(proc.pid)
            res["kib_per_conn"] = round((after - before) / n, 2)
            if len(clients) != n:
                res["error"] = f"only {len(clients)}/{n} registered"
        except Exception as exc:  # report, never hang
            res["error"] = str(exc)
        finally:
            if clients:
                await asyncio.wait([asyncio.ensure_future(c.close()) for c in clients], timeout=10)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--jsonl", help="also append the two result lines to this file")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    cache = subprocess.run([str(SHARED / "prepare.sh")], check=True, capture_output=True, text=True).stdout.strip()
    ours = os.environ.get("WRENCOS_BIN", str(REPO / ".venv" / "bin" / "wrencos-studio"))
    servers = {
        "baseline": ["node", f"{cache}/baseline/server.js", "--port", "{port}", "--host", "127.0.0.1"],
        "ours": [ours, "serve", "--host", "127.0.0.1", "--port", "{port}", "--data-dir", "{data}"],
    }
    results = {}
    for name, argv in servers.items():
        try:
            r = asyncio.run(asyncio.wait_for(measure(name, argv, args.clients, args.batch), 180))
        except TimeoutError:
            r = {"kind": "idle_memory", "server": name, "clients": args.clients, "connected": 0, "error": "timed out"}
        results[name] = r
        print(f"idle memory {name:8}: {r['connected']}/{r['clients']} registered, VmRSS "
              f"{r.get('rss_before_kib')} -> {r.get('rss_after_kib')} KiB = {r.get('kib_per_conn')} KiB/conn"
              + (f"  ERROR: {r['error']}" if r.get("error") else ""))
        if args.jsonl:
            with open(args.jsonl, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(r) + "\n")
    b, o = results["baseline"].get("kib_per_conn"), results["ours"].get("kib_per_conn")
    if b and o is not None:
        print(f"idle memory ours/baseline: x{o / b:.2f}")
    ok = o is not None and o <= TARGET_KIB and not results["ours"].get("error")
    print(f"{'PASS' if ok else 'FAIL'}  ours at most {TARGET_KIB:.0f} KiB per idle connection ({o} KiB)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
