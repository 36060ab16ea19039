"""The replay routes over a real server (issue 14): the page, the timeline, and the
recording in byte ranges with bounded responses."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import pytest

from tests.conftest import RunningHub
from tests.helpers.recordings import write_recording
from wrencos_studio.hub import http as hub_http
from wrencos_studio.store import replays
from wrencos_studio.store import repositories as repo

REPLAY = "ZTiz9_Tz_HxOJOs0oUlfTg"


async def http(url: str, method: str = "GET", **headers: str) -> tuple[int, dict[str, str], bytes]:
    def go() -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(url, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    return await asyncio.to_thread(go)


@pytest.fixture
async def recorded(hub: RunningHub) -> bytes:
    """A 2-second recording on the hub's disk and in its database; its bytes."""
    assert hub.store is not None
    path = write_recording(hub.data_dir / "recordings" / f"{REPLAY}.mp4", 2.0)
    await hub.store.run(
        repo.start_stream, "s1", "Serums", "", "", "720p", "2026-01-01T10:00:00Z", 0
    )
    await hub.store.run(replays.start_recording, REPLAY, "s1", path.name, "2026-01-01T10:00:01Z")
    return path.read_bytes()


async def test_ranges_of_the_recording(hub: RunningHub, recorded: bytes) -> None:
    """206 with the asked bytes and Content-Range; a small file whole without a Range;
    416 past the end; HEAD gives the headers only."""
    url = f"{hub.http_url}/replay/{REPLAY}/video.mp4"
    size = len(recorded)
    status, headers, body = await http(url, Range="bytes=100-199")
    assert (status, body) == (206, recorded[100:200])
    assert headers["Content-Range"] == f"bytes 100-199/{size}"
    assert headers["Content-Type"] == "video/mp4" and headers["Accept-Ranges"] == "bytes"
    status, _, body = await http(url)
    assert (status, body) == (200, recorded)
    status, headers, _ = await http(url, Range=f"bytes={size + 10}-")
    assert status == 416 and headers["Content-Range"] == f"bytes */{size}"
    status, headers, body = await http(url, "HEAD", Range="bytes=0-9")
    assert (status, body, headers["Content-Length"]) == (206, b"", "10")


async def test_a_response_is_capped(
    hub: RunningHub, recorded: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the cap: a range is cut to it, and a request without Range is refused (416)
    rather than read whole into memory."""
    monkeypatch.setattr(hub_http, "MAX_RANGE_BYTES", 1000)
    url = f"{hub.http_url}/replay/{REPLAY}/video.mp4"
    status, headers, body = await http(url, Range="bytes=0-")
    assert (status, body) == (206, recorded[:1000])
    assert headers["Content-Range"] == f"bytes 0-999/{len(recorded)}"
    status, headers, _ = await http(url)
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(recorded)}"


async def test_the_page_and_timeline_of_a_replay(hub: RunningHub, recorded: bytes) -> None:
    """The page with its CSP and no referrer; the timeline as JSON; unknown ids 404."""
    status, headers, body = await http(f"{hub.http_url}/replay/{REPLAY}")
    assert status == 200 and b"/static/replay.js" in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "no-referrer"
    status, _, body = await http(f"{hub.http_url}/replay/{REPLAY}/timeline.json")
    assert status == 200 and b'"title": "Serums"' in body
    for path in (
        f"/replay/{REPLAY[:-1]}X",
        "/replay/short",
        f"/replay/{REPLAY}/other",
        "/replay/../db",
    ):
        status, _, _ = await http(f"{hub.http_url}{path}")
        assert status == 404, path
    status, _, body = await http(f"{hub.http_url}/replay/latest.json")
    assert status == 200 and b'"replayId": null' in body  # still recording: not offered
