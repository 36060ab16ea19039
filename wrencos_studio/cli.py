"""Entry points: parses the command line and hands over (the studio window, ``serve``,
``token``, ``devices``, ``station``, ``demo``); what runs is built in ``app.py``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from wrencos_studio import __version__
from wrencos_studio.config import Settings, default_data_dir, load_or_create_secret

__all__ = ["build_parser", "main"]

log = logging.getLogger("wrencos_studio")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range (0-65535): {value}")
    return value


def _source(text: str) -> str:
    from wrencos_studio.media.sources import SourceError, parse_source

    try:
        parse_source(text)
    except SourceError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _video_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size like 1280x720: {text!r}") from None
    if not (160 <= w <= 3840 and 120 <= h <= 2160):
        raise argparse.ArgumentTypeError(f"size out of range: {text}")
    return w, h


def _bitrate(text: str) -> int:
    t = text.lower().strip()
    mult = 1000 if t.endswith("k") else 1_000_000 if t.endswith("m") else 1
    try:
        value = int(float(t.rstrip("km")) * mult)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a bitrate like 2500k or 2.5m: {text!r}") from None
    if not 100_000 <= value <= 20_000_000:
        raise argparse.ArgumentTypeError(f"bitrate out of range (100k-20m): {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wrencos-studio",
        description="Wrencos Studio: go live to your shop's customers.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the hub headless (no window, no Qt)")
    _add_server_options(serve)
    serve.add_argument(
        "--share-tunnel",
        action="store_true",
        help="also share outside this network: start an installed tunnel client "
        "(cloudflared, ngrok or tailscale funnel) and print its public page",
    )

    sub.add_parser("devices", help="list the cameras this machine shows")

    station = sub.add_parser(
        "station", help="a staff station: chat, products and inbox of a studio elsewhere"
    )
    station.add_argument("--url", required=True, help="the studio's address, e.g. ws://shop:3000")
    station.add_argument("--token", required=True, help="a staff token (`wrencos-studio token`)")

    demo = sub.add_parser(
        "demo", help="serve + testsrc + a demo catalog, live: see it work in one command"
    )
    demo.add_argument("--host", default="0.0.0.0")
    demo.add_argument("--port", type=_port, default=3000)
    demo.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="default: a 'demo' folder inside the user data dir",
    )

    token = sub.add_parser("token", help="print a signed staff token (JWT)")
    token.add_argument("--user-id", required=True, help="the staff member's user id")
    token.add_argument(
        "--role",
        default="admin",
        choices=["admin", "staff"],
        help="admin may go live and pin products; staff may chat and answer "
        "customers (default: admin)",
    )
    token.add_argument("--ttl", default="12h", help="lifetime, e.g. 30m, 12h, 7d (default 12h)")
    token.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where the secret is kept (default: the user data dir)",
    )
    return parser


def _add_server_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    p.add_argument("--port", type=_port, default=3000, help="port (default 3000; 0 = any free)")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where the database, uploads and secret live "
        "(default: $WRENCOS_DATA_DIR or the user data dir)",
    )
    p.add_argument(
        "--source",
        type=_source,
        default="none",
        help="what the broadcaster sends: none (default), testsrc (testsrc:busy: with a "
        "band of noise, at the full bitrate), camera[:DEVICE], screen[:DISPLAY] (the screen, "
        "through PyAV's x11grab/avfoundation/gdigrab), or a video file (looped)",
    )
    p.add_argument(
        "--video-size",
        type=_video_size,
        default=(1280, 720),
        metavar="WxH",
        help="broadcast resolution (default 1280x720)",
    )
    p.add_argument(
        "--fps",
        type=int,
        choices=range(1, 61),
        default=30,
        metavar="N",
        help="broadcast frame rate (default 30)",
    )
    p.add_argument(
        "--bitrate", type=_bitrate, default=2_500_000, help="video bitrate, e.g. 2500k (default)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("wrencos_studio.websockets").setLevel(logging.WARNING)
    if args.command == "token":
        return _cmd_token(args)
    if args.command == "serve":
        return _cmd_serve(args)
    if args.command == "devices":
        return _cmd_devices()
    if args.command == "station":
        url = args.url
        for http, ws in (("https://", "wss://"), ("http://", "ws://")):
            if url.startswith(http):
                url = ws + url[len(http) :]
        if not url.startswith(("ws://", "wss://")):
            url = "ws://" + url
        return _cmd_studio(station=(url, args.token))
    if args.command == "demo":
        data_dir = args.data_dir or default_data_dir() / "demo"
        serve_args = [
            "serve",
            "--host",
            args.host,
            "--port",
            str(args.port),
            "--data-dir",
            str(data_dir),
            "--source",
            "testsrc",
        ]
        return _cmd_serve(build_parser().parse_args(serve_args), demo=True)
    return _cmd_studio()


def _studio_port() -> int:
    """The port the studio is set to use (its settings file), else 3000."""
    import json

    try:
        value = json.loads((default_data_dir() / "studio-settings.json").read_text())["port"]
        return value if isinstance(value, int) and 0 <= value <= 65535 else 3000
    except (OSError, ValueError, KeyError, TypeError):
        return 3000


def _no_display() -> bool:
    """Linux/BSD without X11 or Wayland, and no Qt platform chosen: a window cannot open."""
    import os

    return (
        sys.platform not in ("win32", "darwin")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
        and not os.environ.get("QT_QPA_PLATFORM")
    )


def _cmd_studio(station: tuple[str, str] | None = None) -> int:
    import os

    # ``./studio`` sets WRENCOS_NO_WINDOW when Qt's system libraries are missing (it has
    # printed the command that installs them): Qt would abort, so no window is tried.
    no_window = os.environ.get("WRENCOS_NO_WINDOW", "")
    if no_window and station is not None:
        print(f"wrencos-studio station: no window can open here: {no_window}", file=sys.stderr)
        return 2
    if (_no_display() or no_window) and station is None:
        # A server or a fresh headless machine: say so and do the useful thing.
        why = no_window or "no display here"
        print(
            f"wrencos-studio: {why}, so no window; running the server headless "
            "(`wrencos-studio serve`, Ctrl+C stops it)",
            file=sys.stderr,
        )
        return _cmd_serve(build_parser().parse_args(["serve", "--port", str(_studio_port())]))
    try:
        from wrencos_studio.ui.app import main as studio_main
    except ImportError as exc:  # Qt missing or unusable here: say so, and what still works
        print(
            f"wrencos-studio: the window cannot open ({exc}); `wrencos-studio serve` runs "
            "the server without it",
            file=sys.stderr,
        )
        return 2
    return studio_main(station=station)


def _cmd_devices() -> int:
    from wrencos_studio.media.sources import (
        describe_camera,
        list_cameras,
        microphone_present,
        screen_available,
    )

    cameras = list_cameras()
    if not cameras:
        print("no cameras found")
    for device in cameras:
        name = describe_camera(device)
        print(f"camera:{device}" + (f"  ({name})" if name else ""))
    if screen_available():
        print("screen  (this machine's screen)")
    if microphone_present():
        print(
            "microphone: the system default (WRENCOS_MIC=<device> picks one, WRENCOS_MIC=none "
            "turns it off)"
        )
    else:
        print("no microphone found (camera and screen sources go out without sound)")
    return 0


def _cmd_token(args: argparse.Namespace) -> int:
    from wrencos_studio.hub.auth import mint_token, parse_ttl

    try:
        ttl = parse_ttl(args.ttl)
    except ValueError as exc:
        print(f"wrencos-studio token: {exc}", file=sys.stderr)
        return 2
    data_dir = args.data_dir.expanduser() if args.data_dir else default_data_dir()
    try:
        secret = load_or_create_secret(data_dir)
    except OSError as exc:
        print(f"wrencos-studio token: cannot use data dir {data_dir}: {exc}", file=sys.stderr)
        return 2
    print(mint_token(secret, args.user_id, args.role, ttl))
    return 0


def _cmd_serve(args: argparse.Namespace, demo: bool = False) -> int:
    try:
        settings = Settings.from_env(
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            video_width=args.video_size[0],
            video_height=args.video_size[1],
            video_fps=args.fps,
            video_bitrate=args.bitrate,
        )
    except OSError as exc:
        print(f"wrencos-studio serve: cannot use the data dir: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # a setting with a value it cannot have
        print(f"wrencos-studio serve: {exc}", file=sys.stderr)
        return 2
    if args.source != "none":
        from wrencos_studio.media.broadcaster import parse_ice_servers

        try:
            parse_ice_servers(settings.ice_servers)
        except ValueError as exc:
            print(f"wrencos-studio serve: WRENCOS_ICE_SERVERS: {exc}", file=sys.stderr)
            return 2
    from wrencos_studio.app import run_blocking

    try:
        return run_blocking(
            settings,
            source=args.source,
            demo=demo,
            share_tunnel=bool(getattr(args, "share_tunnel", False)),
        )
    except KeyboardInterrupt:
        return 0
