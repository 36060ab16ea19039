"""Listening sockets that survive the process running out of file descriptors.

asyncio's accept loop (``selector_events._accept_connection``) meets ``EMFILE`` by
logging a traceback, pausing the listener for a second — and then carrying on with
the same pass, up to ``backlog`` times: with a backlog of 2048 that is thousands of
tracebacks a second (tens of megabytes of log) while the waiting connections are
neither served nor refused. Here the listening socket handles it before asyncio sees
it: it keeps one spare descriptor, and when ``accept()`` finds none left it frees the
spare, accepts each waiting connection and closes it at once (the client sees the
connection closed — refused, not left hanging), takes the spare back, and tells
asyncio the queue is empty. Open connections are not disturbed, and the condition is
logged at most once a second.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import sys
import time
from typing import Any

__all__ = [
    "DescriptorGuard",
    "GuardedListener",
    "QuietAcceptErrors",
    "open_listeners",
    "watch_descriptors",
]

log = logging.getLogger(__name__)

_OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE})
#: How many waiting connections one ``accept()`` may turn away (the rest wait a tick).
_TURN_AWAY_BATCH = 512
_LOG_INTERVAL_S = 1.0
_ASYNCIO_ACCEPT_MESSAGE = "socket.accept() out of system resource"


class DescriptorGuard:
    """The spare descriptor and the record of turned-away connections, shared by every
    listener of one server; used on the event loop's thread only."""

    def __init__(self) -> None:
        self._spare: int | None = _open_spare()
        self._next_log = 0.0
        #: Connections turned away since descriptors ran out (reset when they are back).
        self.refused = 0
        self.exhausted = False

    def close(self) -> None:
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None

    def turn_away(self, listener: socket.socket) -> bool:
        """Out of descriptors: close every waiting connection of ``listener``. False when
        there is no spare to spend (asyncio's own retry in a second takes over)."""
        if self._spare is None:
            self._spare = _open_spare()
            if self._spare is None:
                self._note(0)
                return False
        os.close(self._spare)
        self._spare = None
        refused = 0
        stuck = False
        try:
            while refused < _TURN_AWAY_BATCH:
                try:
                    conn, _address = socket.socket.accept(listener)
                except (BlockingIOError, InterruptedError):
                    break
                except ConnectionAbortedError:
                    continue
                except OSError:
                    # Still no descriptor (ENFILE: another process took it): the socket
                    # stays readable, so leave it to asyncio's pause rather than spin.
                    stuck = refused == 0
                    break
                conn.close()
                refused += 1
        finally:
            self._spare = _open_spare()
        self._note(refused)
        return not stuck

    def accepted(self) -> None:
        """A connection was accepted: say so once if we were turning them away."""
        if self.exhausted and self.may_log():
            self.exhausted = False
            log.warning(
                "file descriptors available again: accepting connections (%d refused)",
                self.refused,
            )
            self.refused = 0

    def may_log(self) -> bool:
        """True at most once a second: the one gate for every message about this."""
        now = time.monotonic()
        if now < self._next_log:
            return False
        self._next_log = now + _LOG_INTERVAL_S
        return True

    def _note(self, refused: int) -> None:
        self.exhausted = True
        self.refused += refused
        if self.may_log():
            log.warning(
                "out of file descriptors (limit %s): refusing new connections (%d so far); "
                "open ones are still served",
                _descriptor_limit(),
                self.refused,
            )


class GuardedListener(socket.socket):
    """A listening TCP socket whose ``accept()`` turns connections away (see the module
    docstring) instead of raising ``EMFILE``/``ENFILE`` into asyncio's accept loop."""

    def __init__(self, family: int, proto: int, guard: DescriptorGuard) -> None:
        super().__init__(family, socket.SOCK_STREAM, proto)
        self.guard = guard

    def accept(self) -> tuple[socket.socket, Any]:
        try:
            pair = super().accept()
        except OSError as exc:
            if exc.errno not in _OUT_OF_DESCRIPTORS or not self.guard.turn_away(self):
                raise
            # asyncio ends its accept pass on BlockingIOError and keeps watching the
            # socket: a connection that arrives meanwhile is turned away on the next tick.
            raise BlockingIOError(errno.EAGAIN, "connections turned away") from None
        if self.guard.exhausted:
            self.guard.accepted()
        return pair


class QuietAcceptErrors(logging.Filter):
    """On the ``asyncio`` logger: when asyncio does meet ``EMFILE`` (no spare descriptor
    could be had), its message passes at most once a second, as one line."""

    def __init__(self, guard: DescriptorGuard) -> None:
        super().__init__()
        self.guard = guard

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(_ASYNCIO_ACCEPT_MESSAGE):
            return True
        if not self.guard.may_log():
            return False
        record.msg = f"{_ASYNCIO_ACCEPT_MESSAGE} (out of file descriptors?); retrying in 1 s"
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        return True


def open_listeners(
    host: str | None, port: int, guard: DescriptorGuard, backlog: int
) -> list[GuardedListener]:
    """Bound, listening sockets for ``host`` as ``loop.create_server`` would make them
    (every address ``host`` resolves to, ``""``/None: all interfaces); with ``port`` 0
    they share the port the first one got."""
    infos = socket.getaddrinfo(
        host or None,
        port,
        family=socket.AF_UNSPEC,
        type=socket.SOCK_STREAM,
        flags=socket.AI_PASSIVE,
    )
    listeners: list[GuardedListener] = []
    try:
        seen: set[tuple[int, Any]] = set()
        for family, _type, proto, _name, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = GuardedListener(family, proto, guard)
            listeners.append(sock)
            if os.name == "posix" and sys.platform != "cygwin":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(listeners) > 1:
                address = (address[0], listeners[0].getsockname()[1], *address[2:])
            try:
                sock.bind(address)
            except OSError as exc:
                raise OSError(
                    exc.errno,
                    f"error while attempting to bind on address {address!r}: "
                    f"{(exc.strerror or str(exc)).lower()}",
                ) from None
            sock.listen(backlog)
            sock.setblocking(False)
    except BaseException:
        for sock in listeners:
            sock.close()
        raise
    if not listeners:
        raise OSError(f"getaddrinfo({host!r}) returned no address")
    return listeners


async def watch_descriptors(guard: DescriptorGuard, interval_s: float = 0.5) -> None:
    """For event loops that accept in C (uvloop: libuv keeps its own spare descriptor and
    closes connections it cannot take, silently, and never calls our ``accept()``): notice
    the process running out by trying to open one descriptor every ``interval_s``, and log
    it through ``guard`` — at most once a second — and when descriptors are back."""
    import asyncio

    while True:
        await asyncio.sleep(interval_s)
        probe = _open_spare()
        if probe is None:
            guard._note(0)
        else:
            os.close(probe)
            if guard.exhausted:
                guard.accepted()


def _open_spare() -> int | None:
    try:
        return os.open(os.devnull, os.O_RDONLY)
    except OSError:
        return None


def _descriptor_limit() -> str:
    try:
        import resource
    except ImportError:  # Windows
        return "unknown"
    return str(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
