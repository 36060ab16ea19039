"""Likes: one per customer identity per stream, toggled; the likers in like order."""

from __future__ import annotations

from wrencos_studio.clock import utc_now_iso
from wrencos_studio.hub import events as ev
from wrencos_studio.hub import protocol as p
from wrencos_studio.hub.broker import Snapshot
from wrencos_studio.hub.engine import Client, Feature, StoreJob, applies, handles, replicates
from wrencos_studio.hub.protocol import ProtocolError
from wrencos_studio.store import repositories as repo

__all__ = ["Likes"]


class Likes(Feature):
    """``toggle_like``: the connection's identity likes or unlikes the live stream."""

    async def join(self, snapshot: Snapshot | None) -> None:
        hub = self.hub
        if snapshot is None or hub.stream is None:
            return
        if snapshot.stream is not None:
            hub.stream.liked_by = dict.fromkeys(snapshot.likers)
        else:
            for public_id in hub.stream.liked_by:
                hub.broker.remember_like(hub.stream.stream_id, public_id, True)

    @handles(p.ToggleLike)
    async def toggle_like(self, client: Client, msg: p.ToggleLike) -> None:
        hub = self.hub
        stream = hub.stream
        if stream is None:
            raise ProtocolError(p.ERR_NO_STREAM)
        # The registered connection's identity; a sessionId in the message is ignored.
        identity = client.like_identity
        if identity is None:
            raise ProtocolError(p.ERR_NOT_REGISTERED)
        public_id = hub.public_id(identity)
        if public_id in stream.banned:
            raise ProtocolError(p.ERR_NOT_AUTHORIZED)
        liked = public_id not in stream.liked_by
        at = utc_now_iso()
        await hub.store.run(repo.set_like, stream.stream_id, public_id, liked, at)
        if hub.stream is not stream:
            raise ProtocolError(p.ERR_NO_STREAM)
        hub.broker.remember_like(stream.stream_id, public_id, liked)
        hub.emit(ev.LikeChanged(stream.stream_id, public_id, liked, at))

    @replicates(ev.LikeChanged)
    def _copy(self, event: ev.LikeChanged) -> StoreJob:
        return (repo.set_like, event.stream_id, event.public_id, event.liked, event.at)

    @applies(ev.LikeChanged)
    def _changed(self, event: ev.LikeChanged) -> None:
        stream = self.hub.stream
        if stream is None or stream.stream_id != event.stream_id:
            return
        if event.liked:
            stream.liked_by[event.public_id] = None
        else:
            stream.liked_by.pop(event.public_id, None)
        self.hub.feature(Stream).send_update()
        if (timeline := timeline_of(self.hub)) is not None:
            timeline.like(event.stream_id, event.public_id, event.liked)


from wrencos_studio.hub.features.stream import Stream  # noqa: E402
from wrencos_studio.hub.features.timeline import timeline_of  # noqa: E402
