"""A real `wrencos-studio` process (`serve`, `demo` or the studio itself) for tests: started on
port 0, ready once it printed ``listening on http://HOST:PORT``, always stopped afterwards.

`serving()` is for asyncio tests, `serving_sync()` for plain ones (module-scoped fixtures,
tests that run their own event loop). Both yield a handle with the process, its port, its
``ws://`` and ``http://`` base URLs and its stderr (kept in a file, so that a chatty process
never blocks on a full pipe and a failure can say what the process said).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path

from tests.helpers.testutils import SECRET

__all__ = ["AsyncServe", "SyncServe", "serve_argv", "serve_env", "serving", "serving_sync"]

LISTENING = re.compile(r"^listening on http://(?P<host>[^\s:/]+):(?P<port>\d+)$")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
_STDERR_TAIL = 6000


def serve_argv(
    command: str | None,
    args: Sequence[str],
    *,
    host: str | None,
    log_level: str | None,
    program: Sequence[str] | None,
) -> list[str]:
    """The command line: ``program [--log-level L] [command] [--host H --port 0] args``."""
    argv = list(program or [sys.executable, "-m", "wrencos_studio"])
    if log_level is not None:
        argv += ["--log-level", log_level]
    if command is not None:
        argv.append(command)
    if host is not None:
        argv += ["--host", host, "--port", "0"]
    return argv + list(args)


def serve_env(
    data_dir: Path | None, *, secret: str | None, env: Mapping[str, str | None] | None
) -> dict[str, str]:
    """The process environment: ours, with the data dir and JWT secret of the test.

    ``data_dir=None`` keeps the session's (deliberately unusable) ``WRENCOS_DATA_DIR``, for
    tests that pass ``--data-dir``; ``secret=None`` leaves the secret to the data dir's
    file; a ``None`` value in ``env`` removes that variable.
    """
    full = dict(os.environ)
    full["PYTHONUNBUFFERED"] = "1"
    if data_dir is not None:
        full["WRENCOS_DATA_DIR"] = str(data_dir)
    full.pop("WRENCOS_JWT_SECRET", None)
    if secret is not None:
        full["WRENCOS_JWT_SECRET"] = secret
    for name, value in (env or {}).items():
        if value is None:
            full.pop(name, None)
        else:
            full[name] = value
    return full


class _Serve:
    """What both flavours share: the address it listens on, its stderr, failure reports."""

    def __init__(self, argv: list[str], stderr_path: Path) -> None:
        self.argv = argv
        self.stderr_path = stderr_path
        self.host = ""
        self.port = 0

    @property
    def url(self) -> str:
        """The WebSocket base URL, ``ws://HOST:PORT`` (127.0.0.1 when it listens on all)."""
        return f"ws://{self._connect_host}:{self.port}"

    @property
    def http_url(self) -> str:
        """The HTTP base URL, ``http://HOST:PORT`` (no trailing slash)."""
        return f"http://{self._connect_host}:{self.port}"

    @property
    def _connect_host(self) -> str:
        return "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host

    def stderr(self) -> str:
        """Everything the process wrote to stderr so far."""
        return self.stderr_path.read_text(errors="replace")

    def _failure(self, what: str) -> AssertionError:
        tail = self.stderr()[-_STDERR_TAIL:]
        return AssertionError(
            f"`{' '.join(self.argv)}` {what}\n--- its stderr (last {_STDERR_TAIL} chars) ---\n"
            f"{tail}"
        )

    def _take_listening_line(self, line: str, expected_host: str | None) -> None:
        match = LISTENING.match(line.strip())
        if match is None:
            raise self._failure(
                f"printed {line.strip()!r} where 'listening on http://HOST:PORT' was expected"
            )
        if expected_host is not None and match["host"] != expected_host:
            raise self._failure(f"listens on {match['host']}, not {expected_host}")
        self.host = match["host"]
        self.port = int(match["port"])

    def _exit_failure(self, code: int, expected: int) -> AssertionError:
        return self._failure(f"exited with {code}, not {expected}")


class AsyncServe(_Serve):
    """A running process, for asyncio tests (see :func:`serving`)."""

    def __init__(self, proc: asyncio.subprocess.Process, argv: list[str], stderr: Path) -> None:
        super().__init__(argv, stderr)
        self.proc = proc

    async def readline(self, timeout: float = 10.0) -> str:
        """The next line on stdout, without its newline; a clear failure at EOF or timeout."""
        assert self.proc.stdout is not None
        try:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        except TimeoutError:
            raise self._failure(f"printed no line within {timeout} s") from None
        if not raw:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 5)
            raise self._failure(
                f"closed its stdout (exit code {self.proc.returncode}) before the line awaited"
            )
        return raw.decode().rstrip("\n")

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Send ``sig`` (if it still runs) and wait for its exit code."""
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            await self.kill()
            raise self._failure(f"did not exit within {timeout} s of signal {sig}") from None

    async def kill(self) -> None:
        """SIGKILL it (if it still runs) and reap it."""
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()


@contextlib.asynccontextmanager
async def serving(
    data_dir: Path | None,
    *args: str,
    command: str | None = "serve",
    host: str | None = "127.0.0.1",
    env: Mapping[str, str | None] | None = None,
    secret: str | None = SECRET,
    log_level: str | None = "WARNING",
    program: Sequence[str] | None = None,
    timeout: float = START_TIMEOUT,
    exit_code: int | None = 0,
) -> AsyncIterator[AsyncServe]:
    """Run ``wrencos-studio [command] --host HOST --port 0 *args`` until the block ends.

    Ready when its first stdout line is ``listening on http://HOST:PORT`` (within
    ``timeout`` s; otherwise an AssertionError with its stderr). ``host=None`` passes no
    ``--host``/``--port`` (the studio's own settings decide). When the block ends normally
    and the process still runs, it gets SIGTERM and must exit with ``exit_code`` (``None``:
    any); when the block raises, it is killed.
    """
    argv = serve_argv(command, args, host=host, log_level=log_level, program=program)
    fd, name = tempfile.mkstemp(prefix="wrencos-serve-", suffix=".stderr")
    stderr_path = Path(name)
    try:
        with os.fdopen(fd, "wb") as stderr_file:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr_file,
                env=serve_env(data_dir, secret=secret, env=env),
            )
        served = AsyncServe(proc, argv, stderr_path)
        try:
            served._take_listening_line(await served.readline(timeout), host)
            yield served
        except BaseException:
            await served.kill()
            raise
        if proc.returncode is None:
            code = await served.stop()
            if exit_code is not None and code != exit_code:
                raise served._exit_failure(code, exit_code)
    finally:
        stderr_path.unlink(missing_ok=True)


class SyncServe(_Serve):
    """A running process, for tests without an event loop of their own (see
    :func:`serving_sync`). A thread reads its stdout into a queue, so reads can time out."""

    def __init__(self, proc: subprocess.Popen[str], argv: list[str], stderr: Path) -> None:
        super().__init__(argv, stderr)
        self.proc = proc
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def readline(self, timeout: float = 10.0) -> str:
        """The next line on stdout, without its newline; a clear failure at EOF or timeout."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise self._failure(f"printed no line within {timeout} s") from None
        if line is None:
            self._lines.put(None)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
            raise self._failure(
                f"closed its stdout (exit code {self.proc.returncode}) before the line awaited"
            )
        return line.rstrip("\n")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Send ``sig`` (if it still runs) and wait for its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise self._failure(f"did not exit within {timeout} s of signal {sig}") from None

    def kill(self) -> None:
        """SIGKILL it (if it still runs) and reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@contextlib.contextmanager
def serving_sync(
    data_dir: Path | None,
    *args: str,
    command: str | None = "serve",
    host: str | None = "127.0.0.1",
    env: Mapping[str, str | None] | None = None,
    secret: str | None = SECRET,
    log_level: str | None = "WARNING",
    program: Sequence[str] | None = None,
    timeout: float = START_TIMEOUT,
    exit_code: int | None = 0,
) -> Iterator[SyncServe]:
    """:func:`serving` without asyncio: the same arguments, readiness and clean-up."""
    argv = serve_argv(command, args, host=host, log_level=log_level, program=program)
    fd, name = tempfile.mkstemp(prefix="wrencos-serve-", suffix=".stderr")
    stderr_path = Path(name)
    try:
        with os.fdopen(fd, "wb") as stderr_file:
            proc = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=stderr_file,
                env=serve_env(data_dir, secret=secret, env=env),
                text=True,
            )
        served = SyncServe(proc, argv, stderr_path)
        try:
            served._take_listening_line(served.readline(timeout), host)
            yield served
        except BaseException:
            served.kill()
            raise
        if proc.poll() is None:
            code = served.stop()
            if exit_code is not None and code != exit_code:
                raise served._exit_failure(code, exit_code)
    finally:
        stderr_path.unlink(missing_ok=True)
