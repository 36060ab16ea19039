"""WHIP egress against a real Janus: Debian's ``janus`` with Debian's ``simple-whip-server``
in front (started by the test on free ports, tests/helpers/janus.py), inside the private
network namespace; a subscriber of the Janus VideoRoom receives the test pattern."""

from __future__ import annotations

import asyncio
import os
import statistics
from pathlib import Path

import pytest

from tests.helpers.janus import JanusSubscriber, janus_missing, janus_with_whip, whip_endpoints
from tests.helpers.serve import serving
from wrencos_studio.media.fanout import Fanout
from wrencos_studio.media.whip import WhipPublisher

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("WRENCOS_NETNS") != "1",
        reason="media tests run only inside a private network namespace (./run-tests does it)",
    ),
    pytest.mark.skipif(janus_missing() is not None, reason=str(janus_missing())),
]


async def _until(check: object, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():  # type: ignore[operator]
        assert loop.time() < deadline, f"not within {timeout} s: {what}"
        await asyncio.sleep(0.1)


async def test_serve_publishes_to_janus_and_a_subscriber_gets_the_pattern(tmp_path: Path) -> None:
    """`serve --source testsrc` with WRENCOS_WHIP_URL/TOKEN publishes to Janus through
    simple-whip-server; a VideoRoom subscriber decodes stamped frames at the source rate,
    soon after; on quit the studio DELETEs its WHIP session (the endpoint is free again)."""
    async with janus_with_whip(tmp_path) as janus:
        env = {"WRENCOS_WHIP_URL": janus.whip_url, "WRENCOS_WHIP_TOKEN": janus.token}
        sub = JanusSubscriber(janus.ws_url)
        async with serving(
            tmp_path / "data", "--source", "testsrc", "--video-size", "320x180", env=env
        ):
            try:
                await sub.watch(timeout=20)
                await _until(lambda: sub.frames >= 60, 15, f"60 frames\n{janus.logs()}")
                before = sub.frames
                await asyncio.sleep(2.0)
                fps = (sub.frames - before) / 2.0
            finally:
                await sub.close()
            [endpoint] = await whip_endpoints(janus)
            assert endpoint["enabled"] is True, endpoint
        # serve stopped (SIGTERM): it DELETEd the resource, so the endpoint is free again.
        [endpoint] = await whip_endpoints(janus)
        assert endpoint["enabled"] is False, f"{endpoint}\n{janus.logs()}"
    assert fps >= 20, fps
    assert sub.audio_frames > 0
    assert len(sub.stamps) >= 50, "the test pattern's stamps did not survive the trip"
    ages = [decoded - drawn for drawn, decoded in sub.stamps[-30:]]
    # Studio -> Janus -> subscriber on one machine: well under a second (p50).
    assert statistics.median(ages) < 1000, ages


async def test_a_wrong_token_is_said_in_words_and_retried(tmp_path: Path) -> None:
    """simple-whip-server refuses a wrong token with 403: the publisher says so and tries
    again with backoff; nothing reaches Janus's room."""
    async with janus_with_whip(tmp_path) as janus:
        statuses: list[tuple[str, str]] = []
        publisher = WhipPublisher(
            janus.whip_url,
            "not-the-token",
            on_status=lambda s, m: statuses.append((s, m)),
            backoff_first_s=0.2,
            backoff_max_s=0.4,
        )
        publisher.start()
        try:
            await _until(lambda: publisher.failures >= 3, 10, f"3 failures: {statuses}")
        finally:
            await publisher.stop()
        assert publisher.sessions == 0
        assert ("retrying", "WHIP endpoint refused the token (403); retrying in 0 s") in statuses
        assert any("refused the token (403)" in m for s, m in statuses if s == "retrying")
        [endpoint] = await whip_endpoints(janus)
        assert endpoint["enabled"] is False


async def test_publisher_reconnects_after_the_session_is_deleted_server_side(
    tmp_path: Path,
) -> None:
    """When the endpoint tears the session down (DELETE by someone else; Janus hangs up),
    the publisher notices the lost connection, says so, and publishes again."""
    from wrencos_studio.media.whip import http_request

    async with janus_with_whip(tmp_path) as janus:
        publisher = WhipPublisher(
            janus.whip_url, janus.token, backoff_first_s=0.2, connect_timeout_s=10
        )
        fanout = Fanout()  # no frames: only the session's life is under test
        fanout.add(publisher)
        publisher.start()
        try:
            await _until(lambda: publisher.state == "live", 15, f"live\n{janus.logs()}")
            assert publisher.sessions == 1
            response = await http_request(
                "DELETE",
                f"{janus.whip_base}/resource/shop",
                {"Authorization": f"Bearer {janus.token}"},
            )
            assert response.status == 200
            await _until(lambda: publisher.sessions >= 2, 30, f"again\n{janus.logs()}")
            await _until(lambda: publisher.state == "live", 15, "live again")
        finally:
            await publisher.stop()
        [endpoint] = await whip_endpoints(janus)
        assert endpoint["enabled"] is False
