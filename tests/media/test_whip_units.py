"""WHIP egress without Janus: the small HTTP/1.1 client against real sockets (redirects,
chunked answers, refusals, silence), the settings' checks, ``serve`` refusing a bad URL,
the publisher's words for an endpoint's refusal, and the external playback URLs reaching
the page (``stream_info``, the page's Content-Security-Policy)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.conftest import RunningHub
from tests.helpers.testutils import free_port
from wrencos_studio.config import Settings, check_delivery_urls, check_http_url
from wrencos_studio.media.whip import (
    WhipError,
    WhipPublisher,
    http_request,
    parse_ice_links,
)

Request = tuple[str, dict[str, str], bytes]  # request line, headers (lower-case), body
Handler = Callable[[Request], bytes | None]  # None: never answer


@contextlib.asynccontextmanager
async def http_stub(handler: Handler) -> AsyncIterator[tuple[str, list[Request]]]:
    """An HTTP server on 127.0.0.1 answering each request with ``handler``'s raw bytes.
    Yields its base URL and the requests it got."""
    got: list[Request] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = (await reader.readline()).decode().strip()
        headers: dict[str, str] = {}
        while h := (await reader.readline()).decode().strip():
            name, _, value = h.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        got.append((line, headers, body))
        answer = handler((line, headers, body))
        if answer is None:
            await asyncio.sleep(30)
        else:
            writer.write(answer)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", got
    finally:
        server.close()


async def test_a_307_is_followed_with_the_same_method_body_and_token() -> None:
    """RFC 9725 §4.5: a 307 sends the offer again to the new place; a chunked 201 is read
    whole, with its Location and Link headers."""
    answer = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(answer), answer)

    def handler(req: Request) -> bytes:
        if req[0].startswith("POST /whip/old "):
            return (
                b"HTTP/1.1 307 Temporary Redirect\r\n"
                b"Location: /whip/new\r\nContent-Length: 0\r\n\r\n"
            )
        return (
            b"HTTP/1.1 201 Created\r\nContent-Type: application/sdp\r\n"
            b"Location: resource/7\r\nTransfer-Encoding: chunked\r\n"
            b'Link: <stun:stun.example.net>; rel="ice-server"\r\n'
            b'Link: <turn:turn.example.net?transport=udp>; rel="ice-server"; '
            b'username="u"; credential="p"; credential-type="password"\r\n\r\n' + chunked
        )

    async with http_stub(handler) as (base, got):
        headers = {"Content-Type": "application/sdp", "Authorization": "Bearer t0k"}
        response = await http_request("POST", f"{base}/whip/old", headers, b"v=0 offer")
    assert response.status == 201
    assert response.body == answer
    assert response.url == f"{base}/whip/new"
    assert response.header("location") == "resource/7"
    assert [r[0] for r in got] == ["POST /whip/old HTTP/1.1", "POST /whip/new HTTP/1.1"]
    for _line, h, body in got:
        assert body == b"v=0 offer"
        assert h["authorization"] == "Bearer t0k"
        assert h["content-type"] == "application/sdp"
    servers = parse_ice_links(response.headers["link"])
    assert [s.urls for s in servers] == [
        "stun:stun.example.net",
        "turn:turn.example.net?transport=udp",
    ]
    assert (servers[1].username, servers[1].credential) == ("u", "p")


async def test_unreachable_and_silent_endpoints_are_said_in_words() -> None:
    port = free_port()
    with pytest.raises(WhipError, match=rf"cannot reach the WHIP endpoint 127\.0\.0\.1:{port}"):
        await http_request("POST", f"http://127.0.0.1:{port}/whip", body=b"x")
    async with http_stub(lambda req: None) as (base, _):
        with pytest.raises(WhipError, match=r"did not answer within 0\.3 s") as info:
            await http_request("POST", f"{base}/whip", body=b"x", timeout_s=0.3)
    assert info.value.status is None


async def test_endless_redirects_and_non_http_answers_are_errors() -> None:
    loop = b"HTTP/1.1 307 Again\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n"
    async with http_stub(lambda req: loop) as (base, got):
        with pytest.raises(WhipError, match="redirected more than 5 times"):
            await http_request("POST", f"{base}/whip", body=b"x")
    assert len(got) == 6
    async with http_stub(lambda req: b"SSH-2.0-OpenSSH\r\n") as (base, _):
        with pytest.raises(WhipError, match="did not answer in HTTP"):
            await http_request("POST", f"{base}/whip", body=b"x")


def test_urls_are_checked_with_the_variable_named() -> None:
    assert check_http_url(" https://sfu.example.com/whip ", "X") == "https://sfu.example.com/whip"
    assert check_http_url("", "X") == ""
    for bad in ("sfu.example.com/whip", "/whip", "ftp://h/x", "https://", "http://h:99999/"):
        with pytest.raises(ValueError, match="WRENCOS_WHIP_URL="):
            check_http_url(bad, "WRENCOS_WHIP_URL")
    settings = Settings(whip_token="t")
    with pytest.raises(ValueError, match="WRENCOS_WHIP_TOKEN is set but WRENCOS_WHIP_URL"):
        check_delivery_urls(settings)
    settings = Settings(whep_url="whep.example.com")
    with pytest.raises(ValueError, match="WRENCOS_WHEP_URL="):
        check_delivery_urls(settings)
    settings = Settings(public_hls_url="mailto:x@y")
    with pytest.raises(ValueError, match="WRENCOS_PUBLIC_HLS_URL="):
        check_delivery_urls(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WRENCOS_WHIP_URL", "not a url"),
        ("WRENCOS_WHEP_URL", "//cdn.example.com/whep"),
        ("WRENCOS_PUBLIC_HLS_URL", "cdn.example.com/live.m3u8"),
    ],
)
def test_serve_exits_2_naming_a_bad_url(tmp_path: Path, name: str, value: str) -> None:
    env = {**os.environ, "WRENCOS_DATA_DIR": str(tmp_path), "WRENCOS_JWT_SECRET": "s" * 40}
    env[name] = value
    out = subprocess.run(
        [sys.executable, "-m", "wrencos_studio", "serve", "--host", "127.0.0.1", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert out.returncode == 2
    assert f"{name}=" in out.stderr and "http://" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


async def test_stream_info_and_the_page_csp_carry_the_external_urls(tmp_path: Path) -> None:
    running = RunningHub(
        tmp_path / "data",
        whep_url="https://sfu.example.com/whep/shop",
        public_hls_url="https://cdn.example.net:8443/live/index.m3u8",
    )
    await running.start()
    try:
        c = await running.customer("s")
        info = await c.request({"type": "get_stream_info"}, "stream_info")
        assert info["whepUrl"] == "https://sfu.example.com/whep/shop"
        assert info["publicHlsUrl"] == "https://cdn.example.net:8443/live/index.m3u8"
        page = await http_request("GET", running.http_url + "/")
        csp = page.header("content-security-policy") or ""
        connect = next(d for d in csp.split(";") if d.strip().startswith("connect-src"))
        media = next(d for d in csp.split(";") if d.strip().startswith("media-src"))
        assert "https://sfu.example.com" in connect and "https://cdn.example.net:8443" in connect
        assert "https://cdn.example.net:8443" in media
        assert "sfu.example.com" not in media
    finally:
        await running.stop()


async def test_without_external_urls_stream_info_says_empty_and_the_csp_is_as_before(
    hub: RunningHub,
) -> None:
    from wrencos_studio.hub.http import _CSP

    c = await hub.customer("s")
    info = await c.request({"type": "get_stream_info"}, "stream_info")
    assert info["whepUrl"] == "" and info["publicHlsUrl"] == ""
    page = await http_request("GET", hub.http_url + "/")
    assert page.header("content-security-policy") == _CSP


needs_netns = pytest.mark.skipif(
    os.environ.get("WRENCOS_NETNS") != "1",
    reason="peer connections are made only inside a private network namespace",
)


@needs_netns
async def test_a_refused_token_is_said_in_words_and_retried_with_backoff() -> None:
    """401 from the endpoint: the status says so, retries come 0.2 s then 0.4 s apart."""
    refusal = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 6\r\n\r\nno no."
    statuses: list[tuple[str, str]] = []
    async with http_stub(lambda req: refusal) as (base, got):
        publisher = WhipPublisher(
            f"{base}/whip",
            "wrong",
            on_status=lambda s, m: statuses.append((s, m)),
            backoff_first_s=0.2,
            backoff_max_s=0.4,
        )
        publisher.start()
        try:
            for _ in range(100):
                if publisher.failures >= 3:
                    break
                await asyncio.sleep(0.05)
        finally:
            await publisher.stop()
    assert publisher.failures >= 3
    assert got[0][1]["authorization"] == "Bearer wrong"
    assert got[0][1]["content-type"] == "application/sdp"
    assert got[0][2].startswith(b"v=0")
    retrying = [m for s, m in statuses if s == "retrying"]
    assert retrying[0] == "WHIP endpoint refused the token (401); retrying in 0 s"
    assert "retrying in 0 s" in retrying[1]  # 0.4 s, shown rounded
    assert publisher.state == "stopped"
    assert publisher.stats().transport == "whip"


@needs_netns
async def test_an_answer_without_sdp_or_location_is_an_error_and_is_deleted() -> None:
    """A 201 with a Location but no SDP: said in words, and the half-made session DELETEd."""

    def handler(req: Request) -> bytes:
        if req[0].startswith("DELETE"):
            return b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        return b"HTTP/1.1 201 Created\r\nLocation: /whip/res/1\r\nContent-Length: 2\r\n\r\nok"

    statuses: list[tuple[str, str]] = []
    async with http_stub(handler) as (base, got):
        publisher = WhipPublisher(
            f"{base}/whip", on_status=lambda s, m: statuses.append((s, m)), backoff_first_s=5
        )
        publisher.start()
        try:
            for _ in range(100):
                if any(line.startswith("DELETE") for line, _h, _b in got):
                    break
                await asyncio.sleep(0.05)
        finally:
            await publisher.stop()
    assert "DELETE /whip/res/1 HTTP/1.1" in [line for line, _h, _b in got]
    assert "authorization" not in got[0][1]  # no token configured: none sent
    assert any(m.startswith("WHIP endpoint sent no SDP answer") for _s, m in statuses), statuses


@needs_netns
async def test_a_session_patches_the_end_of_candidates_and_deletes_on_stop() -> None:
    """Against an aiortc answerer behind a plain HTTP endpoint: the offer is send-only
    H.264 + Opus, the 201's relative Location is resolved, the end of candidates is
    PATCHed as a trickle-ice-sdpfrag with the ETag, the media connects, Link ICE servers
    are kept for the next attempt, and stop() DELETEs the resource."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    answerers: list[RTCPeerConnection] = []

    @contextlib.asynccontextmanager
    async def endpoint() -> AsyncIterator[tuple[str, list[Request]]]:
        got: list[Request] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            line = (await reader.readline()).decode().strip()
            headers: dict[str, str] = {}
            while h := (await reader.readline()).decode().strip():
                name, _, value = h.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            got.append((line, headers, body))
            if line.startswith("POST"):
                pc = RTCPeerConnection()
                answerers.append(pc)
                await pc.setRemoteDescription(RTCSessionDescription(body.decode(), "offer"))
                await pc.setLocalDescription(await pc.createAnswer())
                sdp = pc.localDescription.sdp.encode()
                writer.write(
                    b"HTTP/1.1 201 Created\r\nContent-Type: application/sdp\r\n"
                    b'Location: ../resource/9\r\nETag: "e1"\r\n'
                    b'Link: <stun:stun.example.net:3478>; rel="ice-server"\r\n'
                    b"Content-Length: %d\r\n\r\n" % len(sdp) + sdp
                )
            else:  # PATCH, DELETE
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}", got
        finally:
            server.close()
            for pc in answerers:
                await pc.close()

    async with endpoint() as (base, got):
        publisher = WhipPublisher(f"{base}/whip/endpoint/shop", "tok", connect_timeout_s=10)
        publisher.start()
        try:
            for _ in range(200):
                if publisher.state == "live":
                    break
                await asyncio.sleep(0.05)
            assert publisher.state == "live", publisher.message
            assert publisher.message == "WHIP: publishing to 127.0.0.1"
        finally:
            await publisher.stop()
    lines = [line for line, _h, _b in got]
    assert lines == [
        "POST /whip/endpoint/shop HTTP/1.1",
        "PATCH /whip/resource/9 HTTP/1.1",
        "DELETE /whip/resource/9 HTTP/1.1",
    ]
    offer = got[0][2].decode()
    assert offer.count("a=sendonly") == 2 and "a=recvonly" not in offer
    assert "H264/90000" in offer and "opus/48000" in offer and "VP8" not in offer
    _line, patch_headers, frag = got[1]
    assert patch_headers["content-type"] == "application/trickle-ice-sdpfrag"
    assert patch_headers["if-match"] == '"e1"'
    assert patch_headers["authorization"] == "Bearer tok"
    assert b"a=end-of-candidates" in frag and b"a=ice-ufrag:" in frag
    assert got[2][1]["authorization"] == "Bearer tok"
    assert [s.urls for s in publisher._link_servers] == ["stun:stun.example.net:3478"]
    assert publisher.state == "stopped" and publisher.sessions == 1


@needs_netns
async def test_a_whip_outage_costs_local_viewers_nothing(tmp_path: Path) -> None:
    """`serve --source testsrc` whose WHIP endpoint refuses every offer (503, retried
    every second): a local WebRTC viewer still gets the stream at the source rate, with
    low latency, while the studio keeps saying what goes wrong."""
    import json

    from websockets.asyncio.client import connect

    from tests.helpers.serve import serving
    from tests.helpers.testutils import run_probe, token

    refusal = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 17\r\n\r\nJanus unavailable"
    async with http_stub(lambda req: refusal) as (base, got):
        env = {"WRENCOS_WHIP_URL": f"{base}/whip/endpoint/shop"}
        async with serving(
            tmp_path / "data", "--source", "testsrc", "--video-size", "320x180", env=env
        ) as served:
            [r] = await run_probe(served.url, "--seconds", "3")
            async with connect(served.url) as ws:
                await ws.send(json.dumps({"type": "register_admin", "token": token()}))
                await ws.recv()
                await ws.send(json.dumps({"type": "get_media_stats"}))
                while (reply := json.loads(await ws.recv()))["type"] != "media_stats":
                    pass
    assert "error" not in r, r
    assert r["fps"] >= 25 and r["latencyP95Ms"] < 250, r
    assert len(got) >= 2  # it kept trying
    whip = reply["stats"]["whip"]
    assert whip["state"] in ("retrying", "connecting"), whip
    assert whip["message"].startswith(
        "WHIP endpoint failed (503 Service Unavailable): Janus unavailable"
    ), whip
