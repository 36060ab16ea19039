"""The recording's parts on their own (issue 14): fMP4 writing from real encoder packets,
the export to a progressive MP4, byte ranges, the disk guard, and the timeline's rows."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import av
import pytest

from tests.helpers.recordings import SMALL_VIDEO, encoded_show, write_recording
from wrencos_studio.hub.http import RangeNotSatisfiable, byte_range
from wrencos_studio.media.export import ExportCancelled, export_mp4
from wrencos_studio.media.fmp4 import parameter_sets
from wrencos_studio.media.outputs import MediaFrame
from wrencos_studio.media.recording import (
    RecordingError,
    RecordingFile,
    Recordings,
    RecordingStatus,
)
from wrencos_studio.store import Store, replays
from wrencos_studio.store import repositories as repo
from wrencos_studio.store.rows import ChatLine

SETTINGS = SMALL_VIDEO


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-second fragmented MP4 written as the recorder does from real encoder packets."""
    return write_recording(tmp_path_factory.mktemp("rec") / "show.mp4", 4.0)


def test_parameter_sets_are_the_sps_and_pps_of_a_keyframe() -> None:
    """SPS (7) and PPS (8) with 4-byte start codes; the slice is left out."""
    au = b"\x00\x00\x00\x01\x67\x42\xc0\x1f\xaa\x00\x00\x01\x68\xce\x3c\x80\x00\x00\x01\x65\x88"
    assert (
        parameter_sets(au)
        == b"\x00\x00\x00\x01\x67\x42\xc0\x1f\xaa\x00\x00\x00\x01\x68\xce\x3c\x80"
    )
    assert parameter_sets(b"\x00\x00\x01\x41\x9a") == b""


def test_the_recording_is_fragmented_and_decodes_completely(recording: Path) -> None:
    """Index first with no samples (empty moov), then fragments; all 120 frames decode."""
    data = recording.read_bytes()
    assert data[4:8] == b"ftyp" and b"moof" in data and data.count(b"moof") >= 4
    with av.open(str(recording)) as c:
        frames = list(c.decode(video=0))
        assert len(c.streams.audio) == 1
        duration = c.duration / av.time_base
    with av.open(str(recording)) as c:
        sound = list(c.decode(audio=0))
    assert len(frames) == 120
    assert abs(float(frames[-1].time) - 119 / 30) < 0.01
    assert abs(duration - 4.0) < 0.07, duration
    # Every Opus packet decodes: 4 s of sound, less the encoder's delay and what the
    # last 60 ms packet reaches past the picture.
    seconds = sum(f.samples for f in sound) / 48000
    assert 3.9 < seconds < 4.1, seconds
    assert sound[0].time is not None and abs(float(sound[0].time)) < 0.05


def test_the_file_only_ever_ends_on_a_whole_fragment(tmp_path: Path) -> None:
    """What a SIGKILL mid-show needs: the file appears with the ``ftyp``/``moov`` at the
    first keyframe, then grows one whole ``moof``+``mdat`` at a time (one unbuffered
    write each), so wherever the process dies the file is a playable fMP4; closing
    writes the fragment still waiting."""
    import io

    path = tmp_path / "show.mp4"
    writer = RecordingFile(path, 320, 180)
    sizes = set()
    for kind, packet, pts in encoded_show(3.0):
        writer.write(kind, bytes(packet), pts, kind == "audio" or bool(packet.is_keyframe))  # type: ignore[arg-type]
        if path.exists():
            sizes.add(path.stat().st_size)
    data = path.read_bytes()
    boxes, i, ends = [], 0, set()
    while i < len(data):
        boxes.append(data[i + 4 : i + 8])
        i += int.from_bytes(data[i : i + 4], "big")
        ends.add(i)
    # ~1 s fragments: 0-1 s, 1-2 s (cut at the keyframe) written; 2-3 s still waiting.
    assert boxes[:2] == [b"ftyp", b"moov"] and boxes[2:] == [b"moof", b"mdat"] * 2
    assert sizes <= ends  # every size the file ever had ended on a box
    with av.open(io.BytesIO(data)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 60
    writer.close()
    writer.close()  # twice is fine
    assert path.read_bytes().count(b"moof") == 3
    with av.open(io.BytesIO(path.read_bytes())) as c:
        assert sum(1 for _ in c.decode(video=0)) == 90


def test_the_index_carries_the_streams_own_sps(recording: Path) -> None:
    """The ``avcC`` in the recording's ``moov`` is the stream's own (constrained baseline,
    from its keyframes), not the SPS of the encoder the muxer opens (High profile): a
    strict player reads the profile from there."""
    from wrencos_studio.media.fmp4 import avc_config

    data = recording.read_bytes()
    moof = data.find(b"moof")
    at = data.find(b"avcC", 0, moof)
    assert at > 0
    size = int.from_bytes(data[at - 4 : at], "big")
    stored = data[at + 4 : at - 4 + size]
    first_key = next(
        bytes(p) for kind, p, _ in encoded_show(1.0) if kind == "video" and p.is_keyframe
    )
    assert stored == avc_config(parameter_sets(first_key))
    assert stored[1] == 0x42, stored[:4].hex()  # profile_idc 66: baseline, as encoded


def test_export_is_a_progressive_mp4_of_the_same_length(recording: Path, tmp_path: Path) -> None:
    """The moov comes before the mdat, and the exported length matches the recording's."""
    seen: list[float] = []
    result = export_mp4(recording, tmp_path / "out.mp4", seen.append)
    data = result.path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")
    assert b"moof" not in data
    with av.open(str(recording)) as c:
        recorded = c.duration / av.time_base
    with av.open(str(result.path)) as c:
        exported = c.duration / av.time_base
        assert sum(1 for _ in c.decode(video=0)) == 120
    assert abs(exported - recorded) < 0.05 and abs(result.duration_s - recorded) < 0.05
    assert seen[-1] == 1.0 and seen == sorted(seen)
    assert not (tmp_path / "out.mp4.part").exists()


def test_a_cancelled_export_leaves_nothing(recording: Path, tmp_path: Path) -> None:
    """Cancelled: ExportCancelled, and neither the file nor its part is left."""
    import threading

    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ExportCancelled):
        export_mp4(recording, tmp_path / "out.mp4", cancel=cancel)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=-10", (990, 999)),
        ("bytes=-5000", (0, 999)),
        ("bytes=990-5000", (990, 999)),
        ("bytes=0-1,5-9", (0, 1)),
        ("items=0-9", None),
        ("bytes=9-1", None),
        ("bytes=abc", None),
        ("bytes=-", None),
        ("bytes=١-٢", None),
    ],
)
def test_byte_ranges(header: str | None, expected: tuple[int, int] | None) -> None:
    """RFC 9110 ranges of a 1000-byte file; malformed ones are ignored (whole file)."""
    assert byte_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    """Past the end, or an empty suffix: 416."""
    with pytest.raises(RangeNotSatisfiable):
        byte_range(header, 1000)


def test_a_range_is_capped() -> None:
    """One response carries at most the cap."""
    assert byte_range("bytes=0-", 10_000_000, cap=4096) == (0, 4095)


class Fanout:
    """The broadcaster's fan-out as the recorder sees it: a set of outputs."""

    def __init__(self) -> None:
        self.outputs: set[Any] = set()

    def add(self, output: Any) -> None:
        self.outputs.add(output)

    def remove(self, output: Any) -> None:
        self.outputs.discard(output)


async def test_low_disk_warns_then_stops_recording_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below twice the threshold a warning, below it the file is closed (and decodes);
    with too little disk no recording starts."""
    monkeypatch.setattr("wrencos_studio.media.recording.DISK_CHECK_INTERVAL_S", 0.05)
    said: list[RecordingStatus] = []
    free = [10_000]
    recordings = Recordings(tmp_path, min_free_bytes=1000, on_status=said.append)
    recordings.free_bytes = lambda _path: free[0]
    fanout = Fanout()
    recordings.attach(fanout, SETTINGS, lambda: None)
    name = recordings.start("abcdefghijklmnop")
    [recorder] = fanout.outputs
    packets = list(encoded_show(2.0))
    for kind, packet, _pts in packets[: len(packets) // 2]:
        recorder.offer(MediaFrame(kind, packet, 0))  # type: ignore[arg-type]
        await asyncio.sleep(0)
    free[0] = 1500
    await asyncio.sleep(0.2)
    assert [s.state for s in said] == ["recording", "low_disk"]
    free[0] = 500
    await asyncio.sleep(0.2)
    assert [s.state for s in said] == ["recording", "low_disk", "stopped"]
    assert "left on the disk" in said[-1].message
    assert fanout.outputs == set() and recordings.recorder is None
    with av.open(str(tmp_path / name)) as c:
        assert sum(1 for _ in c.decode(video=0)) > 0
    with pytest.raises(RecordingError, match="free on the disk"):
        recordings.start("qrstuvwxyzabcdef")


def test_the_timeline_leaves_out_deleted_chat_and_makes_chapters(tmp_path: Path) -> None:
    """Chapters for each newly pinned product; the chat without deleted lines; today's
    catalog entry beside the pin as it was; deleting the recording takes its timeline."""
    from wrencos_studio.store.rows import Product

    store = Store(tmp_path / "db.sqlite3")
    store.open()
    try:
        run = store.run_sync
        run(repo.start_stream, "s1", "Serums", "", "", "720p", "2026-01-01T10:00:00Z", 0)
        run(replays.start_recording, "r" * 22, "s1", "r.mp4", "2026-01-01T10:00:01Z")
        run(
            repo.upsert_product,
            Product(
                "rosehip",
                "Rosehip Serum",
                19.0,
                "",
                "",
                "https://x.example/r",
                "2026-01-01T00:00:00Z",
                "EUR",
            ),
        )
        pin = {"productId": "rosehip", "name": "Rosehip Serum (old name)", "price": 24.0}
        toner = {"productId": "toner", "name": "Toner", "price": 9.0}
        for i, text in enumerate(["hello", "spam", "bye"]):
            line = ChatLine(f"c{i}", "Ana", text, "2026-01-01T10:00:02Z", False, "p1")
            run(repo.add_chat_message, "s1", line)
            run(replays.add_timeline_event, "r" * 22, 1000 * (i + 1), "chat", f"c{i}")
        run(repo.delete_chat_message, "c1", "2026-01-01T10:00:09Z")
        run(replays.add_timeline_event, "r" * 22, 0, "pins", None, [])
        run(replays.add_timeline_event, "r" * 22, 500, "pins", None, [pin])
        run(replays.add_timeline_event, "r" * 22, 2500, "pins", None, [pin, toner])
        run(replays.add_timeline_event, "r" * 22, 4000, "pins", None, [toner])
        run(replays.add_timeline_event, "r" * 22, 4500, "pins", None, [toner, pin])
        run(replays.add_timeline_event, "r" * 22, 600, "like", "p1")
        with pytest.raises(ValueError):
            run(replays.add_timeline_event, "r" * 22, 1, "dance")
        t = run(replays.timeline, "r" * 22)
        assert [c["message"] for c in t["chat"]] == ["hello", "bye"]
        assert [(c["productId"], c["offsetMs"]) for c in t["chapters"]] == [
            ("rosehip", 500),
            ("toner", 2500),
            ("rosehip", 4500),
        ]
        assert t["pins"][1]["products"] == [pin]
        assert t["catalog"] == {
            "rosehip": {
                "name": "Rosehip Serum",
                "price": 19.0,
                "currency": "EUR",
                "url": "https://x.example/r",
                "image": "",
            }
        }
        assert t["likes"] == [600]
        json.dumps(t)
        assert run(replays.delete_recording, "r" * 22) is not None
        assert run(replays.timeline, "r" * 22)["pins"] == []
        assert run(replays.get_recording, "r" * 22) is None
    finally:
        store.close_sync()


def test_recording_settings_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On by default, listing off; 0/1 (and yes/no) from the environment; anything else
    is a clear error, and `serve` says it and exits 2."""
    import subprocess
    import sys

    from wrencos_studio.config import Settings

    for name in ("WRENCOS_RECORDING", "WRENCOS_LIST_REPLAYS", "WRENCOS_RECORDING_MIN_FREE_MB"):
        monkeypatch.delenv(name, raising=False)
    s = Settings.from_env(data_dir=tmp_path, jwt_secret="x")
    assert (s.recording, s.list_replays, s.recording_min_free_mb) == (True, False, 500)
    assert s.recordings_dir == tmp_path / "recordings"
    monkeypatch.setenv("WRENCOS_RECORDING", "0")
    monkeypatch.setenv("WRENCOS_LIST_REPLAYS", "yes")
    monkeypatch.setenv("WRENCOS_RECORDING_MIN_FREE_MB", "2048")
    s = Settings.from_env(data_dir=tmp_path, jwt_secret="x")
    assert (s.recording, s.list_replays, s.recording_min_free_mb) == (False, True, 2048)
    monkeypatch.setenv("WRENCOS_RECORDING_MIN_FREE_MB", "lots")
    with pytest.raises(ValueError, match="WRENCOS_RECORDING_MIN_FREE_MB"):
        Settings.from_env(data_dir=tmp_path, jwt_secret="x")
    monkeypatch.setenv("WRENCOS_RECORDING_MIN_FREE_MB", "10")
    monkeypatch.setenv("WRENCOS_RECORDING", "maybe")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wrencos_studio",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "wrencos-studio serve: WRENCOS_RECORDING='maybe': use 1 or 0"
