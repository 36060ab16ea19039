"""Recording a show for real (issue 14): `serve --source testsrc` records while a scripted
presenter pins and chats, is SIGKILLed mid-show, and the file decodes up to the kill; then
a restarted server serves the replay (timeline, byte ranges) to a real Chromium, and the
recording exports to a progressive MP4. Inside a private network namespace."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import pytest
from websockets.sync.client import connect

from tests.helpers.browser import PHONE, chromium
from tests.helpers.serve import serving_sync
from tests.helpers.testutils import token
from wrencos_studio.media.testsrc import read_stamp

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("WRENCOS_NETNS") != "1",
        reason="media tests run only inside a private network namespace (./run-tests does it)",
    ),
]


#: The name on the first product card shown (a JS expression).
SHOWN_NAME = "document.querySelector('#products li .name')?.textContent"


@dataclass
class Show:
    """What the scripted show did: its data dir, the wall-clock times (ms) of its steps."""

    data: Path
    started_ms: int
    rosehip_pinned_ms: int
    toner_pinned_ms: int
    killed_ms: int


class Presenter:
    """A staff connection speaking JSON over a real (sync) WebSocket."""

    def __init__(self, url: str) -> None:
        self.ws = connect(url).__enter__()
        self.send({"type": "register_admin", "token": token()})
        self.expect("admin_registered")

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send(json.dumps(message))

    def expect(self, type_: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if msg.get("type") == type_:
                return dict(msg)
            assert msg.get("type") != "error", msg


def _pin(presenter: Presenter, *ids: str) -> None:
    presenter.send(
        {"type": "pin_products", "pinnedProducts": [{"productId": pid, "price": 1} for pid in ids]}
    )
    presenter.expect("pinned_products_updated")


@pytest.fixture(scope="module")
def show(tmp_path_factory: pytest.TempPathFactory) -> Show:
    """A 320x180 test-pattern show: Rosehip Serum pinned after ~1.5 s with a chat line,
    Rose Toner instead after ~4.5 s with another (and one deleted), killed at ~8 s."""
    data = tmp_path_factory.mktemp("show")
    with serving_sync(data, "--source", "testsrc", "--video-size", "320x180") as served:
        presenter = Presenter(served.url)
        for pid, name, price in (("rosehip", "Rosehip Serum", 24.9), ("toner", "Rose Toner", 12.5)):
            presenter.send(
                {
                    "type": "save_product",
                    "product": {
                        "productId": pid,
                        "name": name,
                        "price": price,
                        "url": f"https://shop.example/{pid}",
                    },
                }
            )
            presenter.expect("product_saved")
        presenter.send({"type": "start_stream", "title": "Spring serums"})
        presenter.expect("stream_started")
        started = _now_ms()
        time.sleep(1.5)
        _pin(presenter, "rosehip")
        rosehip = _now_ms()
        presenter.send({"type": "chat_message", "username": "Ana", "message": "Is it vegan?"})
        presenter.expect("chat_message")
        time.sleep(3.0)
        _pin(presenter, "toner")
        toner = _now_ms()
        presenter.send({"type": "chat_message", "username": "Ana", "message": "Toner for me"})
        presenter.expect("chat_message")
        presenter.send({"type": "chat_message", "username": "Bo", "message": "spam spam"})
        spam = presenter.expect("chat_message")
        presenter.send({"type": "delete_chat_message", "id": spam["id"]})
        presenter.expect("chat_message_deleted")
        time.sleep(3.5)
        killed = _now_ms()
        served.kill()  # SIGKILL: no chance to close the file
    return Show(data, started, rosehip, toner, killed)


@pytest.fixture(scope="module")
def replay_server(show: Show) -> Iterator[tuple[str, str]]:
    """The studio started again on the show's data dir: (http base URL, replay id)."""
    with serving_sync(show.data) as served:
        recordings = list((show.data / "recordings").glob("*.mp4"))
        assert len(recordings) == 1, recordings
        yield served.http_url, recordings[0].stem


def _now_ms() -> int:
    return int(time.time() * 1000)


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_a_killed_show_decodes_frame_by_frame_up_to_the_kill(show: Show) -> None:
    """Every frame of the SIGKILLed recording decodes, in order, at 30 fps, and the last
    one was captured within 2 s of the kill (a fragment of ~1 s at most is lost)."""
    [path] = (show.data / "recordings").glob("*.mp4")
    stamps: list[int] = []
    times: list[float] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            assert frame.width == 320 and frame.height == 180
            times.append(float(frame.time))
            stamp = read_stamp(frame)
            assert stamp is not None
            stamps.append(stamp)
        audio = sum(1 for _ in container.streams.audio)
    assert audio == 1
    with av.open(str(path)) as container:
        sound_s = sum(f.samples for f in container.decode(audio=0)) / 48000
    assert times == sorted(times)
    assert stamps == sorted(stamps)
    assert len(stamps) >= 30 * 5, len(stamps)  # ~8 s recorded, at most ~1.5 s lost
    # The first frame is from just after going live; the last from just before the kill.
    assert stamps[0] - show.started_ms < 1500
    assert show.killed_ms - stamps[-1] < 2000, show.killed_ms - stamps[-1]
    # The file's clock is the capture clock: 30 frames a second, no gaps.
    span_s = (stamps[-1] - stamps[0]) / 1000
    assert abs((times[-1] - times[0]) - span_s) < 0.2
    assert len(stamps) >= span_s * 30 * 0.95
    # The sound decodes too, as long as the picture (give or take a fragment's edge).
    assert abs(sound_s - (times[-1] - times[0])) < 0.5, (sound_s, times[-1] - times[0])


def test_the_timeline_has_chapters_and_the_chat_without_deleted_lines(
    show: Show, replay_server: tuple[str, str]
) -> None:
    """Chapters from the pins at their offsets; chat lines in order, the deleted one not."""
    base, replay_id = replay_server
    status, headers, body = _get(f"{base}/replay/{replay_id}/timeline.json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    timeline = json.loads(body)
    assert timeline["title"] == "Spring serums"
    assert timeline["status"] == "interrupted"
    chapters = [(c["name"], c["offsetMs"]) for c in timeline["chapters"]]
    assert [name for name, _ in chapters] == ["Rosehip Serum", "Rose Toner"]
    gap = chapters[1][1] - chapters[0][1]
    assert abs(gap - (show.toner_pinned_ms - show.rosehip_pinned_ms)) < 400, chapters
    assert 500 < chapters[0][1] < 3000
    assert [c["message"] for c in timeline["chat"]] == ["Is it vegan?", "Toner for me"]
    assert timeline["chat"][0]["offsetMs"] >= chapters[0][1]
    assert timeline["catalog"]["rosehip"]["url"] == "https://shop.example/rosehip"


def test_the_recording_is_served_in_byte_ranges(replay_server: tuple[str, str]) -> None:
    """206 with Content-Range for a range, the suffix form too; 416 past the end."""
    base, replay_id = replay_server
    url = f"{base}/replay/{replay_id}/video.mp4"
    status, headers, body = _get(url, {"Range": "bytes=0-99"})
    assert status == 206 and len(body) == 100 and body[4:8] == b"ftyp"
    size = int(headers["Content-Range"].rpartition("/")[2])
    assert headers["Content-Range"] == f"bytes 0-99/{size}"
    assert headers["Accept-Ranges"] == "bytes"
    status, headers, body = _get(url, {"Range": "bytes=-10"})
    assert status == 206 and len(body) == 10
    assert headers["Content-Range"] == f"bytes {size - 10}-{size - 1}/{size}"
    status, headers, _ = _get(url, {"Range": f"bytes={size}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{size}"
    status, _, _ = _get(f"{base}/replay/{'x' * 22}/video.mp4", {"Range": "bytes=0-1"})
    assert status == 404


async def test_the_replay_page_seeks_to_a_chapter_with_its_product_and_chat(
    show: Show, replay_server: tuple[str, str]
) -> None:
    """In Chromium on a phone: the video plays; tapping the "Rose Toner" chapter seeks
    there, shows the Rose Toner card (today's price and link) and the chat said by then."""
    base, replay_id = replay_server
    async with chromium() as browser:
        context = await browser.new_context(viewport=PHONE)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{base}/replay/{replay_id}")
        await page.wait_for_selector("#chapters li button")
        chapters = await page.locator("#chapters li button").all_inner_texts()
        assert chapters[0].startswith("Rosehip Serum — 0:0"), chapters
        assert chapters[1].startswith("Rose Toner — 0:0"), chapters
        await page.evaluate("document.querySelector('video').muted = true")
        await page.evaluate("document.querySelector('video').play()")
        await _until(page, "document.querySelector('video').currentTime > 0.5")
        await page.locator("#chapters li button").nth(1).click()
        await _until(page, f"{SHOWN_NAME} === 'Rose Toner'")
        video_time = await page.evaluate("document.querySelector('video').currentTime")
        toner_at = (show.toner_pinned_ms - show.rosehip_pinned_ms) / 1000
        assert video_time >= 1.0 + toner_at - 1.0
        cards = await page.locator("#products li").all_inner_texts()
        assert len(cards) == 1 and "12.50" in cards[0], cards
        link = await page.locator("#products li a.card").get_attribute("href")
        assert link == "https://shop.example/toner"
        ask = await page.locator("#products li a.ask").get_attribute("href")
        assert ask == "/?ask=toner&name=Rose%20Toner"
        await _until(page, "document.querySelectorAll('#chat li').length === 2")
        lines = await page.locator("#chat li").all_inner_texts()
        assert "Is it vegan?" in lines[0] and "Toner for me" in lines[1]
        assert not any("spam" in line for line in lines)
        # Back to the first chapter: the card and the chat follow the video.
        await page.locator("#chapters li button").nth(0).click()
        await _until(page, f"{SHOWN_NAME} === 'Rosehip Serum'")
        await _until(page, "document.querySelectorAll('#chat li').length === 1")
        assert errors == []


async def _until(page: Any, script: str, timeout: float = 15.0) -> None:
    import asyncio

    deadline = time.monotonic() + timeout
    while not await page.evaluate(script):
        if time.monotonic() > deadline:
            raise TimeoutError(script)
        await asyncio.sleep(0.1)
