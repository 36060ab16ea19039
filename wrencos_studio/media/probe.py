"""A headless viewer for tests and benchmarks: joins like a customer's browser (the seed's
signalling), receives the WebRTC stream with aiortc, and reports frames, frame rate,
time to first frame and glass-to-glass latency read from the test source's stamps.

    python -m wrencos_studio.media.probe ws://127.0.0.1:3000 --seconds 5 [--viewers N]

prints one JSON object per viewer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import struct
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from websockets.asyncio.client import connect

from wrencos_studio.media.testsrc import read_stamp, stamp_age_ms

__all__ = ["watch", "watch_fallback", "watch_fmp4"]


def _percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)


async def watch(
    url: str, seconds: float, decode_every: int = 1, origin: str | None = None
) -> dict[str, Any]:
    """Watch for ``seconds`` after the first frame; return what was received."""
    t0 = time.monotonic()
    peer_id = f"probe-{secrets.token_hex(4)}"
    result: dict[str, Any] = {
        "peerId": peer_id,
        "frames": 0,
        "audioFrames": 0,
        "stamped": 0,
        "firstFrameMs": None,
    }
    latencies: list[float] = []
    first_frame = asyncio.get_running_loop().create_future()
    pc = RTCPeerConnection()
    tasks: list[asyncio.Task[None]] = []

    async def read_video(track: Any) -> None:
        try:
            while True:
                frame = await track.recv()
                result["frames"] += 1
                if result["frames"] % decode_every == 0:
                    stamp = read_stamp(frame)
                    if stamp is not None:
                        result["stamped"] += 1
                        latencies.append(stamp_age_ms(stamp))
                if not first_frame.done():
                    first_frame.set_result(time.monotonic())
        except MediaStreamError:
            pass

    async def read_audio(track: Any) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                result["audioFrames"] += 1

    @pc.on("track")
    def on_track(track: Any) -> None:
        reader = read_video if track.kind == "video" else read_audio
        tasks.append(asyncio.ensure_future(reader(track)))

    async with connect(url, origin=origin, max_size=2**20) as ws:  # type: ignore[arg-type]
        await ws.send(json.dumps({"type": "register", "sessionId": f"s-{peer_id}"}))
        await ws.send(
            json.dumps({"type": "webrtc_register", "peerId": peer_id, "userType": "customer"})
        )

        async def signalling() -> None:
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("type") == "webrtc_offer":
                    await pc.setRemoteDescription(RTCSessionDescription(**msg["offer"]))
                    await pc.setLocalDescription(await pc.createAnswer())
                    await ws.send(
                        json.dumps(
                            {
                                "type": "webrtc_answer",
                                "to": msg["from"],
                                "answer": {"type": "answer", "sdp": pc.localDescription.sdp},
                            }
                        )
                    )

        sig = asyncio.ensure_future(signalling())
        try:
            started = await asyncio.wait_for(first_frame, 30)
            result["firstFrameMs"] = round((started - t0) * 1000, 1)
            frames_at_first = result["frames"]
            await asyncio.sleep(seconds)
            result["fps"] = round((result["frames"] - frames_at_first) / seconds, 1)
        except TimeoutError:
            result["error"] = "no video within 30 s"
        finally:
            sig.cancel()
            for t in tasks:
                t.cancel()
            await pc.close()
    result["latencyP50Ms"] = _percentile(latencies, 0.5)
    result["latencyP95Ms"] = _percentile(latencies, 0.95)
    return result


class _Tally:
    """One WebSocket watch's figures (``result``): decoded frames, capture stamps, the time
    to the first frame and the frame rate over the ``seconds`` after it."""

    def __init__(self, transport: str, seconds: float, **extra: int) -> None:
        self.result: dict[str, Any] = {
            "transport": transport,
            "frames": 0,
            "audioFrames": 0,
            "stamped": 0,
            "firstFrameMs": None,
            **extra,
        }
        self.seconds = seconds
        self.t0 = time.monotonic()
        self.latencies: list[float] = []
        self.first: float | None = None
        self.frames_at_first = 0

    def frame(self, frame: Any) -> None:
        """A decoded video frame (its stamp read, the first one timed)."""
        result = self.result
        result["frames"] += 1
        stamp = read_stamp(frame)
        if stamp is not None:
            result["stamped"] += 1
            self.latencies.append(stamp_age_ms(stamp))
        if self.first is None:
            self.first = time.monotonic()
            result["firstFrameMs"] = round((self.first - self.t0) * 1000, 1)
            self.frames_at_first = result["frames"]

    async def messages(self, ws: Any) -> AsyncIterator[Any]:
        """``ws``'s messages until ``seconds`` after the first frame; none for 30 s before
        one: ``result["error"]``."""
        while True:
            if self.first is None:
                timeout = 30.0
            else:
                timeout = self.first + self.seconds - time.monotonic()
                if timeout <= 0:
                    return
            try:
                data = await asyncio.wait_for(ws.recv(), timeout)
            except TimeoutError:
                if self.first is None:
                    self.result["error"] = "no video within 30 s"
                return
            yield data

    def finish(self) -> dict[str, Any]:
        result = self.result
        if self.first is not None:
            result["fps"] = round((result["frames"] - self.frames_at_first) / self.seconds, 1)
        result["latencyP50Ms"] = _percentile(self.latencies, 0.5)
        result["latencyP95Ms"] = _percentile(self.latencies, 0.95)
        return result


async def watch_fallback(url: str, seconds: float) -> dict[str, Any]:
    """The same measurement over the WebSocket fallback (``/media``), decoding with PyAV."""
    import av

    from wrencos_studio.media.fallback import KIND_AUDIO

    base = url.rstrip("/")
    tally = _Tally("fallback", seconds)
    decoder = av.CodecContext.create("h264", "r")
    async with connect(base + "/media", max_size=None) as ws:
        tally.result["init"] = json.loads(await asyncio.wait_for(ws.recv(), 15))
        async for data in tally.messages(ws):
            if not isinstance(data, bytes) or len(data) < 9:
                continue
            if data[0] == KIND_AUDIO:
                tally.result["audioFrames"] += 1
                continue
            for frame in decoder.decode(av.Packet(data[9:])):
                tally.frame(frame)
    return tally.finish()


def _boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    """The top-level MP4 boxes of ``data`` as (type, body); ``ValueError`` if cut short."""
    out = []
    i = 0
    while i + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        if size < 8 or i + size > len(data):
            raise ValueError(f"box {kind!r} at {i} runs past the message")
        out.append((kind, data[i + 8 : i + size]))
        i += size
    if i != len(data):
        raise ValueError("bytes left after the last box")
    return out


def _child(body: bytes, kind: bytes) -> bytes | None:
    for k, b in _boxes(body):
        if k == kind:
            return b
    return None


async def watch_fmp4(url: str, seconds: float) -> dict[str, Any]:
    """The same measurement over the Media Source rung (``/media?f=fmp4``): each message's
    boxes are taken apart here (init: the ``avcC``; fragments: ``tfhd`` track, ``tfdt``,
    the ``mdat`` sample) and the video decoded with PyAV, as a browser's MSE would."""
    import av

    base = url.rstrip("/")
    tally = _Tally("fmp4", seconds, inits=0, backwards=0)
    result = tally.result
    decoder: Any = None
    last_time = {1: -1, 2: -1}
    async with connect(base + "/media?f=fmp4", max_size=None) as ws:
        result["init"] = json.loads(await asyncio.wait_for(ws.recv(), 15))
        async for data in tally.messages(ws):
            if not isinstance(data, bytes):
                continue
            track = 0
            for kind, body in _boxes(data):
                if kind == b"moov":
                    result["inits"] += 1
                    at = body.find(b"avcC")
                    size = struct.unpack(">I", body[at - 4 : at])[0]
                    avcc = body[at + 4 : at - 4 + size]
                    if decoder is None or decoder.extradata != avcc:
                        decoder = av.CodecContext.create("h264", "r")
                        decoder.extradata = avcc
                elif kind == b"moof":
                    traf = _child(body, b"traf") or b""
                    track = struct.unpack(">I", (_child(traf, b"tfhd") or b"\0" * 8)[4:8])[0]
                    tfdt = _child(traf, b"tfdt") or b"\0" * 12
                    decode_time = struct.unpack(">Q", tfdt[4:12])[0]
                    if decode_time <= last_time.get(track, -1):
                        result["backwards"] += 1
                    last_time[track] = decode_time
                elif kind == b"mdat" and track == 2:
                    result["audioFrames"] += 1
                elif kind == b"mdat" and track == 1 and decoder is not None:
                    for frame in decoder.decode(av.Packet(body)):
                        tally.frame(frame)
    return tally.finish()


async def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="wrencos-probe", description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--viewers", type=int, default=1)
    parser.add_argument(
        "--decode-every",
        type=int,
        default=1,
        help="read the stamp of every Nth frame (all are decoded)",
    )
    parser.add_argument(
        "--fallback", action="store_true", help="watch over the WebSocket fallback, not WebRTC"
    )
    parser.add_argument(
        "--fmp4", action="store_true", help="watch fMP4 over the WebSocket (the MSE rung)"
    )
    args = parser.parse_args(argv)
    if args.fmp4:
        jobs = [watch_fmp4(args.url, args.seconds) for _ in range(args.viewers)]
    elif args.fallback:
        jobs = [watch_fallback(args.url, args.seconds) for _ in range(args.viewers)]
    else:
        jobs = [watch(args.url, args.seconds, args.decode_every) for _ in range(args.viewers)]
    results = await asyncio.gather(*jobs)
    for r in results:
        print(json.dumps(r), flush=True)
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(_main(sys.argv[1:])))
