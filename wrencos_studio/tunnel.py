"""Public tunnels: find an installed tunnel client, start it for the studio's port, read
the public address it prints, and stop it (with everything it started) when asked.

Three clients are known, each by its documented command line and output:

- **cloudflared** — ``cloudflared tunnel --url http://localhost:PORT`` (a "quick
  tunnel", no account) logs a box on stderr whose middle line is
  ``https://<words>.trycloudflare.com``.
- **ngrok** — ``ngrok http PORT --log stdout --log-format json`` writes one JSON record a
  line; the one with ``"msg": "started tunnel"`` carries the address in ``url``.
- **tailscale** — ``tailscale funnel PORT`` (Tailscale 1.52 and later; it runs until
  stopped) prints ``Available on the internet:`` and then ``https://<host>.ts.net/``.

Nothing here imports Qt: the Share panel (``ui/panels/share.py``), ``serve
--share-tunnel`` (``app.py``) and the tests use :class:`Tunnel`. A client runs in its own
process group (its own session), so stopping it reaches whatever it started too: SIGTERM
to the group, then SIGKILL to the group if it has not exited within the grace period. A
client still running when the interpreter exits is killed by an ``atexit`` hook, so the
studio never leaves one behind.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "CLIENTS",
    "NoTunnelClient",
    "Tunnel",
    "TunnelClient",
    "TunnelError",
    "find_client",
    "install_advice",
    "start_tunnel",
]

log = logging.getLogger(__name__)

#: How long a client may take to print its public address (cloudflared needs a few
#: seconds to register a quick tunnel; a slow network more).
DEFAULT_START_TIMEOUT_S = 30.0
#: How long a client may take to exit after SIGTERM before its group is killed.
DEFAULT_STOP_GRACE_S = 3.0
#: Output lines kept to explain a failure (the last one is shown to the presenter).
_KEPT_LINES = 20
#: A line longer than this is cut (a client gone mad must not grow our memory).
_MAX_LINE = 4096


class TunnelError(Exception):
    """A tunnel could not be started; ``str(exc)`` says why, for the presenter to read
    (it names the client and quotes the client's last output line when there is one)."""


class NoTunnelClient(TunnelError):
    """No tunnel client is installed; ``str(exc)`` is :func:`install_advice`."""


# -- what each client prints -----------------------------------------------------------------

_TRYCLOUDFLARE = re.compile(r"https://(?!api\.)[a-z0-9-]+\.trycloudflare\.com\b", re.I)
_TS_NET = re.compile(r"https://[a-z0-9.-]+\.ts\.net(?::\d+)?\b", re.I)


def _cloudflared_url(line: str) -> str | None:
    # The box: "... INF |  https://oklahoma-solo-younger-truck.trycloudflare.com  |".
    # api.trycloudflare.com is where the client asks for a tunnel (it appears in errors).
    match = _TRYCLOUDFLARE.search(line)
    return match.group(0) if match else None


def _ngrok_url(line: str) -> str | None:
    # {"addr":"http://localhost:3000","lvl":"info","msg":"started tunnel",
    #  "name":"command_line","obj":"tunnels","t":"…","url":"https://….ngrok-free.app"}
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("msg") != "started tunnel":
        return None
    url = record.get("url")
    # ngrok 2 could start an http:// twin beside the https:// tunnel: only the https one
    # gives customers a secure context (and the fallback player needs one).
    return url if isinstance(url, str) and url.startswith("https://") else None


def _tailscale_url(line: str) -> str | None:
    # "Available on the internet:" / "" / "https://shop-pc.tail1234.ts.net/" /
    # "|-- proxy http://127.0.0.1:3000" / "" / "Press Ctrl+C to exit."
    match = _TS_NET.search(line)
    return match.group(0) if match else None


def _ngrok_said(line: str) -> str:
    # An ngrok failure is a JSON record; its "err" is the part a person can read.
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if isinstance(record, dict) and isinstance(record.get("err"), str):
        return " ".join(str(record["err"]).split())
    return line


@dataclass(frozen=True, slots=True)
class TunnelClient:
    """One tunnel program: how to find it, run it for a port, and read its address.

    ``argv(executable, port)`` is the documented command line; ``find_url(line)`` returns
    the public ``https://`` URL when one output line (stdout or stderr, without its line
    end) carries it, else None; ``said(line)`` makes a failure line readable.
    """

    name: str
    executable: str
    argv: Callable[[str, int], list[str]]
    find_url: Callable[[str], str | None]
    #: How to install it: one short sentence with the download page as text.
    install: str
    said: Callable[[str], str] = str


CLOUDFLARED = TunnelClient(
    name="cloudflared",
    executable="cloudflared",
    argv=lambda exe, port: [exe, "tunnel", "--url", f"http://localhost:{port}"],
    find_url=_cloudflared_url,
    install=(
        "cloudflared (free, no account needed): "
        "https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/"
        "downloads/ (Linux: sudo apt install cloudflared, from Cloudflare's package "
        "repository; macOS: brew install cloudflared; Windows: winget install "
        "Cloudflare.cloudflared)"
    ),
)
NGROK = TunnelClient(
    name="ngrok",
    executable="ngrok",
    argv=lambda exe, port: [exe, "http", str(port), "--log", "stdout", "--log-format", "json"],
    find_url=_ngrok_url,
    install=(
        "ngrok (free account): https://ngrok.com/download, then once: "
        "ngrok config add-authtoken YOUR-TOKEN"
    ),
    said=_ngrok_said,
)
TAILSCALE = TunnelClient(
    name="tailscale funnel",
    executable="tailscale",
    argv=lambda exe, port: [exe, "funnel", str(port)],
    find_url=_tailscale_url,
    install=(
        "Tailscale with Funnel turned on for your tailnet: https://tailscale.com/download "
        "and https://tailscale.com/kb/1223/funnel"
    ),
)

#: The known clients, in the order they are tried (cloudflared needs no account).
CLIENTS: tuple[TunnelClient, ...] = (CLOUDFLARED, NGROK, TAILSCALE)


def find_client(
    clients: Sequence[TunnelClient] = CLIENTS, path: str | None = None
) -> tuple[TunnelClient, str] | None:
    """The first of ``clients`` installed on ``path`` (default: ``$PATH``), with the
    executable's full path; None when none is."""
    for client in clients:
        found = shutil.which(client.executable, path=path)
        if found:
            return client, found
    return None


def install_advice(clients: Sequence[TunnelClient] = CLIENTS) -> str:
    """What to install to share outside the network: one line per client, with links."""
    lines = ["No tunnel program is installed. Install one of these, then try again:"]
    lines += [f"• {client.install}" for client in clients]
    return "\n".join(lines)


def origin_of(url: str) -> str:
    """``https://host[:port]`` of a public URL: what browsers send as ``Origin``."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


# -- the running client ------------------------------------------------------------------------

#: Process groups of the clients still running: the ``atexit`` hook kills them.
_LIVE_GROUPS: set[int] = set()


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if hasattr(os, "killpg"):
            os.killpg(pid, sig)  # the client leads its own group (start_new_session)
        else:  # Windows: no groups; the client itself
            os.kill(pid, sig)


@atexit.register
def _kill_leftovers() -> None:
    """At interpreter exit: no tunnel outlives the studio, even after a crash of the loop."""
    for pid in list(_LIVE_GROUPS):
        _kill_group(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
    _LIVE_GROUPS.clear()


class Tunnel:
    """A running tunnel client: ``url`` is its public address, ``origin`` the origin
    browsers opening it send. Made by :func:`start_tunnel`; stop it with :meth:`stop`.

    ``on_exit(tunnel, why)`` (optional) is called on the event loop when the client exits
    by itself after it gave its address (``why``: a sentence with its last output line);
    not when :meth:`stop` ended it.
    """

    def __init__(
        self,
        client: TunnelClient,
        process: _Child,
        url: str,
        lines: deque[str],
        reader: asyncio.Task[None],
    ) -> None:
        self.client = client
        self.process = process
        self.url = url
        self.origin = origin_of(url)
        self.on_exit: Callable[[Tunnel, str], None] | None = None
        self._lines = lines
        self._reader = reader
        self._stop_asked = asyncio.Event()  # stop() or kill_now() was called
        self._watch = asyncio.get_running_loop().create_task(
            self._watch_exit(), name=f"tunnel-{client.executable}-exit"
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    @property
    def last_line(self) -> str:
        """The client's last non-empty output line ("" if it printed nothing)."""
        return self._lines[-1] if self._lines else ""

    async def stop(self, grace_s: float = DEFAULT_STOP_GRACE_S) -> None:
        """Stop the client and every process it started: SIGTERM to its group, SIGKILL
        to the group after ``grace_s``. Safe to call twice (the second does nothing: a
        group id is not signalled again once its processes may be gone and the id reused)."""
        if self._stop_asked.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            return
        self._stop_asked.set()
        await _end(self.process, grace_s)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        with contextlib.suppress(asyncio.CancelledError):
            await self._watch

    def kill_now(self) -> None:
        """Last resort when the event loop is gone: SIGKILL the client's group."""
        self._stop_asked.set()
        _kill_group(self.process.pid, getattr(signal, "SIGKILL", signal.SIGTERM))
        _LIVE_GROUPS.discard(self.process.pid)

    async def _watch_exit(self) -> None:
        code = await _exited(self.process)
        _LIVE_GROUPS.discard(self.process.pid)
        if self._stop_asked.is_set():
            return
        # The client itself is gone, a helper it started may still run: end the group.
        # The pipe closes when the last of them is gone (the reader has its last words).
        _kill_group(self.process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(self._reader), 1.0)
        except TimeoutError:
            _kill_group(self.process.pid, getattr(signal, "SIGKILL", signal.SIGTERM))
        except asyncio.CancelledError:
            if not self._stop_asked.is_set():  # we are cancelled, not the reader by stop()
                raise
        if self._stop_asked.is_set():  # stop() was called meanwhile: it was asked for, say nothing
            return
        why = f"{self.client.name} stopped (exit code {code})"
        why += _last_words(self._lines, self.client)
        log.warning("%s", why)
        if self.on_exit is not None:
            self.on_exit(self, why)


def _last_words(lines: deque[str], client: TunnelClient) -> str:
    """The end of an error message: the client's last output line, or that it printed
    nothing."""
    if not lines:
        return "; it printed nothing."
    return f'; its last output line: "{client.said(lines[-1])}"'


class _Child:
    """A tunnel client's process and its merged output as an ``asyncio.StreamReader``.

    Started with ``subprocess.Popen``, not ``asyncio.create_subprocess_exec``: uvloop forks
    and then runs Python's after-fork hooks in the child, which free other threads'
    thread-local objects — PyAV keeps a scaler per capture thread, whose destructor waits
    on a lock no thread of the child will ever release — so the child hung before it
    could exec (seen with the studio's program on uvloop; ``serve`` runs on uvloop with a
    capture thread too). ``Popen`` forks and execs without running Python in the child.
    The same duck type as ``asyncio.subprocess.Process`` for what this module uses."""

    def __init__(self, popen: subprocess.Popen[bytes], stdout: asyncio.StreamReader) -> None:
        self._popen = popen
        self.pid = popen.pid
        self.stdout = stdout

    @classmethod
    async def start(cls, argv: Sequence[str]) -> _Child:
        """Run ``argv`` in its own session (so a stop reaches what it starts), stdout and
        stderr in one pipe (cloudflared logs on stderr, ngrok on stdout). Raises OSError."""
        # Blocks only for fork + exec (Popen waits for the exec to succeed or fail).
        popen = subprocess.Popen(  # noqa: ASYNC220
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=sys.platform != "win32",
        )
        assert popen.stdout is not None
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=2 * _MAX_LINE, loop=loop)
        try:
            await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader, loop=loop), popen.stdout
            )
        except BaseException:
            popen.kill()
            popen.wait()
            raise
        return cls(popen, reader)

    @property
    def returncode(self) -> int | None:
        """The exit code once it exited (and was reaped), else None."""
        return self._popen.poll()

    async def wait(self) -> int:
        """Its exit code, once it exited and its output pipe closed (every process that
        held it is gone)."""
        code = await _exited(self)
        while not self.stdout.at_eof():  # noqa: ASYNC110 (the reader task sees the EOF)
            await asyncio.sleep(0.05)
        return code


async def _exited(process: _Child) -> int:
    """The client's exit code, once it exited. Not ``process.wait()``: that also waits
    for its output pipe to close, which a helper it started may hold open for ever."""
    while (code := process.returncode) is None:  # noqa: ASYNC110 (no exit event to await)
        await asyncio.sleep(0.1)
    return code


async def _end(process: _Child, grace_s: float) -> None:
    if process.returncode is None:
        _kill_group(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(_exited(process), grace_s)
        except TimeoutError:
            log.warning("tunnel client %d ignored SIGTERM: killing it", process.pid)
    # SIGKILL the group even when the leader exited: a child that ignored SIGTERM stays.
    _kill_group(process.pid, getattr(signal, "SIGKILL", signal.SIGTERM))
    try:
        await asyncio.wait_for(process.wait(), grace_s)  # reaped, pipe closed
    except TimeoutError:
        # A helper that left the group still holds the pipe: the client itself is gone.
        log.warning("a helper of tunnel client %d outlives it", process.pid)
    _LIVE_GROUPS.discard(process.pid)


async def _read_lines(
    stream: asyncio.StreamReader,
    client: TunnelClient,
    lines: deque[str],
    found: asyncio.Future[str],
) -> None:
    """Every output line into ``lines``; the first public URL into ``found``. Keeps
    reading after that, so the client never blocks on a full pipe."""
    while True:
        try:
            raw = await stream.readline()
        except ValueError:  # a line over the stream's limit: skip what there is
            raw = await stream.read(65536)
        if not raw:
            return
        line = raw.decode("utf-8", "replace").rstrip("\r\n")[:_MAX_LINE]
        if line.strip():
            lines.append(line.strip())
        if not found.done():
            url = client.find_url(line)
            if url:
                found.set_result(url)


async def start_tunnel(
    port: int,
    *,
    client: TunnelClient | None = None,
    executable: str | None = None,
    timeout_s: float = DEFAULT_START_TIMEOUT_S,
    path: str | None = None,
) -> Tunnel:
    """Start a tunnel to ``http://localhost:port`` and wait for its public address.

    ``client`` None: the first installed of :data:`CLIENTS` (on ``path``, default
    ``$PATH``). Raises :class:`NoTunnelClient` (with :func:`install_advice`) when none is
    installed, and :class:`TunnelError` when the client cannot be run, exits before it
    printed an address, or prints none within ``timeout_s`` — in every case with the
    client's last output line, and with the client and all it started stopped again.
    """
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is not a TCP port")
    if client is None:
        found = find_client(path=path)
        if found is None:
            raise NoTunnelClient(install_advice())
        client, executable = found
    elif executable is None:
        executable = shutil.which(client.executable, path=path)
        if executable is None:
            raise NoTunnelClient(install_advice([client]))
    argv = client.argv(executable, port)
    try:
        process = await _Child.start(argv)
    except OSError as exc:
        raise TunnelError(f"cannot run {client.name} ({executable}): {exc}") from exc
    _LIVE_GROUPS.add(process.pid)
    log.info("started %s (pid %d): %s", client.name, process.pid, " ".join(argv))
    lines: deque[str] = deque(maxlen=_KEPT_LINES)
    loop = asyncio.get_running_loop()
    url_found: asyncio.Future[str] = loop.create_future()
    assert process.stdout is not None
    reader = loop.create_task(
        _read_lines(process.stdout, client, lines, url_found), name=f"tunnel-{client.executable}"
    )
    exited = loop.create_task(_exited(process))
    waiting: set[asyncio.Future[Any]] = {url_found, exited}
    try:
        done, _ = await asyncio.wait(
            waiting, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        if url_found in done:
            url = url_found.result()
            exited.cancel()
            log.info("%s gives the public address %s", client.name, url)
            return Tunnel(client, process, url, lines, reader)
        if exited in done:
            # Let the reader take the client's last words from the pipe first.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(reader), 1.0)
            message = (
                f"{client.name} stopped (exit code {exited.result()}) before it gave a "
                "public address" + _last_words(lines, client)
            )
        else:
            message = f"{client.name} gave no public address within {timeout_s:g} s" + _last_words(
                lines, client
            )
        raise TunnelError(message)
    except BaseException:
        exited.cancel()
        if not url_found.done():
            url_found.cancel()
        await _end(process, DEFAULT_STOP_GRACE_S)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        raise
