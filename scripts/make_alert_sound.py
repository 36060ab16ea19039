"""Make resources/sounds/new-message.wav: the studio's short "new support message" chime.

Two soft notes (A5 then E6), 0.36 s in all, 22.05 kHz mono 16-bit PCM, written with the
standard library's ``wave`` so the file is reproducible: ``python scripts/make_alert_sound.py``.
"""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

RATE = 22050
NOTES = ((880.0, 0.16), (1318.5, 0.20))  # Hz, seconds
PEAK = 0.45  # of full scale: noticeable, not harsh
OUT = Path(__file__).resolve().parent.parent / "resources" / "sounds" / "new-message.wav"


def samples() -> list[int]:
    """The chime as signed 16-bit samples: each note with a 5 ms attack and an
    exponential decay, so nothing clicks."""
    out: list[int] = []
    for freq, seconds in NOTES:
        n = int(RATE * seconds)
        for i in range(n):
            t = i / RATE
            attack = min(1.0, t / 0.005)
            decay = math.exp(-5.0 * t / seconds)
            value = PEAK * attack * decay * math.sin(2 * math.pi * freq * t)
            out.append(round(value * 32767))
    return out


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(OUT), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        data = samples()
        wav.writeframes(struct.pack(f"<{len(data)}h", *data))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
