"""Low-Latency HLS benchmark: what the studio spends on the HLS path, how fast a viewer gets a
first frame and how old the picture is when shown (glass-to-glass, read from the test
pattern's stamps), and how a caching proxy (Debian's nginx) fans it out.

    .venv/bin/python bench/hls_bench.py [--size 640x360] [--seconds 6] [--clients 200]
                                        [--skip-browser]

1. **Packaging CPU** (in process, no server): the real encoders make ``--seconds`` of the
   test show at ``--size``; only :meth:`HlsStream.offer` (remux into parts) is timed:
   CPU ms per second of stream; and the AAC encode of the same seconds of sound.
2. **A Python LL-HLS client** straight to ``wrencos-studio serve --source testsrc``: time
   to first decoded frame (from its first request, joining at the newest independent
   part) and the stamp age of each frame when its part has arrived and decoded: the
   latency of the packaging and the blocking reloads, without a player's buffer.
3. **Chromium** (Debian's, headless) on the customer page with ``?fallback`` and
   WebCodecs/Media Source hidden (the LL-HLS rung), once with the vendored hls.js and
   once with no Media Source at all (Chromium's own HLS): time to first frame
   (``performance.now()`` at the first frame) and glass-to-glass (the video drawn to a
   canvas, its stamp read every 200 ms).
4. **nginx in front** (``proxy_cache`` + ``proxy_cache_lock``): ``--clients`` asyncio
   clients polling with blocking reloads for ``--seconds``: upstream requests per part,
   playlists upstream vs asked, clients that kept up, and the studio's CPU (% of one
   core, /proc) with them vs. with none.

Runs inside a private network namespace (re-executes itself through scripts/netns-run
unless WRENCOS_NETNS=1). Raw JSON goes to bench/results/hls-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _netns import run_inside_netns  # bench/, this script's folder

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PY = str(REPO / ".venv" / "bin" / "python")
if not os.path.exists(PY):
    PY = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def proc_cpu_s(pid: int) -> float:
    """utime+stime of a process (all its threads), seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    rest = text[text.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)


# -- 1. packaging CPU -----------------------------------------------------------------------


def packaging_cpu(width: int, height: int, seconds: float) -> dict[str, Any]:
    from wrencos_studio.media.encoder import AudioEncoder, VideoEncoder, VideoSettings
    from wrencos_studio.media.hls import HlsStream
    from wrencos_studio.media.outputs import MediaFrame
    from wrencos_studio.media.testsrc import BeepGenerator, TestPattern

    settings = VideoSettings(width, height, 30, 2_500_000)
    video, audio = VideoEncoder(settings), AudioEncoder()
    pattern, beep = TestPattern(width, height, busy=True), BeepGenerator()
    packets: list[tuple[str, Any, int]] = []
    audio_s = 0.0
    for i in range(int(seconds * 30)):
        for packet in video.encode(pattern.frame(), i * 3000):
            packets.append(("video", packet, i * 3000))
        while audio_s < (i + 1) / 30:
            audio_s += 0.02
            for packet in audio.encode(beep.frame()):
                packets.append(("audio", packet, int(packet.pts)))
    now = [0.0]
    stream = HlsStream(width, height, clock=lambda: now[0])
    frames = [MediaFrame(kind, packet, 0) for kind, packet, _ in packets]  # type: ignore[arg-type]
    started = time.process_time()
    for (kind, _, pts), frame in zip(packets, frames, strict=True):
        now[0] = pts / (90000 if kind == "video" else 48000)
        stream.offer(frame)
    cpu = time.process_time() - started
    # The AAC the studio's HLS carries (for Apple's own HLS), from the same PCM as Opus.
    from wrencos_studio.media.encoder import AacEncoder

    aac, pcm = AacEncoder(), [beep.frame() for _ in range(int(seconds / 0.02))]
    started = time.process_time()
    for frame in pcm:
        aac.encode(frame)
    aac_cpu = time.process_time() - started
    return {
        "size": f"{width}x{height}",
        "seconds": seconds,
        "packets": len(packets),
        "parts": stream.parts_made,
        "bitrateKbps": round(sum(len(bytes(p)) for _, p, _ in packets) * 8 / seconds / 1000),
        "cpuMsPerSecond": round(cpu * 1000 / seconds, 2),
        "cpuUsPerPacket": round(cpu * 1e6 / len(packets), 1),
        "aacCpuMsPerSecond": round(aac_cpu * 1000 / seconds, 2),
    }


# -- 2. a Python LL-HLS client -----------------------------------------------------------------


async def python_client(base: str, seconds: float) -> dict[str, Any]:
    import av

    from tests.helpers.hls import http_get
    from wrencos_studio.media.testsrc import read_stamp, stamp_age_ms

    part_re = re.compile(r'#EXT-X-PART:[^\n]*URI="s(\d+)\.p(\d+)\.m4s"(,INDEPENDENT=YES)?')
    t0 = time.monotonic()
    _, _, body = await http_get(f"{base}/live/index.m3u8")
    prefix = re.findall(r"^(\w+)/index\.m3u8$", body.decode(), re.M)[0]
    media = f"{base}/live/{prefix}"
    _, _, body = await http_get(f"{media}/index.m3u8")
    _, _, init = await http_get(f"{media}/init.mp4")
    listed = [(int(m), int(p), bool(i)) for m, p, i in part_re.findall(body.decode())]
    start = max(i for i, (_, _, ind) in enumerate(listed) if ind)
    have = listed[start][0], listed[start][1] - 1
    buf = bytearray(init)
    decoder = av.CodecContext.create("h264", "r")
    first_ms: float | None = None
    ages: list[float] = []
    end: float | None = None
    frames = 0
    codec_ready = False
    while end is None or time.monotonic() < end:
        for msn, part, _ in listed:
            if (msn, part) <= have:
                continue
            _, _, data = await http_get(f"{media}/s{msn}.p{part}.m4s")
            have = msn, part
            buf += data
            # Demux what we have (init + parts so far) and decode only the new packets.
            with av.open(io.BytesIO(bytes(buf)), "r", format="mp4") as container:
                vstream = container.streams.video[0]
                if not codec_ready:
                    decoder.extradata = vstream.codec_context.extradata
                    codec_ready = True
                packets = [p for p in container.demux(vstream) if p.size]
            for packet in packets[frames:]:
                for frame in decoder.decode(packet):
                    stamp = read_stamp(frame)
                    if first_ms is None:
                        first_ms = (time.monotonic() - t0) * 1000
                        end = time.monotonic() + seconds
                    elif stamp is not None and frames > 30:
                        ages.append(stamp_age_ms(stamp))
            frames = len(packets)
            if len(buf) > 8_000_000:  # keep memory bounded: restart at the next segment
                break
        _, _, body = await http_get(
            f"{media}/index.m3u8?_HLS_msn={have[0]}&_HLS_part={have[1] + 1}"
        )
        listed = [(int(m), int(p), bool(i)) for m, p, i in part_re.findall(body.decode())]
    return {
        "firstFrameMs": round(first_ms or 0, 1),
        "latencyP50Ms": pct(ages, 0.5),
        "latencyP95Ms": pct(ages, 0.95),
        "samples": len(ages),
    }


# -- 3. Chromium ----------------------------------------------------------------------------

#: As tests/web/test_hls_page.py: the page's own code finds neither WebCodecs nor Media
#: Source; hls.js finds the latter under the prefixed name (deleted too for "native").
HIDE_DECODERS = """
window.WebKitMediaSource = window.MediaSource;
for (const n of ['VideoDecoder', 'AudioDecoder', 'MediaSource', 'ManagedMediaSource']) {
  delete window[n];
}
"""
HIDE_ALL_MEDIA_SOURCE = "delete window.WebKitMediaSource;"
#: The stamp's bits as the page sees them: the video drawn at its own size on a canvas.
READ_BITS = """(n) => {
  const v = document.getElementById('video');
  if (!v.videoWidth) return null;
  const c = window.__stampCanvas || (window.__stampCanvas = document.createElement('canvas'));
  c.width = v.videoWidth; c.height = v.videoHeight;
  const ctx = c.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(v, 0, 0);
  const now = Date.now();
  const block = v.videoWidth >= n * 16 ? 16 : 8;
  const perRow = Math.max(1, Math.floor(v.videoWidth / block));
  const bits = [];
  for (let i = 0; i < n; i++) {
    const x = (i % perRow) * block + block / 2, y = Math.floor(i / perRow) * block + block / 2;
    const d = ctx.getImageData(x, y, 1, 1).data;
    bits.push(0.299 * d[0] + 0.587 * d[1] + 0.114 * d[2] > 128 ? 1 : 0);
  }
  return { now, bits };
}"""


def stamp_from_bits(bits: list[int]) -> int | None:
    """The stamp of ``read_stamp``'s layout (sync, 48-bit ms, 8-bit sum) from sampled bits."""
    from wrencos_studio.media import testsrc

    sync = testsrc._SYNC
    if tuple(bits[: len(sync)]) != sync:
        return None
    value = 0
    for b in bits[len(sync) : len(sync) + testsrc.STAMP_BITS]:
        value = (value << 1) | b
    check = 0
    for b in bits[len(sync) + testsrc.STAMP_BITS :]:
        check = (check << 1) | b
    return value if check == sum(value.to_bytes(6, "big")) & 0xFF else None


async def chromium(base: str, engine: str, seconds: float, tmp: Path) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    from tests.helpers.testutils import chromium_options
    from wrencos_studio.media import testsrc

    nbits = len(testsrc._SYNC) + testsrc.STAMP_BITS + 8
    async with async_playwright() as pw:
        ctx = await pw.chromium.launch_persistent_context(
            str(tmp / f"profile-{engine}"), **chromium_options()
        )
        try:
            await ctx.add_init_script(HIDE_DECODERS)
            if engine == "native":
                await ctx.add_init_script(HIDE_ALL_MEDIA_SOURCE)
            page = await ctx.new_page()
            await page.goto(base + "/?fallback")
            stats: dict[str, Any] = {}
            for _ in range(150):
                stats = await page.evaluate("({...window.wrencosPlayer.stats})")
                if stats.get("frames", 0) > 0:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(2)  # let the player settle at its hold-back
            ages: list[float] = []
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                got = await page.evaluate(READ_BITS, nbits)
                if got is not None:
                    stamp = stamp_from_bits(got["bits"])
                    if stamp is not None:
                        ages.append((got["now"] - stamp) % (1 << testsrc.STAMP_BITS))
                await asyncio.sleep(0.2)
            stats = await page.evaluate("({...window.wrencosPlayer.stats})")
        finally:
            await ctx.close()
    return {
        "engine": engine,
        "transport": stats.get("transport"),
        "firstFrameMs": stats.get("hlsFirstFrameMs"),
        "latencyP50Ms": pct(ages, 0.5),
        "latencyP95Ms": pct(ages, 0.95),
        "samples": len(ages),
    }


# -- 4. nginx fan-out ----------------------------------------------------------------------


def metric(text: str, name: str) -> float:
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(m[1]) if m else 0.0


async def fanout(base: str, pid: int, clients: int, seconds: float, tmp: Path) -> dict[str, Any]:
    from tests.helpers.hls import hls_client, http_get, nginx_cache

    async def studio_metrics() -> str:
        return (await http_get(f"{base}/metrics"))[2].decode()

    cpu0, t0 = proc_cpu_s(pid), time.monotonic()
    await asyncio.sleep(seconds)
    idle_pct = (proc_cpu_s(pid) - cpu0) / (time.monotonic() - t0) * 100
    before = await studio_metrics()
    async with nginx_cache(tmp / "nginx", urlsplit(base).port or 80) as cache:
        cpu0, t0 = proc_cpu_s(pid), time.monotonic()
        results = await asyncio.gather(*(hls_client(cache, seconds) for _ in range(clients)))
        busy_pct = (proc_cpu_s(pid) - cpu0) / (time.monotonic() - t0) * 100
    after = await studio_metrics()

    def delta(name: str) -> float:
        return metric(after, name) - metric(before, name)

    got = [len(r.parts) for r in results]
    parts_made = delta("wrencos_hls_parts_total")
    return {
        "clients": clients,
        "seconds": seconds,
        "partsMade": parts_made,
        "clientParts": sum(got),
        "clientsKeptUp": sum(1 for n in got if n >= 0.8 * seconds * 3),
        "minPartsPerClient": min(got),
        "upstreamPartRequests": delta("wrencos_hls_part_requests_total"),
        "upstreamPerPart": round(delta("wrencos_hls_part_requests_total") / max(1, parts_made), 2),
        "maxUpstreamPerPart": metric(after, "wrencos_hls_max_requests_per_part"),
        "playlistsAsked": sum(r.playlists for r in results),
        "playlistsUpstream": delta("wrencos_hls_playlist_requests_total"),
        "errors": sum(len(r.errors) for r in results),
        "studioCpuPctIdle": round(idle_pct, 1),
        "studioCpuPctWithClients": round(busy_pct, 1),
    }


# -- main -----------------------------------------------------------------------------------


async def amain(args: argparse.Namespace) -> int:
    from tests.helpers.hls import http_get
    from tests.helpers.serve import serving

    width, height = (int(x) for x in args.size.split("x"))
    out: dict[str, Any] = {"size": args.size}
    log("1/4 packaging CPU ...")
    out["packaging"] = packaging_cpu(width, height, max(args.seconds, 10))
    with tempfile.TemporaryDirectory(prefix="hls-bench-") as tmpdir:
        tmp = Path(tmpdir)
        async with serving(
            tmp / "data",
            "--source",
            "testsrc",
            "--video-size",
            args.size,
            program=[PY, "-m", "wrencos_studio"],
        ) as served:
            base = served.http_url
            for _ in range(150):
                if (await http_get(f"{base}/live/index.m3u8"))[0] == 200:
                    break
                await asyncio.sleep(0.1)
            log("2/4 Python LL-HLS client ...")
            out["client"] = await python_client(base, args.seconds)
            if not args.skip_browser:
                out["chromium"] = []
                for engine in ("native", "hls.js"):
                    log(f"3/4 Chromium ({engine}) ...")
                    out["chromium"].append(await chromium(base, engine, args.seconds, tmp))
            log(f"4/4 nginx with {args.clients} clients ...")
            out["fanout"] = await fanout(base, served.proc.pid, args.clients, args.seconds, tmp)
    results = REPO / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    (results / f"hls-{stamp}.json").write_text(json.dumps(out, indent=1))
    print(report(out))
    return 0


def report(out: dict[str, Any]) -> str:
    p, c, f = out["packaging"], out["client"], out["fanout"]
    lines = [
        f"LL-HLS at {out['size']} (parts of 10 frames = 0.333 s, segments of 2 s)",
        "",
        "| path | first frame | glass-to-glass p50 / p95 |",
        "|---|---|---|",
        f"| Python client, no player buffer | {c['firstFrameMs']:.0f} ms | "
        f"{c['latencyP50Ms']} / {c['latencyP95Ms']} ms |",
    ]
    for b in out.get("chromium", []):
        lines.append(
            f"| Chromium, {b['engine']} ({b['transport']}) | {b['firstFrameMs']} ms after page "
            f"start | {b['latencyP50Ms']} / {b['latencyP95Ms']} ms |"
        )
    lines += [
        "",
        f"Packaging: {p['cpuMsPerSecond']} ms CPU per second of stream "
        f"({p['cpuUsPerPacket']} µs a packet, {p['bitrateKbps']} kbit/s at {p['size']}); "
        f"AAC encode {p['aacCpuMsPerSecond']} ms CPU per second of sound.",
        "",
        f"nginx in front, {f['clients']} clients for {f['seconds']:.0f} s: "
        f"{f['clientsKeptUp']}/{f['clients']} kept up ({f['clientParts']} parts served to "
        f"clients, min {f['minPartsPerClient']} each, {f['errors']} errors); the studio served "
        f"{f['upstreamPartRequests']:.0f} part requests for {f['partsMade']:.0f} parts "
        f"({f['upstreamPerPart']} a part, worst {f['maxUpstreamPerPart']:.0f}) and "
        f"{f['playlistsUpstream']:.0f} playlists for {f['playlistsAsked']} asked; studio CPU "
        f"{f['studioCpuPctIdle']} % of a core without clients, {f['studioCpuPctWithClients']} % "
        "with them.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--skip-browser", action="store_true")
    args = parser.parse_args()
    run_inside_netns(__file__, PY)
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
