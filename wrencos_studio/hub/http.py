"""The GET routes served on the hub's port: the customer page, /healthz, /metrics, /uploads,
the replays (``/replay/<id>``: the page, its timeline and its video, in byte ranges) and the
live Low-Latency HLS (``/live/``, served from :class:`~wrencos_studio.media.hls.HlsStream`)."""

from __future__ import annotations

import asyncio
import email.utils
import html
import http
import json
import mimetypes
import os
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from websockets.datastructures import Headers

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]
from websockets.http11 import Request, Response

if TYPE_CHECKING:
    from wrencos_studio.config import Settings
    from wrencos_studio.hub.engine import Hub
    from wrencos_studio.hub.server import ServerStats
    from wrencos_studio.media.hls import HlsStream

__all__ = [
    "MAX_RANGE_BYTES",
    "WEB_ROOT",
    "AllowedOrigins",
    "LiveBadRequest",
    "LiveUnavailable",
    "RangeNotSatisfiable",
    "Router",
    "byte_range",
    "origin_allowed",
]

WEB_ROOT = Path(__file__).resolve().parent.parent.parent / "resources" / "web"
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
_IMAGE_TYPES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif", ".svg"}
#: The most one response of a recording carries: a player asks for the rest in further
#: ranges, and memory stays bounded however long the show.
MAX_RANGE_BYTES = 4 * 1024 * 1024
#: A replay id as ``secrets.token_urlsafe`` makes them.
_REPLAY_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


class LiveBadRequest(Exception):
    """A live HLS request the rules forbid (400): ``_HLS_part`` without ``_HLS_msn``, not
    a number, or more than two segments ahead (RFC 8216bis 6.2.5.2). Raised by
    ``media/hls.py`` (as ``BadRequest``) and by the query parser here."""


class LiveUnavailable(Exception):
    """What a blocking live HLS request waited for did not come in time, or the stream
    ended meanwhile (503). Raised by ``media/hls.py`` (as ``Unavailable``)."""


class RangeNotSatisfiable(Exception):
    """The Range asks for bytes the file does not have (RFC 9110 section 15.5.17: 416)."""


def byte_range(header: str | None, size: int, cap: int = MAX_RANGE_BYTES) -> tuple[int, int] | None:
    """The byte range ``(first, last)`` (inclusive) to send of a file of ``size`` bytes for
    a ``Range`` header (RFC 9110 section 14.2), at most ``cap`` bytes long; None to send
    the whole file (no header, or one this server ignores: not ``bytes=``, or malformed).
    Of several ranges only the first is served. Raises :class:`RangeNotSatisfiable` when
    the range starts at or after the end of the file, or asks for a zero-length suffix."""
    if header is None:
        return None
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    first_spec = spec.split(",")[0].strip()
    start_text, dash, end_text = first_spec.partition("-")
    start_text, end_text = start_text.strip(), end_text.strip()
    if not dash or not (start_text or end_text):
        return None
    if not all(part.isdigit() and part.isascii() for part in (start_text, end_text) if part):
        return None
    if not start_text:  # the last N bytes
        suffix = int(end_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        start, end = max(0, size - suffix), size - 1
    else:
        start = int(start_text)
        end = int(end_text) if end_text else size - 1
        if end_text and end < start:
            return None  # invalid: ignored (RFC 9110 section 14.1.1)
        if start >= size:
            raise RangeNotSatisfiable
        end = min(end, size - 1)
    return start, min(end, start + cap - 1)


def response(
    status: int,
    body: bytes,
    content_type: str,
    extra: list[tuple[str, str]] | None = None,
) -> Response:
    code = http.HTTPStatus(status)
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", content_type),
            ("X-Content-Type-Options", "nosniff"),
        ]
    )
    for name, value in extra or []:
        headers[name] = value
    return Response(code.value, code.phrase, headers, body)


def text(status: int, body: str) -> Response:
    return response(status, body.encode(), "text/plain; charset=utf-8")


def _strip_default_port(scheme: str, netloc: str) -> str:
    netloc = netloc.lower()
    default = {"http": ":80", "https": ":443", "ws": ":80", "wss": ":443"}.get(scheme)
    if default and netloc.endswith(default):
        netloc = netloc[: -len(default)]
    return netloc


def normalize_origin(origin: str) -> str:
    """``scheme://host[:port]`` lower-cased, without a trailing slash or a default port:
    the form a browser sends in ``Origin`` (RFC 6454 serialization), so that
    ``https://Shop.example:443/`` and ``https://shop.example`` compare equal."""
    origin = origin.strip().rstrip("/")
    try:
        parts = urlsplit(origin)
    except ValueError:
        return origin
    if not parts.scheme or not parts.netloc:
        return origin
    scheme = parts.scheme.lower()
    return f"{scheme}://{_strip_default_port(scheme, parts.netloc)}"


class AllowedOrigins:
    """The extra origins that may open the WebSocket: the configured ones
    (``WRENCOS_ALLOWED_ORIGINS``, fixed) and those added while the server runs (a public
    tunnel's address, added when it starts and discarded when it stops).

    ``origin in allowed`` compares normalized origins (:func:`normalize_origin`); ``"*"``
    among the configured ones allows every origin. Only the event loop's thread changes
    it, so no lock is needed.
    """

    def __init__(self, configured: tuple[str, ...] = ()) -> None:
        self.configured = configured
        self._any = "*" in configured
        self._fixed = frozenset(normalize_origin(o) for o in configured if o != "*")
        #: Added at run time: normalized origin -> how many holders added it (two
        #: tunnels to one address: stopping one must not lock out the other's customers).
        self._runtime: dict[str, int] = {}

    def add(self, origin: str) -> str:
        """Allow ``origin`` (e.g. ``https://abc.trycloudflare.com``) until :meth:`discard`;
        returns it normalized. ValueError unless it is an ``http(s)://host`` origin."""
        try:
            parts = urlsplit(origin.strip().rstrip("/"))
            parts.port  # noqa: B018 (raises ValueError for a bad port)
        except ValueError:
            parts = urlsplit("")
        if (
            parts.scheme.lower() not in ("http", "https")
            or not parts.hostname
            or parts.path
            or parts.query
            or parts.fragment
        ):
            raise ValueError(f"{origin!r} is not an origin (https://host[:port])")
        normal = normalize_origin(origin)
        self._runtime[normal] = self._runtime.get(normal, 0) + 1
        return normal

    def discard(self, origin: str) -> None:
        """Undo one :meth:`add` of ``origin`` (no-op if it was not added at run time; a
        configured origin stays allowed)."""
        normal = normalize_origin(origin)
        count = self._runtime.get(normal, 0)
        if count <= 1:
            self._runtime.pop(normal, None)
        else:
            self._runtime[normal] = count - 1

    @property
    def runtime(self) -> tuple[str, ...]:
        """The origins added at run time, normalized, in the order they were added."""
        return tuple(self._runtime)

    def __contains__(self, origin: object) -> bool:
        if not isinstance(origin, str):
            return False
        if self._any:
            return True
        normal = normalize_origin(origin)
        return normal in self._fixed or normal in self._runtime


def origin_allowed(
    origin: str | None, headers: Headers, allowed: AllowedOrigins | tuple[str, ...]
) -> bool:
    """No Origin (a non-browser client), the server's own host, or an allowed origin
    (the contract: anything else is refused with 403)."""
    if origin is None:
        return True
    if not isinstance(allowed, AllowedOrigins):
        allowed = AllowedOrigins(allowed)
    if origin in allowed:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    origin_host = _strip_default_port(parts.scheme, parts.netloc)
    # Behind a tunnel or proxy the Host may be rewritten; browsers cannot forge either
    # header on a WebSocket handshake, so accepting X-Forwarded-Host is safe.
    for name in ("Host", "X-Forwarded-Host"):
        for value in headers.get_all(name):
            host = value.split(",")[0].strip()
            if host and _strip_default_port(parts.scheme, host) == origin_host:
                return True
    return False


class Router:
    """Answers the plain HTTP requests that arrive on the WebSocket port."""

    def __init__(self, hub: Hub, stats: ServerStats) -> None:
        self.hub = hub
        self.stats = stats
        self.uploads = hub.settings.uploads_dir.resolve()
        #: The live stream's LL-HLS packager while live (set by ``app.py``), else None.
        self.hls: HlsStream | None = None

    async def route(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return response(
                405, b"Method not allowed\n", "text/plain; charset=utf-8", [("Allow", "GET, HEAD")]
            )
        resp = await self._get(request)
        if request.method == "HEAD":
            resp.body = b""  # Content-Length still tells the size of the GET body
        return resp

    async def _get(self, request: Request) -> Response:
        path = unquote(urlsplit(request.path).path)
        if path in ("/", "/index.html"):
            return await self._static("index.html", cache=False)
        if path == "/healthz":
            return response(200, json.dumps(self.health()).encode(), "application/json")
        if path == "/metrics":
            return response(200, self.metrics().encode(), "text/plain; version=0.0.4")
        if path.startswith("/uploads/"):
            return await self._upload(path[len("/uploads/") :])
        if path.startswith("/static/"):
            return await self._static(path[len("/static/") :], cache=True)
        if path.startswith("/replay/"):
            return await self._replay(request, path[len("/replay/") :])
        if path in ("/replays", "/replays/"):
            return await self._replay_list()
        if path.startswith("/live/"):
            return await self._live(path[len("/live/") :], urlsplit(request.path).query)
        return text(404, "Not found\n")

    # -- live LL-HLS -------------------------------------------------------------------------

    async def _live(self, rest: str, query: str) -> Response:
        """``/live/index.m3u8`` (multivariant), ``/live/<prefix>/index.m3u8`` (media
        playlist, blocking with ``_HLS_msn``/``_HLS_part``), ``/live/<prefix>/<media>``;
        404 when nothing is live or the prefix is an ended stream's. Cache-Control: 1 s for
        plain playlists (they change every part), 60 s for blocking-reload URLs (they name
        a future state: a shared cache may keep and collapse them), a year and immutable
        for init, parts and segments (names are never reused: the prefix is per stream)."""
        hls = self.hls
        if hls is None or hls.closed or not hls.ready:
            return text(404, "Nothing is live\n")
        if rest == "index.m3u8":
            return _playlist(hls.multivariant(), "public, max-age=1")
        prefix, _, name = rest.partition("/")
        if prefix != hls.prefix:
            return text(404, "Not found\n")
        try:
            if name == "index.m3u8":
                hls.playlist_requests += 1
                msn, part = _blocking_query(query)
                if msn is None:
                    return _playlist(hls.playlist(), "public, max-age=1")
                await hls.wait_for(msn, part)
                return _playlist(hls.playlist(), "public, max-age=60")
            body = await hls.media(name)
        except LiveBadRequest as exc:
            return text(400, f"{exc}\n")
        except LiveUnavailable as exc:
            return response(
                503,
                f"{exc}\n".encode(),
                "text/plain; charset=utf-8",
                [("Cache-Control", "no-store"), ("Retry-After", "1")],
            )
        if body is None:
            return text(404, "Not found\n")
        ctype = "video/mp4" if name.endswith(".mp4") else "video/iso.segment"
        return response(
            200, body, ctype, [("Cache-Control", "public, max-age=31536000, immutable")]
        )

    # -- replays ---------------------------------------------------------------------------

    async def _replay(self, request: Request, rest: str) -> Response:
        from wrencos_studio.store import replays

        store = self.hub.store
        if rest == "latest.json":
            # 200 either way: the live page asks on every visit, and a 404 would be an
            # error in every customer's console.
            latest = await store.run(replays.latest_recording)
            latest_body = {
                "replayId": latest.replay_id if latest else None,
                "title": latest.title if latest else None,
                "startedAt": latest.started_at if latest else None,
            }
            return response(
                200,
                json.dumps(latest_body).encode(),
                "application/json",
                [("Cache-Control", "no-cache")],
            )
        replay_id, _, what = rest.partition("/")
        if _REPLAY_ID.fullmatch(replay_id) is None:
            return text(404, "Not found\n")
        rec = await store.run(replays.get_recording, replay_id)
        if rec is None:
            return text(404, "Not found\n")
        if what == "":
            resp = await self._static("replay.html", cache=False)
            resp.headers["Referrer-Policy"] = "no-referrer"  # the id is the key: keep it here
            return resp
        if what == "timeline.json":
            body: dict[str, object] = {
                "replayId": rec.replay_id,
                "title": rec.title,
                "startedAt": rec.started_at,
                "durationMs": rec.duration_ms,
                "status": rec.status,
                "currency": self.hub.settings.currency,
                "shopUrlPattern": self.hub.settings.shop_url_pattern,
                **await store.run(replays.timeline, replay_id),
            }
            return response(
                200, json.dumps(body).encode(), "application/json", [("Cache-Control", "no-cache")]
            )
        if what == "video.mp4":
            target = _safe_join(self.hub.settings.recordings_dir.resolve(), rec.file)
            if target is None:
                return text(404, "Not found\n")
            return await _ranged_file(target, "video/mp4", request.headers.get("Range"))
        return text(404, "Not found\n")

    async def _replay_list(self) -> Response:
        if not self.hub.settings.list_replays:
            return text(404, "Not found\n")
        from wrencos_studio.store import replays

        items = await self.hub.store.run(replays.list_recordings, 200)
        rows = "".join(
            f'<li><a href="/replay/{html.escape(r.replay_id)}">{html.escape(r.title)}</a> '
            f"<time>{html.escape(r.started_at[:16].replace('T', ' '))}</time></li>"
            for r in items
        )
        page = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<title>Past shows</title><link rel="stylesheet" href="/static/replay.css"></head>'
            '<body class="list"><h1>Past shows</h1><ul class="replays">'
            f"{rows or '<li>None yet</li>'}"
            "</ul></body></html>"
        )
        return response(
            200,
            page.encode(),
            "text/html; charset=utf-8",
            [("Cache-Control", "no-cache"), ("Content-Security-Policy", _CSP)],
        )

    # -- files -------------------------------------------------------------------------

    async def _static(self, rel: str, *, cache: bool) -> Response:
        target = _safe_join(WEB_ROOT, rel)
        if target is None or not target.is_file():
            return text(404, "Not found\n")
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/javascript",):
            ctype += "; charset=utf-8"
        extra = [("Cache-Control", "public, max-age=300" if cache else "no-cache")]
        if target.name == "index.html":
            extra.append(("Content-Security-Policy", page_csp(self.hub.settings)))
        elif target.name == "replay.html":
            extra.append(("Content-Security-Policy", _CSP))
        return response(200, await asyncio.to_thread(target.read_bytes), ctype, extra)

    async def _upload(self, rel: str) -> Response:
        target = _safe_join(self.uploads, rel)
        if target is None or not target.is_file() or target.suffix.lower() not in _IMAGE_TYPES:
            return text(404, "Not found\n")
        if target.stat().st_size > MAX_UPLOAD_BYTES:
            return text(404, "Not found\n")
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        # Product images are stored under the hash of their content (catalog/images.py):
        # a name never gets other bytes, so caches may keep them for a year.
        immutable = _CONTENT_HASH_NAME.fullmatch(target.name) is not None
        cache = "public, max-age=31536000, immutable" if immutable else "public, max-age=3600"
        extra = [("Cache-Control", cache)]
        if target.suffix.lower() == ".svg":
            # An SVG can carry script: never let it run in our origin.
            extra.append(
                ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
            )
        return response(200, await asyncio.to_thread(target.read_bytes), ctype, extra)

    # -- health and metrics ------------------------------------------------------------

    def health(self) -> dict[str, object]:
        hub = self.hub
        customers = sum(len(group) for group in hub.sessions.values())
        body: dict[str, object] = {
            "status": "ok",
            "connections": {
                "total": len(hub.clients),
                "customers": customers,
                "admins": len(hub.admins),
                "unregistered": len(hub.clients) - len(hub.registered),
                "viewers": hub.viewer_count,
            },
            "stream": {
                "live": hub.stream is not None,
                "streamId": hub.stream.stream_id if hub.stream else None,
            },
            "uptimeSeconds": round(time.time() - hub.stats.started, 1),
        }
        # Only with Redis configured: "down" while it does not answer (this hub still serves).
        link = hub.broker.status
        if link is not None:
            body["redis"] = link
        return body

    def metrics(self) -> str:
        hub = self.hub
        s = hub.stats
        lines: list[str] = []

        def metric(name: str, kind: str, help_: str, samples: list[tuple[str, float]]) -> None:
            lines.append(f"# HELP {name} {help_}")
            lines.append(f"# TYPE {name} {kind}")
            for labels, value in samples:
                lines.append(f"{name}{labels} {_num(value)}")

        customers = sum(len(group) for group in hub.sessions.values())
        metric(
            "wrencos_connections",
            "gauge",
            "Open WebSocket connections by kind.",
            [
                ('{kind="customer"}', customers),
                ('{kind="admin"}', len(hub.admins)),
                ('{kind="unregistered"}', len(hub.clients) - len(hub.registered)),
            ],
        )
        metric(
            "wrencos_connections_opened_total",
            "counter",
            "WebSocket connections accepted since start.",
            [("", s.connections_total)],
        )
        metric(
            "wrencos_stream_live",
            "gauge",
            "1 while a stream is live.",
            [("", 1 if hub.stream else 0)],
        )
        metric(
            "wrencos_viewers",
            "gauge",
            "Distinct customer sessions watching the live stream.",
            [("", hub.viewer_count)],
        )
        metric(
            "wrencos_likes",
            "gauge",
            "Likes of the live stream.",
            [("", len(hub.stream.liked_by) if hub.stream else 0)],
        )
        metric(
            "wrencos_messages_received_total",
            "counter",
            "Valid-typed client messages received, by type.",
            [(f'{{type="{t}"}}', n) for t, n in sorted(s.received.items())],
        )
        metric(
            "wrencos_errors_total",
            "counter",
            "Error replies sent, by text.",
            [(f'{{message="{_label(t)}"}}', n) for t, n in sorted(s.errors.items())],
        )
        metric(
            "wrencos_messages_sent_total",
            "counter",
            "Messages queued to clients (a broadcast counts once per client).",
            [("", s.sent_messages)],
        )
        metric(
            "wrencos_broadcasts_total",
            "counter",
            "Broadcasts (encoded once each).",
            [("", s.broadcasts)],
        )
        metric(
            "wrencos_bytes_written_total",
            "counter",
            "Bytes written to client sockets.",
            [("", self.stats.bytes_written)],
        )
        metric(
            "wrencos_socket_writes_total",
            "counter",
            "Socket writes (frames coalesced per connection per loop tick).",
            [("", self.stats.writes)],
        )
        metric(
            "wrencos_slow_clients_disconnected_total",
            "counter",
            "Connections dropped because they stopped reading.",
            [("", self.stats.slow_disconnects)],
        )
        metric(
            "wrencos_origin_refused_total",
            "counter",
            "WebSocket upgrades refused for their Origin.",
            [("", self.stats.origin_refused)],
        )
        metric(
            "wrencos_db_queue_depth",
            "gauge",
            "Database jobs waiting.",
            [("", hub.store.queue_depth)],
        )
        metric(
            "wrencos_db_commits_total",
            "counter",
            "Database transactions committed.",
            [("", hub.store.commits)],
        )
        metric(
            "wrencos_pending_staff_replies",
            "gauge",
            "Staff replies waiting for their customer to come back.",
            [("", sum(len(v) for v in hub.pending_replies.values()))],
        )
        media = hub.media.stats() if hub.media is not None else None
        if media is not None:
            by_transport = media["viewersByTransport"]
            metric(
                "wrencos_media_viewers",
                "gauge",
                "Media viewers by delivery path.",
                [(f'{{transport="{t}"}}', n) for t, n in sorted(by_transport.items())],
            )
            metric(
                "wrencos_media_encode_fps",
                "gauge",
                "Frames encoded per second.",
                [("", media["encodeFps"])],
            )
            metric(
                "wrencos_media_encode_ms_per_frame",
                "gauge",
                "Average encode time of a video frame.",
                [("", media["encodeMsPerFrame"])],
            )
            metric(
                "wrencos_media_keyframes_total",
                "counter",
                "Keyframes encoded.",
                [("", media["keyframes"])],
            )
            metric(
                "wrencos_media_bytes_out_total",
                "counter",
                "Media bytes handed to viewers (all transports).",
                [("", media["bytesOut"])],
            )
        hls = self.hls
        if hls is not None:
            metric(
                "wrencos_hls_parts_total",
                "counter",
                "LL-HLS parts made for the live stream.",
                [("", hls.parts_made)],
            )
            metric(
                "wrencos_hls_part_requests_total",
                "counter",
                "LL-HLS parts and segments served (a cache in front should keep this low).",
                [("", hls.part_requests)],
            )
            metric(
                "wrencos_hls_playlist_requests_total",
                "counter",
                "LL-HLS media playlist requests served (blocking reloads included).",
                [("", hls.playlist_requests)],
            )
            metric(
                "wrencos_hls_max_requests_per_part",
                "gauge",
                "The most times any one LL-HLS part or segment of the stream was served.",
                [("", hls.max_part_requests)],
            )
        metric("process_resident_memory_bytes", "gauge", "Resident memory.", [("", _rss_bytes())])
        cpu = time.process_time()
        metric("process_cpu_seconds_total", "counter", "User and system CPU time.", [("", cpu)])
        metric(
            "process_start_time_seconds", "gauge", "Start time (Unix seconds).", [("", s.started)]
        )
        return "\n".join(lines) + "\n"


def page_csp(settings: Settings) -> str:
    """The live page's Content-Security-Policy: :data:`_CSP`, plus the origins of the
    external playback URLs (``WRENCOS_WHEP_URL``: ``connect-src``, the WHEP POST/DELETE;
    ``WRENCOS_PUBLIC_HLS_URL``: ``connect-src`` and ``media-src``, for hls.js's fetches
    and native HLS), so the page may play from there (media/whip.py's settings)."""

    def origin(url: str) -> str:
        parts = urlsplit(url)
        return f" {parts.scheme}://{parts.netloc}" if url else ""

    whep, hls = origin(settings.whep_url), origin(settings.public_hls_url)
    if not (whep or hls):
        return _CSP
    connect = whep + (hls if hls != whep else "")
    return _CSP.replace("connect-src 'self'", f"connect-src 'self'{connect}").replace(
        "media-src 'self'", f"media-src 'self'{hls}"
    )


_CSP = (
    "default-src 'self'; img-src 'self' data: blob: https: http:; media-src 'self' blob:; "
    "connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


#: ``<sha256 hex>.<ext>`` or ``<sha256 hex>.thumb.<ext>``: a name made from the content.
_CONTENT_HASH_NAME = re.compile(r"[0-9a-f]{32,64}(\.thumb)?\.[a-z0-9]+")


def _safe_join(root: Path, rel: str) -> Path | None:
    if "\x00" in rel:
        return None
    try:
        target = (root / rel).resolve()
    except (OSError, ValueError):
        return None
    if target != root and root not in target.parents:
        return None
    return target


def _blocking_query(query: str) -> tuple[int | None, int | None]:
    """``(_HLS_msn, _HLS_part)`` of a playlist request (None when absent); other query
    parameters are ignored. Raises :class:`LiveBadRequest` for a part without a segment
    number or a value that is not a decimal number."""
    from urllib.parse import parse_qs

    params = parse_qs(query, keep_blank_values=True)
    values: list[int | None] = []
    for key in ("_HLS_msn", "_HLS_part"):
        raw = params.get(key)
        if raw is None:
            values.append(None)
            continue
        if len(raw) != 1 or not (raw[0].isascii() and raw[0].isdigit()) or len(raw[0]) > 12:
            raise LiveBadRequest(f"{key} must be one decimal number")
        values.append(int(raw[0]))
    msn, part = values
    if part is not None and msn is None:
        raise LiveBadRequest("_HLS_part needs _HLS_msn")
    return msn, part


def _playlist(body: str, cache: str) -> Response:
    return response(200, body.encode(), "application/vnd.apple.mpegurl", [("Cache-Control", cache)])


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        if resource is None:
            return 0  # type: ignore[unreachable]
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return maxrss if sys.platform == "darwin" else maxrss * 1024


async def _ranged_file(path: Path, ctype: str, range_header: str | None) -> Response:
    """``path`` in the byte range asked (206 with ``Content-Range``), whole when no range
    was asked and it is at most ``MAX_RANGE_BYTES`` (200), else 416 (bounded memory:
    players always ask in ranges); 416 for a range it does not have."""
    try:
        size = (await asyncio.to_thread(path.stat)).st_size
    except OSError:
        return text(404, "Not found\n")
    base = [("Accept-Ranges", "bytes"), ("Cache-Control", "private, max-age=60")]
    try:
        wanted = byte_range(range_header, size, MAX_RANGE_BYTES)
    except RangeNotSatisfiable:
        return response(
            416,
            b"Range not satisfiable\n",
            "text/plain; charset=utf-8",
            [*base, ("Content-Range", f"bytes */{size}")],
        )
    if wanted is None:
        if size > MAX_RANGE_BYTES:
            return response(
                416,
                b"Ask for a byte range (Range: bytes=0-)\n",
                "text/plain; charset=utf-8",
                [*base, ("Content-Range", f"bytes */{size}")],
            )
        return response(200, await asyncio.to_thread(path.read_bytes), ctype, base)
    start, end = wanted
    body = await asyncio.to_thread(_read_part, path, start, end - start + 1)
    end = start + len(body) - 1  # a file being recorded may have been shorter a moment ago
    return response(206, body, ctype, [*base, ("Content-Range", f"bytes {start}-{end}/{size}")])


def _read_part(path: Path, start: int, length: int) -> bytes:
    with path.open("rb") as fh:
        fh.seek(start)
        return fh.read(length)
