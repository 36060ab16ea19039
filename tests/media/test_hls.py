"""The LL-HLS packager (``media/hls.py``) fed by the real encoders, and its routes on a real
``serve`` going live with the test pattern: playlists with the LL-HLS tags, parts that
decode, blocking reloads, Cache-Control, 404 when nothing is live, 400/503 by the rules."""

from __future__ import annotations

import asyncio
import io
import itertools
import os
import re
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import pytest

from tests.helpers.recordings import SMALL_VIDEO, encoded_show
from tests.helpers.serve import serving
from wrencos_studio.media.hls import BadRequest, HlsStream, Unavailable
from wrencos_studio.media.outputs import MediaFrame


class _Clock:
    """Media time as the clock: packets fed faster than real time stay on their stamps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _feed(stream: HlsStream, clock: _Clock, packets: Any) -> None:
    for kind, packet, pts in packets:
        clock.now = pts / (90000 if kind == "video" else 48000)
        stream.offer(MediaFrame(kind, packet, 0))


def _stream(seconds: float) -> tuple[HlsStream, _Clock]:
    clock = _Clock()
    asked: list[int] = []
    stream = HlsStream(SMALL_VIDEO.width, SMALL_VIDEO.height, lambda: asked.append(1), clock=clock)
    assert asked, "a new HLS stream asks the encoder for a keyframe"
    _feed(stream, clock, encoded_show(seconds))
    return stream, clock


async def test_parts_and_segments_follow_the_gop_and_decode() -> None:
    stream, _ = _stream(6.5)
    assert stream.ready and stream.init is not None and stream.init[4:8] == b"ftyp"
    assert stream.codec is not None and stream.codec.startswith("avc1.")
    segments = list(stream.segments)
    complete = [s for s in segments if s.complete]
    assert [s.msn for s in segments] == list(range(len(segments)))
    assert len(complete) >= 2
    for seg in complete:
        assert seg.parts[0].independent and not any(p.independent for p in seg.parts[1:])
        assert seg.duration == pytest.approx(2.0, abs=0.04)  # one GOP at 30 fps
        # 10 frames a part, 6 parts a GOP.
        assert [round(p.duration * 30) for p in seg.parts] == [10] * 6
    # init + every segment, as a player appends them, decodes to every frame muxed.
    body = stream.init + b"".join(p.data for seg in segments for p in seg.parts)
    with av.open(io.BytesIO(body)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    in_parts = round(sum(seg.duration for seg in segments) * 30)
    assert frames == in_parts and stream.frames - 10 <= in_parts < stream.frames
    with av.open(io.BytesIO(body)) as container:
        assert container.streams.audio[0].codec_context.name == "opus"


async def test_the_playlist_carries_the_low_latency_tags() -> None:
    stream, _ = _stream(4.5)
    text = stream.playlist()
    assert text.startswith("#EXTM3U\n")
    assert "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.002" in text
    assert "#EXT-X-PART-INF:PART-TARGET=0.334" in text
    assert "#EXT-X-TARGETDURATION:2" in text
    assert '#EXT-X-MAP:URI="init.mp4"' in text
    parts = re.findall(r'#EXT-X-PART:DURATION=([\d.]+),URI="(s\d+\.p\d+\.m4s)"', text)
    assert len(parts) == stream.parts_made
    assert re.search(r'URI="s0\.p0\.m4s",INDEPENDENT=YES', text)
    assert "#EXTINF:2.0" in text and "\ns0.m4s\n" in text
    last_msn, last_part = stream.last_position or (0, 0)
    assert text.endswith(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="s{last_msn}.p{last_part + 1}.m4s"\n')
    multi = stream.multivariant()
    assert f"\n{stream.prefix}/index.m3u8\n" in multi
    assert f'CODECS="{stream.codec},opus"' in multi and "RESOLUTION=320x180" in multi


async def test_old_segments_go_and_the_names_never_come_back() -> None:
    stream, _ = _stream(16.5)
    assert len(stream.segments) == 6 and stream.segments[0].msn == 3  # 0-8 made
    assert await stream.media("s0.m4s") is None and await stream.media("s0.p0.m4s") is None
    assert await stream.media("s4.p1.m4s") == stream.segments[1].parts[1].data
    other = HlsStream(SMALL_VIDEO.width, SMALL_VIDEO.height)
    assert other.prefix != stream.prefix


async def test_a_blocking_reload_waits_for_its_part_and_keeps_the_rules() -> None:
    gen = encoded_show(8)
    clock = _Clock()
    stream = HlsStream(SMALL_VIDEO.width, SMALL_VIDEO.height, clock=clock)
    # 1 s in: segment 0 has a few parts.
    _feed(stream, clock, itertools.takewhile(lambda _: clock.now < 1.0, gen))
    msn, part = stream.last_position or (0, 0)
    waiter = asyncio.create_task(stream.wait_for(msn, part + 2, within_s=5))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    for item in gen:
        _feed(stream, clock, [item])
        await asyncio.sleep(0)
        if waiter.done():
            break
    await waiter
    assert stream.has(msn, part + 2)
    # A part index past a finished segment: the next segment's part 0 stands for it.
    assert stream.has(0, 99) is (stream.segments[-1].msn > 0)
    with pytest.raises(BadRequest):
        await stream.wait_for(stream.segments[-1].msn + 3, 0)
    with pytest.raises(Unavailable):
        await stream.wait_for(stream.segments[-1].msn + 1, 0, within_s=0.1)
    late = asyncio.create_task(stream.wait_for(stream.segments[-1].msn + 2, 0))
    await asyncio.sleep(0.01)
    stream.close()
    with pytest.raises(Unavailable):
        await late


# -- the routes on a real server ------------------------------------------------------------

netns = pytest.mark.skipif(
    os.environ.get("WRENCOS_NETNS") != "1",
    reason="media tests that go live run only inside a private network namespace",
)


def _get(url: str, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[str]:
    async with serving(
        tmp_path / "data", "--source", "testsrc", "--video-size", "320x180"
    ) as served:
        yield served.http_url


async def _until_live(base: str) -> tuple[str, str]:
    for _ in range(100):
        status, _, body = await asyncio.to_thread(_get, base + "/live/index.m3u8")
        if status == 200:
            text = body.decode()
            return text, re.findall(r"^(\w+)/index\.m3u8$", text, re.M)[0]
        await asyncio.sleep(0.1)
    raise AssertionError("no HLS playlist within 10 s of going live")


@netns
async def test_the_routes_serve_blocking_reloads_with_cache_headers(live: str) -> None:
    multi, prefix = await _until_live(live)
    assert "#EXT-X-STREAM-INF:" in multi
    assert ',mp4a.40.2"' in multi  # the studio's HLS carries AAC from the capture's PCM
    status, headers, body = await asyncio.to_thread(_get, f"{live}/live/{prefix}/index.m3u8")
    assert status == 200 and headers["Cache-Control"] == "public, max-age=1"
    assert headers["Content-Type"] == "application/vnd.apple.mpegurl"
    text = body.decode()
    hint = re.search(r'PRELOAD-HINT:TYPE=PART,URI="s(\d+)\.p(\d+)\.m4s"', text)
    assert hint is not None
    msn, part = int(hint[1]), int(hint[2])
    # Blocking: the hinted part is not there yet; the answer comes when it is.
    loop = asyncio.get_running_loop()
    started = loop.time()
    url = f"{live}/live/{prefix}/index.m3u8?_HLS_msn={msn}&_HLS_part={part}"
    status, headers, body = await asyncio.to_thread(_get, url)
    waited = loop.time() - started
    assert status == 200 and headers["Cache-Control"] == "public, max-age=60"
    assert f'"s{msn}.p{part}.m4s"' in body.decode() or f"s{msn}.m4s" in body.decode()
    assert 0.0 < waited < 2.0
    status, headers, init = await asyncio.to_thread(_get, f"{live}/live/{prefix}/init.mp4")
    assert status == 200 and init[4:8] == b"ftyp"
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    newest = re.findall(r'#EXT-X-PART:[^\n]*URI="(s\d+\.p\d+\.m4s)"', body.decode())[-1]
    status, headers, data = await asyncio.to_thread(_get, f"{live}/live/{prefix}/{newest}")
    assert status == 200 and data[4:8] == b"moof"
    assert headers["Content-Type"] == "video/iso.segment"
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert int(headers["Content-Length"]) == len(data)
    for bad in ("_HLS_part=1", "_HLS_msn=x", f"_HLS_msn={msn + 10}"):
        status, _, _ = await asyncio.to_thread(_get, f"{live}/live/{prefix}/index.m3u8?{bad}")
        assert status == 400, bad
    status, _, _ = await asyncio.to_thread(_get, f"{live}/live/aaaaaaaa/index.m3u8")
    assert status == 404
    status, _, metrics = await asyncio.to_thread(_get, f"{live}/metrics")
    assert re.search(rb"^wrencos_hls_part_requests_total [1-9]", metrics, re.M)


async def test_nothing_live_is_404(tmp_path: Path) -> None:
    async with serving(tmp_path / "data") as served:
        status, _, _ = await asyncio.to_thread(_get, served.http_url + "/live/index.m3u8")
        assert status == 404


async def test_aac_from_the_shared_encode_for_apples_players() -> None:
    """With an AAC track the Opus packets are left out and the shared AAC encode's
    packets (``on_aac``, as ``MediaPipeline.add_aac_sink`` delivers them) are packaged;
    the parts decode with an AAC track beside the video, all of the sound there."""
    from wrencos_studio.media.encoder import AacEncoder, VideoEncoder
    from wrencos_studio.media.fmp4 import AacTrack
    from wrencos_studio.media.testsrc import BeepGenerator, TestPattern

    clock = _Clock()
    aac = AacEncoder(first_pts=480_000)  # the pipeline's clock: 10 s of sound before
    stream = HlsStream(
        SMALL_VIDEO.width, SMALL_VIDEO.height, audio=AacTrack(aac.extradata), clock=clock
    )
    video, pattern, beep = VideoEncoder(SMALL_VIDEO), TestPattern(320, 180), BeepGenerator()
    opus = next(p for k, p, _ in encoded_show(0.2) if k == "audio")
    audio_s = 0.0
    for i in range(int(4.5 * 30)):
        clock.now = i / 30
        for packet in video.encode(pattern.frame(), i * 3000):
            stream.offer(MediaFrame("video", packet, 0))
        stream.offer(MediaFrame("audio", opus, 0))  # ignored: AAC comes to on_aac
        while audio_s < (i + 1) / 30:
            audio_s += 0.02
            for packet in aac.encode(beep.frame()):
                stream.on_aac(packet)
    assert f'CODECS="{stream.codec},mp4a.40.2"' in stream.multivariant()
    assert stream.init is not None
    body = stream.init + b"".join(p.data for seg in stream.segments for p in seg.parts)
    with av.open(io.BytesIO(body)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
        samples = sum(f.samples for f in container.decode(audio=0))
    assert samples >= 48000 * 3.5  # the sound is there, all of it bar the pending part
    with av.open(io.BytesIO(body)) as container:
        assert sum(1 for _ in container.decode(video=0)) >= 4 * 30
    stream.close()
    stream.on_aac(packet)  # after close: nothing, no error
