"""The first moments of an LL-HLS show, on demand, for page tests: a Playwright route in
front of the studio's (or a CDN's) playlists that answers the first requests the way they
are answered right after Go Live — the multivariant playlist 404 (nothing live yet), then
media playlists with parts but no whole segment yet (``media/hls.py`` before its first
segment is complete; hls.js calls that an empty level, ``levelEmptyError``) — and lets every
later request through untouched. What the page gets is the real playlist of a real studio,
cut down (:func:`parts_only`), so the condition that made hls.js give up once in CI at the
start of a show is met every time instead of by chance.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

__all__ = ["ShowStart", "parts_only"]

_HINT_MSN = re.compile(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="s(\d+)\.p\d+\.m4s"')


def parts_only(playlist: str) -> str:
    """``playlist`` (a studio media playlist, RFC 8216bis with LL-HLS tags) as it reads
    before the segment in progress is complete: its header (``EXT-X-MEDIA-SEQUENCE`` set to
    that segment's number), that segment's ``EXT-X-PART`` lines and the preload hint; no
    ``EXTINF`` (no whole segment). Raises ValueError for a playlist without a preload hint
    (an ended stream)."""
    lines = playlist.splitlines()
    hint = next((line for line in lines if _HINT_MSN.match(line)), None)
    if hint is None:
        raise ValueError("no EXT-X-PRELOAD-HINT: not a live studio playlist")
    msn = int(_HINT_MSN.match(hint)[1])  # type: ignore[index]
    head: list[str] = []
    for line in lines:
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME"):
            break
        head.append(re.sub(r"^#EXT-X-MEDIA-SEQUENCE:\d+$", f"#EXT-X-MEDIA-SEQUENCE:{msn}", line))
    dates = [line for line in lines if line.startswith("#EXT-X-PROGRAM-DATE-TIME")]
    parts = [line for line in lines if line.startswith("#EXT-X-PART:") and f'URI="s{msn}.' in line]
    return "\n".join(head + dates[-1:] + parts + [hint]) + "\n"


class ShowStart:
    """A Playwright route handler: the first ``not_found`` requests for the multivariant
    playlist (``.../live/index.m3u8``) are answered 404, the first ``parts_only`` media
    playlist requests with :func:`parts_only` of what the server answered; everything else
    goes through as is. :attr:`served` lists ``(path, "404" | "parts-only" | "as is")`` for
    every playlist request, in order. 404s carry ``Access-Control-Allow-Origin: *`` as a CDN
    configured for a page on another origin does."""

    def __init__(self, *, not_found: int = 1, parts_only: int = 2) -> None:
        self.not_found = not_found
        self.parts_only = parts_only
        self.served: list[tuple[str, str]] = []

    async def install(self, target: Any, url_glob: str) -> None:
        """Route ``url_glob`` (e.g. ``"**/live/**"``) of ``target`` (a Page or a
        BrowserContext) through this handler."""
        await target.route(url_glob, self.handle)

    async def handle(self, route: Any) -> None:
        path = urlsplit(route.request.url).path
        if not path.endswith(".m3u8"):
            await route.continue_()
            return
        multivariant = re.search(r"/live/index\.m3u8$", path) is not None
        if multivariant and self.not_found > 0:
            self.not_found -= 1
            self.served.append((path, "404"))
            await route.fulfill(
                status=404,
                body="Nothing is live\n",
                headers={
                    "Content-Type": "text/plain; charset=utf-8",
                    "Cache-Control": "no-cache",
                    "Access-Control-Allow-Origin": "*",
                },
            )
            return
        if not multivariant and self.parts_only > 0:
            response = await route.fetch()
            if response.status == 200:
                self.parts_only -= 1
                self.served.append((path, "parts-only"))
                await route.fulfill(response=response, body=parts_only(await response.text()))
                return
            await route.fulfill(response=response)
            self.served.append((path, f"as is ({response.status})"))
            return
        self.served.append((path, "as is"))
        await route.continue_()
