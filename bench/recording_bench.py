"""What recording a show costs (issue 14: at most 3 % of one core over live alone).

    .venv/bin/python bench/recording_bench.py [--size 1280x720] [--fps 30] [--seconds 20]
                                              [--rounds 3] [--serve]

Two measurements:

``remux`` (always): a show of ``--seconds`` is encoded first (not measured), then its
packets are offered to a real :class:`~wrencos_studio.media.recording.Recorder` at the
show's own pace and the process CPU (utime+stime: the fan-out side on this thread and the
writer thread) is measured from the first packet until the file is closed. The result is
the recording's cost in % of one core, with nothing else in the process to blur it.

``serve`` (with ``--serve``): ``wrencos-studio serve --source testsrc`` live (a stream
started, no viewers) with ``WRENCOS_RECORDING=0`` and ``=1``, ``--rounds`` times each,
interleaved; the server's CPU over ``--seconds`` after a settle, median per setting. The
difference is the recording's cost in the real process; on a shared machine it carries
the noise of everything else running (the ``remux`` figure does not).

Raw JSON lines go to bench/results/recording-<timestamp>.jsonl. Exit status 0 when the
``remux`` cost (and the ``serve`` difference, if measured) is within the target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from _netns import run_inside_netns  # bench/, this script's folder

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
OURS_BIN = str(REPO / ".venv" / "bin" / "wrencos-studio")
CLK_TCK = os.sysconf("SC_CLK_TCK")
SECRET = "recording-bench-secret-0123456789abcdef0123456789"
TARGET_PCT = 3.0


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# -- remux ------------------------------------------------------------------------------------


def encode_show(
    width: int, height: int, fps: int, seconds: float, busy: bool
) -> list[tuple[float, Any]]:
    """(time s, MediaFrame) of a test-pattern show, in the order the fan-out gives them."""
    from wrencos_studio.media.encoder import AudioEncoder, VideoEncoder, VideoSettings
    from wrencos_studio.media.outputs import MediaFrame
    from wrencos_studio.media.testsrc import BeepGenerator, TestPattern

    video = VideoEncoder(VideoSettings(width, height, fps, 2_500_000))
    audio = AudioEncoder()
    pattern, beep = TestPattern(width, height, busy=busy), BeepGenerator()
    frames: list[tuple[float, Any]] = []
    audio_s = 0.0
    for i in range(int(seconds * fps)):
        t = i / fps
        for packet in video.encode(pattern.frame(), int(t * 90000)):
            frames.append((t, MediaFrame("video", packet, 0)))
        while audio_s < t:
            audio_s += 0.02
            for packet in audio.encode(beep.frame()):
                frames.append((audio_s, MediaFrame("audio", packet, 0)))
    return frames


def remux_cost(args: argparse.Namespace, width: int, height: int) -> dict[str, Any]:
    from wrencos_studio.media.encoder import VideoSettings
    from wrencos_studio.media.recording import Recorder

    log(f"encoding {args.seconds:.0f} s of {width}x{height}@{args.fps} (not measured)…")
    frames = encode_show(width, height, args.fps, args.seconds, args.picture == "busy")
    with tempfile.TemporaryDirectory(prefix="recording-bench-") as tmp:
        path = Path(tmp) / "show.mp4"
        cpu0 = time.process_time()
        wall0 = time.monotonic()
        recorder = Recorder(path, VideoSettings(width, height, args.fps), lambda: None)
        for t, frame in frames:
            delay = wall0 + t - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # the show's own pace: the writer works as it would live
            recorder.offer(frame)
        recorder.close()
        facts = recorder.wait(30)
        cpu = time.process_time() - cpu0
        wall = time.monotonic() - wall0
    pct = 100 * cpu / wall
    return {
        "kind": "remux",
        "size": f"{width}x{height}",
        "fps": args.fps,
        "seconds": round(wall, 2),
        "cpuSeconds": round(cpu, 3),
        "pctOfCore": round(pct, 2),
        "fileBytes": facts.bytes,
        "durationMs": facts.duration_ms,
        "dropped": recorder.dropped,
    }


# -- serve -------------------------------------------------------------------------------------


async def serve_round(args: argparse.Namespace, recording: bool, tmp: Path) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    from wrencos_studio.hub.auth import mint_token

    data = tmp / f"data-{int(recording)}-{time.monotonic_ns()}"
    env = dict(os.environ, WRENCOS_DATA_DIR=str(data), WRENCOS_JWT_SECRET=SECRET)
    env["WRENCOS_RECORDING"] = "1" if recording else "0"
    source = "testsrc:busy" if args.picture == "busy" else "testsrc"
    proc = await asyncio.create_subprocess_exec(
        OURS_BIN, "--log-level", "WARNING", "serve", "--host", "127.0.0.1", "--port", "0",
        "--source", source, "--video-size", args.size, "--fps", str(args.fps),
        stdout=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        port = int(line.rsplit(":", 1)[1])
        async with connect(f"ws://127.0.0.1:{port}") as ws:
            await ws.send(
                json.dumps(
                    {"type": "register_admin", "token": mint_token(SECRET, "bench", "admin", 3600)}
                )
            )
            await ws.recv()
            await ws.send(json.dumps({"type": "start_stream", "title": "bench"}))
            await asyncio.sleep(args.settle)
            cpu0, t0 = proc_cpu_s(proc.pid), time.monotonic()
            await asyncio.sleep(args.seconds)
            cpu = proc_cpu_s(proc.pid) - cpu0
            wall = time.monotonic() - t0
        files = list((data / "recordings").glob("*.mp4"))
        return {
            "kind": "serve",
            "recording": recording,
            "pctOfCore": round(100 * cpu / wall, 2),
            "files": len(files),
        }
    finally:
        proc.terminate()
        await proc.wait()


async def serve_cost(args: argparse.Namespace) -> list[dict[str, Any]]:
    records = []
    with tempfile.TemporaryDirectory(prefix="recording-bench-") as tmp:
        for round_no in range(1, args.rounds + 1):
            for recording in (False, True):
                r = await serve_round(args, recording, Path(tmp))
                r["round"] = round_no
                log(f"serve round {round_no} recording={recording}: {r['pctOfCore']} % of a core")
                records.append(r)
    return records


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="1280x720", help="video size WxH")
    parser.add_argument("--fps", type=int, default=30, help="source frame rate")
    parser.add_argument("--seconds", type=float, default=20.0, help="show length / window")
    parser.add_argument(
        "--picture",
        default="busy",
        choices=("plain", "busy"),
        help="busy: fresh noise, full bitrate",
    )
    parser.add_argument("--settle", type=float, default=3.0, help="serve: seconds before measuring")
    parser.add_argument("--rounds", type=int, default=3, help="serve: rounds of each setting")
    parser.add_argument("--serve", action="store_true", help="also measure the real server")
    args = parser.parse_args()
    width, height = (int(x) for x in args.size.split("x"))
    if args.serve:  # the live server's ICE must see only loopback and a veth pair
        run_inside_netns(__file__)

    records = [remux_cost(args, width, height)]
    remux = records[0]
    ok = remux["pctOfCore"] <= TARGET_PCT and remux["dropped"] == 0
    print(
        f"remux  {remux['size']}@{remux['fps']}: {remux['pctOfCore']:.2f} % of one core "
        f"({remux['cpuSeconds']} s CPU over {remux['seconds']} s; "
        f"{remux['fileBytes'] / 1e6:.1f} MB; target ≤ {TARGET_PCT} %)"
    )
    if args.serve:
        serve = asyncio.run(serve_cost(args))
        records += serve
        off = statistics.median(r["pctOfCore"] for r in serve if not r["recording"])
        on = statistics.median(r["pctOfCore"] for r in serve if r["recording"])
        print(
            f"serve  live alone {off:.1f} %, live + recording {on:.1f} % of one core: "
            f"recording {on - off:+.1f} % (medians of {args.rounds}; target ≤ {TARGET_PCT} %)"
        )
        ok = ok and on - off <= TARGET_PCT
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    with (out / f"recording-{stamp}.jsonl").open("w") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
