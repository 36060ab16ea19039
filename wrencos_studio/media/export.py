"""Export a recording as a progressive MP4 (the index at the front, ``movflags=faststart``)
by remuxing its packets: no decoding, so a one-hour show exports in seconds.

The recording itself is fragmented MP4 (:mod:`.fmp4`), which every player reads but some
editors and upload forms do not; the export is the file to hand to them.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

__all__ = ["ExportCancelled", "ExportError", "ExportResult", "export_mp4"]


class ExportError(Exception):
    """The export failed (``str(exc)`` says why, for a person); nothing is left behind."""


class ExportCancelled(ExportError):
    """The export was cancelled; nothing is left behind."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    """The exported file, its length (seconds, of the longest track) and size (bytes)."""

    path: Path
    duration_s: float
    bytes: int


def export_mp4(
    source: Path,
    target: Path,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> ExportResult:
    """Remux ``source`` (a recording) into ``target``, a progressive MP4 with the index
    first. Blocking: run it on a worker thread. ``progress`` is called with 0..1 now and
    then (on that thread); setting ``cancel`` stops it (:class:`ExportCancelled`). The file
    appears at ``target`` only when complete (written beside it, then renamed). Raises
    :class:`ExportError` when the source cannot be read or the target written."""
    part = target.with_name(target.name + ".part")
    try:
        size = source.stat().st_size
        with av.open(str(source)) as src:
            streams = [s for s in src.streams if s.type in ("video", "audio")]
            if not streams:
                raise ExportError(f"{source.name} holds no video or audio")
            total_s = (src.duration or 0) / av.time_base
            end_s = 0.0
            with av.open(str(part), "w", format="mp4", options={"movflags": "faststart"}) as dst:
                mapping: dict[Any, Any] = {s: dst.add_stream_from_template(s) for s in streams}
                for n, packet in enumerate(src.demux(*streams)):
                    if packet.dts is None:  # the demuxer's end-of-stream marker
                        continue
                    if cancel is not None and cancel.is_set():
                        raise ExportCancelled("export cancelled")
                    if packet.pts is not None and packet.time_base is not None:
                        end = packet.pts + (packet.duration or 0)
                        end_s = max(end_s, float(end * packet.time_base))
                    packet.stream = mapping[packet.stream]
                    dst.mux(packet)
                    if progress is not None and n % 200 == 0:
                        done = end_s / total_s if total_s else (packet.pos or 0) / max(1, size)
                        progress(min(1.0, max(0.0, done)))
        os.replace(part, target)
    except ExportError:
        with contextlib.suppress(OSError):
            part.unlink()
        raise
    except (av.FFmpegError, OSError) as exc:
        with contextlib.suppress(OSError):
            part.unlink()
        raise ExportError(f"cannot export {source.name}: {exc}") from exc
    if progress is not None:
        progress(1.0)
    return ExportResult(target, end_s, target.stat().st_size)
