"""The program's own event loop on its own thread, for the studio window (issue 9).

The window runs on qasync: Qt's event loop drives asyncio there, and every socket is a
``QSocketNotifier`` that Qt's dispatcher ``poll()``\\ s on every pass, with qasync's own
cost per callback on top, and painting in between. A hub serving hundreds of customers
from that loop paid for all three (the benchmark measured the studio at twice ``serve``'s
CPU and 1.7x its p99 at 500 customers). So the studio runs the program — hub, server,
store client, broadcaster — on a :class:`LoopThread` exactly as ``serve`` runs it (uvloop
where installed, asyncio's epoll loop otherwise or with ``WRENCOS_EVENT_LOOP=asyncio``),
while the window stays on qasync in the GUI thread. Qt releases the GIL while it lays out and
paints, so a repaint no longer delays a broadcast.

The two meet in few places, all explicit: the window's coroutines that need the program
``await loop_thread.run(coro)`` (the coroutine runs on the program's loop, the caller
awaits on its own); the hub hands the window's messages to the GUI loop
(``LocalConnection(receiver_loop=…)``); capture threads signal Qt as before.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread", "new_program_loop"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def new_program_loop() -> asyncio.AbstractEventLoop:
    """A new event loop for the program: uvloop's where it is installed (as ``serve``
    uses, ``app.run_blocking``: its sockets and callbacks cost less per message), else
    asyncio's own; ``WRENCOS_EVENT_LOOP=asyncio`` forces asyncio's."""
    if os.environ.get("WRENCOS_EVENT_LOOP", "").lower() != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class LoopThread:
    """An event loop running forever on its own (daemon) thread until :meth:`stop`.

    ``start()`` returns once the loop runs. ``submit(coro)`` schedules a coroutine there
    from any thread (a ``concurrent.futures.Future``); ``await run(coro)`` does the same
    from a coroutine on *another* loop and returns its result or raises its exception;
    ``call_soon(fn, *args)`` runs a plain function there. Not re-startable."""

    def __init__(self, name: str = "wrencos-program") -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> asyncio.AbstractEventLoop:
        """Start the thread and its loop; returns the loop (running)."""
        if self._thread is not None:
            raise RuntimeError("LoopThread already started")
        self.loop = new_program_loop()
        self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self._thread.start()
        self._ready.wait()
        return self.loop

    def _main(self) -> None:
        assert self.loop is not None
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        try:
            self.loop.run_forever()
        finally:
            try:
                # What is left (a task still closing) gets one chance to finish.
                pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            except Exception:  # closing must finish whatever a task did
                log.exception("closing the program's event loop")
            finally:
                self.loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on this loop (from any thread). Raises RuntimeError when stopped."""
        if self.loop is None or not self.running:
            coro.close()
            raise RuntimeError("the program's event loop is not running")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` run on this loop, from a coroutine on another loop. Cancelling
        the caller cancels ``coro`` too."""
        return await asyncio.wrap_future(self.submit(coro))

    async def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` called on this loop's thread, awaited from another loop."""

        async def call() -> T:
            return fn()

        return await self.run(call())

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on this loop's thread soon; nothing when it is stopped."""
        if self.loop is not None and self.running:
            with contextlib.suppress(RuntimeError):  # closed between the check and here
                self.loop.call_soon_threadsafe(fn, *args)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop (tasks still running are cancelled) and wait for the thread."""
        if self._thread is None:
            return
        if self.loop is not None:
            self.call_soon(self.loop.stop)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("the program's event loop did not stop within %.0f s", timeout)
