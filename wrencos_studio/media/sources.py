"""Capture threads: the synthetic test source, a looped video file, a camera and microphone
(PyAV: v4l2/ALSA on Linux, avfoundation on macOS, dshow on Windows), and the screen (PyAV's
platform grabbers: x11grab, avfoundation, gdigrab). Each encodes once and hands packets
to the event loop. A camera or screen that is missing, busy or lost does not end the
stream: it goes on with a still picture (the last frame, dimmed) and ``error`` says why."""

from __future__ import annotations

import array
import asyncio
import glob
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av

from wrencos_studio.media.encoder import AacEncoder, AudioEncoder, VideoEncoder, VideoSettings
from wrencos_studio.media.testsrc import BeepGenerator, TestPattern

__all__ = [
    "MediaPipeline",
    "SourceError",
    "StillPicture",
    "aac_audio_specific_config",
    "list_cameras",
    "microphone_present",
    "parse_source",
    "screen_available",
]

log = logging.getLogger(__name__)

PacketSink = Callable[["av.Packet[Any]"], None]


_AAC_CONFIG: bytes | None = None


def aac_audio_specific_config() -> bytes:
    """The AudioSpecificConfig of :class:`~wrencos_studio.media.encoder.AacEncoder` (made
    once by opening one; it depends only on the fixed settings: AAC-LC, 48 kHz, stereo)."""
    global _AAC_CONFIG
    if _AAC_CONFIG is None:
        _AAC_CONFIG = AacEncoder().extradata
    return _AAC_CONFIG


class SourceError(Exception):
    """A source could not be opened (missing, busy, unsupported); the text says why."""


@dataclass(frozen=True, slots=True)
class SourceSpec:
    kind: str  # "none" | "testsrc" | "file" | "camera" | "screen"
    target: str = ""


def parse_source(text: str) -> SourceSpec:
    """``none``, ``testsrc`` / ``testsrc:busy``, ``camera`` / ``camera:DEVICE``, ``screen`` /
    ``screen:DISPLAY`` (Linux ``:0.0``; macOS a screen's avfoundation index or name), or a
    video file path. Raises SourceError for an unknown test variant or a missing file."""
    if text in ("none", "testsrc"):
        return SourceSpec(text)
    if text.startswith("testsrc:"):
        variant = text.partition(":")[2]
        if variant != "busy":
            raise SourceError(f"unknown test source {text!r} (testsrc or testsrc:busy)")
        return SourceSpec("testsrc", variant)
    if text == "camera" or text.startswith("camera:"):
        return SourceSpec("camera", text.partition(":")[2])
    if text == "screen" or text.startswith("screen:"):
        return SourceSpec("screen", text.partition(":")[2])
    path = Path(text).expanduser()
    if not path.is_file():
        raise SourceError(
            f"no such video file: {text} "
            "(sources: none, testsrc, camera[:DEVICE], screen[:DISPLAY], or a file)"
        )
    return SourceSpec("file", str(path))


PLATFORM: str = sys.platform  # a plain str, so each platform's branch is type-checked


def list_cameras() -> list[str]:
    """Camera devices this machine shows (Linux: /dev/video*; elsewhere: index 0)."""
    if PLATFORM.startswith("linux"):
        return sorted(glob.glob("/dev/video*"))
    return ["0"]


def describe_camera(device: str) -> str:
    """A human name for a camera device, where the system tells one."""
    if PLATFORM.startswith("linux"):
        name = Path("/sys/class/video4linux") / Path(device).name / "name"
        try:
            return name.read_text(encoding="utf-8").strip()
        except OSError:
            return ""
    return ""


def screen_available() -> bool:
    """Whether the screen can be grabbed here (Linux: an X display; elsewhere always)."""
    if PLATFORM.startswith("linux"):
        return bool(os.environ.get("DISPLAY"))
    return True


def microphone_present() -> bool:
    """Whether this machine shows any sound capture device (Linux: an ALSA ``pcm…c``
    node; elsewhere assumed, as the system picker knows better)."""
    if PLATFORM.startswith("linux"):
        return bool(glob.glob("/dev/snd/pcmC*D*c"))
    return True


def _screen_input(target: str) -> tuple[str, str, dict[str, str]]:
    """(input, format, options) of PyAV's screen grabber on this platform."""
    if PLATFORM.startswith("linux"):
        return target or os.environ.get("DISPLAY", ":0"), "x11grab", {"draw_mouse": "1"}
    if PLATFORM == "darwin":
        return f"{target or 'Capture screen 0'}:none", "avfoundation", {"capture_cursor": "1"}
    return target or "desktop", "gdigrab", {"draw_mouse": "1"}


def _use_system_alsa_config() -> None:
    """PyAV's wheel bundles an alsa-lib built to look for its configuration under its
    build prefix (``/tmp/vendor/share/alsa``), which no machine has: every device, even
    ``default``, is then "Unknown PCM". Point it at the system's configuration and
    plugins (PulseAudio/PipeWire's ALSA plugins) unless the user set them."""
    config = Path("/usr/share/alsa/alsa.conf")
    if not config.is_file():
        return
    os.environ.setdefault("ALSA_CONFIG_DIR", str(config.parent))
    os.environ.setdefault("ALSA_CONFIG_PATH", str(config))
    for plugins in glob.glob("/usr/lib/*/alsa-lib") + glob.glob("/usr/lib*/alsa-lib"):
        os.environ.setdefault("ALSA_PLUGIN_DIR", plugins)
        break


def _microphone_inputs(device: str) -> list[tuple[str, str]]:
    """(input, format) pairs to try for the microphone, best first."""
    if PLATFORM.startswith("linux"):
        # PyAV's own FFmpeg has ALSA (PulseAudio and PipeWire offer an ALSA "default").
        return [(device or "default", "alsa")]
    if PLATFORM == "darwin":
        return [(f"none:{device or '0'}", "avfoundation")]
    return [(f"audio={device}", "dshow")] if device else []


def _camera_input(device: str) -> tuple[str, str]:
    if PLATFORM.startswith("linux"):
        return device or "/dev/video0", "v4l2"
    if PLATFORM == "darwin":
        return f"{device or '0'}:none", "avfoundation"
    return f"video={device}" if device else "video=0", "dshow"


class StillPicture:
    """The picture a stream shows while its camera or screen is missing or lost: the last
    frame dimmed (or dark grey when there was none), as fresh yuv420p frames of the
    stream's size, so the encoder and every viewer carry on as if nothing stopped."""

    _DIM = bytes(16 + (v - 16) // 2 if v > 16 else v for v in range(256))

    def __init__(self, width: int, height: int, last: av.VideoFrame | None = None) -> None:
        self.width, self.height = width - width % 2, height - height % 2
        if last is not None:
            frame = last.reformat(self.width, self.height, "yuv420p")
            self._planes = [bytes(p) for p in frame.planes]
            self._planes[0] = self._planes[0].translate(self._DIM)
            self._sizes = [p.line_size for p in frame.planes]
        else:
            w, h = self.width, self.height
            grey = bytes([128]) * (w * h // 4)  # neutral chroma
            self._planes = [bytes([40]) * (w * h), grey, grey]
            self._sizes = [w, w // 2, w // 2]

    def frame(self) -> av.VideoFrame:
        """A new frame holding the still picture."""
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        for plane, data, size in zip(frame.planes, self._planes, self._sizes, strict=True):
            if plane.line_size == size:
                plane.update(data)
            else:  # another row padding than the copy's: copy row by row
                rows = len(data) // size
                width = min(size, plane.line_size)
                buf = bytearray(plane.line_size * rows)
                for r in range(rows):
                    buf[r * plane.line_size : r * plane.line_size + width] = data[
                        r * size : r * size + width
                    ]
                plane.update(bytes(buf))
        return frame


@dataclass(slots=True)
class PipelineStats:
    video_frames: int = 0
    audio_frames: int = 0
    video_bytes: int = 0
    audio_bytes: int = 0
    started: float = field(default_factory=time.monotonic)
    fps_window: list[float] = field(default_factory=list)

    def frame_done(self) -> None:
        now = time.monotonic()
        self.video_frames += 1
        self.fps_window.append(now)
        while self.fps_window and now - self.fps_window[0] > 2.0:
            self.fps_window.pop(0)

    @property
    def fps(self) -> float:
        w = self.fps_window
        if len(w) < 2:
            return 0.0
        return (len(w) - 1) / max(1e-6, w[-1] - w[0])


def audio_level(frame: av.AudioFrame) -> float:
    """Peak level of a frame, 0..1 (s16 or float samples; other formats count as 0)."""
    fmt = frame.format.name
    data = bytes(frame.planes[0])
    # max() and min() of the array run in C; a generator of abs() cost ~1 % of a core.
    if fmt.startswith("s16"):
        samples = array.array("h", data[: len(data) // 2 * 2])
        return max(max(samples), -min(samples)) / 32768 if samples else 0.0
    if fmt.startswith("flt"):
        floats = array.array("f", data[: len(data) // 4 * 4])
        return min(1.0, max(max(floats), -min(floats))) if floats else 0.0
    return 0.0


class MediaPipeline:
    """One source, captured and encoded once in threads; packets go to the loop."""

    def __init__(
        self,
        spec: SourceSpec,
        settings: VideoSettings,
        loop: asyncio.AbstractEventLoop,
        on_video: PacketSink,
        on_audio: PacketSink,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.loop = loop
        self.on_video = on_video
        self.on_audio = on_audio
        self.video = VideoEncoder(settings)
        self.audio = AudioEncoder()
        self.stats = PipelineStats()
        self.error: str | None = None
        #: Microphone for camera sources: a device, "" for the default, "none" for silence.
        self.microphone = os.environ.get("WRENCOS_MIC", "")
        self.audio_error: str | None = None
        #: Called on this thread with the peak level (0..1) ~10 times a second, for a meter.
        self.on_audio_level: Callable[[float], None] | None = None
        #: Called on this thread with captured frames (~10 a second, the capture's size and
        #: format) for a local preview; it must not change the frame (it is encoded next).
        self.on_preview: Callable[[av.VideoFrame], None] | None = None
        #: The AAC encode shared by every output that needs AAC (add_aac_sink).
        self._aac_sinks: list[PacketSink] = []
        self._aac: AacEncoder | None = None
        self._aac_samples = 0  # 48 kHz samples of sound captured while encoding
        #: AAC encoders started so far (one per stretch with a consumer), for tests.
        self.aac_starts = 0
        #: Encode and hand over packets; off while nobody can receive them (the studio's
        #: preview before Go Live), which saves the encoder's whole cost meanwhile.
        self.encoding = True
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_t = 0.0  # seconds of the last device frame, where a still one goes on

    # -- control -------------------------------------------------------------------------

    def start(self) -> None:
        targets: list[Callable[[], None]] = []
        if self.spec.kind == "testsrc":
            targets = [self._run_testsrc_video, self._run_testsrc_audio]
        elif self.spec.kind == "file":
            targets = [self._run_file]
        elif self.spec.kind == "camera":
            targets = [self._run_camera]
            if self.microphone != "none":
                targets.append(self._run_microphone)
        elif self.spec.kind == "screen":
            targets = [self._run_screen]
            if self.microphone != "none":
                targets.append(self._run_microphone)
        for target in targets:
            t = threading.Thread(
                target=self._guard, args=(target,), daemon=True, name=f"media-{target.__name__}"
            )
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=3)
        self._threads.clear()

    def request_keyframe(self) -> None:
        self.video.request_keyframe()

    # -- the shared AAC encode ---------------------------------------------------------------

    def add_aac_sink(self, sink: PacketSink) -> None:
        """Call ``sink`` on the event loop with every AAC packet (AAC-LC 48 kHz stereo,
        1024 samples, ``pts`` in 1/48000 s) of the captured sound from now on. One AAC
        encoder serves every sink; it runs only while there is one (started on the capture
        thread at its next sound, dropped when the last sink goes). Packets from encoders
        started later continue the same clock (the samples captured since the pipeline
        started). Call on the event loop."""
        if sink not in self._aac_sinks:
            self._aac_sinks = [*self._aac_sinks, sink]

    def remove_aac_sink(self, sink: PacketSink) -> None:
        """Stop calling ``sink`` (no error if it was not added)."""
        self._aac_sinks = [s for s in self._aac_sinks if s != sink]

    def _encode_aac(self, frame: av.AudioFrame) -> None:
        """On the capture thread: the shared AAC encode of one PCM frame, if anyone wants it."""
        if not self._aac_sinks:
            self._aac = None
        elif self._aac is None:
            self._aac = AacEncoder(first_pts=self._aac_samples)
            self.aac_starts += 1
        if self._aac is not None:
            for packet in self._aac.encode(frame):
                self._hand_over(self._deliver_aac, packet)
        self._aac_samples += frame.samples * 48000 // (frame.sample_rate or 48000)

    def _deliver_aac(self, packet: av.Packet[Any]) -> None:
        for sink in self._aac_sinks:
            try:
                sink(packet)
            except Exception:  # one consumer's failure must not stop the others
                log.exception("an AAC consumer failed; dropping it")
                self.remove_aac_sink(sink)

    def set_encoding(self, on: bool) -> None:
        """Start or stop encoding (capture and the preview go on either way); encoding
        starts with a keyframe."""
        if on and not self.encoding:
            self.video.request_keyframe()
        self.encoding = on

    def _guard(self, target: Callable[[], None]) -> None:
        try:
            target()
        except SourceError as exc:
            self.error = str(exc)
            log.error("media source stopped: %s", exc)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("media source failed")

    # -- delivery ------------------------------------------------------------------------

    def _preview_due(self) -> bool:
        """Whether the frame now being captured goes to the preview (~10 a second)."""
        return (
            self.on_preview is not None
            and self.stats.video_frames % max(1, self.settings.fps // 10) == 0
        )

    def _emit_video(self, frame: av.VideoFrame, pts: int) -> None:
        preview = self.on_preview
        if preview is not None and self._preview_due():
            try:
                # The captured frame itself: the preview scales it once, to its own size.
                preview(frame)
            except Exception:
                log.debug("preview failed", exc_info=True)
        if self.encoding:
            for packet in self.video.encode(frame, pts):
                self.stats.video_bytes += packet.size
                self._hand_over(self.on_video, packet)
        self.stats.frame_done()

    def _hand_over(self, sink: PacketSink, packet: av.Packet[Any]) -> None:
        try:
            self.loop.call_soon_threadsafe(sink, packet)
        except RuntimeError:  # the loop is closing (the app quits): stop capturing
            self._stop.set()

    def _level_due(self) -> bool:
        """Whether the sound frame now being captured goes to the meter (~10 a second)."""
        return self.on_audio_level is not None and self.stats.audio_frames % 5 == 0

    def _emit_audio(self, frame: av.AudioFrame) -> None:
        on_level = self.on_audio_level
        if on_level is not None and self._level_due():
            on_level(audio_level(frame))
        if self.encoding:
            for packet in self.audio.encode(frame):
                self.stats.audio_bytes += packet.size
                self._hand_over(self.on_audio, packet)
            self._encode_aac(frame)
        self.stats.audio_frames += 1

    # -- sources -------------------------------------------------------------------------

    def _paced(self, interval: float) -> Iterator[tuple[int, float]]:
        """Yield (index, t) on a fixed grid; skips ahead if we fell behind."""
        t0 = time.monotonic()
        i = 0
        while not self._stop.is_set():
            target = t0 + i * interval
            delay = target - time.monotonic()
            if delay > 0:
                if self._stop.wait(delay):
                    return
            elif delay < -interval * 3:
                i = int((time.monotonic() - t0) / interval)  # drop frames, stay live
                continue
            yield i, target - t0
            i += 1

    def _run_testsrc_video(self) -> None:
        s = self.settings
        pattern = TestPattern(s.width, s.height, busy=self.spec.target == "busy")
        for _i, t in self._paced(1.0 / s.fps):
            if self.encoding or self._preview_due():
                self._emit_video(pattern.frame(), int(t * 90000))
            else:  # before Go Live only the preview's frames are looked at: draw only those
                pattern.skip()
                self.stats.frame_done()

    def _run_testsrc_audio(self) -> None:
        beep = BeepGenerator()
        for _i, _t in self._paced(0.02):
            if self.encoding or self._level_due():
                self._emit_audio(beep.frame())
            else:  # before Go Live only the meter listens: make only its frames
                beep.skip()
                self.stats.audio_frames += 1

    def _run_file(self) -> None:
        path = self.spec.target
        try:
            container = av.open(path)
        except (av.FFmpegError, OSError) as exc:
            raise SourceError(f"cannot open video file {path}: {exc}") from exc
        with container:
            vstream = next(iter(container.streams.video), None)
            astream = next(iter(container.streams.audio), None)
            if vstream is None:
                raise SourceError(f"{path} has no video stream")
            wall0 = time.monotonic()
            offset = 0.0
            while not self._stop.is_set():
                last = 0.0
                streams = [x for x in (vstream, astream) if x is not None]
                for frame in container.decode(*streams):
                    if self._stop.is_set():
                        return
                    if not isinstance(frame, (av.VideoFrame, av.AudioFrame)):
                        continue
                    if frame.pts is None or frame.time_base is None:
                        continue
                    t = offset + float(frame.pts * frame.time_base)
                    last = max(last, t)
                    delay = wall0 + t - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        return
                    if isinstance(frame, av.VideoFrame):
                        self._emit_video(frame, int(t * 90000))
                    else:
                        self._emit_audio(frame)
                # Loop: start again, continuing the clock.
                offset = last + 1.0 / self.settings.fps
                container.seek(0)

    def _run_microphone(self) -> None:
        if PLATFORM.startswith("linux"):
            _use_system_alsa_config()
        errors = []
        for name, fmt in _microphone_inputs(self.microphone):
            try:
                container = av.open(name, format=fmt)
            except (av.FFmpegError, OSError, ValueError) as exc:
                errors.append(f"{fmt} {name}: {exc}")
                continue
            with container:
                log.info("microphone: %s (%s)", name, fmt)
                for frame in container.decode(audio=0):
                    if self._stop.is_set():
                        return
                    self._emit_audio(frame)
            return
        # No microphone is not fatal: the picture goes on without sound.
        self.audio_error = "no microphone: " + ("; ".join(errors) or "none configured")
        log.warning("%s", self.audio_error)

    def _hold_still(self, last: av.VideoFrame | None, why: str) -> None:
        """The device is gone: say ``why`` and go on with a still picture until stopped
        (or until the presenter picks another source, which restarts the pipeline)."""
        self.error = why
        log.warning("video source: %s; going on with a still picture", why)
        s = self.settings
        still = StillPicture(s.width, s.height, last)
        t0 = time.monotonic() - self._last_t
        for _i, t in self._paced(1.0 / s.fps):
            self._emit_video(still.frame(), int((t0 + t) * 90000))

    def _open_device(
        self, name: str, fmt: str, attempts: list[dict[str, str]], what: str
    ) -> av.container.InputContainer:
        """Open a capture device, trying ``attempts`` (options) in order; SourceError
        saying, in words, whether it is missing, busy, forbidden or unusable."""
        errors = []
        for options in attempts:
            try:
                return av.open(name, format=fmt, options=options)
            except FileNotFoundError as exc:
                others = ", ".join(list_cameras()) or "none"
                raise SourceError(
                    f"{what} {name} not found (cameras: {others})"
                    if what == "camera"
                    else f"{what} {name} not found"
                ) from exc
            except PermissionError as exc:
                raise SourceError(f"{what} {name}: permission denied") from exc
            except (av.FFmpegError, OSError, ValueError) as exc:
                errors.append(str(exc))
                if "busy" in str(exc).lower():
                    raise SourceError(f"{what} {name} is busy (used by another program)") from exc
        raise SourceError(f"{what} {name} refused every format: {'; '.join(errors)}")

    def _capture(self, name: str, fmt: str, attempts: list[dict[str, str]], what: str) -> None:
        """Frames from a device until stopped; a device missing, busy or lost on the way
        becomes a still picture and an ``error`` (the stream goes on)."""
        last: av.VideoFrame | None = None
        try:
            container = self._open_device(name, fmt, attempts, what)
        except SourceError as exc:
            self._hold_still(None, str(exc))
            return
        try:
            with container:
                t0 = time.monotonic()
                for frame in container.decode(video=0):
                    if self._stop.is_set():
                        return
                    self._last_t = time.monotonic() - t0
                    self._emit_video(frame, int(self._last_t * 90000))
                    last = frame
        except (av.FFmpegError, OSError) as exc:
            if self._stop.is_set():
                return
            self._hold_still(last, f"{what} {name} was lost ({exc})")
            return
        if not self._stop.is_set():
            self._hold_still(last, f"{what} {name} was lost (it stopped sending pictures)")

    def _run_camera(self) -> None:
        s = self.settings
        name, fmt = _camera_input(self.spec.target)
        wanted = {"video_size": f"{s.width}x{s.height}", "framerate": str(s.fps)}
        # Ask for the configured size and rate; a camera that refuses gets its default
        # format (the encoder scales it) rather than nothing.
        self._capture(name, fmt, [wanted, {"framerate": str(s.fps)}, {}], "camera")

    def _run_screen(self) -> None:
        name, fmt, options = _screen_input(self.spec.target)
        rate = {"framerate": str(self.settings.fps)}
        self._capture(name, fmt, [{**options, **rate}, rate, {}], "screen")
