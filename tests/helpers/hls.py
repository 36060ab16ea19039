"""A real caching proxy (Debian's nginx, ``proxy_cache`` + ``proxy_cache_lock``) in front of
the studio, and plain asyncio LL-HLS clients that poll through it with blocking playlist
reloads, as players do. Used by tests/web/test_hls_cache.py and bench/hls_bench.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["HlsClientResult", "free_port", "hls_client", "http_get", "nginx_cache"]

_CONF = """
{user}
daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    {access_log}
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    proxy_cache_path {dir}/cache levels=1:2 keys_zone=hls:10m max_size=256m inactive=2m
                     use_temp_path=off;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_cache hls;
            # One request per URL goes upstream; the crowd asking the same URL waits for
            # it (a blocking reload waits up to 3 target durations upstream: 6 s).
            proxy_cache_lock on;
            proxy_cache_lock_timeout 10s;
            proxy_cache_lock_age 10s;
            proxy_read_timeout 15s;
            add_header X-Cache-Status $upstream_cache_status;
            {cors}
        }}
    }}
}}
"""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def nginx_cache(
    workdir: Path, upstream_port: int, *, cors: bool = False, access_log: bool = False
) -> AsyncIterator[str]:
    """Runs ``nginx`` (from PATH or /usr/sbin) as a caching reverse proxy of
    ``127.0.0.1:upstream_port`` on a free port; yields its base URL. The upstream need not
    be up yet (nginx answers 502 until it is). ``cors``: every answer says
    ``Access-Control-Allow-Origin: *``, as a CDN serving pages of another origin does;
    ``access_log``: requests are logged to ``workdir/access.log`` (nginx's combined
    format). Raises AssertionError when nginx is missing or does not start (its error log
    attached)."""
    binary = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if binary is None:
        raise AssertionError("nginx is not installed (scripts/system-deps.sh installs nginx-light)")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = workdir / "nginx.conf"
    # As root the workers would run as nobody and could not write the test's cache dir.
    user = "user root;" if os.geteuid() == 0 else ""
    conf.write_text(
        _CONF.format(
            user=user,
            dir=workdir,
            port=port,
            upstream=upstream_port,
            access_log=f"access_log {workdir}/access.log;" if access_log else "access_log off;",
            cors="add_header Access-Control-Allow-Origin * always;" if cors else "",
        )
    )
    proc = await asyncio.create_subprocess_exec(
        binary,
        "-p",
        str(workdir),
        "-c",
        str(conf),
        "-e",
        str(workdir / "error.log"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                if proc.returncode is not None or time.monotonic() > deadline:
                    log = (
                        (workdir / "error.log").read_text()
                        if (workdir / "error.log").exists()
                        else ""
                    )
                    raise AssertionError(f"nginx did not start: {log}") from None
                await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)  # nginx: fast shutdown
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def http_get(url: str, timeout: float = 15.0) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 GET on a fresh connection (``Connection: close``): status, headers
    (lower-case names; the last of repeated ones) and body. Raises OSError/TimeoutError."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")

    async def run() -> tuple[int, dict[str, str], bytes]:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        try:
            request = f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n"
            writer.write(request.encode() + b"\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if sep:
                    headers[name.strip().lower()] = value.strip()
            if "content-length" in headers:
                body = await reader.readexactly(int(headers["content-length"]))
            else:
                body = await reader.read()
            return status, headers, body
        finally:
            writer.close()

    return await asyncio.wait_for(run(), timeout)


_PART = re.compile(r'#EXT-X-PART:[^\n]*URI="s(\d+)\.p(\d+)\.m4s"')


@dataclass
class HlsClientResult:
    """What one client got: the parts (``(msn, index)``) in order, bytes, the playlist
    requests made, errors (text) and the time of its first part (monotonic seconds)."""

    parts: list[tuple[int, int]] = field(default_factory=list)
    bytes: int = 0
    playlists: int = 0
    errors: list[str] = field(default_factory=list)
    first_part_at: float | None = None


async def hls_client(base: str, seconds: float) -> HlsClientResult:
    """Plays ``base``/live/index.m3u8 as an LL-HLS player would, for ``seconds``: the
    multivariant playlist, the media playlist, the init segment, then for ever the
    blocking reload of the next part (``_HLS_msn``/``_HLS_part``) and each new part."""
    out = HlsClientResult()
    end = time.monotonic() + seconds
    try:
        status, _, body = await http_get(f"{base}/live/index.m3u8")
        if status != 200:
            out.errors.append(f"multivariant {status}")
            return out
        prefix = re.findall(r"^(\w+)/index\.m3u8$", body.decode(), re.M)[0]
        media = f"{base}/live/{prefix}"
        status, _, body = await http_get(f"{media}/index.m3u8")
        out.playlists += 1
        status, _, init = await http_get(f"{media}/init.mp4")
        if status != 200 or init[4:8] != b"ftyp":
            out.errors.append(f"init {status}")
            return out
        listed = [(int(m), int(p)) for m, p in _PART.findall(body.decode())]
        # Start at the live edge: the newest part.
        have = listed[-1][0], listed[-1][1] - 1
        while time.monotonic() < end:
            for msn, part in listed:
                if (msn, part) <= have:
                    continue
                status, _, data = await http_get(f"{media}/s{msn}.p{part}.m4s")
                if status != 200 or data[4:8] != b"moof":
                    out.errors.append(f"part s{msn}.p{part}: {status}")
                    continue
                out.parts.append((msn, part))
                out.bytes += len(data)
                if out.first_part_at is None:
                    out.first_part_at = time.monotonic()
                have = msn, part
            msn, part = have[0], have[1] + 1
            status, _, body = await http_get(f"{media}/index.m3u8?_HLS_msn={msn}&_HLS_part={part}")
            out.playlists += 1
            if status != 200:
                out.errors.append(f"playlist {msn}.{part}: {status}")
                await asyncio.sleep(0.2)
                continue
            listed = [(int(m), int(p)) for m, p in _PART.findall(body.decode())]
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
        out.errors.append(f"{type(exc).__name__}: {exc}")
    return out
