"""The synthetic camera: a moving pattern with a visible clock and a machine-readable time
stamp, and a beep each second; plus the stamp's decoder for latency measurements.

Frames are drawn straight into YUV 4:2:0 planes with bytearray slices (no numpy):
a precomputed background (optionally with a band of fresh noise), a moving bar, the
wall-clock time in a 5x7 pixel font, and a row of black/white blocks along the top that
carry the capture time in milliseconds. The blocks are aligned to 16 pixels (H.264
macroblocks) so they survive compression; :func:`read_stamp` reads them back from a decoded frame.
"""

from __future__ import annotations

import math
import random
import time
from datetime import UTC, datetime
from fractions import Fraction

import av

__all__ = [
    "AUDIO_RATE",
    "STAMP_BITS",
    "BeepGenerator",
    "TestPattern",
    "read_stamp",
    "stamp_block_size",
]

AUDIO_RATE = 48000
STAMP_BITS = 48
_SYNC = (1, 0, 1, 1)  # a fixed prefix: a frame without it carries no stamp
_WHITE, _BLACK = 235, 16

# 5x7 glyphs for the clock (rows top to bottom, 5 bits each, MSB left).
_FONT = {
    "0": (0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E),
    "1": (0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "2": (0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F),
    "3": (0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E),
    "4": (0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02),
    "5": (0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E),
    "6": (0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E),
    "7": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08),
    "8": (0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E),
    "9": (0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C),
    ":": (0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00),
    ".": (0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C),
    " ": (0, 0, 0, 0, 0, 0, 0),
}


_NBITS = len(_SYNC) + STAMP_BITS + 8


def stamp_block_size(width: int) -> int:
    """Block edge in pixels: 16 (one H.264 macroblock) where one row fits, else 8."""
    return 16 if width >= _NBITS * 16 else 8


def _block_origin(i: int, block: int, width: int) -> tuple[int, int]:
    """Top-left (x, y) of bit ``i``'s block; the blocks wrap onto more rows if needed."""
    per_row = max(1, width // block)
    return (i % per_row) * block, (i // per_row) * block


def _stamp_bits(ms: int) -> list[int]:
    value = ms % (1 << STAMP_BITS)
    bits = [(value >> (STAMP_BITS - 1 - i)) & 1 for i in range(STAMP_BITS)]
    check = sum(value.to_bytes(6, "big")) & 0xFF
    return [*_SYNC, *bits, *((check >> (7 - i)) & 1 for i in range(8))]


def read_stamp(frame: av.VideoFrame) -> int | None:
    """The capture time (ms since the epoch, mod 2**48) a test frame carries, or None."""
    plane = frame.planes[0]
    stride = plane.line_size
    data = bytes(plane)
    block = stamp_block_size(frame.width)
    half = block // 2
    bits = []
    for i in range(_NBITS):
        x, y = _block_origin(i, block, frame.width)
        bits.append(1 if data[(y + half) * stride + x + half] > 128 else 0)
    if tuple(bits[: len(_SYNC)]) != _SYNC:
        return None
    value = 0
    for b in bits[len(_SYNC) : len(_SYNC) + STAMP_BITS]:
        value = (value << 1) | b
    check = 0
    for b in bits[len(_SYNC) + STAMP_BITS :]:
        check = (check << 1) | b
    if check != sum(value.to_bytes(6, "big")) & 0xFF:
        return None
    return value


def now_ms() -> int:
    return int(time.time() * 1000)


def stamp_age_ms(stamp: int) -> float:
    """How long ago (ms) a stamp was made, on this machine's clock."""
    return (now_ms() - stamp) % (1 << STAMP_BITS)


class TestPattern:
    """Draws test frames of one size; cheap enough for 720p30 in pure Python."""

    __test__ = False  # not a pytest class, despite the name

    def __init__(self, width: int, height: int, busy: bool = False) -> None:
        self.width = width - width % 2
        self.height = height - height % 2
        w, h = self.width, self.height
        # Background: eight soft vertical colour bands (luma steps, fixed chroma).
        band_luma = [180, 160, 140, 120, 100, 80, 60, 40]
        row = bytearray()
        for x in range(w):
            row.append(band_luma[min(7, x * 8 // w)])
        self._y = bytes(row) * h
        cw, ch = w // 2, h // 2
        band_u = [128, 90, 150, 110, 160, 100, 140, 128]
        band_v = [128, 150, 100, 160, 110, 140, 90, 128]
        urow = bytes(band_u[min(7, x * 8 // cw)] for x in range(cw))
        vrow = bytes(band_v[min(7, x * 8 // cw)] for x in range(cw))
        self.block = stamp_block_size(w)
        self.scale = max(2, h // 90)
        # Grey (neutral chroma) under the stamp and the clock, so both read black/white.
        top = min(ch, (self._clock_top() + 8 * self.scale) // 2 + 1)
        grey = bytes([128]) * cw
        self._u = grey * top + urow * (ch - top)
        self._v = grey * top + vrow * (ch - top)
        self._frame_index = 0
        # ``busy``: the bottom quarter is fresh noise every frame, which no encoder can
        # predict, so the stream runs at its full bitrate like a detailed camera picture
        # (the plain pattern compresses to ~0.1 Mbit/s). For measuring delivery at the
        # bitrate customers will really get.
        self._noise = b""
        if busy:
            self._noise_top = (h - h // 4) * w
            self._noise_len = h // 4 * w
            self._noise = random.Random(7).randbytes(self._noise_len + w * 64)
            self._noise_pick = random.Random(11)

    def frame(self, ms: int | None = None) -> av.VideoFrame:
        """The next frame, stamped with ``ms`` (default: now)."""
        if ms is None:
            ms = now_ms()
        w, h = self.width, self.height
        y = bytearray(self._y)
        if self._noise:
            start = self._noise_pick.randrange(w * 64)
            y[self._noise_top :] = self._noise[start : start + self._noise_len]
        self._draw_bar(y)
        self._draw_clock(y, ms)
        self._draw_stamp(y, ms)
        frame = av.VideoFrame(w, h, "yuv420p")
        for plane, data, width in (
            (frame.planes[0], y, w),
            (frame.planes[1], self._u, w // 2),
            (frame.planes[2], self._v, w // 2),
        ):
            if plane.line_size == width:
                plane.update(bytes(data))
            else:  # padded rows
                buf = bytearray(plane.line_size * (len(data) // width))
                for r in range(len(data) // width):
                    buf[r * plane.line_size : r * plane.line_size + width] = data[
                        r * width : (r + 1) * width
                    ]
                plane.update(bytes(buf))
        self._frame_index += 1
        return frame

    def skip(self) -> None:
        """Pass one frame without drawing it (nobody would see it): the moving bar keeps
        its pace, as a camera's picture goes on between the frames one looks at."""
        self._frame_index += 1

    def _clock_top(self) -> int:
        return self.block * (2 + _NBITS * self.block // self.width + 1)

    def _draw_bar(self, y: bytearray) -> None:
        w, h = self.width, self.height
        bar = max(8, w // 40)
        x = (self._frame_index * max(2, w // 160)) % (w - bar)
        top = h // 4
        fill = bytes([_WHITE]) * bar
        for r in range(top, h - h // 8):
            o = r * w + x
            y[o : o + bar] = fill

    def _draw_clock(self, y: bytearray, ms: int) -> None:
        text = datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S.%f")[:12]
        s = self.scale
        w = self.width
        x0 = self.block * 2
        y0 = self._clock_top()
        chars = text[: max(0, (w - x0) // (6 * s))]
        on, off = bytes([_WHITE]) * s, bytes([_BLACK]) * s
        glyphs = [_FONT.get(ch, _FONT[" "]) for ch in chars]
        # One slice per scanline: each glyph row is built once across the whole text.
        for gr in range(7):
            line = b"".join(
                b"".join(on if g[gr] & (0x10 >> gc) else off for gc in range(5)) + off
                for g in glyphs
            )
            for sr in range(s):
                o = (y0 + gr * s + sr) * w + x0
                y[o : o + len(line)] = line

    def _draw_stamp(self, y: bytearray, ms: int) -> None:
        b = self.block
        w = self.width
        per_row = max(1, w // b)
        white, black = bytes([_WHITE]) * b, bytes([_BLACK]) * b
        bits = _stamp_bits(ms)
        # One slice per scanline: each row of blocks is built once.
        for start in range(0, len(bits), per_row):
            line = b"".join(white if bit else black for bit in bits[start : start + per_row])
            top = start // per_row * b
            for r in range(top, top + b):
                y[r * w : r * w + len(line)] = line


class BeepGenerator:
    """48 kHz stereo s16 audio: a 1 kHz beep for the first 100 ms of every second.

    The second repeats exactly, so it is computed once (192 KB, shared) and each 20 ms
    frame is a slice of it: generating it sample by sample in Python cost ~4 % of a core."""

    samples_per_frame = 960  # 20 ms
    _second: bytes = b""

    def __init__(self) -> None:
        self.sample = 0
        self.time_base = Fraction(1, AUDIO_RATE)
        if not BeepGenerator._second:
            BeepGenerator._second = self._one_second()

    @staticmethod
    def _one_second() -> bytes:
        out = bytearray(AUDIO_RATE * 4)
        for t in range(AUDIO_RATE // 10):
            v = int(8000 * math.sin(2 * math.pi * 1000 * t / AUDIO_RATE))
            out[t * 4 : t * 4 + 4] = v.to_bytes(2, "little", signed=True) * 2
        return bytes(out)

    def frame(self) -> av.AudioFrame:
        n = self.samples_per_frame
        start = self.sample
        at = start % AUDIO_RATE * 4
        data = self._second[at : at + n * 4]
        if len(data) < n * 4:  # across the second's end
            data += self._second[: n * 4 - len(data)]
        frame = av.AudioFrame(format="s16", layout="stereo", samples=n)
        frame.planes[0].update(data)
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        frame.time_base = self.time_base
        self.sample += n
        return frame

    def skip(self) -> None:
        """Pass one frame without making it (nobody would hear it): the beep keeps time."""
        self.sample += self.samples_per_frame
