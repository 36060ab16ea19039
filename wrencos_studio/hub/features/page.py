"""What a page or station asks around the stream: keepalive, stream info, media figures."""

from __future__ import annotations

from wrencos_studio.hub import protocol as p
from wrencos_studio.hub.engine import Client, Feature, handles
from wrencos_studio.store import repositories as repo

__all__ = ["Page"]


class Page(Feature):
    """``ping``, ``get_stream_info``, ``set_next_stream`` and ``get_media_stats``."""

    @handles(p.Ping)
    async def ping(self, client: Client, msg: p.Ping) -> None:
        self.hub.send(client, p.Pong())

    @handles(p.GetStreamInfo)
    async def get_stream_info(self, client: Client, msg: p.GetStreamInfo) -> None:
        hub = self.hub
        last = await hub.store.run(repo.last_ended_stream)
        upcoming = await hub.store.run(repo.get_meta_json, "next_stream")
        stream = hub.stream
        hub.send(
            client,
            p.StreamInfo(
                live=stream is not None,
                title=stream.title if stream is not None else None,
                last_stream=None
                if last is None
                else {"title": last.title, "endedAt": last.ended_at},
                next_stream=upcoming,
                shop_url_pattern=hub.settings.shop_url_pattern,
                public_hls_url=hub.settings.public_hls_url,
                whep_url=hub.settings.whep_url,
            ),
        )

    @handles(p.SetNextStream)
    async def set_next_stream(self, client: Client, msg: p.SetNextStream) -> None:
        value = {"title": msg.title, "startsAt": msg.starts_at} if msg.title else None
        await self.hub.store.run(repo.set_meta_json, "next_stream", value)
        self.hub.send(client, p.NextStreamSet(value))

    @handles(p.GetMediaStats)
    async def get_media_stats(self, client: Client, msg: p.GetMediaStats) -> None:
        media = self.hub.media
        stats = media.stats() if media is not None else {"source": "none"}
        self.hub.send(client, p.MediaStats(stats))
