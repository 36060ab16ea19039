"""Start-up races of the page's fallback ladder (resources/web/player.js), in Debian's
headless Chromium inside the network namespace: WebRTC's first frame before the fallback's,
a new WebRTC offer after a give-up, every rung failing on the network, and a slow
``media_init`` on the Media Source rung. Each race is made deterministic with Playwright's
``page.route_web_socket`` / ``page.route`` (a delayed or altered studio message, refused
LL-HLS requests) or a delayed ``setRemoteDescription``; the studio, its hub and Chromium are
real."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.helpers.serve import AsyncServe
from tests.web.test_media_source import (
    BLANK_SAMPLER,
    LAN_HOST,
    NO_MEDIA_SOURCE,
    _open,
    _until,
    served,  # noqa: F401  (the fixture: a studio playing the test pattern)
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("WRENCOS_NETNS") != "1",
        reason="browser media tests run only inside a private network namespace",
    ),
]

#: The page's words for the video's state (live.js VIDEO_STATES).
RECONNECTING = "Reconnecting video…"
CANNOT_PLAY = "This browser cannot play the stream"

#: The first offer's answer is made 4 s late: WebRTC is given up on it (no ICE connection
#: within player.js's ICE_GIVE_UP_MS = 3 s). Later offers are answered at once.
FIRST_OFFER_STALLS = """
let offers = 0;
const original = RTCPeerConnection.prototype.setRemoteDescription;
RTCPeerConnection.prototype.setRemoteDescription = async function (...args) {
  if (offers++ === 0) await new Promise((resolve) => setTimeout(resolve, 4000));
  return original.apply(this, args);
};
"""

#: No HLS of the browser's own (Chromium 156 has one): with Media Source removed too, the
#: LL-HLS rung has no engine.
NO_NATIVE_HLS = """
const canPlayType = HTMLMediaElement.prototype.canPlayType;
HTMLMediaElement.prototype.canPlayType = function (type) {
  return /mpegurl/i.test(type) ? '' : canPlayType.call(this, type);
};
"""

#: Notes when (performance.now(), ms) the page made its SourceBuffer: the moment the
#: ``media_init`` reached the Media Source rung (Media Source had opened long before). The
#: page's own WebSocket is Playwright's stand-in once routed, so it is not watched.
MEDIA_INIT_AT = """
const addSourceBuffer = MediaSource.prototype.addSourceBuffer;
MediaSource.prototype.addSourceBuffer = function (...args) {
  window.__mediaInitAt = window.__mediaInitAt || performance.now();
  return addSourceBuffer.apply(this, args);
};
"""

STATS = "({...window.wrencosPlayer.stats})"
STATE_TEXT = "document.getElementById('video-state').textContent"


def _path_is(path: str) -> Callable[[str], bool]:
    return lambda url: urlparse(url).path == path


async def test_webrtc_first_says_live_and_counts_no_upgrade(
    served: AsyncServe,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The Media Source socket answers 2 s late, so WebRTC's first frame comes before any
    fallback frame: the page says live ("Connecting video…" is gone), WebRTC plays, the
    fallback is let go, and no upgrade (upgradedMs, swapGapMs) is recorded."""
    from playwright.async_api import async_playwright

    async def late_media(ws: Any) -> None:
        await asyncio.sleep(2.0)
        ws.connect_to_server()

    async def routes(page: Any) -> None:
        await page.route_web_socket(_path_is("/media"), late_media)

    url = f"http://{LAN_HOST}:{served.port}/"
    async with async_playwright() as pw:
        ctx, page, errors = await _open(
            pw, tmp_path / "profile", url, deny_udp=False, routes=routes
        )
        try:
            await _until(page, "window.wrencosPlayer && window.wrencosPlayer.stats.frames > 0")
            await _until(page, "window.wrencosPlayer.stats.transport === 'webrtc'")
            await asyncio.sleep(2.5)  # past the moment the Media Source socket would answer
            text = await page.evaluate(STATE_TEXT)
            stats = await page.evaluate(STATS)
            fallback_gone = await page.evaluate("window.wrencosPlayer.fallback === null")
        finally:
            await ctx.close()
    print(f"\nWebRTC first: first frame {stats['firstFrameMs']} ms, state text {text!r}")
    assert text == "", (text, stats)  # was "Connecting video…" over a playing video
    assert stats["transport"] == "webrtc", stats
    assert stats["upgradedMs"] is None and stats["swapGapMs"] is None, stats
    assert fallback_gone
    assert errors == []


async def test_a_later_offer_gets_a_fresh_try_after_a_give_up(
    served: AsyncServe,  # noqa: F811
    tmp_path: Path,
) -> None:
    """WebRTC is given up on the first offer (its answer stalls past 3 s) while Media
    Source plays; then the hub connection drops and comes back, the studio offers again,
    and the page upgrades to WebRTC on that offer — without a blank animation frame."""
    from playwright.async_api import async_playwright

    hub: dict[str, Any] = {}

    def route_hub(ws: Any) -> None:
        hub["page"] = ws
        hub["server"] = ws.connect_to_server()

    async def routes(page: Any) -> None:
        await page.route_web_socket(_path_is("/"), route_hub)

    url = f"http://{LAN_HOST}:{served.port}/"
    async with async_playwright() as pw:
        ctx, page, errors = await _open(
            pw,
            tmp_path / "profile",
            url,
            deny_udp=False,
            scripts=(BLANK_SAMPLER, FIRST_OFFER_STALLS),
            routes=routes,
        )
        try:
            await _until(page, "window.wrencosPlayer && window.wrencosPlayer.stats.webrtcFailed")
            await _until(page, "window.wrencosPlayer.stats.transport === 'mse'")
            given_up = await page.evaluate(STATS)
            # The hub connection drops (both ends), as on a Wi-Fi blink; live.js reconnects.
            await hub["page"].close()
            await hub["server"].close()
            await _until(page, "window.wrencosPlayer.stats.transport === 'webrtc'", timeout=15)
            at_upgrade = int(await page.evaluate("window.wrencosPlayer.stats.frames"))
            await asyncio.sleep(1.5)
            stats = await page.evaluate(STATS)
            blank = await page.evaluate("({...window.__blank})")
            text = await page.evaluate(STATE_TEXT)
            state = await page.evaluate(
                """({ ws: window.wrencosPlayer.ws === null,
                      fallback: window.wrencosPlayer.fallback === null,
                      mseHidden: document.getElementById('mse-video').hidden })"""
            )
        finally:
            await ctx.close()
    print(
        f"\ngiven up: {given_up['webrtcFailed']!r}; upgraded at {stats['upgradedMs']} ms "
        f"(gap {stats['swapGapMs']} ms), offers {stats['webrtcOffers']}; frames {blank}"
    )
    assert given_up["transport"] == "mse", given_up
    assert stats["transport"] == "webrtc", stats
    assert stats["webrtcOffers"] >= 2, stats
    assert stats["upgradedMs"] is not None and stats["swapGapMs"] is not None, stats
    assert blank["started"] and blank["frames"] > 30 and blank["blank"] == 0, blank
    assert state == {"ws": True, "fallback": True, "mseHidden": True}, state
    assert stats["frames"] - at_upgrade >= 20, stats  # WebRTC keeps playing
    assert text == ""
    assert errors == []


async def test_rungs_lost_to_the_network_are_not_blamed_on_the_browser(
    served: AsyncServe,  # noqa: F811
    tmp_path: Path,
) -> None:
    """UDP denied (WebRTC gives up), the Media Source rung refused by the browser (the
    studio's ``media_init`` is altered to name a codec nobody plays) and every LL-HLS request
    failing on the network: the ladder runs once, the page says "Reconnecting video…" (not
    "This browser cannot play the stream") and runs the ladder again after a backoff, still
    saying so (not back to "Connecting video…")."""
    from playwright.async_api import async_playwright

    media = {"connections": 0}

    def route_media(ws: Any) -> None:
        media["connections"] += 1
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            if isinstance(message, str):
                init = json.loads(message)
                if init.get("type") == "media_init":
                    init["mime"] = 'video/mp4; codecs="nope.1"'
                    message = json.dumps(init)
            ws.send(message)

        server.on_message(from_server)

    async def routes(page: Any) -> None:
        await page.route_web_socket(_path_is("/media"), route_media)
        await page.route("**/live/**", lambda route: route.abort())

    url = f"http://{LAN_HOST}:{served.port}/"
    async with async_playwright() as pw:
        ctx, page, errors = await _open(pw, tmp_path / "profile", url, deny_udp=True, routes=routes)
        try:
            # Every rung failed and WebRTC is given up: nothing plays.
            await _until(
                page,
                """window.wrencosPlayer && window.wrencosPlayer.stats.webrtcFailed
                   && window.wrencosPlayer.fallback === null
                   && (window.wrencosPlayer.stats.hlsStartErrors || []).length > 0""",
                timeout=25,
            )
            await asyncio.sleep(3)  # a second run of the ladder would fail within this
            text = await page.evaluate(STATE_TEXT)
            stats = await page.evaluate(STATS)
            connections = media["connections"]
            assert text == RECONNECTING, (text, stats)  # was "This browser cannot play ..."
            assert connections == 1, (connections, stats)  # not rerun by WebRTC's give-up
            # ... and the ladder is tried again after LADDER_RETRY_MS (5 s).
            await _until(page, "window.wrencosPlayer.stats.ladderRuns >= 2", timeout=10)
            retried = media["connections"]
            text_on_retry = await page.evaluate(STATE_TEXT)
        finally:
            await ctx.close()
    print(f"\nladder failures {stats['ladderFailures']}, errors {errors}")
    assert stats["ladderRuns"] == 1 and stats["ladderFailed"] == "network", stats
    causes = {f["rung"]: f["cause"] for f in stats["ladderFailures"]}
    assert causes == {"mse": "browser", "hls": "network"}, stats
    assert retried == 2, retried
    assert text_on_retry == RECONNECTING, text_on_retry
    # Only the refused LL-HLS requests (route.abort) are logged.
    assert set(errors) <= {"Failed to load resource: net::ERR_FAILED"}, errors


async def test_without_any_usable_rung_the_page_says_the_browser_cannot_play(
    served: AsyncServe,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The other half of saying what is true: no Media Source (so no hls.js either), no
    HLS of the browser's own, no WebCodecs (plain http on the LAN address) and no UDP —
    this browser really cannot play, and the page says so once WebRTC is given up."""
    from playwright.async_api import async_playwright

    url = f"http://{LAN_HOST}:{served.port}/"
    async with async_playwright() as pw:
        ctx, page, errors = await _open(
            pw,
            tmp_path / "profile",
            url,
            deny_udp=True,
            scripts=(NO_MEDIA_SOURCE, NO_NATIVE_HLS),
        )
        try:
            await _until(
                page, "window.wrencosPlayer && window.wrencosPlayer.stats.webrtcFailed", timeout=15
            )
            await _until(page, f"{STATE_TEXT} === {json.dumps(CANNOT_PLAY)}", timeout=5)
            stats = await page.evaluate(STATS)
        finally:
            await ctx.close()
    assert stats["ladderFailed"] == "browser" and stats["ladderRuns"] == 1, stats
    assert stats["frames"] == 0, stats
    assert errors == []


async def test_slow_media_init_keeps_the_newest_keyframe(
    served: AsyncServe,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The studio's ``media_init`` reaches the page 2.5 s after the fragments that follow
    it (as a slow ``sourceopen``): more than MAX_PENDING messages wait. The page keeps the
    newest keyframe among them and what follows — it drops fewer messages than waited (it
    used to drop them all and wait for the next keyframe) — and plays."""
    from playwright.async_api import async_playwright

    held: dict[str, Any] = {"binary": 0, "before_init": None}
    tasks: set[asyncio.Future[None]] = set()

    def route_media(ws: Any) -> None:
        server = ws.connect_to_server()

        async def release(message: str) -> None:
            await asyncio.sleep(2.5)
            held["before_init"] = held["binary"]
            ws.send(message)

        def from_server(message: str | bytes) -> None:
            if (
                held["before_init"] is None
                and isinstance(message, str)
                and json.loads(message).get("type") == "media_init"
            ):
                tasks.add(asyncio.ensure_future(release(message)))
                return
            if held["before_init"] is None:
                held["binary"] += 1
            ws.send(message)

        server.on_message(from_server)

    async def routes(page: Any) -> None:
        await page.route_web_socket(_path_is("/media"), route_media)

    url = f"http://{LAN_HOST}:{served.port}/"
    async with async_playwright() as pw:
        ctx, page, errors = await _open(
            pw,
            tmp_path / "profile",
            url,
            deny_udp=True,
            scripts=(MEDIA_INIT_AT,),
            routes=routes,
        )
        try:
            await _until(page, "window.wrencosPlayer && window.wrencosPlayer.stats.frames > 0")
            first = int(await page.evaluate("window.wrencosPlayer.stats.frames"))
            await asyncio.sleep(1.5)
            stats = await page.evaluate(STATS)
            init_at = await page.evaluate("window.__mediaInitAt || null")
        finally:
            await ctx.close()
    waited = held["before_init"]
    after = None if init_at is None else round(stats["firstFrameMs"] - init_at)
    print(
        f"\n{waited} messages waited for media_init; dropped {stats['dropped']}; "
        f"first frame {after} ms after media_init reached the page"
    )
    assert waited is not None and waited > 45, held  # more than MAX_PENDING waited
    assert stats["dropped"] < waited, (stats, waited)  # the newest keyframe was kept
    assert stats["transport"] == "mse", stats
    assert stats["frames"] - first >= 20, stats
    assert errors == []
