"""A hub that records (issue 14), in-process with a real test-pattern broadcaster: the
replay id in the show's summary, the staff's recording status, deleting a replay, the
`/replays` listing setting and recording switched off. Inside a private network namespace."""

from __future__ import annotations

import asyncio
import os
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningHub
from tests.helpers.clients import WsClient
from wrencos_studio.media.encoder import VideoSettings
from wrencos_studio.media.sources import parse_source

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("WRENCOS_NETNS") != "1",
        reason="media tests run only inside a private network namespace (./run-tests does it)",
    ),
]


async def recording_hub(data: Path, **overrides: Any) -> RunningHub:
    running = RunningHub(data, **overrides)
    await running.start()
    assert running.app is not None
    await running.app.start_broadcaster(
        parse_source("testsrc"), VideoSettings(320, 180, 30, 300_000)
    )
    return running


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    running = await recording_hub(tmp_path / "data")
    try:
        yield running
    finally:
        await running.stop()


async def http_get(url: str) -> tuple[int, bytes]:
    def get() -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    return await asyncio.to_thread(get)


async def a_show(hub: RunningHub, admin: WsClient, seconds: float = 1.5) -> dict[str, Any]:
    await hub.live(admin)
    status = await admin.expect("recording_status", state="recording")
    await asyncio.sleep(seconds)
    await admin.send({"type": "stop_stream"})
    summary = (await admin.expect("stream_summary"))["summary"]
    assert summary["replayId"] == status["replayId"]
    await admin.expect("recording_status", timeout=10, state="off")
    return dict(summary)


async def test_a_recorded_show_has_its_replay_in_the_summaries(hub: RunningHub) -> None:
    """`stream_summary` and `stream_summaries` name the replay; its page and latest.json
    answer; the listing is off by default (404)."""
    admin = await hub.admin()
    summary = await a_show(hub, admin)
    replay_id = summary["replayId"]
    await admin.send({"type": "get_stream_summaries"})
    [listed] = (await admin.expect("stream_summaries"))["summaries"]
    assert listed["replayId"] == replay_id
    status, body = await http_get(f"{hub.http_url}/replay/{replay_id}")
    assert status == 200 and b"replay.js" in body
    status, body = await http_get(f"{hub.http_url}/replay/latest.json")
    assert status == 200 and replay_id.encode() in body
    status, _ = await http_get(f"{hub.http_url}/replays")
    assert status == 404
    status, _ = await http_get(f"{hub.http_url}/replay/{replay_id}x")
    assert status == 404


async def test_deleting_a_replay_takes_its_file_and_timeline(hub: RunningHub) -> None:
    """Admin only; after it, the file is gone and the page answers 404; a staff member
    is refused; the live one cannot be deleted."""
    admin = await hub.admin()
    replay_id = (await a_show(hub, admin))["replayId"]
    recordings = hub.data_dir / "recordings"
    assert (recordings / f"{replay_id}.mp4").exists()
    staff = await hub.admin("sam", "staff")
    await staff.send({"type": "delete_recording", "replayId": replay_id})
    assert (await staff.expect("error"))["message"] == "Not authorized"
    await admin.send({"type": "delete_recording", "replayId": replay_id})
    assert await admin.expect("recording_deleted") == {
        "type": "recording_deleted",
        "replayId": replay_id,
        "deleted": True,
    }
    assert not (recordings / f"{replay_id}.mp4").exists()
    status, _ = await http_get(f"{hub.http_url}/replay/{replay_id}/timeline.json")
    assert status == 404
    await admin.send({"type": "delete_recording", "replayId": replay_id})
    assert (await admin.expect("recording_deleted"))["deleted"] is False
    await hub.live(admin)
    live_id = (await admin.expect("recording_status", state="recording"))["replayId"]
    await admin.send({"type": "delete_recording", "replayId": live_id})
    assert (await admin.expect("error"))["message"] == "Stream already active"


async def test_replays_are_listed_only_when_the_setting_allows(tmp_path: Path) -> None:
    """With list_replays the page lists the show by title, linking its replay."""
    hub = await recording_hub(tmp_path / "data", list_replays=True)
    try:
        admin = await hub.admin()
        replay_id = (await a_show(hub, admin))["replayId"]
        status, body = await http_get(f"{hub.http_url}/replays")
        assert status == 200
        assert f'href="/replay/{replay_id}"'.encode() in body and b"Spring serums" in body
    finally:
        await hub.stop()


async def test_recording_switched_off_records_nothing(tmp_path: Path) -> None:
    """WRENCOS_RECORDING=0 (recording=False): no file, no replay id."""
    hub = await recording_hub(tmp_path / "data", recording=False)
    try:
        admin = await hub.admin()
        await hub.live(admin)
        await asyncio.sleep(1.0)
        await admin.send({"type": "stop_stream"})
        summary = (await admin.expect("stream_summary"))["summary"]
        assert "replayId" not in summary
        assert not (tmp_path / "data" / "recordings").exists()
    finally:
        await hub.stop()


async def test_too_little_disk_tells_the_staff_and_the_show_goes_on(tmp_path: Path) -> None:
    """Under the threshold at Go Live: `recording_status` stopped, with why; still live."""
    hub = await recording_hub(tmp_path / "data", recording_min_free_mb=10**9)
    try:
        admin = await hub.admin()
        await hub.live(admin)
        status = await admin.expect("recording_status")
        assert status["state"] == "stopped" and "free on the disk" in status["message"]
        assert hub.hub is not None and hub.hub.stream is not None
    finally:
        await hub.stop()


async def test_the_live_page_links_the_latest_replay_and_asks_from_it(hub: RunningHub) -> None:
    """Nothing live: the customer page links the latest replay; a replay's "Ask about this
    product" address opens Help with that product attached."""
    from tests.helpers.browser import PHONE, chromium, open_tab

    admin = await hub.admin()
    replay_id = (await a_show(hub, admin))["replayId"]
    async with chromium() as browser:
        tab = await open_tab(browser, hub.http_url + "/", PHONE)
        href = await tab.until(
            "(() => { const a = document.getElementById('replay-link');"
            " return a && !a.hidden && a.getAttribute('href'); })()"
        )
        assert href == f"/replay/{replay_id}"
        assert (
            await tab.page.locator("#replay-link").inner_text() == "Watch the replay: Spring serums"
        )
        tab = await open_tab(browser, hub.http_url + "/?ask=toner&name=Rose%20Toner", PHONE)
        await tab.until("!document.getElementById('help').hidden")
        await tab.until("!document.getElementById('help-product').hidden")
        assert "Rose Toner" in await tab.page.locator("#help-product-body").inner_text()
        assert await tab.page.evaluate("location.search") == ""
        assert tab.errors == []


async def test_quitting_right_after_the_show_keeps_it_complete(tmp_path: Path) -> None:
    """The studio ends its show and stops at once: the recording is `complete`, with its
    length; stopping while still live marks it `interrupted` (and closes the file)."""
    import sqlite3

    import av

    data = tmp_path / "data"
    hub = await recording_hub(data)
    admin = await hub.admin()
    await hub.live(admin)
    first = (await admin.expect("recording_status", state="recording"))["replayId"]
    await asyncio.sleep(1.5)
    assert hub.app is not None
    await hub.app.end_stream()
    await hub.app.stop()  # at once, as the studio does when it quits
    await hub.stop()
    hub = await recording_hub(data)
    try:
        admin = await hub.admin()
        await hub.live(admin)
        second = (await admin.expect("recording_status", state="recording"))["replayId"]
        await asyncio.sleep(1.5)
    finally:
        await hub.stop()
    db = sqlite3.connect(data / "wrencos.sqlite3")
    rows = dict(db.execute("SELECT replay_id, status FROM recordings").fetchall())
    durations = dict(db.execute("SELECT replay_id, duration_ms FROM recordings").fetchall())
    db.close()
    assert rows == {first: "complete", second: "interrupted"}
    assert durations[first] > 500 and durations[second] > 500
    for replay_id in (first, second):
        with av.open(str(data / "recordings" / f"{replay_id}.mp4")) as c:
            assert sum(1 for _ in c.decode(video=0)) > 15
