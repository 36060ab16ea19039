"""External playback (issue 15, 3c) in Debian's headless Chromium: with WRENCOS_WHEP_URL set
the page plays from that WHEP endpoint first (resources/web/external.js) and falls back to
the studio itself when the endpoint fails (refused, or silent for too long); with
WRENCOS_PUBLIC_HLS_URL set it plays that HLS (a CDN: nginx in front of the studio's LL-HLS)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.browser import Tab, chromium, open_tab
from tests.helpers.hls import http_get, nginx_cache
from tests.helpers.hls_start import ShowStart
from tests.helpers.serve import serving
from tests.helpers.testutils import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("WRENCOS_NETNS") != "1",
        reason="browser media tests run only inside a private network namespace",
    ),
]

PLAYER = "window.wrencosPlayer"
#: The studio's own ladder: its fMP4 rung starts beside WebRTC and shows the first frame
#: when it is faster; WebRTC takes over when it connects (player.js).
STUDIO_TRANSPORTS = ("webrtc", "mse")


@contextlib.asynccontextmanager
async def whep_endpoint(mode: str) -> AsyncIterator[tuple[str, list[str], list[Any]]]:
    """A WHEP endpoint on a free port of 127.0.0.1 (another origin than the studio's), as a
    browser sees one (CORS preflight, ``Location`` exposed): ``mode`` ``"play"`` answers
    offers with an aiortc peer sending aiortc's test video; ``"silent"`` reads the request
    and never answers. Yields its URL, the request lines it got and its peer connections."""
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import VideoStreamTrack

    seen: list[str] = []
    pcs: list[Any] = []
    cors = (
        "Access-Control-Allow-Origin: *\r\n"
        "Access-Control-Allow-Methods: POST, DELETE, OPTIONS\r\n"
        "Access-Control-Allow-Headers: content-type\r\n"
        "Access-Control-Expose-Headers: Location\r\n"
    )

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = (await reader.readline()).decode().strip()
            seen.append(request)
            length = 0
            while line := (await reader.readline()).strip():
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            method = request.split()[0]
            if mode == "silent":
                await asyncio.sleep(60)
                return
            if method == "OPTIONS":
                head = f"HTTP/1.1 204 No Content\r\n{cors}Content-Length: 0\r\n\r\n"
                writer.write(head.encode())
            elif method == "DELETE":
                writer.write(f"HTTP/1.1 200 OK\r\n{cors}Content-Length: 0\r\n\r\n".encode())
            else:
                pc = RTCPeerConnection()
                pcs.append(pc)
                pc.addTrack(VideoStreamTrack())
                await pc.setRemoteDescription(RTCSessionDescription(body.decode(), "offer"))
                await pc.setLocalDescription(await pc.createAnswer())
                answer = pc.localDescription.sdp.encode()
                writer.write(
                    (
                        f"HTTP/1.1 201 Created\r\n{cors}Content-Type: application/sdp\r\n"
                        f"Location: /whep/resource/1\r\nContent-Length: {len(answer)}\r\n\r\n"
                    ).encode()
                    + answer
                )
            await writer.drain()
        finally:
            writer.close()

    port = free_port()
    server = await asyncio.start_server(serve, "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}/whep/endpoint/shop", seen, pcs
    finally:
        server.close()
        for pc in pcs:
            await pc.close()


async def _watch(url: str) -> tuple[dict[str, Any], float]:
    """Open the page, wait for decoded frames; its player's stats and frames seen."""
    async with chromium() as browser:
        tab = await open_tab(browser, url)
        try:
            await tab.until(f"{PLAYER} && {PLAYER}.stats.frames > 0", timeout=20)
        except TimeoutError:
            raise AssertionError(
                await tab.page.evaluate(f"JSON.stringify({PLAYER}.stats)")
            ) from None
        stats: dict[str, Any] = await tab.page.evaluate(f"{PLAYER}.stats")
        played = await tab.page.evaluate(f"{PLAYER}.video.currentTime")
        return stats, played


async def test_a_refused_whep_url_falls_back_to_the_studio(tmp_path: Path) -> None:
    """The WHEP endpoint's port is closed: the page gives up on it at once and plays the
    studio's own WebRTC stream; the reason is kept for whoever looks."""
    dead = f"http://127.0.0.1:{free_port()}/whep/endpoint/shop"
    env = {"WRENCOS_WHEP_URL": dead}
    async with serving(
        tmp_path / "d", "--source", "testsrc", "--video-size", "320x180", env=env
    ) as s:
        stats, _ = await _watch(s.http_url + "/")
    assert stats["transport"] in STUDIO_TRANSPORTS, stats
    assert stats["frames"] > 0
    assert stats["external"]["state"] == "failed", stats
    assert stats["external"]["error"], stats


async def test_a_silent_whep_url_falls_back_within_a_few_seconds(tmp_path: Path) -> None:
    """The endpoint takes the offer and never answers: after the external timeout (4 s)
    the page plays from the studio."""
    async with whep_endpoint("silent") as (whep, seen, _pcs):
        env = {"WRENCOS_WHEP_URL": whep}
        async with serving(
            tmp_path / "d", "--source", "testsrc", "--video-size", "320x180", env=env
        ) as s:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            stats, _ = await _watch(s.http_url + "/")
            took = loop.time() - t0
    assert any(line.startswith(("POST", "OPTIONS")) for line in seen), seen
    assert stats["transport"] in STUDIO_TRANSPORTS, stats
    assert "no picture within 4000 ms" in stats["external"]["error"], stats
    assert took < 12, took


async def test_a_working_whep_url_is_played_instead_of_the_studio(tmp_path: Path) -> None:
    """A real WHEP endpoint on another origin (CORS, the page's CSP lets it through): the
    page plays from it, not from the studio."""
    async with whep_endpoint("play") as (whep, seen, _pcs):
        env = {"WRENCOS_WHEP_URL": whep}
        async with (
            serving(tmp_path / "d", "--source", "testsrc", "--video-size", "320x180", env=env) as s,
            chromium() as browser,
        ):
            tab = await open_tab(browser, s.http_url + "/")
            await tab.until(f"{PLAYER}.stats.external.state === 'playing'", timeout=20)
            await tab.until(f"{PLAYER}.video.currentTime > 0.5", timeout=10)
            stats = await tab.page.evaluate(f"{PLAYER}.stats")
    assert stats["transport"] == "whep", stats
    assert stats["external"]["source"] == "whep"
    assert any(line.startswith("POST /whep/endpoint/shop") for line in seen), seen


async def test_a_public_hls_url_that_fails_falls_back_to_the_studio(tmp_path: Path) -> None:
    """WHEP refused, then the public HLS playlist unreachable (hls.js, loaded on demand as
    the LL-HLS rung loads it, cannot fetch the manifest): each reason is kept, and the studio's own
    stream plays, well before the two rungs' timeouts add up."""
    env = {
        "WRENCOS_WHEP_URL": f"http://127.0.0.1:{free_port()}/whep",
        "WRENCOS_PUBLIC_HLS_URL": f"http://127.0.0.1:{free_port()}/live/index.m3u8",
    }
    async with serving(
        tmp_path / "d", "--source", "testsrc", "--video-size", "320x180", env=env
    ) as s:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        stats, _ = await _watch(s.http_url + "/")
        took = loop.time() - t0
    assert stats["transport"] in STUDIO_TRANSPORTS, stats
    whep, hls = stats["external"]["error"].split("; ")
    assert whep.startswith("whep: "), whep
    # This Chromium has Media Source: hls.js is loaded on demand and says why it failed.
    assert hls == "hls: manifestLoadError", hls
    assert took < 6, took  # neither rung waited out its 4 s


async def test_a_working_public_hls_url_on_a_cdn_is_played_instead_of_the_studio(
    tmp_path: Path,
) -> None:
    """WRENCOS_PUBLIC_HLS_URL names a CDN on another origin: Debian's nginx (proxy_cache,
    ``Access-Control-Allow-Origin: *``) in front of the studio's own LL-HLS. The page plays
    from it with hls.js (the page's CSP lets that origin through), and nginx served it."""
    studio_port = free_port()  # nginx must know it before the studio, which must know nginx
    async with nginx_cache(tmp_path / "cdn", studio_port, cors=True, access_log=True) as cdn:
        env = {"WRENCOS_PUBLIC_HLS_URL": f"{cdn}/live/index.m3u8"}
        async with serving(
            tmp_path / "d",
            "--port",  # after serving()'s own --port 0: the last one counts
            str(studio_port),
            "--source",
            "testsrc",
            "--video-size",
            "320x180",
            env=env,
        ) as s:
            assert s.port == studio_port
            for _ in range(100):  # the CDN has the stream once the studio went live
                status, _, _ = await http_get(f"{cdn}/live/index.m3u8")
                if status == 200:
                    break
                await asyncio.sleep(0.1)
            assert status == 200, "no LL-HLS through nginx within 10 s of going live"
            async with chromium() as browser:
                tab = await open_tab(browser, s.http_url + "/")
                try:
                    await tab.until(f"{PLAYER}.stats.external.state === 'playing'", timeout=20)
                except TimeoutError:
                    raise AssertionError(
                        await tab.page.evaluate(f"JSON.stringify({PLAYER}.stats)")
                    ) from None
                await tab.until(f"{PLAYER}.video.currentTime > 0.5", timeout=10)
                # It keeps playing (hls.js may stall a moment for the next part at first).
                before = await tab.page.evaluate(f"{PLAYER}.video.currentTime")
                with contextlib.suppress(TimeoutError):
                    await tab.until(f"{PLAYER}.video.currentTime > {before} + 2", timeout=10)
                after = await tab.page.evaluate(f"{PLAYER}.video.currentTime")
                stats = await tab.page.evaluate(f"{PLAYER}.stats")
    assert stats["external"] == {"state": "playing", "source": "hls", "error": None}, stats
    assert stats["transport"] == "hls", stats
    assert "hlsEngine" not in stats, stats  # the ladder's own LL-HLS rung never started
    assert after - before > 2, (before, after)
    # nginx served the page (Chromium, referred by the studio's page) the playlists and parts.
    log = (tmp_path / "cdn" / "access.log").read_text()
    by_page = [
        m
        for m in re.finditer(r'"GET (\S+) HTTP/[\d.]+" (\d+) \d+ "([^"]*)" "([^"]*)"', log)
        if m[3].startswith(s.http_url) and "Chrome" in m[4]
    ]
    got = {m[1] for m in by_page if m[2] == "200"}
    assert "/live/index.m3u8" in got, log
    assert any(re.fullmatch(r"/live/\w+/index\.m3u8(\?.*)?", u) for u in got), log
    assert any(re.fullmatch(r"/live/\w+/s\d+\.p\d+\.m4s", u) for u in got), log


@pytest.mark.parametrize(
    ("moment", "not_found", "parts_only"),
    [("parts but no whole segment yet", 0, 3), ("nothing on the CDN yet (404)", 1, 0)],
)
async def test_public_hls_in_the_first_moments_of_a_show_is_waited_for_not_given_up(
    tmp_path: Path, moment: str, not_found: int, parts_only: int
) -> None:
    """The page opens the CDN's playlist in the first moments of a show: three media
    playlists in a row have parts but no whole segment yet (hls.js: an empty level,
    ``levelEmptyError``; with its default policy it retries after 1 s and 2 s, then gives
    up — what failed once in CI), or the multivariant playlist is still 404 (fatal at
    once). A route in front of the CDN (tests/helpers/hls_start.py) answers the first
    requests so, every time, from the real playlists. external.js retries sooner
    (PLAYLIST_LOAD_POLICY) and takes what hls.js gives up on at the start as "not yet"
    (a new hls.js shortly): the CDN plays, not the studio."""
    studio_port = free_port()
    async with nginx_cache(tmp_path / "cdn", studio_port, cors=True) as cdn:
        env = {"WRENCOS_PUBLIC_HLS_URL": f"{cdn}/live/index.m3u8"}
        async with serving(
            tmp_path / "d", "--port", str(studio_port), "--source", "testsrc",
            "--video-size", "320x180", env=env,
        ) as s:  # fmt: skip
            for _ in range(100):  # the CDN has the stream once the studio went live
                status, _, _ = await http_get(f"{cdn}/live/index.m3u8")
                if status == 200:
                    break
                await asyncio.sleep(0.1)
            assert status == 200, "no LL-HLS through nginx within 10 s of going live"
            start = ShowStart(not_found=not_found, parts_only=parts_only)
            async with chromium() as browser:
                context = await browser.new_context()
                await start.install(context, f"{cdn}/live/**")
                tab = Tab(await context.new_page())
                await tab.page.goto(s.http_url + "/")
                try:
                    await tab.until(f"{PLAYER}.stats.external.state === 'playing'", timeout=20)
                except TimeoutError:
                    raise AssertionError(
                        (await tab.page.evaluate(f"JSON.stringify({PLAYER}.stats)"), start.served)
                    ) from None
                await tab.until(f"{PLAYER}.video.currentTime > 0.5", timeout=10)
                stats = await tab.page.evaluate(f"{PLAYER}.stats")
    # The moment did happen, as many times as planned, before the CDN's stream played.
    kinds = [kind for _, kind in start.served]
    assert kinds.count("404") == not_found, start.served
    assert kinds.count("parts-only") == parts_only, start.served
    assert stats["external"] == {"state": "playing", "source": "hls", "error": None}, (
        moment,
        stats,
    )
    assert stats["transport"] == "hls", stats
    assert "hlsEngine" not in stats, stats  # the studio's own ladder never started


async def test_a_whep_stream_that_breaks_later_hands_over_to_the_studio(tmp_path: Path) -> None:
    """The WHEP stream plays, then its server hangs up: the page asks the studio for the
    stream again (re-registering) and plays the studio's own WebRTC."""
    async with whep_endpoint("play") as (whep, _seen, pcs):
        env = {"WRENCOS_WHEP_URL": whep}
        async with (
            serving(tmp_path / "d", "--source", "testsrc", "--video-size", "320x180", env=env) as s,
            chromium() as browser,
        ):
            tab = await open_tab(browser, s.http_url + "/")
            await tab.until(f"{PLAYER}.stats.external.state === 'playing'", timeout=20)
            for pc in pcs:
                await pc.close()
            await tab.until(f"{PLAYER}.stats.external.state === 'failed'", timeout=40)
            await tab.until(f"{PLAYER}.stats.transport === 'webrtc'", timeout=15)
            await tab.until(f"{PLAYER}.stats.frames > 0", timeout=10)
            stats = await tab.page.evaluate(f"{PLAYER}.stats")
    assert stats["external"]["error"].startswith("whep: "), stats
