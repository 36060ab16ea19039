"""Shared pytest fixtures beyond the in-process `hub` (tests/conftest.py): a real redis-server
for the cluster tests, flushed for each test."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.helpers.testutils import free_port

__all__ = ["flush_redis", "redis_server", "redis_url"]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on 127.0.0.1 (no persistence) for the whole session; its URL."""
    exe = shutil.which("redis-server")
    assert exe, "redis-server is needed for the cluster tests (apt-get install redis-server)"
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            exe,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_for_redis(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for_redis(url: str, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Until the server answers PING; a clear failure (with its stderr) if it never does."""
    import redis

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise AssertionError(f"redis-server exited with {proc.returncode}: {err}")
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=1)
            try:
                if client.ping():
                    return
            finally:
                client.close()
        except redis.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"redis-server did not answer PING at {url} within {timeout} s")
        time.sleep(0.05)


@pytest.fixture
async def redis_url(redis_server: str) -> AsyncIterator[str]:
    """The session's Redis URL, its database flushed first: each test starts with no
    cluster state left by another."""
    await flush_redis(redis_server)
    yield redis_server


async def flush_redis(url: str) -> None:
    """Empty the Redis database at ``url``."""
    import redis.asyncio as redis

    client = redis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
