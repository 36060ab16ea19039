"""The commands as a user runs them: `serve` and `token` in real subprocesses."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
from websockets.asyncio.client import connect

from tests.helpers.serve import serve_env, serving, serving_sync

PY = sys.executable


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    # No WRENCOS_JWT_SECRET unless given: the data dir's secret file is what is tested.
    return serve_env(data_dir, secret=None, env=extra)


def test_token_command_prints_a_verifiable_jwt(tmp_path: Path) -> None:
    """`token` signs with the data dir's secret; claims userId, role, exp."""
    out = subprocess.run(
        [
            PY,
            "-m",
            "wrencos_studio",
            "token",
            "--user-id",
            "alice",
            "--role",
            "staff",
            "--ttl",
            "30m",
        ],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        check=True,
        timeout=30,
    )
    tok = out.stdout.strip()
    secret = (tmp_path / "jwt-secret").read_text().strip()
    assert oct((tmp_path / "jwt-secret").stat().st_mode & 0o777) == "0o600"
    claims = jwt.decode(tok, secret, algorithms=["HS256"])
    assert claims["userId"] == "alice" and claims["role"] == "staff"
    assert 29 * 60 < claims["exp"] - time.time() <= 30 * 60


def test_token_command_rejects_a_bad_ttl(tmp_path: Path) -> None:
    """A bad --ttl is a clear error, exit 2."""
    out = subprocess.run(
        [PY, "-m", "wrencos_studio", "token", "--user-id", "a", "--ttl", "soon"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=30,
    )
    assert out.returncode == 2 and "not a duration" in out.stderr


def test_env_secret_wins(tmp_path: Path) -> None:
    """WRENCOS_JWT_SECRET, when set, signs the token."""
    out = subprocess.run(
        [PY, "-m", "wrencos_studio", "token", "--user-id", "bob"],
        capture_output=True,
        text=True,
        env=_env(tmp_path, WRENCOS_JWT_SECRET="s" * 40),
        check=True,
        timeout=30,
    )
    assert jwt.decode(out.stdout.strip(), "s" * 40, algorithms=["HS256"])["role"] == "admin"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_serve_exits_0_on_signal_with_clients_connected(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """A token from `token` works against `serve`; SIGTERM/SIGINT exit 0 within 5 s."""
    tok = subprocess.run(
        [PY, "-m", "wrencos_studio", "token", "--user-id", "alice"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        check=True,
        timeout=30,
    ).stdout.strip()
    async with serving(tmp_path, secret=None, log_level=None) as served:
        proc, url = served.proc, served.url
        clients = [await connect(url) for _ in range(5)]
        await clients[0].send(json.dumps({"type": "register_admin", "token": tok}))
        assert json.loads(await clients[0].recv())["type"] == "admin_registered"
        for i, c in enumerate(clients[1:]):
            await c.send(json.dumps({"type": "register", "sessionId": f"s{i}"}))
            await c.recv()
        started = time.monotonic()
        proc.send_signal(sig)
        code = await asyncio.wait_for(proc.wait(), 10)
        assert code == 0
        assert time.monotonic() - started < 5
        for c in clients:
            await c.wait_closed()
            assert c.close_code == 1001  # going away
    # The database was closed cleanly: no WAL left behind.
    assert (
        not (tmp_path / "wrencos.sqlite3-wal").exists()
        or (tmp_path / "wrencos.sqlite3-wal").stat().st_size == 0
    )


async def test_serve_never_imports_qt(tmp_path: Path) -> None:
    """The headless server runs without PySide6 ever being imported."""
    code = (
        "import sys, threading, signal, os\n"
        "from wrencos_studio.cli import main\n"
        "threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()\n"
        "rc = main(['serve', '--host', '127.0.0.1', '--port', '0'])\n"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'shiboken6', 'qasync'))]\n"
        "print('QT-MODULES', bad)\n"
        "sys.exit(rc)\n"
    )
    out = subprocess.run(
        [PY, "-c", code], capture_output=True, text=True, env=_env(tmp_path), timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert "QT-MODULES []" in out.stdout


async def test_serve_reports_a_busy_port(tmp_path: Path) -> None:
    """A port already in use is a clear error and exit 2, not a traceback."""
    async with serving(tmp_path / "a", secret=None, log_level=None) as served:
        out = await asyncio.to_thread(
            subprocess.run,
            [
                PY,
                "-m",
                "wrencos_studio",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(served.port),
            ],
            capture_output=True,
            text=True,
            env=_env(tmp_path / "b"),
            timeout=30,
        )
    assert out.returncode == 2
    assert "cannot listen" in out.stderr and "Traceback" not in out.stderr


def test_serve_rejects_an_unknown_source(tmp_path: Path) -> None:
    """A --source that is neither a keyword nor an existing file is a clear error, exit 2."""
    out = subprocess.run(
        [PY, "-m", "wrencos_studio", "serve", "--source", str(tmp_path / "nosuch.mp4")],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=30,
    )
    assert out.returncode == 2
    assert "no such video file" in out.stderr and "Traceback" not in out.stderr


def _serve_once(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "wrencos_studio", "serve", "--host", "127.0.0.1", "--port", "0"],
        capture_output=True,
        text=True,
        env=_env(data_dir),
        timeout=30,
    )


def _folder_hashes(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.iterdir()
        if p.name.startswith("wrencos.sqlite3")
    }


def test_serve_refuses_a_database_from_the_future(tmp_path: Path) -> None:
    """A database with a newer schema is left byte for byte, with a clear message."""
    import sqlite3

    db = sqlite3.connect(tmp_path / "wrencos.sqlite3")
    db.execute("PRAGMA user_version=999")
    db.close()
    before = _folder_hashes(tmp_path)
    out = _serve_once(tmp_path)
    assert out.returncode == 2
    assert "newer" in out.stderr and "Traceback" not in out.stderr
    assert _folder_hashes(tmp_path) == before


@pytest.mark.parametrize(
    "script",
    [
        "PRAGMA application_id=1179602502; CREATE TABLE t (x); INSERT INTO t VALUES (1);",
        "CREATE TABLE notes (id INTEGER, body TEXT); INSERT INTO notes VALUES (1, 'x');",
        "PRAGMA journal_mode=WAL; CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x');",
        None,
    ],
    ids=["other-application-id", "foreign-tables", "foreign-wal", "not-sqlite"],
)
def test_serve_refuses_another_applications_database(tmp_path: Path, script: str | None) -> None:
    """Another program's file in the data dir: exit 2 within 20 s, the reason on stderr,
    and the file (and any journal beside it) byte for byte as it was."""
    import sqlite3

    path = tmp_path / "wrencos.sqlite3"
    if script is None:
        path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 64)
    else:
        db = sqlite3.connect(path)
        db.executescript(script)
        db.close()
    before = _folder_hashes(tmp_path)
    started = time.monotonic()
    out = _serve_once(tmp_path)
    assert time.monotonic() - started < 20
    assert out.returncode == 2
    assert "refusing to touch it" in out.stderr and "Traceback" not in out.stderr
    assert str(path) in out.stderr
    assert _folder_hashes(tmp_path) == before


def test_serve_adopts_its_own_database_from_before_application_id(tmp_path: Path) -> None:
    """A file an earlier build wrote (application_id 0, our schema) is served and stamped."""
    import sqlite3

    from wrencos_studio.store.database import APPLICATION_ID, MIGRATIONS

    db = sqlite3.connect(tmp_path / "wrencos.sqlite3")
    db.executescript(MIGRATIONS[0])
    db.execute("PRAGMA user_version=1")
    db.close()
    with serving_sync(tmp_path, secret=None, env={}):
        pass
    db = sqlite3.connect(tmp_path / "wrencos.sqlite3")
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    db.close()


def test_devices_lists_cameras_or_says_none(tmp_path: Path) -> None:
    """`devices` names each camera as a --source value (or says there is none)."""
    out = subprocess.run(
        [PY, "-m", "wrencos_studio", "devices"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=30,
        check=True,
    )
    lines = out.stdout.splitlines()
    assert lines[0] == "no cameras found" or lines[0].startswith("camera:")
    assert any(line.startswith(("microphone:", "no microphone found")) for line in lines)


def test_serve_refuses_malformed_ice_servers(tmp_path: Path) -> None:
    """A bad WRENCOS_ICE_SERVERS is a clear error at start, not a silent failure per viewer."""
    out = subprocess.run(
        [PY, "-m", "wrencos_studio", "serve", "--source", "testsrc"],
        capture_output=True,
        text=True,
        env=_env(tmp_path, WRENCOS_ICE_SERVERS="http://nope"),
        timeout=30,
    )
    assert out.returncode == 2 and "not an ICE server" in out.stderr


async def test_studio_without_a_display_runs_the_server(tmp_path: Path) -> None:
    """`wrencos-studio` on a machine with no display says so and serves headless."""
    settings = tmp_path / "studio-settings.json"
    settings.write_text('{"port": 0}')
    no_display = {"DISPLAY": None, "WAYLAND_DISPLAY": None, "QT_QPA_PLATFORM": None}
    async with serving(
        tmp_path, command=None, host=None, env=no_display, secret=None, log_level=None
    ) as served:
        assert served.host == "0.0.0.0"
        assert served.port != 3000  # the studio's own port setting (0: any)
        proc = served.proc
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        assert "no display" in served.stderr()
