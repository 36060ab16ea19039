"""The studio window's own cost under a busy chat: the GUI thread's CPU, before vs after.

    .venv/bin/python bench/gui_bench.py [--before main] [--rate 50] [--seconds 10]
                                        [--rounds 3] [--source none|testsrc] [--history 500]

One run measures two builds of the window in turn, interleaved round by round: the
``wrencos_studio`` package of git revision ``--before`` (``git archive`` into a temporary
folder, put first on ``PYTHONPATH``, as ``hub_bench.sh``'s ``serve@/DIR`` does) and this
checkout's. Each measurement is a fresh process: a real studio (``Studio`` + ``MainWindow``
on qasync, ``QT_QPA_PLATFORM=offscreen``, the window shown, the preview's source
``--source``), its chat filled with ``--history`` lines (a ``chat_history``), then

* ``idle``: ``--seconds`` with nothing arriving;
* ``chat``: ``--seconds`` with ``--rate`` lines a second arriving through the studio's
  own bridge signals (``chat_message``, in 20 ms ticks as the hub's local
  connection delivers them) and ``figures_changed`` 4 times a second (the hub's
  coalesced ``stream_update``), lines of 10-160 characters, one in ten the shop's.

CPU is ``time.thread_time()`` of the GUI thread (the thread that runs Qt and the qasync
loop) over each phase; the figure is ``chat - idle`` in milliseconds of CPU per second,
the GUI thread's cost of the chat alone. Printed per round, then medians and the ratio
after/before. Compare ratios within one run only (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def _child(args: argparse.Namespace) -> None:
    """One measurement, in this process: print one JSON line."""
    sys.path.insert(0, args.pkg)
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ.setdefault("WRENCOS_JWT_SECRET", "gui-bench")
    os.environ["WRENCOS_RECORDING"] = "0"
    import asyncio

    import qasync
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    import wrencos_studio
    from wrencos_studio.ui.studio import Studio
    from wrencos_studio.ui.window import MainWindow

    data = Path(tempfile.mkdtemp(prefix="gui-bench-"))
    (data / "studio-settings.json").write_text(
        json.dumps({"video_size": "640x360", "source": args.source, "record_shows": False})
    )
    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    studio = Studio(data, port=0)
    window = MainWindow(studio)
    rnd = random.Random(7)
    words = [
        "serum",
        "glow",
        "matte",
        "shade",
        "vegan",
        "spf",
        "lipstick",
        "primer",
        "blush",
        "price",
        "size",
        "when",
        "ship",
    ]
    made = 0

    def line() -> dict[str, Any]:
        nonlocal made
        made += 1
        admin = made % 10 == 0
        text = " ".join(rnd.choice(words) for _ in range(rnd.randint(2, 28)))
        return {
            "id": f"b{made}",
            "username": "Shop" if admin else f"customer{made % 97}",
            "message": text,
            "timestamp": "2026-11-30T12:00:00.000Z",
            "isAdmin": admin,
            "publicId": None if admin else f"p{made % 97}",
        }

    async def phase(seconds: float, rate: float) -> float:
        """GUI-thread CPU (s) over ``seconds`` with ``rate`` lines/s arriving."""
        bridge = studio.bridge
        due = 0.0
        ticks = 0

        def tick() -> None:
            nonlocal due, ticks
            due += rate * 0.02
            while due >= 1:
                due -= 1
                bridge.chat_message.emit(line())
            ticks += 1
            if rate and ticks % 12 == 0:  # ~4 a second, as the hub coalesces them
                bridge.figures_changed.emit(500 + ticks % 7, 1000 + ticks)

        timer = QTimer()
        timer.setInterval(20)
        timer.timeout.connect(tick)
        start = time.thread_time()
        timer.start()
        await asyncio.sleep(seconds)
        timer.stop()
        return time.thread_time() - start

    async def main() -> dict[str, Any]:
        await studio.start()
        window.started()
        window.show()
        await asyncio.sleep(2)  # the window laid out, the source running
        studio.bridge.chat_history.emit([line() for _ in range(args.history)])
        await asyncio.sleep(1)
        idle = await phase(args.seconds, 0)
        chat = await phase(args.seconds, args.rate)
        shown = window.chat.model.rowCount()
        return {
            "package": str(Path(wrencos_studio.__file__).parent.parent),
            "idle_cpu_s": idle,
            "chat_cpu_s": chat,
            "seconds": args.seconds,
            "rate": args.rate,
            "rows_shown": shown,
        }

    result = loop.run_until_complete(main())
    print(json.dumps(result), flush=True)
    # The figures are out: no orderly shutdown to wait for (nor to go wrong after
    # qasync's loop stopped); the process and its temporary data dir just go.
    shutil.rmtree(data, ignore_errors=True)
    os._exit(0)


def _measure(pkg: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", "--pkg", pkg, "--rate", str(args.rate)]
    cmd += ["--seconds", str(args.seconds), "--source", args.source]
    cmd += ["--history", str(args.history)]
    env = {**os.environ, "PYTHONPATH": pkg}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"{pkg}: the measurement failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    if Path(result["package"]).resolve() != Path(pkg).resolve():
        raise SystemExit(f"{pkg}: measured {result['package']} instead")
    return result


def _ms_per_s(r: dict[str, Any]) -> float:
    """The chat's GUI-thread CPU over the idle window's, in ms of CPU per second."""
    return (r["chat_cpu_s"] - r["idle_cpu_s"]) / r["seconds"] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="main", help="git revision to compare with")
    parser.add_argument("--rate", type=float, default=50, help="chat lines per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--source", default="none", help="the preview's source (none, testsrc)")
    parser.add_argument("--history", type=int, default=500, help="lines shown at the start")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pkg", default=str(REPO), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    with tempfile.TemporaryDirectory(prefix="gui-bench-before-") as before:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", args.before, "wrencos_studio"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", before], input=archive, check=True)
        builds = {f"before ({args.before})": before, "after (this checkout)": str(REPO)}
        figures: dict[str, list[float]] = {name: [] for name in builds}
        print(
            f"# {args.rate:g} lines/s for {args.seconds:g} s, {args.history} lines shown first, "
            f"source {args.source}; GUI-thread CPU of the chat (chat - idle), ms per s",
            file=sys.stderr,
        )
        for n in range(args.rounds):
            order = list(builds.items())
            if n % 2:
                order.reverse()  # neither build always runs first
            for name, pkg in order:
                r = _measure(pkg, args)
                figures[name].append(_ms_per_s(r))
                print(
                    f"round {n + 1} {name:24} idle {r['idle_cpu_s'] * 1000:7.0f} ms  "
                    f"chat {r['chat_cpu_s'] * 1000:7.0f} ms  -> {_ms_per_s(r):6.1f} ms/s  "
                    f"({r['rows_shown']} rows shown)",
                    flush=True,
                )
    medians = {name: statistics.median(v) for name, v in figures.items()}
    for name, m in medians.items():
        print(f"median {name:24} {m:6.1f} ms of GUI-thread CPU per second of chat")
    before_ms, after_ms = medians.values()
    print(f"ratio after/before: {after_ms / before_ms:.2f}" if before_ms > 0 else "")


if __name__ == "__main__":
    main()
