"""WHIP egress benchmark (issue 15, item 3b): the studio publishes its one encoded stream to a
real Janus through Debian's ``simple-whip-server`` (RFC 9725), and aiortc subscribers of the
Janus VideoRoom read the test pattern back; Janus, not the studio, fans it out.

    .venv/bin/python bench/whip_bench.py [--subscribers 4] [--rounds 3] [--seconds 8]
                                         [--size 1280x720] [--fps 30] [--picture plain|busy]

Each round, on fresh processes (Janus and simple-whip-server started exactly as the WHIP
tests start them, ``tests/helpers/janus.py``; the studio is ``wrencos-studio serve --source
testsrc`` as in ``tests/media/test_whip_janus.py``):

1. **idle**: a studio *without* a WHIP URL (encoding, nobody watching): its CPU over
   ``--seconds``, the base every other figure is compared with.
2. **Go Live → WHIP up**: a studio with ``WRENCOS_WHIP_URL``/``WRENCOS_WHIP_TOKEN``. Under
   ``serve`` the show is live from the start and the publisher starts with it; the time is
   read from the studio's own log (``--log-level INFO``, ms time stamps): from the
   publisher's first state (``WHIP connecting``, logged when Go Live starts it) to
   ``WHIP live`` (201 answered, ICE and DTLS connected: media flows to Janus).
3. **publishing, 0 subscribers**: the studio's CPU over ``--seconds``.
4. **1 subscriber**, then **N** (``--subscribers``): :class:`tests.helpers.janus.
   JanusSubscriber` (Janus's WebSocket API, an aiortc peer connection, every frame decoded
   and its stamp read, ``wrencos_studio.media.testsrc.read_stamp``) join one by one; each
   one's time from starting to subscribe to its first decoded frame; after ``--settle`` s,
   over ``--seconds``: the studio's CPU, Janus's CPU, each subscriber's frame rate and
   glass-to-glass (capture stamp to decoded frame, same clock) p50/p95 over all of them.

CPU is utime+stime from /proc (all threads), % of one core. The subscribers decode in this
process (its CPU is shown as ``bench%``), on the same 2 cores as the studio and Janus, so
``other%`` (whatever else the machine did) tells whether a level was measured on a busy
machine. Prints a table of medians over the rounds (and each round's CPU), saves the raw
JSON lines to ``bench/results/whip-<timestamp>.jsonl``. Exit status 0 only if every round
worked, the studio's CPU with N subscribers is within ``--max-growth`` (default 1.25x, plus
2 points of a core for the shared machine's noise) of its CPU publishing to nobody, and
every subscriber got at least 80 % of the source frame rate.

Runs inside the private network namespace (re-executes itself through scripts/netns-run
unless WRENCOS_NETNS=1): ICE sees loopback and a veth pair only; no STUN server anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from _netns import run_inside_netns  # bench/, this script's folder

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PY = str(REPO / ".venv" / "bin" / "python")
if not os.path.exists(PY):
    PY = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
STALL_FRACTION = 0.8
#: The studio's log line format (cli.py): "2026-11-30 03:12:01,234 INFO name: message".
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) \w+ [\w.]+: (.*)$")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def proc_cpu_s(pid: int) -> float:
    """utime+stime of a process (all its threads), seconds (0 if it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    rest = text[text.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def host_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields[:8]) - fields[3] - fields[4], sum(fields[:8])


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)


def whip_times(stderr: str) -> dict[str, float]:
    """Wall-clock seconds of the studio's first ``WHIP connecting`` and ``WHIP live`` lines."""
    found: dict[str, float] = {}
    for line in stderr.splitlines():
        m = LOG_LINE.match(line)
        if m is None or not m[3].startswith("WHIP "):
            continue
        state = m[3].split()[1].rstrip(":")
        if state in ("connecting", "live") and state not in found:
            t = datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S").timestamp() + int(m[2]) / 1000
            found[state] = t
    return found


async def measure(pids: dict[str, int], seconds: float) -> dict[str, float]:
    """CPU (% of one core) of each named process, and of the machine, over ``seconds``."""
    before = {name: proc_cpu_s(pid) for name, pid in pids.items()}
    h0, t0 = host_cpu(), time.monotonic()
    await asyncio.sleep(seconds)
    window = time.monotonic() - t0
    h1 = host_cpu()
    out = {
        name: round((proc_cpu_s(pid) - before[name]) / window * 100, 1)
        for name, pid in pids.items()
    }
    busy = (h1[0] - h0[0]) / max(1.0, h1[1] - h0[1]) * 100 * (os.cpu_count() or 1)
    out["other"] = round(busy - sum(out.values()), 1)
    return out


async def one_round(args: argparse.Namespace, tmp: Path, round_no: int) -> dict[str, Any]:
    from tests.helpers.janus import JanusSubscriber, janus_missing, janus_with_whip
    from tests.helpers.serve import serving

    missing = janus_missing()
    if missing:
        raise RuntimeError(missing)
    source = "testsrc" if args.picture == "plain" else "testsrc:busy"
    studio_args = ("--source", source, "--video-size", args.size, "--fps", str(args.fps))
    no_stun = {"WRENCOS_ICE_SERVERS": "", "WRENCOS_REDIS_URL": None}
    me = os.getpid()
    rec: dict[str, Any] = {"type": "round", "round": round_no, "levels": {}}
    tmp.mkdir(parents=True)
    async with janus_with_whip(tmp) as janus:
        # 1. idle: the same studio without WHIP (encoding, nobody watching).
        async with serving(tmp / "idle", *studio_args, env=no_stun) as idle:
            await asyncio.sleep(args.settle)
            cpu = await measure({"studio": idle.proc.pid, "janus": janus.janus_pid}, args.seconds)
            rec["levels"]["idle"] = {"cpu": cpu}
        # 2. Go Live with WHIP.
        env = {**no_stun, "WRENCOS_WHIP_URL": janus.whip_url, "WRENCOS_WHIP_TOKEN": janus.token}
        async with serving(tmp / "whip", *studio_args, env=env, log_level="INFO") as studio:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while "live" not in (times := whip_times(studio.stderr())):
                if loop.time() > deadline:
                    raise RuntimeError(f"WHIP not live within 30 s\n{janus.logs()}")
                await asyncio.sleep(0.05)
            rec["goLiveToWhipMs"] = round((times["live"] - times["connecting"]) * 1000)
            pids = {"studio": studio.proc.pid, "janus": janus.janus_pid, "bench": me}
            await asyncio.sleep(args.settle)
            rec["levels"]["0"] = {"cpu": await measure(pids, args.seconds)}
            subs: list[JanusSubscriber] = []
            try:
                for count in sorted({1, args.subscribers}):
                    while len(subs) < count:
                        sub = JanusSubscriber(janus.ws_url)
                        subs.append(sub)
                        await sub.watch(timeout=20)
                        until = loop.time() + args.connect_timeout
                        while sub.first_frame is None:
                            if loop.time() > until:
                                raise RuntimeError(f"subscriber {len(subs)}: no frame\n")
                            await asyncio.sleep(0.02)
                    await asyncio.sleep(args.settle)
                    frames0 = [s.frames for s in subs]
                    wall0 = int(time.time() * 1000)
                    cpu = await measure(pids, args.seconds)
                    wall1 = int(time.time() * 1000)
                    ages = [
                        decoded - drawn
                        for s in subs
                        for drawn, decoded in s.stamps
                        if wall0 <= decoded <= wall1
                    ]
                    fps = [
                        round((s.frames - f0) / ((wall1 - wall0) / 1000), 1)
                        for s, f0 in zip(subs, frames0, strict=True)
                    ]
                    rec["levels"][str(count)] = {
                        "cpu": cpu,
                        "fps": fps,
                        "g2gP50Ms": pct(ages, 0.5),
                        "g2gP95Ms": pct(ages, 0.95),
                        "stamped": len(ages),
                        "firstFrameMs": [
                            round((s.first_frame - s.started) * 1000)  # type: ignore[operator]
                            for s in subs
                        ],
                    }
            finally:
                for sub in subs:
                    with contextlib.suppress(Exception):
                        await sub.close()
    return rec


def summarize(records: list[dict[str, Any]], args: argparse.Namespace) -> tuple[str, bool]:
    ok = [r for r in records if not r.get("error")]
    n = args.subscribers
    keys = ["idle", "0", "1", str(n)] if n != 1 else ["idle", "0", "1"]

    def med(values: list[float | None]) -> float | None:
        vs = [v for v in values if v is not None]
        return round(statistics.median(vs), 1) if vs else None

    def f(v: Any, fmt: str = "{:.1f}") -> str:
        return "-" if v is None else fmt.format(v)

    lines = [
        f"WHIP egress: studio -> simple-whip-server + Janus VideoRoom -> aiortc subscribers, "
        f"{args.size}@{args.fps}, {args.picture} picture, {args.seconds:g} s windows, "
        f"median of {len(ok)}/{len(records)} round(s); CPU in % of one core",
        "",
        f"Go Live -> WHIP session up (201, ICE+DTLS connected): "
        f"{f(med([r['goLiveToWhipMs'] for r in ok]), '{:.0f}')} ms "
        f"(rounds: {', '.join(str(r['goLiveToWhipMs']) for r in ok)})",
        "",
        f"{'level':<16} {'studio%':>8} {'per round':>18} {'janus%':>7} {'bench%':>7} "
        f"{'other%':>7}  {'first frame ms':>15} {'fps min/med':>11} {'g2g p50/p95 ms':>15}",
    ]
    lines.append("-" * len(lines[-1]))
    figures: dict[str, float | None] = {}
    stalled = 0
    for key in keys:
        levels = [r["levels"][key] for r in ok if key in r["levels"]]
        if not levels:
            continue
        studio = [lv["cpu"]["studio"] for lv in levels]
        figures[key] = med(studio)
        label = {
            "idle": "idle (no WHIP)",
            "0": "WHIP, 0 subs",
            "1": "WHIP, 1 sub",
        }.get(key, f"WHIP, {key} subs")
        fps = [x for lv in levels for x in lv.get("fps", [])]
        stalled += sum(1 for x in fps if x < STALL_FRACTION * args.fps)
        first = [x for lv in levels for x in lv.get("firstFrameMs", [])]
        first_s = f"{f(med(first), '{:.0f}')} (max {max(first)})" if first else "-"
        fps_s = f"{f(min(fps))}/{f(med(fps))}" if fps else "-"
        g50 = med([lv.get("g2gP50Ms") for lv in levels])
        g95 = med([lv.get("g2gP95Ms") for lv in levels])
        g2g_s = f"{f(g50, '{:.0f}')}/{f(g95, '{:.0f}')}" if fps else "-"
        lines.append(
            f"{label:<16} {f(figures[key]):>8} {', '.join(f'{x:.1f}' for x in studio):>18} "
            f"{f(med([lv['cpu']['janus'] for lv in levels])):>7} "
            f"{f(med([lv['cpu'].get('bench') for lv in levels])):>7} "
            f"{f(med([lv['cpu']['other'] for lv in levels])):>7}  "
            f"{first_s:>15} {fps_s:>11} {g2g_s:>15}"
        )
    passed = len(ok) == len(records) and bool(ok)
    zero, many = figures.get("0"), figures.get(str(n))
    if zero is not None and many is not None and zero > 0:
        limit = zero * args.max_growth + 2.0
        grow_ok = many <= limit
        passed = passed and grow_ok
        lines += [
            "",
            f"studio CPU with {n} subscribers / with none: {many:.1f}% / {zero:.1f}% = "
            f"{many / zero:.2f}x (target <= {args.max_growth}x + 2 points) "
            + ("PASS" if grow_ok else "FAIL"),
        ]
        idle = figures.get("idle")
        if idle is not None:
            lines.append(
                f"WHIP publishing over idle (nobody subscribed): {zero - idle:+.1f} points"
            )
    lines.append(
        f"subscribers under {STALL_FRACTION * args.fps:.0f} fps: {stalled} "
        + ("PASS" if stalled == 0 else "FAIL")
    )
    passed = passed and stalled == 0
    for r in records:
        if r.get("error"):
            lines.append(f"round {r['round']} failed: {r['error']}")
    return "\n".join(lines), passed


async def amain(args: argparse.Namespace) -> int:
    out = (
        Path(args.jsonl)
        if args.jsonl
        else BENCH_RESULTS / f"whip-{datetime.now().strftime('%Y%m%d-%H%M%S')}.jsonl"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    config = {
        "type": "config",
        **{k: v for k, v in vars(args).items() if k != "jsonl"},
        "cpus": os.cpu_count(),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "time": datetime.now().isoformat(timespec="seconds"),
    }
    records: list[dict[str, Any]] = []
    with open(out, "a") as fh, tempfile.TemporaryDirectory(prefix="whip-bench-") as tmpdir:
        fh.write(json.dumps(config) + "\n")
        for round_no in range(1, args.rounds + 1):
            log(f"# round {round_no} ...")
            try:
                rec = await one_round(args, Path(tmpdir) / f"r{round_no}", round_no)
            except Exception as exc:
                rec = {"type": "round", "round": round_no, "error": f"{type(exc).__name__}: {exc}"}
            records.append(rec)
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            log(json.dumps(rec))
        text, passed = summarize(records, args)
        fh.write(json.dumps({"type": "summary", "text": text, "pass": passed}) + "\n")
    print()
    print(text)
    print(f"\nraw: {out}")
    return 0 if passed else 1


BENCH_RESULTS = REPO / "bench" / "results"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=4, help="Janus subscribers (N)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, on fresh processes")
    parser.add_argument("--seconds", type=float, default=8.0, help="each measurement window")
    parser.add_argument("--settle", type=float, default=2.0, help="wait before each window")
    parser.add_argument("--size", default="1280x720", help="video size WxH")
    parser.add_argument("--fps", type=int, default=30, help="source frame rate")
    parser.add_argument(
        "--picture",
        choices=["plain", "busy"],
        default="plain",
        help="plain: the test pattern (~0.1 Mbit/s); busy: a band of fresh noise (full bitrate)",
    )
    parser.add_argument(
        "--connect-timeout", type=float, default=20.0, help="a subscriber's first frame, s"
    )
    parser.add_argument(
        "--max-growth",
        type=float,
        default=1.25,
        help="target: studio CPU with N subscribers <= this x CPU with none (+2 points)",
    )
    parser.add_argument("--jsonl", default=None, help="append the raw JSON lines here")
    args = parser.parse_args()
    run_inside_netns(__file__, PY)
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
