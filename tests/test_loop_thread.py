"""The studio's program loop on its own thread (issue 9): coroutines cross between the
window's loop and the program's, and the window's in-process connection gets every
message of a busy hub, in order, on the window's own thread."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.helpers.testutils import SECRET, token
from wrencos_studio.app import App
from wrencos_studio.config import Settings
from wrencos_studio.hub import protocol as p
from wrencos_studio.loop_thread import LoopThread


@pytest.fixture
def program() -> Any:
    thread = LoopThread("test-program")
    thread.start()
    yield thread
    thread.stop()


async def test_run_returns_results_and_raises_errors_across_loops(program: LoopThread) -> None:
    here = threading.get_ident()

    async def where() -> int:
        await asyncio.sleep(0)
        return threading.get_ident()

    there = await program.run(where())
    assert there != here and there == program._thread.ident  # type: ignore[union-attr]

    async def fails() -> None:
        raise ValueError("bad input said in words")

    with pytest.raises(ValueError, match="bad input said in words"):
        await program.run(fails())
    assert await program.call(lambda: threading.current_thread().name) == "test-program"


async def test_cancelling_the_caller_cancels_the_coroutine_on_the_program(
    program: LoopThread,
) -> None:
    started, cancelled = threading.Event(), threading.Event()

    async def long() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = asyncio.ensure_future(program.run(long()))
    await asyncio.to_thread(started.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(cancelled.wait, 5)


def test_a_stopped_program_refuses_work_in_words() -> None:
    thread = LoopThread()
    thread.start()
    thread.stop()
    assert not thread.running

    async def nothing() -> None:
        return None

    with pytest.raises(RuntimeError, match="not running"):
        thread.submit(nothing())
    thread.call_soon(print, "never")  # a no-op, not an error, once stopped


async def test_the_windows_connection_gets_every_message_in_order_on_its_own_thread(
    program: LoopThread, tmp_path: Path
) -> None:
    """A hub on the program's thread, 20 customers chatting; the in-process admin
    connection with ``receiver_loop`` (this test's loop, as the window's) receives every
    chat line once, in the order the hub sent them, on this thread only."""
    settings = Settings.from_env(
        host="127.0.0.1", port=0, data_dir=tmp_path / "data", jwt_secret=SECRET
    )
    app = App(settings)
    await program.run(app.start())
    window_loop = asyncio.get_running_loop()
    window_thread = threading.get_ident()
    got: list[str] = []
    threads: set[int] = set()

    def on_message(msg: p.OutboundMessage) -> None:
        threads.add(threading.get_ident())
        if isinstance(msg, p.ChatPosted):
            got.append(msg.line.message)

    connection = await program.call(
        lambda: app.connect_local(on_message, "window", receiver_loop=window_loop)
    )
    try:
        await program.run(connection.register_admin("studio"))
        await program.run(connection.request({"type": "start_stream", "title": "Busy"}))
        assert app.server is not None
        url = f"ws://127.0.0.1:{app.server.port}"
        admin = await connect(url)
        await admin.send(json.dumps({"type": "register_admin", "token": token("ops")}))
        customers = []
        for n in range(20):
            # Customers read nothing here: an unbounded queue keeps their close prompt.
            ws = await connect(url, max_queue=None)
            await ws.send(json.dumps({"type": "register", "sessionId": f"c{n}"}))
            customers.append(ws)
        sent = [f"line {n} from {c}" for n in range(5) for c in range(20)]
        # Each customer sends its own lines in order; the hub's order is what the
        # separate admin WebSocket sees.
        for n in range(5):
            for c, ws in enumerate(customers):
                await ws.send(
                    json.dumps(
                        {"type": "chat_message", "username": f"C{c}", "message": sent[n * 20 + c]}
                    )
                )
            await asyncio.sleep(1.1)  # under the contract's per-connection chat limit
        hub_order: list[str] = []
        while len(hub_order) < len(sent):
            msg = json.loads(await asyncio.wait_for(admin.recv(), 10))
            if msg["type"] == "chat_message":
                hub_order.append(msg["message"])
        for _ in range(100):
            if len(got) >= len(sent):
                break
            await asyncio.sleep(0.05)
        assert got == hub_order
        assert sorted(got) == sorted(sent)
        assert threads == {window_thread}
        for ws in [*customers, admin]:
            await ws.close()
    finally:
        connection.detach()
        program.call_soon(connection.close)
        await program.run(app.stop())
