"""Live chat: lines for everyone, the last ones kept for late joiners, deletion."""

from __future__ import annotations

import time

from wrencos_studio.clock import utc_now_iso
from wrencos_studio.hub import events as ev
from wrencos_studio.hub import protocol as p
from wrencos_studio.hub.broker import Snapshot
from wrencos_studio.hub.engine import (
    Client,
    Feature,
    Hub,
    Outgoing,
    StoreJob,
    applies,
    handles,
    replicates,
)
from wrencos_studio.hub.protocol import ProtocolError
from wrencos_studio.store import repositories as repo
from wrencos_studio.store.rows import ChatLine

__all__ = ["HISTORY_MAX_BYTES", "Chat"]

#: ``chat_history`` is one frame to a customer: at most 64 KiB (Trust rules, rule 6).
HISTORY_MAX_BYTES = 64 * 1024


class Chat(Feature):
    """``chat_message`` (muted, banned and slow mode refused) and ``delete_chat_message``."""

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub)
        self._history: Outgoing | None = None  # the chat_history every joiner gets

    def history_message(self) -> Outgoing:
        """``chat_history`` for a joining client: the newest lines that fit one 64 KiB
        frame (oldest dropped first). Made once until the history changes, so a crowd
        joining costs one encoding."""
        out = self._history
        if out is None:
            lines = list(self.hub.chat_history)
            out = Outgoing(p.ChatHistory(lines))
            while len(out.payload) > HISTORY_MAX_BYTES and lines:
                # Drop the oldest lines, about as many as the excess needs (at least one).
                excess = len(out.payload) - HISTORY_MAX_BYTES
                average = max(1, len(out.payload) // max(1, len(lines)))
                lines = lines[max(1, excess // average) :]
                out = Outgoing(p.ChatHistory(lines))
            self._history = out
        return out

    def forget_history(self) -> None:
        """The history changed outside this feature (a new or ended stream)."""
        self._history = None

    def load(self) -> None:
        hub = self.hub
        if hub.stream is not None:
            hub.chat_history.extend(
                hub.store.run_sync(
                    repo.recent_chat, hub.stream.stream_id, hub.settings.chat_history_limit
                )
            )

    async def join(self, snapshot: Snapshot | None) -> None:
        hub = self.hub
        if snapshot is None or hub.stream is None:
            return
        if snapshot.stream is not None:
            hub.chat_history.clear()
            hub.chat_history.extend(snapshot.chat)
            self._history = None
        else:
            for line in hub.chat_history:
                hub.broker.remember_chat(
                    hub.stream.stream_id, line, hub.settings.chat_history_limit
                )

    @handles(p.ChatMessage)
    async def chat_message(self, client: Client, msg: p.ChatMessage) -> None:
        hub = self.hub
        stream = hub.stream
        if stream is None:
            raise ProtocolError(p.ERR_NO_STREAM)
        is_admin = client.is_admin
        sender = client.public_id  # registered: the connection's identity, never the message's
        if not is_admin and sender is not None:
            if sender in stream.muted or sender in stream.banned:
                raise ProtocolError(p.ERR_MUTED)
            if stream.slow_mode_s:
                now = time.monotonic()
                wait = stream.last_chat.get(sender, -1e9) + stream.slow_mode_s - now
                if wait > 0:
                    hub.error(client, p.ERR_SLOW_MODE, round(wait, 1))
                    return
                stream.last_chat[sender] = now
        line = ChatLine(
            id=hub.new_id(),
            username=msg.username or ("Admin" if is_admin else "Guest"),
            message=msg.message,
            timestamp=utc_now_iso(),
            is_admin=is_admin,
            public_id=sender,
        )
        await hub.store.run(repo.add_chat_message, stream.stream_id, line)
        if hub.stream is not stream:
            raise ProtocolError(p.ERR_NO_STREAM)
        hub.broker.remember_chat(stream.stream_id, line, hub.settings.chat_history_limit)
        hub.emit(ev.ChatPosted(stream.stream_id, line))

    @replicates(ev.ChatPosted)
    def _copy(self, event: ev.ChatPosted) -> StoreJob:
        return (repo.add_chat_message, event.stream_id, event.line)

    @applies(ev.ChatPosted)
    def _posted(self, event: ev.ChatPosted) -> None:
        hub = self.hub
        if hub.stream is None or hub.stream.stream_id != event.stream_id:
            return
        hub.chat_history.append(event.line)
        self._history = None
        hub.broadcast(p.ChatPosted(event.line))
        if (timeline := timeline_of(hub)) is not None:
            timeline.chat(event.stream_id, event.line)

    @handles(p.DeleteChatMessage)
    async def delete_chat_message(self, client: Client, msg: p.DeleteChatMessage) -> None:
        hub = self.hub
        stream = hub.stream
        if stream is None:
            raise ProtocolError(p.ERR_NO_STREAM)
        await hub.store.run(repo.delete_chat_message, msg.id, utc_now_iso())
        hub.emit(ev.ChatDeleted(stream.stream_id, [msg.id]))

    @replicates(ev.ChatDeleted)
    def _copy_deleted(self, event: ev.ChatDeleted) -> StoreJob:
        return (repo.delete_chat_messages, event.ids)

    @applies(ev.ChatDeleted)
    def _deleted(self, event: ev.ChatDeleted) -> None:
        self.remove(event.stream_id, event.ids)

    def remove(self, stream_id: str, ids: list[str]) -> None:
        """Take lines out of the history and tell everyone (a deletion or a ban)."""
        hub = self.hub
        if hub.stream is None or hub.stream.stream_id != stream_id:
            return
        gone = set(ids)
        kept = [line for line in hub.chat_history if line.id not in gone]
        hub.chat_history.clear()
        hub.chat_history.extend(kept)
        self._history = None
        for message_id in ids:
            hub.broadcast(p.ChatMessageDeleted(message_id))


from wrencos_studio.hub.features.timeline import timeline_of  # noqa: E402
