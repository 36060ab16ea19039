"""The customer page plays the broadcast in a real headless Chromium (Debian's), over WebRTC,
and over the WebSocket fallback when UDP is denied."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.serve import serving
from tests.helpers.testutils import chromium_options

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("WRENCOS_NETNS") != "1",
        reason="browser media tests run only inside a private network namespace",
    ),
]


@pytest.fixture
async def live_url(tmp_path: Path) -> AsyncIterator[str]:
    async with serving(
        tmp_path / "data", "--source", "testsrc", "--video-size", "640x360"
    ) as served:
        yield served.http_url + "/"


async def _watch(url: str, profile: Path, deny_udp: bool) -> tuple[dict[str, Any], list[str]]:
    from playwright.async_api import async_playwright

    if deny_udp:
        # Chromium 156 ignores --force-webrtc-ip-handling-policy; this profile preference
        # in a fresh user-data dir does deny UDP, as a tunnel would.
        (profile / "Default").mkdir(parents=True)
        (profile / "Default" / "Preferences").write_text(
            json.dumps({"webrtc": {"ip_handling_policy": "disable_non_proxied_udp"}})
        )
    errors: list[str] = []
    async with async_playwright() as pw:
        ctx = await pw.chromium.launch_persistent_context(str(profile), **chromium_options())
        try:
            page = await ctx.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(url)
            # Frames are counted as they are decoded (requestVideoFrameCallback for WebRTC,
            # VideoDecoder output for the fallback): currentTime alone can lie.
            # (Polled with evaluate(): the page's CSP forbids wait_for_function's eval.)
            for _ in range(100):
                frames = await page.evaluate(
                    "window.wrencosPlayer ? window.wrencosPlayer.stats.frames : 0"
                )
                if frames > 0:
                    break
                await asyncio.sleep(0.2)
            first = await page.evaluate("window.wrencosPlayer.stats.frames")
            await asyncio.sleep(2)
            stats = await page.evaluate("({...window.wrencosPlayer.stats})")
            stats["advanced"] = stats["frames"] - first
            visible = {"webrtc": "video", "mse": "mse-video"}.get(stats["transport"], "canvas")
            stats["visible"] = await page.is_visible(f"#{visible}")
            stats["unmute"] = await page.is_visible("#unmute")
        finally:
            await ctx.close()
    return stats, errors


async def test_page_plays_the_broadcast_over_webrtc(live_url: str, tmp_path: Path) -> None:
    """With UDP allowed the page plays WebRTC: frames keep advancing, muted, unmute offered."""
    stats, errors = await _watch(live_url, tmp_path / "profile", deny_udp=False)
    assert stats["transport"] == "webrtc", stats
    assert stats["advanced"] >= 30, stats  # 2 s of a 30 fps stream, with slack
    assert stats["visible"] and stats["unmute"]
    assert errors == []


async def test_page_falls_back_to_websocket_without_udp(live_url: str, tmp_path: Path) -> None:
    """With UDP denied, WebRTC cannot connect; the page plays the WebSocket stream (the
    Media Source rung, started beside WebRTC) and gives WebRTC up on its ICE state
    (tests/web/test_media_source.py has the LAN address, sound and the upgrade)."""
    stats, errors = await _watch(live_url, tmp_path / "profile", deny_udp=True)
    assert stats["transport"] == "mse", stats
    assert stats["fallbackReason"] == "started beside WebRTC"
    assert stats["advanced"] >= 30, stats
    assert stats["visible"]
    assert errors == []
