"""Going live for real: `serve --source testsrc`, viewers in other processes (aiortc, and the
WebSocket fallback), inside a private network namespace."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.helpers.serve import serving as serve
from tests.helpers.testutils import run_probe as probe
from tests.helpers.testutils import token

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("WRENCOS_NETNS") != "1",
        reason="media tests run only inside a private network namespace (./run-tests does it)",
    ),
]


@asynccontextmanager
async def serving(data: Path, *args: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """The shared `serve` helper, as this module's (process, ws URL) pair."""
    async with serve(data, *args) as served:
        yield served.proc, served.url


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    # Small frames keep ten decoding viewers affordable on a 2-core machine; the
    # delivery path is the same at every size.
    async with serving(tmp_path, "--source", "testsrc", "--video-size", "320x180") as running:
        yield running


async def test_viewer_gets_video_and_audio_at_the_source_rate(
    live: tuple[asyncio.subprocess.Process, str],
) -> None:
    """One aiortc viewer decodes frames at ~30 fps, every one stamped, audio too, quickly."""
    _proc, url = live
    [r] = await probe(url, "--seconds", "3")
    assert "error" not in r, r
    assert r["fps"] >= 25
    assert r["stamped"] == r["frames"] > 60
    assert r["audioFrames"] >= 40  # ~17 a second of 60 ms Opus packets, for > 3 s
    assert r["firstFrameMs"] < 3000
    assert r["latencyP95Ms"] < 250


async def test_ten_viewers_at_once_all_at_the_source_rate(
    live: tuple[asyncio.subprocess.Process, str],
) -> None:
    """Ten viewers joining together all get the stream at the source frame rate."""
    _proc, url = live
    results = await probe(url, "--seconds", "3", "--viewers", "10")
    assert len(results) == 10
    for r in results:
        assert "error" not in r, r
        assert r["fps"] >= 24, r
        assert r["audioFrames"] > 0


async def test_late_joiner_gets_its_first_frame_fast(
    live: tuple[asyncio.subprocess.Process, str],
) -> None:
    """A viewer joining a running broadcast starts on a fresh keyframe, not the next GOP."""
    _proc, url = live
    watching = asyncio.ensure_future(probe(url, "--seconds", "4"))
    await asyncio.sleep(2.5)
    [late] = await probe(url, "--seconds", "1")
    assert "error" not in late, late
    # Connecting (ICE + DTLS) plus at most 0.3 s for the keyframe.
    assert late["firstFrameMs"] < 1500, late
    [early] = await watching
    assert early["fps"] >= 25


async def test_fallback_viewer_over_websocket(
    live: tuple[asyncio.subprocess.Process, str],
) -> None:
    """The WebSocket fallback delivers the same stream, with audio, well under a second."""
    _proc, url = live
    [r] = await probe(url, "--seconds", "3", "--fallback")
    assert "error" not in r, r
    assert r["init"]["video"]["codec"].startswith("avc1.42")
    assert r["init"]["audio"] == {"codec": "opus", "sampleRate": 48000, "numberOfChannels": 2}
    assert r["fps"] >= 25 and r["stamped"] == r["frames"]
    assert r["audioFrames"] >= 40
    assert r["latencyP95Ms"] < 1000


async def test_fmp4_viewer_over_websocket(
    live: tuple[asyncio.subprocess.Process, str],
) -> None:
    """``/media?f=fmp4`` (the Media Source rung): ``media_init`` with the MIME type, then
    the init segment with the first keyframe, then a fragment per frame; decoded, every
    frame is stamped and on time, audio comes along, no timestamp goes backwards."""
    _proc, url = live
    [r] = await probe(url, "--seconds", "3", "--fmp4")
    assert "error" not in r, r
    assert r["init"]["format"] == "fmp4"
    assert r["init"]["mime"].startswith('video/mp4; codecs="avc1.42')
    assert r["init"]["mime"].endswith(', opus"')
    assert r["fps"] >= 25 and r["stamped"] == r["frames"]
    assert r["audioFrames"] >= 40
    assert r["inits"] >= 2  # one with each keyframe (every 2 s)
    assert r["backwards"] == 0
    assert r["latencyP95Ms"] < 1000


async def test_fmp4_messages_make_one_mp4_that_ffmpeg_plays(
    live: tuple[asyncio.subprocess.Process, str],
) -> None:
    """The binary messages of ``/media?f=fmp4``, concatenated as MSE appends them, are
    one fragmented MP4 FFmpeg demuxes and decodes: video at 30 fps with its stamps, and
    Opus; two viewers get the same fragment bytes (built once per frame)."""
    import io

    import av

    from wrencos_studio.media.testsrc import read_stamp

    _proc, url = live

    async def collect(seconds: float) -> list[bytes]:
        async with connect(url + "/media?f=fmp4", max_size=None) as ws:
            init = json.loads(await ws.recv())
            assert init["type"] == "media_init"
            out: list[bytes] = []
            loop = asyncio.get_running_loop()
            end = loop.time() + seconds
            while loop.time() < end:
                data = await asyncio.wait_for(ws.recv(), 5)
                assert isinstance(data, bytes)
                out.append(data)
            return out

    a, b = await asyncio.gather(collect(2.5), collect(2.5))
    assert a[0][4:8] == b"ftyp"
    assert set(a[5:15]) & set(b)  # the same fragments, byte for byte
    container = av.open(io.BytesIO(b"".join(a)))
    video = audio = stamped = 0
    for frame in container.decode(video=0, audio=0):
        if isinstance(frame, av.VideoFrame):
            video += 1
            stamped += read_stamp(frame) is not None
        else:
            audio += 1
    assert video >= 60 and stamped == video
    assert audio >= 30


async def test_stats_reach_admins_and_metrics(
    live: tuple[asyncio.subprocess.Process, str],
) -> None:
    """While viewers watch, admins read per-viewer stats and /metrics shows the media."""
    _proc, url = live
    watchers = asyncio.ensure_future(probe(url, "--seconds", "5"))
    fallback = asyncio.ensure_future(probe(url, "--seconds", "5", "--fallback"))
    await asyncio.sleep(4)
    async with connect(url) as admin:
        await admin.send(json.dumps({"type": "register_admin", "token": token()}))
        await admin.recv()
        await admin.send(json.dumps({"type": "get_media_stats"}))
        stats = json.loads(await admin.recv())["stats"]
    assert stats["source"] == "testsrc" and stats["error"] is None
    assert stats["encodeFps"] >= 25 and stats["encodeMsPerFrame"] > 0
    assert stats["viewersByTransport"] == {"webrtc": 1, "fallback": 1}
    transports = sorted(v["transport"] for v in stats["viewers"])
    assert transports == ["fallback", "webrtc"]
    webrtc = next(v for v in stats["viewers"] if v["transport"] == "webrtc")
    assert webrtc["framesSent"] > 60 and webrtc["bitrateKbps"] > 0
    http_url = url.replace("ws://", "http://") + "/metrics"
    text = await asyncio.to_thread(
        lambda: __import__("urllib.request").request.urlopen(http_url, timeout=5).read().decode()
    )
    assert 'wrencos_media_viewers{transport="webrtc"} 1' in text
    assert "wrencos_media_encode_fps" in text
    await watchers
    await fallback


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def noise_clip(path: Path, seconds: int = 2) -> Path:
    """A short video of random noise (with silence): nothing compresses it, so it is heavy."""
    import av

    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 640, 360, "yuv420p"
        video.options = {"preset": "ultrafast"}
        audio = out.add_stream("aac", rate=48000)
        for i in range(30 * seconds):
            frame = av.VideoFrame(640, 360, "yuv420p")
            for plane in frame.planes:
                plane.update(os.urandom(plane.buffer_size))
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
        for i in range(50 * seconds):
            silence = av.AudioFrame(format="fltp", layout="stereo", samples=960)
            for plane in silence.planes:
                plane.update(bytes(plane.buffer_size))
            silence.sample_rate, silence.pts = 48000, i * 960
            for packet in audio.encode(silence):
                out.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode(None):
                out.mux(packet)
    return path


async def test_file_source_plays_looped_with_audio(tmp_path: Path) -> None:
    """`--source FILE` plays the file over and over, video and audio."""
    clip = noise_clip(tmp_path / "clip.mp4", seconds=1)
    async with serving(tmp_path / "d", "--source", str(clip), "--video-size", "320x180") as (
        _proc,
        url,
    ):
        [r] = await probe(url, "--seconds", "3", "--fallback")
    assert "error" not in r, r
    assert r["fps"] >= 25  # three seconds of a one-second clip: it loops
    assert r["audioFrames"] >= 40


async def test_viewer_that_stops_reading_does_not_grow_server_memory(tmp_path: Path) -> None:
    """A fallback viewer that stops reading is resynced, not buffered: memory stays flat."""
    clip = noise_clip(tmp_path / "noise.mp4")
    async with serving(
        tmp_path / "d", "--source", str(clip), "--video-size", "640x360", "--bitrate", "4m"
    ) as (proc, url):
        # A tiny receive window, so the kernel cannot hide the stall in its buffers.
        import socket

        port = int(url.rsplit(":", 1)[1])
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.setblocking(False)
        async with connect(url + "/media", max_size=None, sock=sock) as ws:
            await ws.recv()  # media_init
            for _ in range(30):
                await ws.recv()
            before = _rss_kib(proc.pid)
            ws.transport.pause_reading()  # stops reading; the stream goes on
            await asyncio.sleep(10)
            after = _rss_kib(proc.pid)
            async with connect(url) as admin:
                await admin.send(json.dumps({"type": "register_admin", "token": token()}))
                await admin.recv()
                await admin.send(json.dumps({"type": "get_media_stats"}))
                stats = json.loads(await admin.recv())["stats"]
        # The queue holds at most 2 s of video; socket buffers are bounded by the kernel.
        assert after - before < 12 * 1024, (before, after)
        stalled = next(v for v in stats["viewers"] if v["transport"] == "fallback")
        assert stalled["resyncs"] >= 1


async def test_a_missing_camera_never_crashes_the_server(tmp_path: Path) -> None:
    """`--source camera:<missing>`: the hub serves on; stats say why there is no video."""
    async with serving(tmp_path, "--source", "camera:/dev/video-missing") as (proc, url):
        await asyncio.sleep(1)
        async with connect(url) as admin:
            await admin.send(json.dumps({"type": "register_admin", "token": token()}))
            await admin.recv()
            await admin.send(json.dumps({"type": "get_media_stats"}))
            stats = json.loads(await admin.recv())["stats"]
            await admin.send(json.dumps({"type": "ping"}))
            assert json.loads(await admin.recv()) == {"type": "pong"}
        assert "not found" in stats["error"]
        assert proc.returncode is None


async def test_demo_goes_live_with_a_catalog(tmp_path: Path) -> None:
    """`demo`: testsrc, a live stream, a demo catalog with images, two pinned products."""
    # The data dir comes from --data-dir here, not from WRENCOS_DATA_DIR.
    async with serve(None, "--data-dir", str(tmp_path), command="demo") as demo:
        port = demo.port
        page = await demo.readline()
        assert page == f"customer page: http://127.0.0.1:{port}/"
        async with connect(f"ws://127.0.0.1:{port}") as ws:
            await ws.send(json.dumps({"type": "register", "sessionId": "demo-visitor"}))
            got = [json.loads(await ws.recv()) for _ in range(4)]
        by_type = {m["type"]: m for m in got}
        assert by_type["stream_started"]["streamData"]["title"].startswith("Wrencos demo")
        pins = by_type["pinned_products_updated"]["pinnedProducts"]
        assert [p["name"] for p in pins] == ["Hydrating Serum", "Vitamin C Glow"]
        image = f"http://127.0.0.1:{port}" + pins[0]["image"]
        body = await asyncio.to_thread(
            lambda: __import__("urllib.request").request.urlopen(image, timeout=5).read()
        )
        assert body.startswith(b"<svg")
        [viewer] = await probe(f"ws://127.0.0.1:{port}", "--seconds", "1")
        assert viewer["fps"] >= 25


async def test_nothing_leaves_before_go_live_or_after_end(tmp_path: Path) -> None:
    """The studio's preview is not a broadcast: /media refuses (1008) until announced, and
    ending the broadcast closes fallback viewers."""
    from websockets.exceptions import ConnectionClosed

    from tests.conftest import RunningHub
    from wrencos_studio.media.encoder import VideoSettings
    from wrencos_studio.media.sources import parse_source

    hub = RunningHub(tmp_path / "d")
    await hub.start()
    assert hub.app is not None
    try:
        b = await hub.app.start_broadcaster(
            parse_source("testsrc"), VideoSettings(320, 180, 30, 300_000), announce=False
        )
        async with connect(hub.url + "/media") as ws:
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 1008
        await b.announce()
        async with connect(hub.url + "/media", max_size=None) as ws:
            init = json.loads(await ws.recv())
            assert init["type"] == "media_init"
            await ws.recv()  # frames flow
            await b.withdraw()
            with pytest.raises(ConnectionClosed):
                while True:
                    await ws.recv()
            assert ws.close_code == 1001
    finally:
        await hub.stop()  # stops the broadcaster first


async def test_a_crowd_joining_at_once_all_get_offers(
    live: tuple[asyncio.subprocess.Process, str],
) -> None:
    """120 customer peers at once (more than any client's burst): every one gets an offer."""
    _proc, url = live

    async def join(i: int) -> str:
        async with connect(url) as ws:
            await ws.send(json.dumps({"type": "register", "sessionId": f"crowd-{i}"}))
            await ws.send(
                json.dumps(
                    {"type": "webrtc_register", "peerId": f"crowd-{i}", "userType": "customer"}
                )
            )
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if msg["type"] == "webrtc_offer":
                    return str(msg["offer"]["type"])

    offers = await asyncio.gather(*(join(i) for i in range(120)))
    assert offers == ["offer"] * 120
