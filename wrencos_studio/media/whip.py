"""WHIP egress (RFC 9725): publish the one encoded stream to a configured WHIP endpoint (an
SFU such as Janus, or a cloud service) so that it, not the presenter's uplink, serves the
viewers beyond the shop.

:class:`WhipPublisher` is one fan-out :class:`~wrencos_studio.media.outputs.Output`: an
aiortc ``RTCPeerConnection`` *client* whose two send-only tracks are the same
:class:`~wrencos_studio.media.webrtc.PacketTrack`/``RtpWriter`` pair a WebRTC viewer has, so
the frames are the encoder's own (no second encoder). The session (RFC 9725 §4):

- ``POST`` the SDP offer to the endpoint URL (``Content-Type: application/sdp``,
  ``Authorization: Bearer <token>``); ``201 Created`` brings the answer and, in
  ``Location``, the session's resource URL (resolved against the endpoint's). ``307``/``308``
  redirects are followed (§4.5); ``Link: <stun:...>; rel="ice-server"`` headers (§4.6) are
  kept as ICE servers for the next attempt (aiortc gathers its candidates before the offer,
  so they cannot serve the current one).
- Trickle ICE by ``PATCH`` (``application/trickle-ice-sdpfrag``, RFC 8840): aiortc puts
  every candidate in the offer, so what there is to trickle is the end of them
  (``a=end-of-candidates``); an endpoint that does not take trickle (405/501) is fine.
- ``DELETE`` the resource when the stream ends, when the studio quits, and before a retry.

Failures are said in words (:attr:`WhipPublisher.message`, shown in the studio's health
line through the broadcaster's stats: "WHIP endpoint refused the token (403)") and retried
with backoff (1 s doubling to 30 s). The publisher is just another output of the fan-out,
offered frames synchronously and dropping them while it is not connected, so a WHIP outage
never touches local viewers.

The HTTP client is :func:`http_request`, a small asyncio HTTP/1.1 client (three verbs,
``Content-Length`` or chunked bodies, TLS through :mod:`ssl`): WHIP needs a handful of
requests per show, none of the project's dependencies has an HTTP client, and a new one
(aiohttp) would add several compiled packages to every install and to the frozen builds for
that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)

from wrencos_studio.config import check_http_url
from wrencos_studio.media.outputs import MediaFrame, OutputStats
from wrencos_studio.media.webrtc import PacketTrack, attach_sender, rtp_form

__all__ = [
    "HttpResponse",
    "WhipError",
    "WhipPublisher",
    "check_http_url",
    "http_request",
    "parse_ice_links",
]

log = logging.getLogger(__name__)

#: Seconds an HTTP request (connect, send, whole response) may take.
HTTP_TIMEOUT_S = 10.0
#: Seconds the peer connection may take to connect after the answer.
CONNECT_TIMEOUT_S = 15.0
#: Retry delays: the first, doubling up to the last.
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
MAX_REDIRECTS = 5
MAX_BODY_BYTES = 1024 * 1024


class WhipError(Exception):
    """A WHIP request failed; ``str(exc)`` is a sentence for the presenter, ``status`` the
    HTTP status (None: no HTTP answer at all)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


# -- a small HTTP/1.1 client -----------------------------------------------------------------


@dataclass(slots=True)
class HttpResponse:
    """One HTTP response: ``headers`` with lower-case names, each with all its values in
    order; ``url`` the URL that answered (after redirects)."""

    status: int
    reason: str
    headers: dict[str, list[str]]
    body: bytes
    url: str

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        values = self.headers.get(name.lower())
        return values[0] if values else None


async def http_request(
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    *,
    timeout_s: float = HTTP_TIMEOUT_S,
    ssl_context: ssl.SSLContext | None = None,
) -> HttpResponse:
    """One HTTP/1.1 request (a new connection, ``Connection: close``), following ``307``/
    ``308`` redirects (same method and body) up to :data:`MAX_REDIRECTS` times. Raises
    :class:`WhipError` (``status`` None) when the host cannot be reached, the answer is not
    HTTP, or it takes longer than ``timeout_s`` seconds in all."""
    try:
        async with asyncio.timeout(timeout_s):
            for _ in range(MAX_REDIRECTS + 1):
                response = await _one_request(method, url, headers or {}, body, ssl_context)
                location = response.header("location")
                if response.status in (307, 308) and location:
                    url = urljoin(url, location)
                    continue
                return response
    except TimeoutError:
        raise WhipError(f"{_where(url)} did not answer within {timeout_s:g} s") from None
    raise WhipError(f"{_where(url)} redirected more than {MAX_REDIRECTS} times")


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"the WHIP endpoint {parts.hostname}:{parts.port or _default_port(parts.scheme)}"


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


async def _one_request(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    ssl_context: ssl.SSLContext | None,
) -> HttpResponse:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WhipError(f"not an http(s) URL: {url}")
    host = parts.hostname
    port = parts.port or _default_port(parts.scheme)
    tls: ssl.SSLContext | None = None
    if parts.scheme == "https":
        tls = ssl_context or ssl.create_default_context()
    try:
        reader, writer = await asyncio.open_connection(
            host, port, ssl=tls, server_hostname=host if tls else None
        )
    except ssl.SSLError as exc:
        raise WhipError(f"{_where(url)}: TLS failed ({exc.reason or exc})") from exc
    except OSError as exc:
        raise WhipError(f"cannot reach {_where(url)}: {exc.strerror or exc}") from exc
    try:
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        host_header = host if ":" not in host else f"[{host}]"
        if parts.port:
            host_header += f":{parts.port}"
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host_header}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body or method in ("POST", "PATCH", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        return await _read_response(reader, url, method)
    except (OSError, asyncio.IncompleteReadError, ValueError, UnicodeError) as exc:
        raise WhipError(f"{_where(url)} broke off the answer: {exc}") from exc
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _read_response(reader: asyncio.StreamReader, url: str, method: str) -> HttpResponse:
    status_line = (await reader.readline()).decode("latin-1").rstrip("\r\n")
    match = re.fullmatch(r"HTTP/1\.[01] (\d{3})(?: (.*))?", status_line)
    if match is None:
        raise WhipError(f"{_where(url)} did not answer in HTTP: {status_line[:60]!r}")
    status, reason = int(match.group(1)), match.group(2) or ""
    headers: dict[str, list[str]] = {}
    while True:
        line = (await reader.readline()).decode("latin-1").rstrip("\r\n")
        if not line:
            break
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return HttpResponse(status, reason, headers, b"", url)
    if "chunked" in ",".join(headers.get("transfer-encoding", [])).lower():
        chunks = []
        total = 0
        while True:
            size = int((await reader.readline()).split(b";")[0].strip(), 16)
            if size == 0:
                break
            total += size
            if total > MAX_BODY_BYTES:
                raise ValueError("answer too large")
            chunks.append(await reader.readexactly(size))
            await reader.readline()
        body = b"".join(chunks)
    elif "content-length" in headers:
        length = int(headers["content-length"][0])
        if length > MAX_BODY_BYTES:
            raise ValueError("answer too large")
        body = await reader.readexactly(length)
    else:
        body = await reader.read(MAX_BODY_BYTES)
    return HttpResponse(status, reason, headers, body, url)


_LINK = re.compile(r"<([^>]*)>((?:\s*;\s*[\w-]+\s*=\s*(?:\"[^\"]*\"|[^;,]*))*)")
_PARAM = re.compile(r";\s*([\w-]+)\s*=\s*(?:\"([^\"]*)\"|([^;,]*))")


def parse_ice_links(values: list[str]) -> list[RTCIceServer]:
    """The ICE servers of ``Link`` header values with ``rel="ice-server"`` (RFC 9725 §4.6),
    with ``username``/``credential`` when given; other links are ignored."""
    servers: list[RTCIceServer] = []
    for value in values:
        for match in _LINK.finditer(value):
            params = {
                m.group(1).lower(): m.group(2) or m.group(3) or ""
                for m in _PARAM.finditer(match.group(2))
            }
            if params.get("rel", "").strip() != "ice-server":
                continue
            uri = match.group(1).strip()
            if not uri.startswith(("stun:", "stuns:", "turn:", "turns:")):
                continue
            if "username" in params:
                servers.append(
                    RTCIceServer(
                        urls=uri, username=params["username"], credential=params.get("credential")
                    )
                )
            else:
                servers.append(RTCIceServer(urls=uri))
    return servers


def _refusal(response: HttpResponse) -> WhipError:
    """The sentence for a WHIP endpoint's error answer."""
    status = response.status
    detail = response.body[:120].decode("utf-8", "replace").strip()
    if status in (401, 403):
        text = f"WHIP endpoint refused the token ({status})"
    elif status == 404:
        text = "WHIP endpoint not found (404): check the WHIP URL"
    elif status in (405, 406, 415):
        text = f"WHIP endpoint does not take this offer ({status} {response.reason})"
    elif status >= 500:
        text = f"WHIP endpoint failed ({status} {response.reason})"
    else:
        text = f"WHIP endpoint answered {status} {response.reason}"
    if detail and status not in (401, 403) and "<" not in detail:
        text += f": {detail}"
    return WhipError(text, status)


# -- the publisher ---------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Session:
    """One attempt: a peer connection, its tracks and its resource URL."""

    pc: RTCPeerConnection
    video: PacketTrack
    audio: PacketTrack
    resource: str | None = None
    etag: str | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class WhipPublisher:
    """Publishes the fan-out's frames to ``url`` (a WHIP endpoint) while started; an
    :class:`~wrencos_studio.media.outputs.Output`. ``token``: the bearer token ("" sends
    none). ``request_keyframe``: asks the shared encoder for a keyframe (when the endpoint
    connects or falls behind). ``ice_servers``: the studio's own (``WRENCOS_ICE_SERVERS``).
    ``on_status(state, message)`` is called on every change of :attr:`state`
    (``"connecting"``, ``"live"``, ``"retrying"``, ``"stopped"``) or :attr:`message`."""

    def __init__(
        self,
        url: str,
        token: str = "",
        request_keyframe: Callable[[], None] = lambda: None,
        *,
        ice_servers: list[RTCIceServer] | None = None,
        on_status: Callable[[str, str], None] | None = None,
        backoff_first_s: float = BACKOFF_FIRST_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.url = check_http_url(url, "WHIP URL")
        if not self.url:
            raise ValueError("WHIP URL is empty")
        self.token = token
        self.request_keyframe = request_keyframe
        self.ice_servers = list(ice_servers or [])
        self.on_status = on_status
        self.backoff_first_s = backoff_first_s
        self.backoff_max_s = backoff_max_s
        self.connect_timeout_s = connect_timeout_s
        #: ``"stopped"``, ``"connecting"``, ``"live"`` or ``"retrying"``.
        self.state = "stopped"
        #: What goes wrong (or right), in words; "" before the first attempt.
        self.message = ""
        #: Sessions set up (201 received) and failures, since construction.
        self.sessions = 0
        self.failures = 0
        self._session: _Session | None = None
        self._task: asyncio.Task[None] | None = None
        self._link_servers: list[RTCIceServer] = []
        self._sent_frames = 0
        self._bytes = 0
        self._resyncs = 0
        self._closing: set[asyncio.Task[None]] = set()

    # -- the Output interface --------------------------------------------------------

    def offer(self, frame: MediaFrame) -> None:
        """Send ``frame`` on the current session's track, or drop it (not connected)."""
        session = self._session
        if session is None or not session.connected.is_set():
            return
        track = session.video if frame.kind == "video" else session.audio
        if track.writer is not None:
            track.offer(frame.form(rtp_form), frame.ntp_time)

    def close(self) -> None:
        """Stop publishing (the fan-out dropped us): ends the session in the background."""
        if self._task is not None:
            task = asyncio.ensure_future(self.stop())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def stats(self) -> OutputStats:
        """Figures of the current session (counters over all sessions)."""
        session = self._session
        video = session.video if session is not None else None
        return OutputStats(
            peer_id="whip",
            transport="whip",
            state=self.state,
            rtt_ms=None,
            packets_lost=0,
            bitrate_kbps=0.0,
            resyncs=self._resyncs + (video.resyncs if video is not None else 0),
            frames_sent=self._sent_frames + (video.sent if video is not None else 0),
            bytes_sent=self._bytes
            + (session.video.bytes + session.audio.bytes if session is not None else 0),
        )

    def status(self) -> dict[str, Any]:
        """``{"state", "message", "url"}`` for the broadcaster's stats (``media_stats``)."""
        return {"state": self.state, "message": self.message, "url": self.url}

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Begin publishing (connect, and reconnect with backoff until :meth:`stop`)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="whip-publisher")

    async def stop(self, timeout_s: float = 3.0) -> None:
        """Stop publishing: ``DELETE`` the session's resource (at most ``timeout_s`` seconds),
        close the peer connection. Safe to call twice."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        session, self._session = self._session, None
        if session is not None:
            await self._end(session, timeout_s)
        self._set("stopped", "")  # not live: nothing to say (failures were logged)

    async def _run(self) -> None:
        delay = self.backoff_first_s
        while True:
            self._set("connecting", "WHIP: connecting" if not self.message else self.message)
            session: _Session | None = None
            started = time.monotonic()
            try:
                session = await self._connect()
                self._session = session
                started = time.monotonic()
                await session.ended.wait()
                raise WhipError("WHIP connection lost")
            except Exception as exc:  # anything but cancelling: said, and tried again
                self.failures += 1
                if isinstance(exc, WhipError):
                    why = str(exc)
                    log.warning("WHIP: %s; retrying in %.0f s", why, delay)
                else:
                    why = f"WHIP failed: {type(exc).__name__}: {exc}"
                    log.exception("WHIP: unexpected failure; retrying in %.0f s", delay)
                if session is not None:
                    if self._session is session:
                        self._session = None
                    if session.connected.is_set() and time.monotonic() - started > 30:
                        delay = self.backoff_first_s  # it worked for a while: start over
                    await self._end(session, 3.0)
                self._set("retrying", f"{why}; retrying in {delay:.0f} s")
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max_s)

    async def _connect(self) -> _Session:
        """One attempt: offer, answer, trickle end, connected. Raises WhipError."""
        config = RTCConfiguration(iceServers=self.ice_servers + self._link_servers)
        pc = RTCPeerConnection(config)
        video = PacketTrack("video", self._on_resync)
        audio = PacketTrack("audio", lambda: None)
        session = _Session(pc, video, audio)
        try:
            for track in (video, audio):
                transceiver = pc.addTransceiver(track, direction="sendonly")
                caps = RTCRtpSender.getCapabilities(track.kind).codecs
                wanted = "video/H264" if track.kind == "video" else "audio/opus"
                prefs = [c for c in caps if c.mimeType == wanted]
                if track.kind == "video":
                    one = [
                        c
                        for c in prefs
                        if str((c.parameters or {}).get("packetization-mode")) == "1"
                    ]
                    prefs = one or prefs
                transceiver.setCodecPreferences(prefs)
                keyframe = self.request_keyframe if track.kind == "video" else (lambda: None)
                attach_sender(transceiver.sender, track, keyframe)

            @pc.on("connectionstatechange")
            def on_state() -> None:
                if pc.connectionState == "connected":
                    video.restart()
                    session.connected.set()
                    self.request_keyframe()
                elif pc.connectionState in ("failed", "closed"):
                    session.ended.set()

            await pc.setLocalDescription(await pc.createOffer())
            headers = {"Content-Type": "application/sdp", **self._auth()}
            response = await http_request(
                "POST", self.url, headers, pc.localDescription.sdp.encode()
            )
            if response.status not in (200, 201):
                raise _refusal(response)
            location = response.header("location")
            if location:
                session.resource = urljoin(response.url, location)
            session.etag = response.header("etag")
            self.sessions += 1
            self._link_servers = parse_ice_links(response.headers.get("link", []))
            if not response.body.startswith(b"v=0"):
                raise WhipError("WHIP endpoint sent no SDP answer")
            try:
                await pc.setRemoteDescription(
                    RTCSessionDescription(sdp=response.body.decode(), type="answer")
                )
            except Exception as exc:
                raise WhipError(f"WHIP endpoint's answer is unusable: {exc}") from exc
            if session.resource is None:
                raise WhipError("WHIP endpoint answered without a Location (RFC 9725 needs one)")
            await self._trickle_end(session)
            try:
                async with asyncio.timeout(self.connect_timeout_s):
                    done = asyncio.ensure_future(session.connected.wait())
                    ended = asyncio.ensure_future(session.ended.wait())
                    try:
                        await asyncio.wait({done, ended}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        done.cancel()
                        ended.cancel()
            except TimeoutError:
                raise WhipError(
                    f"WHIP media did not connect within {self.connect_timeout_s:g} s"
                ) from None
            if not session.connected.is_set():
                raise WhipError("WHIP media connection failed (ICE/DTLS)")
            self._set("live", f"WHIP: publishing to {urlsplit(self.url).hostname}")
            return session
        except BaseException:
            if self._session is not session:
                await self._end(session, 3.0)
            raise

    async def _trickle_end(self, session: _Session) -> None:
        """PATCH the end of our candidates (all were in the offer). Best effort."""
        assert session.resource is not None
        local = session.pc.localDescription.sdp
        ufrag = re.search(r"a=ice-ufrag:(\S+)", local)
        pwd = re.search(r"a=ice-pwd:(\S+)", local)
        mid = re.search(r"a=mid:(\S+)", local)
        if not (ufrag and pwd):
            return
        frag = f"a=ice-ufrag:{ufrag.group(1)}\r\na=ice-pwd:{pwd.group(1)}\r\n"
        frag += "m=video 9 UDP/TLS/RTP/SAVPF 0\r\n"
        if mid:
            frag += f"a=mid:{mid.group(1)}\r\n"
        frag += "a=end-of-candidates\r\n"
        headers = {"Content-Type": "application/trickle-ice-sdpfrag", **self._auth()}
        if session.etag:
            headers["If-Match"] = session.etag
        try:
            response = await http_request("PATCH", session.resource, headers, frag.encode())
        except WhipError as exc:
            log.info("WHIP: trickle PATCH failed: %s", exc)
            return
        if response.status not in (200, 204, 405, 501):
            log.info("WHIP: trickle PATCH answered %d", response.status)

    async def _end(self, session: _Session, timeout_s: float) -> None:
        """DELETE the session's resource (best effort), close its peer connection, and keep
        its counters."""
        self._sent_frames += session.video.sent
        self._bytes += session.video.bytes + session.audio.bytes
        self._resyncs += session.video.resyncs
        session.video.sent = session.video.bytes = session.audio.bytes = 0
        session.video.resyncs = 0
        session.video.stop()
        session.audio.stop()
        resource, session.resource = session.resource, None
        if resource is not None:
            try:
                response = await http_request("DELETE", resource, self._auth(), timeout_s=timeout_s)
                if response.status >= 400:
                    log.info("WHIP: DELETE %s answered %d", resource, response.status)
            except WhipError as exc:
                log.info("WHIP: DELETE failed: %s", exc)
        with contextlib.suppress(Exception):
            await session.pc.close()

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _on_resync(self) -> None:
        self.request_keyframe()

    def _set(self, state: str, message: str) -> None:
        if (state, message) == (self.state, self.message):
            return
        self.state, self.message = state, message
        if self.on_status is not None:
            try:
                self.on_status(state, message)
            except Exception:
                log.exception("WHIP status callback failed")
