"""Moderation of the live chat: mute, ban (and take their lines away), slow mode."""

from __future__ import annotations

from wrencos_studio.clock import utc_now_iso
from wrencos_studio.codec import to_json
from wrencos_studio.hub import events as ev
from wrencos_studio.hub import protocol as p
from wrencos_studio.hub.engine import Client, Feature, StoreJob, applies, handles, replicates
from wrencos_studio.hub.protocol import ProtocolError
from wrencos_studio.store import repositories as repo

__all__ = ["Moderation"]


def _meta_key(stream_id: str) -> str:
    return f"moderation:{stream_id}"


class Moderation(Feature):
    """``moderate_customer`` and ``set_slow_mode``, for the live stream, by publicId."""

    def load(self) -> None:
        stream = self.hub.stream
        if stream is None:
            return
        saved = self.hub.store.run_sync(repo.get_meta_json, _meta_key(stream.stream_id)) or {}
        stream.muted = set(saved.get("muted", []))
        stream.banned = set(saved.get("banned", []))
        stream.slow_mode_s = int(saved.get("slowModeSeconds", 0))

    @handles(p.ModerateCustomer)
    async def moderate_customer(self, client: Client, msg: p.ModerateCustomer) -> None:
        hub = self.hub
        stream = hub.stream
        if stream is None:
            raise ProtocolError(p.ERR_NO_STREAM)
        muted, banned = set(stream.muted), set(stream.banned)
        muted.discard(msg.public_id)
        banned.discard(msg.public_id)
        if msg.action == "mute":
            muted.add(msg.public_id)
        elif msg.action == "ban":
            banned.add(msg.public_id)
        state = ev.ModerationState(sorted(muted), sorted(banned), stream.slow_mode_s)
        await hub.store.run(*_save_job(stream.stream_id, state))
        removed: list[str] = []
        if msg.action == "ban":
            at = utc_now_iso()
            await hub.store.run(repo.delete_chat_by_sender, stream.stream_id, msg.public_id, at)
            removed = [line.id for line in hub.chat_history if line.public_id == msg.public_id]
        hub.emit(ev.ModerationChanged(stream.stream_id, state, msg.public_id, msg.action, removed))

    @handles(p.SetSlowMode)
    async def set_slow_mode(self, client: Client, msg: p.SetSlowMode) -> None:
        hub = self.hub
        stream = hub.stream
        if stream is None:
            raise ProtocolError(p.ERR_NO_STREAM)
        state = ev.ModerationState(sorted(stream.muted), sorted(stream.banned), int(msg.seconds))
        await hub.store.run(*_save_job(stream.stream_id, state))
        hub.emit(ev.ModerationChanged(stream.stream_id, state, None, "slow_mode", []))

    @replicates(ev.ModerationChanged)
    def _copy(self, event: ev.ModerationChanged) -> StoreJob:
        return _save_job(event.stream_id, event.state)

    @applies(ev.ModerationChanged)
    def _changed(self, event: ev.ModerationChanged) -> None:
        hub = self.hub
        stream = hub.stream
        if stream is None or stream.stream_id != event.stream_id:
            return
        state = event.state
        slow_changed = state.slow_mode_seconds != stream.slow_mode_s
        stream.muted = set(state.muted)
        stream.banned = set(state.banned)
        stream.slow_mode_s = state.slow_mode_seconds
        if event.removed:
            hub.feature(Chat).remove(stream.stream_id, event.removed)
        if slow_changed:
            hub.broadcast(p.ChatSettings(stream.slow_mode_s))
        hub.broadcast(
            p.ModerationUpdated(
                muted=state.muted,
                banned=state.banned,
                slow_mode_seconds=state.slow_mode_seconds,
                public_id=event.public_id,
                action=event.action,
            ),
            to=hub.admins,
        )


def _save_job(stream_id: str, state: ev.ModerationState) -> StoreJob:
    # Kept in the meta table in the wire's shape (camelCase), as earlier versions did.
    return (repo.set_meta_json, _meta_key(stream_id), to_json(state))


from wrencos_studio.hub.features.chat import Chat  # noqa: E402
