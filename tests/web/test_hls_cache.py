"""LL-HLS through a real shared cache: Debian's nginx (``proxy_cache`` with
``proxy_cache_lock``) in front of a live ``serve``, 200 plain asyncio HLS clients polling it
with blocking playlist reloads; the studio serves each part at most twice (read from its
``/metrics``, straight from the studio)."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.helpers.hls import hls_client, http_get, nginx_cache
from tests.helpers.serve import serving

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("WRENCOS_NETNS") != "1",
        reason="media tests that go live run only inside a private network namespace",
    ),
]

CLIENTS = 200
SECONDS = 8.0


def _metric(text: str, name: str) -> float:
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    assert m is not None, f"{name} not in /metrics"
    return float(m[1])


async def test_200_hls_viewers_through_nginx_cost_the_studio_each_part_at_most_twice(
    tmp_path: Path,
) -> None:
    async with serving(
        tmp_path / "data", "--source", "testsrc", "--video-size", "320x180"
    ) as served:
        studio = served.http_url
        for _ in range(100):
            status, _, _ = await http_get(f"{studio}/live/index.m3u8")
            if status == 200:
                break
            await asyncio.sleep(0.1)
        assert status == 200, "no LL-HLS within 10 s of going live"
        async with nginx_cache(tmp_path / "nginx", urlsplit(studio).port or 80) as cache:
            results = await asyncio.gather(*(hls_client(cache, SECONDS) for _ in range(CLIENTS)))
            # The cache says it served from itself (a HIT for a part already fetched).
            _, headers, _ = await http_get(f"{cache}/live/index.m3u8")
        _, _, body = await http_get(f"{studio}/metrics")
    metrics = body.decode()
    parts_made = _metric(metrics, "wrencos_hls_parts_total")
    served_parts = _metric(metrics, "wrencos_hls_part_requests_total")
    worst = _metric(metrics, "wrencos_hls_max_requests_per_part")
    playlists = _metric(metrics, "wrencos_hls_playlist_requests_total")
    got = [len(r.parts) for r in results]
    errors = [e for r in results for e in r.errors]
    print(
        f"parts made {parts_made:.0f}, served upstream {served_parts:.0f} (worst {worst:.0f}),"
        f" clients got {sum(got)} parts (min {min(got)}), playlists upstream {playlists:.0f}"
        f" for {sum(r.playlists for r in results)} asked, {len(errors)} errors"
    )
    # Every viewer kept up: ~3 parts a second (10 frames at 30 fps) for most of the run.
    assert min(got) >= 0.6 * SECONDS * 3, (sorted(got)[:10], errors[:10])
    assert len(errors) <= CLIENTS // 20, errors[:10]
    assert "x-cache-status" in headers
    # The crowd collapses onto the studio: each part served at most twice, and in all far
    # fewer part requests than the clients made.
    assert 1 <= worst <= 2, metrics
    client_parts = sum(got)
    assert served_parts <= 2 * parts_made and served_parts * 20 < client_parts
    assert playlists * 10 < sum(r.playlists for r in results)
