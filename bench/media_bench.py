"""WebRTC media fan-out benchmark: our encode-once sender vs aiortc's default per-viewer path,
level by level in the same run.

    .venv/bin/python bench/media_bench.py [--viewers 1,5,10,20,40] [--seconds 10]
                                          [--size 1280x720] [--fps 30] [--rounds 3]
                                          [--picture plain|busy]
    .venv/bin/python bench/media_bench.py --via webrtc,fmp4,webcodecs [--browser]
                                          [--rounds 5] [--seconds 5]

``--via`` compares the ways to one viewer instead (issue 15): WebRTC, fMP4 over the
WebSocket (the page's Media Source rung) and the packet fallback (WebCodecs) — time to
first frame (probe connect to first decoded frame), glass-to-glass from the stamps, and the
studio's CPU while that one viewer watches; ``--browser`` adds Chromium's own first frame
on a plain-http LAN address with UDP denied (navigation start to first frame shown).

For each viewer count N and each path (``ours``: ``wrencos-studio serve --source testsrc``;
``aiortc``: bench/aiortc_default_sender.py, MediaRelay + one encoder per viewer), on a fresh
server: N viewers join through the hub's signalling — one decoding viewer
(wrencos_studio.media.probe.watch, for glass-to-glass latency read from the frame stamps)
and N-1 light viewers (bench/light_viewer.py: aiortc receivers that count RTP and never
decode), at most ``--per-process`` per process. Once every viewer receives (or
``--connect-timeout`` passed), after ``--settle`` s, the sender's CPU (utime+stime from
/proc/PID/stat, % of one core), every viewer's frame rate and the decoding viewer's latency
are measured over the same ``--seconds`` window. A viewer below 80 % of the source frame
rate is "stalled". Our levels run ``--rounds`` times, interleaved, and the table shows the
median CPU per level (the base load drifts between minutes on a shared machine); the
event-loop thread's CPU is shown apart. Raw JSON lines go to
bench/results/media-<timestamp>.jsonl.

Runs inside a private network namespace (re-executes itself through scripts/netns-run unless
WRENCOS_NETNS=1): ICE only sees loopback and a veth pair, and no STUN server is configured.
Exit status 0 only if our path meets every target.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from _netns import run_inside_netns  # bench/, this script's folder

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
PY = str(REPO / ".venv" / "bin" / "python")
if not os.path.exists(PY):
    PY = sys.executable
OURS_BIN = str(REPO / ".venv" / "bin" / "wrencos-studio")
CLK_TCK = os.sysconf("SC_CLK_TCK")
SECRET = "media-bench-secret-0123456789abcdef0123456789"

STALL_FRACTION = 0.8
TARGET_CPU_RATIO = 1.3
TARGET_P95_MS = 100.0


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- /proc -------------------------------------------------------------------------------


def proc_cpu_s(pid: int) -> float:
    """utime+stime of a process (all its threads), seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    rest = text[text.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def thread_cpu_s(pid: int, tid: int) -> float:
    """utime+stime of one thread, seconds (0 if it is gone)."""
    try:
        text = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
    except OSError:
        return 0.0
    rest = text[text.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def host_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(fields[:8])
    idle = fields[3] + fields[4]
    return total - idle, total


# -- processes ---------------------------------------------------------------------------


class Server:
    def __init__(
        self,
        path: str,
        size: str,
        fps: int,
        relay: str,
        picture: str,
        tmp: Path,
        host: str = "127.0.0.1",
    ) -> None:
        self.path = path
        if path == "ours":
            self.argv = [
                OURS_BIN, "--log-level", "WARNING", "serve", "--host", host,
                "--port", "0", "--source", "testsrc" if picture == "plain" else "testsrc:busy",
                "--video-size", size, "--fps", str(fps),
            ]  # fmt: skip
        else:
            self.argv = [
                PY, str(BENCH / "aiortc_default_sender.py"), "--video-size", size,
                "--fps", str(fps),
            ]  # fmt: skip
            if relay == "unbuffered":
                self.argv.append("--unbuffered-relay")
            if picture == "busy":
                self.argv.append("--busy")
        self.tmp = tmp
        self.log_path = tmp / f"{path}-server.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""

    async def start(self) -> None:
        data = self.tmp / f"{self.path}-data"
        data.mkdir()
        env = {
            **os.environ,
            "WRENCOS_DATA_DIR": str(data),
            "WRENCOS_JWT_SECRET": SECRET,
            "WRENCOS_ICE_SERVERS": "",  # never a STUN/TURN server
        }
        env.pop("WRENCOS_REDIS_URL", None)
        with open(self.log_path, "wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                env=env,
                start_new_session=True,
            )
        assert self.proc.stdout is not None
        try:
            line = (await asyncio.wait_for(self.proc.stdout.readline(), 30)).decode().strip()
        except TimeoutError:
            line = ""
        if not line.startswith("listening on"):
            await self.stop()
            raise RuntimeError(f"{self.path} server did not start: {line!r} {self.log_tail()}")
        self.url = "ws://127.0.0.1:" + line.rsplit(":", 1)[1]

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_tail(self, n: int = 400) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-n:]
        return ""

    async def stop(self) -> int | None:
        proc = self.proc
        if proc is None:
            return None
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # its own session: only its tree
                await proc.wait()
        return proc.returncode


class ViewerProc:
    """One bench/light_viewer.py process, driven by ``snap`` / ``quit`` lines."""

    def __init__(self, url: str, light: int, tmp: Path, name: str, nice: int = 0) -> None:
        args = ["--decode"] if light == 0 else ["--viewers", str(light), "--nice", str(nice)]
        self.argv = [PY, str(BENCH / "light_viewer.py"), url, *args]
        self.name = name
        self.decoding = light == 0
        self.count = max(1, light)
        self.log_path = tmp / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.launched = 0.0

    async def start(self) -> None:
        with open(self.log_path, "wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                start_new_session=True,
            )
        self.launched = time.monotonic()

    async def snap(self, timeout: float = 10.0) -> dict[str, Any] | None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return None
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(b"snap\n")
            await proc.stdin.drain()
            line = await asyncio.wait_for(proc.stdout.readline(), timeout)
            return json.loads(line) if line else None
        except (TimeoutError, ConnectionError, json.JSONDecodeError):
            return None

    async def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(Exception):
                assert proc.stdin is not None
                proc.stdin.write(b"quit\n")
                await proc.stdin.drain()
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()


# -- one level ---------------------------------------------------------------------------


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)


async def _snap_all(procs: list[ViewerProc]) -> list[dict[str, Any] | None]:
    return list(await asyncio.gather(*(p.snap() for p in procs)))


def _receiving(procs: list[ViewerProc], snaps: list[dict[str, Any] | None]) -> tuple[int, int]:
    """(viewers that got a video frame, viewers) in a round of snapshots."""
    got = total = 0
    for proc, snap in zip(procs, snaps, strict=True):
        n = proc.count
        total += n
        if snap is None:
            continue
        for v in snap["viewers"]:
            first = (
                v.get("firstFrameT") if proc.decoding else (v.get("video") or {}).get("firstFrameT")
            )
            got += first is not None
    return got, total


async def run_level(
    path: str, n: int, args: argparse.Namespace, tmp: Path, round_no: int = 1
) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "type": "level",
        "path": path,
        "viewers": n,
        "round": round_no,
        "size": args.size,
        "picture": args.picture,
        "fps": args.fps,
        "seconds": args.seconds,
        "relay": args.aiortc_relay if path == "aiortc" else None,
        "time": datetime.now().isoformat(timespec="seconds"),
        "notes": [],
    }
    t_level = time.monotonic()
    tmp.mkdir(parents=True, exist_ok=True)
    server = Server(path, args.size, args.fps, args.aiortc_relay, args.picture, tmp)
    procs: list[ViewerProc] = []
    try:
        await server.start()
        # Idle: the sender with nobody watching (ours encodes anyway, aiortc does not).
        await asyncio.sleep(1.0)
        c0, t0 = proc_cpu_s(server.pid), time.monotonic()
        await asyncio.sleep(args.idle_seconds)
        rec["cpuIdlePct"] = round((proc_cpu_s(server.pid) - c0) / (time.monotonic() - t0) * 100, 1)

        # Join: the decoding viewer first, then the light viewers in chunks.
        procs.append(ViewerProc(server.url, 0, tmp, f"{path}-{n}-decode"))
        light = n - 1
        i = 0
        while light > 0:
            k = min(args.per_process, light)
            procs.append(ViewerProc(server.url, k, tmp, f"{path}-{n}-light{i}", args.viewer_nice))
            light -= k
            i += 1
        t_join = time.monotonic()
        for p in procs:
            await p.start()
        deadline = t_join + args.connect_timeout
        got = 0
        while True:
            await asyncio.sleep(0.5)
            snaps = await _snap_all(procs)
            got, total = _receiving(procs, snaps)
            if got >= total or time.monotonic() > deadline:
                break
            if proc_rss_mb(server.pid) > args.max_rss_mb:
                rec["notes"].append(f"sender RSS over {args.max_rss_mb} MB while joining")
                break
        rec["joinS"] = round(time.monotonic() - t_join, 1)
        rec["receivingAtStart"] = got
        if got < n:
            rec["notes"].append(f"only {got}/{n} viewers received video within the join phase")

        await asyncio.sleep(args.settle)

        # The measurement window.
        s0 = await _snap_all(procs)
        h0 = host_cpu()
        c0, t0 = proc_cpu_s(server.pid), time.monotonic()
        loop0 = thread_cpu_s(server.pid, server.pid)
        rss_max = proc_rss_mb(server.pid)
        end = t0 + args.seconds
        while (left := end - time.monotonic()) > 0:
            await asyncio.sleep(min(1.0, left))
            rss_max = max(rss_max, proc_rss_mb(server.pid))
        c1, t1 = proc_cpu_s(server.pid), time.monotonic()
        loop1 = thread_cpu_s(server.pid, server.pid)
        h1 = host_cpu()
        s1 = await _snap_all(procs)
        window = t1 - t0
        rec["windowS"] = round(window, 2)
        rec["cpuPct"] = round((c1 - c0) / window * 100, 1)
        # The event-loop (main) thread alone: signalling, RTP/SRTP/sendto for every viewer.
        # Ours encodes on other threads, so this is where its per-viewer cost shows.
        rec["loopCpuPct"] = round((loop1 - loop0) / window * 100, 1)
        rec["rssMaxMb"] = round(rss_max, 1)
        rec["hostBusyPct"] = round((h1[0] - h0[0]) / max(1, h1[1] - h0[1]) * 100, 1)

        # Per viewer figures over the window.
        light_fps: list[float] = []
        ts_fps: list[float] = []
        pps: list[float] = []
        kbps: list[float] = []
        lost = packets = 0
        viewer_cpu = 0.0
        probe: dict[str, Any] = {}
        missing = 0
        for proc, a, b in zip(procs, s0, s1, strict=True):
            if a is None or b is None:
                missing += proc.count
                rec["notes"].append(f"{proc.name}: no snapshot ({proc.log_path.name})")
                continue
            dt = b["t"] - a["t"]
            viewer_cpu += b["cpuS"] - a["cpuS"]
            if proc.decoding:
                va, vb = a["viewers"][0], b["viewers"][0]
                lat = vb["latenciesMs"]
                probe = {
                    "fps": round((vb["frames"] - va["frames"]) / dt, 1),
                    "stamped": vb["stamped"] - va["stamped"],
                    "latencyP50Ms": _pct(lat, 0.5),
                    "latencyP95Ms": _pct(lat, 0.95),
                    "latencyMaxMs": round(max(lat), 1) if lat else None,
                    "firstFrameS": round(vb["firstFrameT"] - proc.launched, 2)
                    if vb["firstFrameT"]
                    else None,
                    "error": vb["error"],
                }
                continue
            for va, vb in zip(a["viewers"], b["viewers"], strict=True):
                xa, xb = va.get("video") or {}, vb.get("video") or {}
                frames = xb.get("frames", 0) - xa.get("frames", 0)
                light_fps.append(round(frames / dt, 1))
                stamps = xb.get("timestamps", 0) - xa.get("timestamps", 0)
                ts_fps.append(stamps / dt)
                pps.append((xb.get("packets", 0) - xa.get("packets", 0)) / dt)
                kbps.append((xb.get("bytes", 0) - xa.get("bytes", 0)) * 8 / dt / 1000)
                lost += xb.get("lost", 0) - xa.get("lost", 0)
                packets += xb.get("packets", 0) - xa.get("packets", 0)
                if vb.get("error"):
                    rec["notes"].append(f"{vb['peerId']}: {vb['error']}")
        stall_below = STALL_FRACTION * args.fps
        all_fps = light_fps + ([probe["fps"]] if probe else [])
        rec["lightFps"] = light_fps
        rec["fpsMin"] = min(light_fps) if light_fps else None
        rec["fpsMedian"] = round(statistics.median(light_fps), 1) if light_fps else None
        rec["probe"] = probe
        rec["stalled"] = sum(1 for f in all_fps if f < stall_below) + missing
        rec["stalledProbe"] = bool(probe) and probe["fps"] < stall_below
        rec["kbpsMedian"] = round(statistics.median(kbps)) if kbps else None
        rec["ppsMedian"] = round(statistics.median(pps)) if pps else None  # video RTP packets/s
        # Frame rate from distinct RTP timestamps: a cross-check of the marker-bit count.
        rec["tsFpsMedian"] = round(statistics.median(ts_fps), 1) if ts_fps else None
        rec["lossPct"] = round(lost / max(1, lost + packets) * 100, 2) if light_fps else None
        rec["viewerCpuPct"] = round(viewer_cpu / window * 100, 1)
        # Whatever else kept the machine busy (this script, the kernel, other programs),
        # in % of one core: a large figure means the level was measured on a busy machine.
        rec["otherCpuPct"] = round(
            rec["hostBusyPct"] * (os.cpu_count() or 1) - rec["cpuPct"] - rec["viewerCpuPct"], 1
        )
        rec["latencyP50Ms"] = probe.get("latencyP50Ms")
        rec["latencyP95Ms"] = probe.get("latencyP95Ms")
    except Exception as exc:
        rec["error"] = f"{type(exc).__name__}: {exc}"
        rec["stalled"] = n
    finally:
        await asyncio.gather(*(p.stop() for p in procs), return_exceptions=True)
        code = await server.stop()
        if code not in (0, None) and path == "ours":
            rec["notes"].append(f"server exit status {code}: {server.log_tail(200)!r}")
        rec["levelS"] = round(time.monotonic() - t_level, 1)
    return rec


# -- ways to the viewer: first frame, glass-to-glass and the studio's CPU per path ---------

#: The page's address in the namespace (scripts/netns-run): not loopback, so plain http is
#: not a secure context, as a customer's LAN address is.
LAN_HOST = "10.200.0.1"
VIA_FLAGS = {"webrtc": [], "fmp4": ["--fmp4"], "webcodecs": ["--fallback"]}


async def _probe_once(url: str, via: str, seconds: float, viewers: int) -> dict[str, Any]:
    """``viewers`` decoding viewers of one path in one probe process: the medians of their
    figures (an error if any failed)."""
    proc = await asyncio.create_subprocess_exec(
        PY, "-m", "wrencos_studio.media.probe", url, "--seconds", str(seconds), *VIA_FLAGS[via],
        "--viewers", str(viewers),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), seconds + 60)
    lines = [json.loads(x) for x in out.decode().splitlines() if x.startswith("{")]
    if len(lines) != viewers or any("error" in r for r in lines):
        errors = [r.get("error") for r in lines if "error" in r]
        return {"error": f"probe exited {proc.returncode}: {len(lines)} viewers, {errors}"}
    merged: dict[str, Any] = {}
    for key in ("firstFrameMs", "fps", "latencyP50Ms", "latencyP95Ms"):
        values = [r[key] for r in lines if r.get(key) is not None]
        merged[key] = round(statistics.median(values), 1) if values else None
    return merged


async def _page_first_frame(port: int, deny_udp: bool, tmp: Path) -> dict[str, Any]:
    """Chromium opens http://10.200.0.1:PORT/ (UDP denied: the Media Source rung plays);
    the page's own first-frame time (ms after navigation start) and transport."""
    sys.path.insert(0, str(REPO))
    from playwright.async_api import async_playwright

    from tests.helpers.stamps import STAMP_READER_JS, g2g_summary
    from tests.helpers.testutils import chromium_options

    profile = tmp / f"profile-{time.monotonic_ns()}"
    if deny_udp:
        (profile / "Default").mkdir(parents=True)
        (profile / "Default" / "Preferences").write_text(
            json.dumps({"webrtc": {"ip_handling_policy": "disable_non_proxied_udp"}})
        )
    async with async_playwright() as pw:
        ctx = await pw.chromium.launch_persistent_context(str(profile), **chromium_options())
        await ctx.add_init_script(STAMP_READER_JS)
        try:
            page = await ctx.new_page()
            await page.goto(f"http://{LAN_HOST}:{port}/")
            for _ in range(150):
                stats = await page.evaluate("window.wrencosPlayer && window.wrencosPlayer.stats")
                if stats and stats["firstFrameMs"] is not None:
                    break
                await asyncio.sleep(0.1)
            else:
                return {"error": "no frame within 15 s"}
            # Glass-to-glass as the customer sees it: stamps read from the frames the page
            # presents (Media Source's buffer included), over the next seconds.
            await asyncio.sleep(4)
            g2g = g2g_summary(await page.evaluate("window.__g2g"), stats["transport"])
            return {
                "firstFrameMs": stats["firstFrameMs"],
                "transport": stats["transport"],
                "g2gP50Ms": g2g.get("p50"),
                "g2gP95Ms": g2g.get("p95"),
            }
        finally:
            await ctx.close()


async def run_vias(args: argparse.Namespace) -> int:
    """``--via``: one studio, each path watched ``--rounds`` times by one decoding viewer
    (wrencos_studio.media.probe: time to first frame from connecting, glass-to-glass from
    the stamps) while the studio's CPU is read; with ``--browser``, Chromium's own time to
    first frame on a plain-http LAN address without UDP (the Media Source rung)."""
    vias = [v.strip() for v in args.via.split(",") if v.strip()]
    unknown = [v for v in vias if v not in VIA_FLAGS]
    if unknown:
        log(f"unknown --via {unknown}: choose from {sorted(VIA_FLAGS)}")
        return 2
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="media-bench-via-") as tmpdir:
        tmp = Path(tmpdir)
        server = Server("ours", args.size, args.fps, "", args.picture, tmp, host="0.0.0.0")
        try:
            await server.start()
            url = server.url
            await asyncio.sleep(1.0)
            c0, t0 = proc_cpu_s(server.pid), time.monotonic()
            await asyncio.sleep(args.idle_seconds)
            idle = (proc_cpu_s(server.pid) - c0) / (time.monotonic() - t0) * 100
            for round_no in range(1, args.rounds + 1):
                for via in vias:
                    # Idle just before (the base load drifts on a shared machine), then the
                    # studio's CPU over --seconds while the viewers watch (they are given 3 s
                    # to start: Python imports, connecting, the first keyframe).
                    c0, t0 = proc_cpu_s(server.pid), time.monotonic()
                    await asyncio.sleep(args.idle_seconds)
                    idle = (proc_cpu_s(server.pid) - c0) / (time.monotonic() - t0) * 100
                    job = asyncio.ensure_future(
                        _probe_once(url, via, args.seconds + 4, args.via_viewers)
                    )
                    await asyncio.sleep(3.0)
                    c0, t0 = proc_cpu_s(server.pid), time.monotonic()
                    await asyncio.sleep(args.seconds)
                    cpu = (proc_cpu_s(server.pid) - c0) / (time.monotonic() - t0) * 100
                    r = await job
                    rec = {
                        "type": "via", "via": via, "round": round_no,
                        "firstFrameMs": r.get("firstFrameMs"), "fps": r.get("fps"),
                        "latencyP50Ms": r.get("latencyP50Ms"),
                        "latencyP95Ms": r.get("latencyP95Ms"),
                        "viewers": args.via_viewers,
                        "cpuPct": round(cpu, 1), "idleCpuPct": round(idle, 1),
                        "cpuOverIdlePct": round(cpu - idle, 1),
                        "error": r.get("error"),
                    }  # fmt: skip
                    records.append(rec)
                    log(json.dumps(rec))
                if args.browser:
                    port = int(url.rsplit(":", 1)[1])
                    page = await _page_first_frame(port, True, tmp)
                    rec = {"type": "page", "round": round_no, "udp": "denied", **page}
                    records.append(rec)
                    log(json.dumps(rec))
        finally:
            await server.stop()
    print(
        f"\nWays to the viewer, {args.size}@{args.fps}, {args.picture} picture, "
        f"{args.via_viewers} viewer(s) at a time, "
        f"median of {args.rounds} round(s); CPU in % of one core, over its idle (encoding, "
        f"nobody watching) measured just before"
    )
    print(
        f"{'path':<10} {'first frame ms':>14} {'g2g p50/p95 ms':>15} {'fps':>5} "
        f"{'CPU % (over idle)':>18}"
    )
    for via in vias:
        rs = [r for r in records if r.get("via") == via and not r["error"]]
        if not rs:
            print(f"{via:<10} {'failed':>14}")
            continue

        def med(key: str, rs: list[dict[str, Any]] = rs) -> float:
            return statistics.median(r[key] for r in rs if r[key] is not None)

        print(
            f"{via:<10} {med('firstFrameMs'):>14.0f} "
            f"{med('latencyP50Ms'):>7.0f}/{med('latencyP95Ms'):<7.0f} {med('fps'):>5.1f} "
            f"{med('cpuPct'):>10.1f} ({med('cpuOverIdlePct'):+.1f})"
        )
    pages = [r for r in records if r["type"] == "page" and "firstFrameMs" in r]
    if pages:
        ms = statistics.median(r["firstFrameMs"] for r in pages)
        shown = sorted({r["transport"] for r in pages})
        g50 = [r["g2gP50Ms"] for r in pages if r.get("g2gP50Ms") is not None]
        g95 = [r["g2gP95Ms"] for r in pages if r.get("g2gP95Ms") is not None]
        g2g = f"{statistics.median(g50):.0f}/{statistics.median(g95):.0f} ms" if g50 else "-"
        print(
            f"page (Chromium, http://{LAN_HOST}, UDP denied): first frame {ms:.0f} ms after "
            f"navigation, glass-to-glass p50/p95 of the frames shown {g2g} "
            f"(median of {len(pages)}; via {', '.join(shown)})"
        )
    out = (
        Path(args.jsonl)
        if args.jsonl
        else BENCH / "results" / f"media-via-{datetime.now().strftime('%Y%m%d-%H%M%S')}.jsonl"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")
    print(f"\nraw: {out}")
    return 0 if all(not r.get("error") for r in records) else 1


# -- report ------------------------------------------------------------------------------


def _f(value: Any, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def _range(r: dict[str, Any]) -> str:
    cpus = r.get("cpuRounds") or []
    return f"{min(cpus):.1f}-{max(cpus):.1f}" if len(cpus) > 1 else "-"


def combine(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per path and level from several rounds: CPU figures are the medians,
    latency the worst p95, stalls summed over the rounds; ``cpuRounds`` keeps each."""
    out: list[dict[str, Any]] = []
    keys = sorted({(r["viewers"], r["path"] != "ours", r["path"]) for r in records})
    for n, _, path in keys:
        rs = [r for r in records if r["path"] == path and r["viewers"] == n]
        ok = [r for r in rs if not r.get("error")]
        if not ok:
            out.append(rs[0])
            continue
        ok.sort(key=lambda r: r["cpuPct"])
        rec = dict(ok[(len(ok) - 1) // 2])  # the median round (lower median if even)
        rec["cpuRounds"] = [r["cpuPct"] for r in sorted(ok, key=lambda r: r["round"])]
        for key in ("cpuPct", "loopCpuPct", "cpuIdlePct", "viewerCpuPct", "otherCpuPct"):
            values = [r[key] for r in ok if r.get(key) is not None]
            rec[key] = round(statistics.median(values), 1) if values else None
        p95 = [r["latencyP95Ms"] for r in ok if r.get("latencyP95Ms") is not None]
        rec["latencyP95Ms"] = max(p95) if len(p95) == len(ok) else None
        rec["stalled"] = sum(r["stalled"] for r in rs)
        rec["rounds"] = len(rs)
        if len(ok) < len(rs):
            rec.setdefault("notes", []).append(f"{len(rs) - len(ok)} round(s) failed")
        out.append(rec)
    return out


def table(records: list[dict[str, Any]]) -> str:
    head = (
        f"{'path':<7}{'N':>4} {'recv':>6} {'join_s':>6}  {'fps min/med':>11} {'stall':>5}  "
        f"{'g2g p50/p95 ms':>14} {'probe_fps':>9}  {'kbps':>5} {'pps':>4} {'loss%':>5}  "
        f"{'cpu%':>6} {'range':>11} {'loop%':>5} {'idle%':>6} {'rss_mb':>6}  {'vcpu%':>5} "
        f"{'other%':>6} {'host%':>5}"
    )
    lines = [head, "-" * len(head)]
    for r in records:
        if r.get("error"):
            lines.append(f"{r['path']:<7}{r['viewers']:>4}  ERROR {r['error']}")
            continue
        p = r.get("probe") or {}
        fps = f"{_f(r.get('fpsMin'))}/{_f(r.get('fpsMedian'))}"
        lat = f"{_f(r.get('latencyP50Ms'), '{:.0f}')}/{_f(r.get('latencyP95Ms'), '{:.0f}')}"
        lines.append(
            f"{r['path']:<7}{r['viewers']:>4} {r['receivingAtStart']:>3}/{r['viewers']:<2} "
            f"{r['joinS']:>6.1f}  {fps:>11} {r['stalled']:>5}  {lat:>14} "
            f"{_f(p.get('fps')):>9}  {_f(r.get('kbpsMedian'), '{:.0f}'):>5} "
            f"{_f(r.get('ppsMedian'), '{:.0f}'):>4} "
            f"{_f(r.get('lossPct'), '{:.2f}'):>5}  {r['cpuPct']:>6.1f} {_range(r):>11} "
            f"{_f(r.get('loopCpuPct')):>5} {r['cpuIdlePct']:>6.1f} "
            f"{r['rssMaxMb']:>6.0f}  {r['viewerCpuPct']:>5.0f} {r['otherCpuPct']:>6.0f} "
            f"{r['hostBusyPct']:>5.0f}"
        )
    return "\n".join(lines)


def _round_ratios(records: list[dict[str, Any]], path: str, lo: int, hi: int) -> list[float]:
    by_round: dict[int, dict[int, float]] = {}
    for r in records:
        if r["path"] == path and not r.get("error") and r["viewers"] in (lo, hi):
            by_round.setdefault(r.get("round", 1), {})[r["viewers"]] = r["cpuPct"]
    return [v[hi] / v[lo] for _, v in sorted(by_round.items()) if lo in v and hi in v and v[lo] > 0]


def summary(
    combined: list[dict[str, Any]], records: list[dict[str, Any]], args: argparse.Namespace
) -> tuple[list[str], bool]:
    lines: list[str] = []
    ours_ok = True
    for path in ("ours", "aiortc"):
        rs = {r["viewers"]: r for r in combined if r["path"] == path and not r.get("error")}
        errors = [r for r in records if r["path"] == path and r.get("error")]
        if not rs and not errors:
            continue
        label = "ours  " if path == "ours" else "aiortc"
        tag = "" if path == "ours" else " (reference, no target)"
        lo, hi = (1, 20) if 1 in rs and 20 in rs else (min(rs, default=0), max(rs, default=0))
        ok_cpu = ok_lat = ok_stall = False
        if lo in rs and hi in rs and rs[lo]["cpuPct"] > 0:
            ratio = rs[hi]["cpuPct"] / rs[lo]["cpuPct"]
            ok_cpu = ratio <= TARGET_CPU_RATIO
            lines.append(
                f"{label} CPU at {hi} viewers / CPU at {lo}: {rs[hi]['cpuPct']:.1f}% / "
                f"{rs[lo]['cpuPct']:.1f}% = {ratio:.2f}x  (target <= {TARGET_CPU_RATIO}x)"
                + ("" if path != "ours" else ("  PASS" if ok_cpu else "  FAIL"))
                + tag
            )
            full = 90.0 * (os.cpu_count() or 1)
            if path != "ours" and rs[hi]["cpuPct"] >= full:
                lines.append(
                    f"{label}   the sender used the whole machine at {hi} viewers: "
                    "its ratio is a floor, and its viewers stalled instead"
                )
            per_round = _round_ratios(records, path, lo, hi)
            if len(per_round) > 1:
                lines.append(
                    f"{label}   median of {len(per_round)} interleaved rounds; "
                    f"per round {', '.join(f'{x:.2f}' for x in per_round)}"
                )
            if 40 in rs and hi != 40:
                lines.append(
                    f"{label} CPU at 40 viewers / CPU at {lo}: "
                    f"{rs[40]['cpuPct'] / rs[lo]['cpuPct']:.2f}x  (for information)"
                )
        p95 = [(r["latencyP95Ms"], n) for n, r in sorted(rs.items())]
        if p95 and all(v is not None for v, _ in p95):
            worst, at = max(p95)
            ok_lat = worst <= TARGET_P95_MS
            per = ", ".join(f"{n}:{v:.0f}" for v, n in p95)
            busy = [
                f"{n} viewers: host {rs[n]['hostBusyPct']:.0f}% busy"
                for v, n in p95
                if v > TARGET_P95_MS
            ]
            lines.append(
                f"{label} glass-to-glass p95 at {args.size}@{args.fps}, worst {worst:.0f} ms "
                f"at {at} viewers (per level {per})  (target <= {TARGET_P95_MS:.0f} ms)"
                + ("" if path != "ours" else ("  PASS" if ok_lat else "  FAIL"))
                + tag
            )
            if busy and path == "ours":
                lines.append(f"{label}   over target at {'; '.join(busy)}")
        else:
            lines.append(f"{label} glass-to-glass p95: missing at some level (no stamped frames)")
        stalled = [(n, r["stalled"]) for n, r in sorted(rs.items())]
        total = sum(s for _, s in stalled) + sum(r["viewers"] for r in errors)
        ok_stall = total == 0
        lines.append(
            f"{label} stalled viewers (fps < {STALL_FRACTION * args.fps:.0f}): {total} "
            f"(per level {', '.join(f'{n}:{s}' for n, s in stalled)})"
            + ("" if path != "ours" else ("  PASS" if ok_stall else "  FAIL"))
            + tag
        )
        if path == "ours":
            ours_ok = ok_cpu and ok_lat and ok_stall and not errors
    return lines, ours_ok


# -- main --------------------------------------------------------------------------------


async def amain(args: argparse.Namespace) -> int:
    levels = [int(x) for x in args.viewers.split(",") if x.strip()]
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    out = (
        Path(args.jsonl)
        if args.jsonl
        else (BENCH / "results" / f"media-{datetime.now().strftime('%Y%m%d-%H%M%S')}.jsonl")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    log(f"# results: {out}")
    config = {
        "type": "config",
        "levels": levels,
        "paths": paths,
        "size": args.size,
        "picture": args.picture,
        "fps": args.fps,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "perProcess": args.per_process,
        "aiortcRelay": args.aiortc_relay,
        "viewerNice": args.viewer_nice,
        "cpus": os.cpu_count(),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }
    records: list[dict[str, Any]] = []
    with open(out, "a") as fh, tempfile.TemporaryDirectory(prefix="media-bench-") as tmpdir:
        fh.write(json.dumps(config) + "\n")
        for round_no in range(1, args.rounds + 1):
            for n in levels:
                for path in paths:
                    if path != "ours" and round_no > 1:
                        continue  # the reference once: its figures are not a target
                    log(f"# round {round_no}, {path}: {n} viewer(s) ...")
                    where = Path(tmpdir) / f"{path}-{n}-r{round_no}"
                    rec = await run_level(path, n, args, where, round_no)
                    records.append(rec)
                    fh.write(json.dumps(rec) + "\n")
                    fh.flush()
                    brief = {k: v for k, v in rec.items() if k not in ("lightFps",)}
                    log(json.dumps(brief))
        combined = combine(records)
        lines, ours_ok = summary(combined, records, args)
        fh.write(json.dumps({"type": "summary", "lines": lines, "oursPass": ours_ok}) + "\n")
    print()
    print(
        f"Media fan-out, {args.size}@{args.fps}, {args.picture} picture, "
        f"{args.seconds:g} s window per level, ours: median of {args.rounds} round(s) "
        f"(aiortc relay: {args.aiortc_relay})"
    )
    print(table(combined))
    print()
    for line in lines:
        print(line)
    odd = [
        f"{r['path']} {r['viewers']} (round {r.get('round', 1)}): {note}"
        for r in records
        for note in r.get("notes", [])
    ]
    if odd:
        print("\nOdd figures:")
        for line in odd:
            print("  " + line)
    print(f"\nraw: {out}")
    return 0 if ours_ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--viewers", default="1,5,10,20,40", help="viewer counts, comma list")
    parser.add_argument("--seconds", type=float, default=10.0, help="measurement window")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="run our levels this many times, interleaved (1, 5, ... 40, 1, 5, ...), and "
        "report the median CPU of each level: the sender's base load drifts by several "
        "points of a core between minutes on a shared machine (the aiortc path runs once)",
    )
    parser.add_argument("--size", default="1280x720", help="video size WxH")
    parser.add_argument("--fps", type=int, default=30, help="source frame rate")
    parser.add_argument("--paths", default="ours,aiortc", help="which senders, comma list")
    parser.add_argument(
        "--picture",
        choices=["plain", "busy"],
        default="plain",
        help="plain: the test pattern (compresses to ~0.1 Mbit/s); busy: with a band of fresh "
        "noise, so the stream runs at its full bitrate (~2.5 Mbit/s at 720p)",
    )
    parser.add_argument("--per-process", type=int, default=10, help="light viewers per process")
    parser.add_argument(
        "--viewer-nice",
        type=int,
        default=10,
        help="nice (and autogroup nice) of the light viewer processes, so that on a small "
        "machine they take the CPU the sender and the decoding viewer leave (0: off)",
    )
    parser.add_argument("--connect-timeout", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=2.0, help="wait after all receive")
    parser.add_argument("--idle-seconds", type=float, default=2.0, help="idle CPU window")
    parser.add_argument(
        "--aiortc-relay",
        choices=["buffered", "unbuffered"],
        default="buffered",
        help="MediaRelay.subscribe(buffered=...) for the aiortc path (aiortc's default: buffered)",
    )
    parser.add_argument(
        "--max-rss-mb", type=float, default=4000, help="stop joining if a sender grows past this"
    )
    parser.add_argument("--jsonl", default=None, help="append the raw JSON lines here")
    parser.add_argument(
        "--via",
        default=None,
        help="instead of the fan-out levels: compare the ways to a viewer (comma list of "
        "webrtc, fmp4 = the Media Source rung, webcodecs = the packet fallback): time to first "
        "frame, glass-to-glass and the studio's CPU, one viewer at a time",
    )
    parser.add_argument(
        "--via-viewers",
        type=int,
        default=1,
        help="with --via: decoding viewers per path at a time (the CPU figure grows with them)",
    )
    parser.add_argument(
        "--browser",
        action="store_true",
        help="with --via: also Chromium's own first frame on http://10.200.0.1 without UDP",
    )
    args = parser.parse_args()
    run_inside_netns(__file__, PY)
    if args.via:
        return asyncio.run(run_vias(args))
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
