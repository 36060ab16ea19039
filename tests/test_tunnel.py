"""Public tunnels: stand-in cloudflared, ngrok and tailscale (tests/standins/bin, first on
PATH) print what the real ones print; the studio reads the address, lets that origin's
browsers in while the tunnel runs and not after, and leaves no process behind."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus

from tests.conftest import RunningHub
from tests.helpers.serve import serving
from wrencos_studio.hub.http import AllowedOrigins, origin_allowed
from wrencos_studio.tunnel import (
    CLIENTS,
    CLOUDFLARED,
    NGROK,
    TAILSCALE,
    NoTunnelClient,
    TunnelClient,
    TunnelError,
    find_client,
    install_advice,
    start_tunnel,
)

STANDINS = Path(__file__).resolve().parent / "standins" / "bin"

EXPECTED = {
    "cloudflared": "https://oklahoma-solo-younger-truck.trycloudflare.com",
    "ngrok": "https://3c41-203-0-113-7.ngrok-free.app",
    "tailscale funnel": "https://shop-pc.tail1234.ts.net",
}


@pytest.fixture
def standins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-ins first on PATH; returns the log file they write argv and helper pids to."""
    log = tmp_path / "standin.log"
    monkeypatch.setenv("PATH", f"{STANDINS}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("WRENCOS_STANDIN_LOG", str(log))
    monkeypatch.delenv("WRENCOS_STANDIN_MODE", raising=False)
    return log


def _helpers(log: Path) -> list[int]:
    """Pids of the helper processes the stand-ins started."""
    if not log.exists():
        return []
    return [
        int(line.split()[1]) for line in log.read_text().splitlines() if line.startswith("helper")
    ]


def _gone(pid: int) -> bool:
    """No such process (a zombie waiting for init counts as gone: it runs nothing)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return "\nState:\tZ" in status


async def _until_gone(pids: list[int], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not all(_gone(p) for p in pids):
            await asyncio.sleep(0.05)


async def _pong(url: str, origin: str) -> None:
    async with connect(url, origin=origin) as ws:  # type: ignore[arg-type]
        await ws.send('{"type":"ping"}')
        assert json.loads(await ws.recv()) == {"type": "pong"}


async def _refused(url: str, origin: str) -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with connect(url, origin=origin):  # type: ignore[arg-type]
            pass
    assert caught.value.response.status_code == 403


@pytest.mark.parametrize("client", CLIENTS, ids=lambda c: c.executable)
async def test_tunnel_allows_its_origin_while_it_runs(
    hub: RunningHub, standins: Path, client: TunnelClient
) -> None:
    """Each client's address is read; its origin gets in while the tunnel runs, 403 after."""
    assert hub.app is not None and hub.server is not None
    origin = EXPECTED[client.name]
    await _refused(hub.url, origin)
    tunnel = await hub.app.start_tunnel(client=client, timeout_s=10)
    assert tunnel.url == EXPECTED[client.name]
    assert tunnel.origin == origin
    argv = standins.read_text().splitlines()[0].split()[2:]
    assert argv == client.argv(client.executable, hub.server.port)[1:]
    assert origin in hub.server.allowed_origins.runtime
    await _pong(hub.url, origin)
    await _pong(hub.url, origin + "/")  # the same origin, written with a slash
    await _refused(hub.url, "https://evil.trycloudflare.com")
    helpers = _helpers(standins)
    assert helpers and not any(_gone(p) for p in helpers)

    await hub.app.stop_tunnel()
    assert tunnel.process.returncode is not None
    await _until_gone(helpers)
    assert hub.server.allowed_origins.runtime == ()
    await _refused(hub.url, origin)


async def test_first_installed_client_is_used(
    hub: RunningHub, standins: Path, tmp_path: Path
) -> None:
    """With only ngrok and tailscale on PATH, ngrok is found and started."""
    assert hub.app is not None
    only = tmp_path / "bin"
    only.mkdir()
    for name in ("ngrok", "tailscale", "_common.sh"):
        (only / name).symlink_to(STANDINS / name)
    os.environ["PATH"] = f"{only}{os.pathsep}/usr/bin{os.pathsep}/bin"
    found = find_client()
    assert found is not None and found[0] is NGROK and found[1] == str(only / "ngrok")
    tunnel = await hub.app.start_tunnel(timeout_s=10)
    assert tunnel.client is NGROK and tunnel.url == EXPECTED["ngrok"]
    await hub.app.stop_tunnel()


async def test_none_installed_says_what_to_install(
    hub: RunningHub, standins: Path, tmp_path: Path
) -> None:
    """No client on PATH: NoTunnelClient whose text names each client and its download page."""
    assert hub.app is not None and hub.server is not None
    os.environ["PATH"] = str(tmp_path / "empty")
    assert find_client() is None
    with pytest.raises(NoTunnelClient) as caught:
        await hub.app.start_tunnel()
    text = str(caught.value)
    assert text == install_advice()
    for needle in (
        "cloudflared",
        "https://developers.cloudflare.com/",
        "ngrok",
        "https://ngrok.com/download",
        "Tailscale",
        "https://tailscale.com/kb/1223/funnel",
    ):
        assert needle in text
    assert hub.app.tunnel is None and hub.server.allowed_origins.runtime == ()


@pytest.mark.parametrize(
    ("client", "last_words"),
    [
        (CLOUDFLARED, "failed to unmarshal quick Tunnel"),
        (NGROK, "authentication failed: Usage of ngrok requires a verified account"),
        (TAILSCALE, "https://login.tailscale.com/f/funnel?node=nXYZ123CNTRL"),
    ],
    ids=lambda v: getattr(v, "executable", "words"),
)
async def test_client_that_exits_early_is_a_clear_error(
    hub: RunningHub,
    standins: Path,
    monkeypatch: pytest.MonkeyPatch,
    client: TunnelClient,
    last_words: str,
) -> None:
    """A client that exits before giving an address: its name, exit code and last line."""
    assert hub.app is not None and hub.server is not None
    monkeypatch.setenv("WRENCOS_STANDIN_MODE", "exit")
    with pytest.raises(TunnelError) as caught:
        await hub.app.start_tunnel(client=client, timeout_s=10)
    text = str(caught.value)
    assert text.startswith(f"{client.name} stopped (exit code 1) before it gave a public address")
    assert "its last output line" in text and last_words in text
    assert hub.app.tunnel is None and hub.server.allowed_origins.runtime == ()


@pytest.mark.parametrize("client", CLIENTS, ids=lambda c: c.executable)
async def test_client_that_prints_no_address_times_out(
    standins: Path, monkeypatch: pytest.MonkeyPatch, client: TunnelClient
) -> None:
    """No address within the timeout: a clear error with the last line, and nothing left running."""
    monkeypatch.setenv("WRENCOS_STANDIN_MODE", "mute")
    with pytest.raises(TunnelError) as caught:
        await start_tunnel(3000, client=client, timeout_s=1.5)
    text = str(caught.value)
    assert text.startswith(f"{client.name} gave no public address within 1.5 s")
    last = {
        "cloudflared": "Still waiting for https://api.trycloudflare.com/tunnel to answer",
        "ngrok": "failed to open private leg",
        "tailscale funnel": "Waiting for Funnel to be enabled...",
    }[client.name]
    assert last in text
    helpers = _helpers(standins)
    assert helpers
    await _until_gone(helpers)


async def test_stop_kills_a_client_that_ignores_sigterm(
    standins: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM first; a client (and helper) that ignore it are killed after the grace time."""
    monkeypatch.setenv("WRENCOS_STANDIN_MODE", "stubborn")
    tunnel = await start_tunnel(3000, client=CLOUDFLARED, timeout_s=10)
    helpers = _helpers(standins)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await tunnel.stop(grace_s=0.5)
    assert loop.time() - began >= 0.5
    assert tunnel.process.returncode == -signal.SIGKILL
    await _until_gone(helpers)
    await asyncio.wait_for(tunnel.stop(), 1)  # again: nothing left to do


async def test_client_dying_later_withdraws_its_origin(hub: RunningHub, standins: Path) -> None:
    """A client that exits by itself: on_exit says so, its origin is refused, its helper ends."""
    assert hub.app is not None and hub.server is not None
    said: list[str] = []
    tunnel = await hub.app.start_tunnel(client=CLOUDFLARED, on_exit=said.append, timeout_s=10)
    helpers = _helpers(standins)
    await _pong(hub.url, tunnel.origin)
    os.kill(tunnel.pid, signal.SIGKILL)
    async with asyncio.timeout(5):
        while not said:
            await asyncio.sleep(0.05)
    assert said[0].startswith("cloudflared stopped (exit code -9); its last output line")
    assert hub.app.tunnel is None
    await _refused(hub.url, tunnel.origin)
    await _until_gone(helpers)


async def test_app_stop_stops_the_tunnel(hub: RunningHub, standins: Path) -> None:
    """Quitting (App.stop) ends the tunnel and everything it started."""
    assert hub.app is not None
    tunnel = await hub.app.start_tunnel(client=TAILSCALE, timeout_s=10)
    helpers = _helpers(standins)
    await hub.app.stop()
    assert tunnel.process.returncode is not None
    await _until_gone(helpers)


async def test_stopping_while_the_client_starts(
    hub: RunningHub, standins: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Quitting while a client is still starting cancels the start and ends the client."""
    assert hub.app is not None and hub.server is not None
    monkeypatch.setenv("WRENCOS_STANDIN_MODE", "mute")
    starting = asyncio.ensure_future(hub.app.start_tunnel(client=NGROK, timeout_s=60))
    async with asyncio.timeout(5):
        while not _helpers(standins):
            await asyncio.sleep(0.05)
    await hub.app.stop()
    with pytest.raises(asyncio.CancelledError):
        await starting
    await _until_gone(_helpers(standins))


async def test_no_tunnel_outlives_the_interpreter(standins: Path, tmp_path: Path) -> None:
    """A program that exits with its tunnel still running leaves no process behind (atexit)."""
    script = tmp_path / "leave.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio
            from wrencos_studio.tunnel import CLOUDFLARED, start_tunnel

            async def main():
                tunnel = await start_tunnel(3000, client=CLOUDFLARED, timeout_s=10)
                print(tunnel.pid, flush=True)

            asyncio.run(main())
            """
        )
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).parent.parent,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    pids = [int(out.split()[0]), *_helpers(standins)]
    assert len(pids) == 2
    await _until_gone(pids)


async def test_serve_share_tunnel_prints_the_public_page(standins: Path, tmp_path: Path) -> None:
    """`serve --share-tunnel` prints the public page and lets its origin in."""
    async with serving(tmp_path / "data", "--share-tunnel") as served:
        assert (
            await served.readline()
            == f"customer page: http://127.0.0.1:{served.url.rsplit(':', 1)[1]}/"
        )
        line = await served.readline(timeout=20)
        assert line == f"public page: {EXPECTED['cloudflared']}/"
        await _pong(served.url, EXPECTED["cloudflared"])
        helpers = _helpers(standins)
        assert helpers
    await _until_gone(helpers)


async def test_serve_share_tunnel_without_a_client_keeps_serving(
    standins: Path, tmp_path: Path
) -> None:
    """`serve --share-tunnel` with no client: the install advice on stderr, LAN still served."""
    empty = tmp_path / "empty"
    empty.mkdir()
    async with serving(tmp_path / "data", "--share-tunnel", env={"PATH": str(empty)}) as served:
        await served.readline()  # customer page
        async with asyncio.timeout(10):
            while "cannot share outside this network" not in served.stderr():
                await asyncio.sleep(0.05)
        assert "https://ngrok.com/download" in served.stderr()
        await _pong(served.url, f"http://127.0.0.1:{served.url.rsplit(':', 1)[1]}")


def test_url_parsers_take_only_the_public_address() -> None:
    """The parsers skip look-alikes: cloudflared's API host, ngrok's http twin, other URLs."""
    assert CLOUDFLARED.find_url('failed: Post "https://api.trycloudflare.com/tunnel": EOF') is None
    assert (
        CLOUDFLARED.find_url("INF |  https://a-b-c.trycloudflare.com   |")
        == "https://a-b-c.trycloudflare.com"
    )
    http_twin = '{"msg":"started tunnel","url":"http://x.ngrok.io"}'
    assert NGROK.find_url(http_twin) is None
    assert (
        NGROK.find_url('{"msg":"started tunnel","url":"https://x.ngrok.io"}')
        == "https://x.ngrok.io"
    )
    assert NGROK.find_url("not json https://x.ngrok.io") is None
    assert NGROK.find_url('["started tunnel"]') is None
    assert TAILSCALE.find_url("https://login.tailscale.com/f/funnel?node=n1") is None
    assert TAILSCALE.find_url("https://pc.tail-1.ts.net/") == "https://pc.tail-1.ts.net"


def test_allowed_origins_runtime_set() -> None:
    """Added origins are normalized and counted; configured ones stay; bad ones are refused."""
    allowed = AllowedOrigins(("https://shop.example",))
    headers = Headers({"Host": "127.0.0.1:3000"})
    assert origin_allowed("https://shop.example", headers, allowed)
    assert not origin_allowed("https://a.trycloudflare.com", headers, allowed)
    assert allowed.add("HTTPS://A.trycloudflare.com:443/") == "https://a.trycloudflare.com"
    allowed.add("https://a.trycloudflare.com")
    assert origin_allowed("https://a.trycloudflare.com", headers, allowed)
    allowed.discard("https://a.trycloudflare.com")
    assert origin_allowed("https://a.trycloudflare.com", headers, allowed)  # one holder left
    allowed.discard("https://a.trycloudflare.com")
    assert not origin_allowed("https://a.trycloudflare.com", headers, allowed)
    allowed.discard("https://shop.example")  # configured: not removable at run time
    assert origin_allowed("https://shop.example", headers, allowed)
    for bad in ("https://x.example/path", "ftp://x.example", "x.example", ""):
        with pytest.raises(ValueError):
            allowed.add(bad)
    assert allowed.runtime == ()
    assert origin_allowed("https://any.example", headers, AllowedOrigins(("*",)))


_UVLOOP_BESIDE_A_CAPTURE_THREAD = textwrap.dedent(
    """
    import asyncio, threading, av, uvloop
    from wrencos_studio.tunnel import CLOUDFLARED, start_tunnel

    ready, done = threading.Event(), threading.Event()

    def capture():  # as a capture thread does: PyAV keeps a scaler for this thread
        av.VideoFrame(1280, 720, "yuv420p").reformat(format="rgb24", width=640, height=360)
        ready.set()
        done.wait()

    threading.Thread(target=capture, daemon=True).start()
    ready.wait()

    async def main():
        tunnel = await start_tunnel(3000, client=CLOUDFLARED, timeout_s=8)
        print(tunnel.url, flush=True)
        await tunnel.stop()

    uvloop.run(main())
    """
)


def test_a_tunnel_starts_on_uvloop_beside_a_capture_thread(standins: Path) -> None:
    """``serve`` (and the studio's program) run on uvloop while a capture thread has used
    PyAV's scaler: a tunnel client still starts. uvloop's own fork ran Python's after-fork
    hooks in the child, whose freeing of that thread's scaler waited for ever there (the
    child never exec'd); the client is now started with ``subprocess.Popen``. Run in a
    process of its own so a hang is a failure, not a stuck suite."""
    import subprocess

    pytest.importorskip("uvloop")
    try:
        result = subprocess.run(
            [sys.executable, "-c", _UVLOOP_BESIDE_A_CAPTURE_THREAD],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the tunnel client never started (the child hung before exec): {exc}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == EXPECTED["cloudflared"]
