"""A real Janus (Debian's ``janus``) with Debian's ``simple-whip-server`` in front, for the
WHIP egress tests: both started on free ports with a generated minimal configuration (the
VideoRoom plugin and the WebSocket transport only, one H.264/Opus room, no STUN), always
stopped afterwards; and :class:`JanusSubscriber`, an aiortc subscriber of that room through
Janus's WebSocket API.

simple-whip-server is a Node.js program (``/usr/share/simple-whip-server/src/server.js``)
that reads ``./config.js``; we copy its two source files next to a generated config.
Where the package cannot be installed (its ``node-websocket`` dependency needs Debian's
``libnode108``, which conflicts with a NodeSource ``nodejs``), ``scripts/system-deps.sh``
unpacks the package and its ``node-*`` dependencies (``dpkg -x``) into
``.cache/simple-whip-server`` (or ``WRENCOS_SIMPLE_WHIP_ROOT`` names such a tree); it is
used the same way, with that tree's Node modules and the installed ``node``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers.testutils import free_port

__all__ = ["JanusSetup", "JanusSubscriber", "janus_missing", "janus_with_whip"]

ROOM = 1234
_LIB = "/usr/lib/x86_64-linux-gnu"


def _whip_root() -> Path | None:
    """The root the simple-whip-server package is installed under (``/`` or an unpacked
    tree), or None."""
    unpacked = Path(__file__).resolve().parents[2] / ".cache" / "simple-whip-server"
    env = os.environ.get("WRENCOS_SIMPLE_WHIP_ROOT")
    for root in (Path("/"), *([Path(env)] if env else []), unpacked):
        if (root / "usr/share/simple-whip-server/src/server.js").is_file():
            return root
    return None


def janus_missing() -> str | None:
    """Why the Janus tests cannot run here (a sentence), or None."""
    if shutil.which("janus") is None:
        return "Debian's janus is not installed (scripts/system-deps.sh installs it)"
    if shutil.which("node") is None:
        return "node is not installed (simple-whip-server needs it)"
    if _whip_root() is None:
        return (
            "Debian's simple-whip-server is not installed (or unpacked where "
            "WRENCOS_SIMPLE_WHIP_ROOT says)"
        )
    return None


@dataclass
class JanusSetup:
    """The running pair: ``ws_url`` (Janus's WebSocket API), ``whip_base`` (the WHIP
    server's REST base, ``http://127.0.0.1:PORT/whip``), ``whip_url`` (the endpoint to
    publish to), ``token`` (its bearer token), both processes' log files and process ids
    (``janus_pid``, ``whip_pid``: for bench/whip_bench.py's CPU figures)."""

    ws_url: str
    whip_base: str
    whip_url: str
    token: str
    janus_log: Path
    whip_log: Path
    janus_pid: int = 0
    whip_pid: int = 0

    def logs(self) -> str:
        """The tail of both logs, for a failing assertion's message."""
        out = []
        for path in (self.janus_log, self.whip_log):
            with contextlib.suppress(OSError):
                out.append(f"--- {path.name}\n" + path.read_text(errors="replace")[-3000:])
        return "\n".join(out)


def _janus_config(folder: Path, ws_port: int) -> None:
    plugins = [
        "audiobridge", "duktape", "echotest", "lua", "nosip", "recordplay", "sip",
        "streaming", "textroom", "videocall", "voicemail",
    ]  # fmt: skip
    transports = ["http", "mqtt", "nanomsg", "pfunix", "rabbitmq"]
    (folder / "janus.jcfg").write_text(
        f"""general: {{
	configs_folder = "{folder}"
	plugins_folder = "{_LIB}/janus/plugins"
	transports_folder = "{_LIB}/janus/transports"
	events_folder = "{_LIB}/janus/events"
	loggers_folder = "{_LIB}/janus/loggers"
	debug_level = 4
	admin_secret = "{secrets.token_hex(8)}"
}}
media: {{
	rtp_port_range = "40000-60000"
}}
nat: {{
	nice_debug = false
	ice_ignore_list = "vmnet"
}}
plugins: {{
	disable = "{",".join(f"libjanus_{p}.so" for p in plugins)}"
}}
transports: {{
	disable = "{",".join(f"libjanus_{t}.so" for t in transports)}"
}}
events: {{
	broadcast = false
}}
loggers: {{
	disable = "libjanus_jsonlog.so"
}}
"""
    )
    (folder / "janus.transport.websockets.jcfg").write_text(
        f"""general: {{
	json = "compact"
	ws = true
	ws_port = {ws_port}
	ws_ip = "127.0.0.1"
	wss = false
}}
admin: {{
	admin_ws = false
	admin_wss = false
}}
"""
    )
    (folder / "janus.plugin.videoroom.jcfg").write_text(
        f"""general: {{
}}
room-{ROOM}: {{
	description = "Wrencos WHIP test"
	publishers = 3
	bitrate = 4000000
	fir_freq = 2
	audiocodec = "opus"
	videocodec = "h264"
}}
"""
    )


async def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    async def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(
                f"{what} exited ({proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}"
            )
        try:
            _r, w = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        w.close()
        return True

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20.0
    while not await up():
        assert loop.time() < deadline, f"{what} is not listening on {port} after 20 s"
        await asyncio.sleep(0.1)


def _spawn(argv: list[str], log: Any, **kw: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **kw)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.asynccontextmanager
async def janus_with_whip(tmp: Path, endpoint: str = "shop") -> AsyncIterator[JanusSetup]:
    """Start Janus and simple-whip-server in ``tmp``, create WHIP endpoint ``endpoint``
    (room :data:`ROOM`, a random token), yield the :class:`JanusSetup`, stop both."""
    root = _whip_root()
    assert root is not None, janus_missing()
    ws_port, whip_port = free_port(), free_port()
    jdir = tmp / "janus"
    jdir.mkdir()
    _janus_config(jdir, ws_port)
    janus_log = tmp / "janus.log"
    whip_log = tmp / "simple-whip-server.log"
    wdir = tmp / "simple-whip-server"
    wdir.mkdir()
    for name in ("server.js", "whip-janus.js"):
        shutil.copy(root / "usr/share/simple-whip-server/src" / name, wdir / name)
    (wdir / "config.js").write_text(
        "module.exports = "
        + json.dumps(
            {
                "janus": {"address": f"ws://127.0.0.1:{ws_port}"},
                "port": whip_port,
                "rest": "/whip",
                "allowTrickle": True,
                "strictETags": False,
                "iceServers": [],
            }
        )
        + ";\n"
    )
    node_path = os.pathsep.join(
        str(root / p) for p in ("usr/share/nodejs", "usr/lib/x86_64-linux-gnu/nodejs")
    )
    with janus_log.open("wb") as jl, whip_log.open("wb") as wl:
        janus = _spawn(
            ["janus", "-C", str(jdir / "janus.jcfg"), "-F", str(jdir), "-N"],
            jl,
        )
        whip: subprocess.Popen[bytes] | None = None
        try:
            await _wait_port(ws_port, janus, "janus", janus_log)
            whip = _spawn(
                ["node", "server.js"],
                wl,
                cwd=wdir,
                env={**os.environ, "NODE_PATH": node_path, "DEBUG": "whip:*,-whip:debug"},
            )
            await _wait_port(whip_port, whip, "simple-whip-server", whip_log)
            base = f"http://127.0.0.1:{whip_port}/whip"
            token = secrets.token_urlsafe(12)
            body = {"id": endpoint, "room": ROOM, "token": token, "label": "wrencos"}
            status, _ = await _post_json(f"{base}/create", body)
            assert status == 200, f"creating the WHIP endpoint: {status}"
            yield JanusSetup(
                ws_url=f"ws://127.0.0.1:{ws_port}",
                whip_base=base,
                whip_url=f"{base}/endpoint/{endpoint}",
                token=token,
                janus_log=janus_log,
                whip_log=whip_log,
                janus_pid=janus.pid,
                whip_pid=whip.pid,
            )
        finally:
            if whip is not None:
                _stop(whip)
            _stop(janus)


async def _post_json(url: str, body: dict[str, Any]) -> tuple[int, bytes]:
    from wrencos_studio.media.whip import http_request

    response = await http_request(
        "POST", url, {"Content-Type": "application/json"}, json.dumps(body).encode()
    )
    return response.status, response.body


async def whip_endpoints(setup: JanusSetup) -> list[dict[str, Any]]:
    """simple-whip-server's ``GET /endpoints`` (its test listing, unauthenticated)."""
    from wrencos_studio.media.whip import http_request

    response = await http_request("GET", f"{setup.whip_base}/endpoints")
    assert response.status == 200, response
    result: list[dict[str, Any]] = json.loads(response.body)
    return result


class JanusSubscriber:
    """A viewer of the VideoRoom through Janus's WebSocket API (``janus-protocol``): it
    waits for a publisher in :data:`ROOM`, subscribes to it with aiortc and counts the
    decoded video frames (:attr:`frames`) and the test pattern's stamps on them
    (:attr:`stamps`, ms since the epoch as drawn by the studio). :attr:`started` and
    :attr:`first_frame` are the event loop's clock (s) when :meth:`watch` began and when the
    first video frame was decoded (None until then)."""

    def __init__(self, ws_url: str) -> None:
        self.ws_url = ws_url
        self.frames = 0
        self.audio_frames = 0
        self.stamps: list[tuple[int, int]] = []  # (stamp drawn, wall ms when decoded)
        self.started: float | None = None
        self.first_frame: float | None = None
        self._pc: Any = None
        self._ws: Any = None
        self._tasks: list[asyncio.Task[None]] = []

    async def _call(self, message: dict[str, Any], want: str = "success") -> dict[str, Any]:
        tid = secrets.token_hex(6)
        await self._ws.send(json.dumps({**message, "transaction": tid}))
        while True:
            reply = json.loads(await self._ws.recv())
            if reply.get("transaction") != tid:
                continue
            if reply.get("janus") == "error":
                raise AssertionError(f"Janus refused {message}: {reply}")
            if reply.get("janus") == want:
                result: dict[str, Any] = reply
                return result

    async def watch(self, timeout: float = 20.0) -> None:
        """Connect, wait for a publisher (at most ``timeout`` s) and start receiving."""
        from aiortc import RTCPeerConnection, RTCSessionDescription
        from websockets.asyncio.client import connect

        from wrencos_studio.media.testsrc import now_ms, read_stamp

        loop = asyncio.get_running_loop()
        self.started = loop.time()
        self._ws = await connect(self.ws_url, subprotocols=["janus-protocol"])  # type: ignore[list-item]
        session = (await self._call({"janus": "create"}))["data"]["id"]
        handle = (
            await self._call(
                {"janus": "attach", "plugin": "janus.plugin.videoroom", "session_id": session}
            )
        )["data"]["id"]
        base = {"janus": "message", "session_id": session, "handle_id": handle}
        deadline = loop.time() + timeout
        feed = None
        while feed is None:
            reply = await self._call(
                {**base, "body": {"request": "listparticipants", "room": ROOM}}
            )
            people = reply["plugindata"]["data"].get("participants", [])
            feed = next((p["id"] for p in people if p.get("publisher")), None)
            if feed is None:
                assert loop.time() < deadline, "no publisher appeared in the Janus room"
                await asyncio.sleep(0.2)
        join = {"request": "join", "ptype": "subscriber", "room": ROOM, "streams": [{"feed": feed}]}
        event = await self._call({**base, "body": join}, want="event")
        jsep = event["jsep"]
        pc = self._pc = RTCPeerConnection()

        @pc.on("track")
        def on_track(track: Any) -> None:
            async def pull() -> None:
                with contextlib.suppress(Exception):
                    while True:
                        frame = await track.recv()
                        if track.kind == "video":
                            if self.first_frame is None:
                                self.first_frame = loop.time()
                            self.frames += 1
                            stamp = read_stamp(frame)
                            if stamp is not None:
                                self.stamps.append((stamp, now_ms()))
                        else:
                            self.audio_frames += 1

            self._tasks.append(asyncio.ensure_future(pull()))

        await pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        answer = {"type": "answer", "sdp": pc.localDescription.sdp}
        await self._call({**base, "body": {"request": "start"}, "jsep": answer}, want="ack")
        self._keepalive = asyncio.ensure_future(self._keep(session))

    async def _keep(self, session: int) -> None:
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(20)
                await self._ws.send(
                    json.dumps({"janus": "keepalive", "session_id": session, "transaction": "k"})
                )

    async def close(self) -> None:
        """Stop receiving and leave."""
        for task in [*self._tasks, getattr(self, "_keepalive", None)]:
            if task is not None:
                task.cancel()
        if self._pc is not None:
            await self._pc.close()
        if self._ws is not None:
            await self._ws.close()
