"""Entry points: the studio (GUI), ``serve`` (headless hub), ``token`` (staff JWTs)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from wrencos_studio import __version__
from wrencos_studio.config import Settings, default_data_dir, load_or_create_secret

__all__ = ["main", "run_server"]

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
        "band of noise, at the full bitrate), camera[:DEVICE], or a video file (looped)",
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
    if _no_display() and station is None:
        # A server or a fresh headless machine: say so and do the useful thing.
        print(
            "wrencos-studio: no display here, so no window; running the server headless "
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
    from wrencos_studio.media.sources import describe_camera, list_cameras

    cameras = list_cameras()
    if not cameras:
        print("no cameras found")
    for device in cameras:
        name = describe_camera(device)
        print(f"camera:{device}" + (f"  ({name})" if name else ""))
    print(
        "microphone: the system default (WRENCOS_MIC=<device> picks one, WRENCOS_MIC=none "
        "turns it off)"
    )
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
    if args.source != "none":
        from wrencos_studio.media.broadcaster import parse_ice_servers

        try:
            parse_ice_servers(settings.ice_servers)
        except ValueError as exc:
            print(f"wrencos-studio serve: WRENCOS_ICE_SERVERS: {exc}", file=sys.stderr)
            return 2
    try:
        return _run_headless(settings, args.source, demo)
    except KeyboardInterrupt:
        return 0


def _run_headless(settings: Settings, source: str, demo: bool) -> int:
    """Run ``serve``'s event loop: uvloop where it is installed (its sockets and callbacks
    cost less per message, which is most of a busy hub's time), else asyncio's own.
    ``WRENCOS_EVENT_LOOP=asyncio`` forces asyncio's loop, e.g. to compare the two. The studio
    window runs on qasync instead, in ``ui/app.py``."""
    import os

    if os.environ.get("WRENCOS_EVENT_LOOP", "").lower() != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(run_server(settings, source=source, demo=demo))
    return asyncio.run(run_server(settings, source=source, demo=demo))


async def run_server(
    settings: Settings,
    on_ready: Callable[[str], None] | None = None,
    source: str = "none",
    demo: bool = False,
) -> int:
    """Run the hub until SIGINT/SIGTERM; 0 on a clean stop, 2 if it could not start."""
    from wrencos_studio.hub.core import Hub
    from wrencos_studio.hub.server import HubServer
    from wrencos_studio.store import Store, StoreError

    store = Store(settings.db_path)
    try:
        store.open()
        hub = Hub(settings, store)
        hub.load()
    except (StoreError, OSError, sqlite3.Error) as exc:
        print(
            f"wrencos-studio: cannot open the database {settings.db_path}: {exc}", file=sys.stderr
        )
        store.close_sync()
        return 2
    cluster = None
    if settings.redis_url:
        from wrencos_studio.hub.cluster import ClusterError, join_cluster

        try:
            cluster = await join_cluster(hub, settings.redis_url)
        except ClusterError as exc:
            print(f"wrencos-studio: {exc}", file=sys.stderr)
            store.close_sync()
            return 2
    try:
        server = HubServer(hub)
        try:
            await server.start()
        except OSError as exc:
            print(
                f"wrencos-studio: cannot listen on {settings.host}:{settings.port}: "
                f"{exc.strerror or exc}",
                file=sys.stderr,
            )
            return 2
        stop = asyncio.Event()
        _install_signal_handlers(stop)
        broadcaster = None
        if source != "none":
            from wrencos_studio.media.broadcaster import Broadcaster, parse_ice_servers
            from wrencos_studio.media.encoder import VideoSettings
            from wrencos_studio.media.sources import parse_source

            broadcaster = Broadcaster(
                hub,
                parse_source(source),
                VideoSettings(
                    settings.video_width,
                    settings.video_height,
                    settings.video_fps,
                    settings.video_bitrate,
                ),
                parse_ice_servers(settings.ice_servers),
            )
            await broadcaster.start()
            if demo:
                await _set_up_demo(hub, broadcaster)
        url = f"http://{settings.host}:{server.port}"
        print(f"listening on {url}", flush=True)
        for page in customer_urls(settings.host, server.port):
            print(f"customer page: {page}", flush=True)
        if on_ready is not None:
            on_ready(url)
        await stop.wait()
        log.info("stopping")
        if broadcaster is not None:
            await broadcaster.stop()
        await server.stop()
        await hub.drain()
    finally:
        if cluster is not None:
            await cluster.stop()
        await store.close()
    log.info("stopped cleanly")
    return 0


def _install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows
            with contextlib.suppress(ValueError):
                signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))


def customer_urls(host: str, port: int) -> list[str]:
    """The addresses customers can open: every LAN IPv4 address when listening on all."""
    if host not in ("0.0.0.0", "::", ""):
        return [f"http://{host}:{port}/"]
    try:
        import ifaddr

        addresses = [
            ip.ip
            for adapter in ifaddr.get_adapters()
            for ip in adapter.ips
            if isinstance(ip.ip, str) and not ip.ip.startswith(("127.", "169.254."))
        ]
    except Exception:
        addresses = []
    return [f"http://{a}:{port}/" for a in addresses] or [f"http://localhost:{port}/"]


DEMO_PRODUCTS = [
    ("hydrating-serum", "Hydrating Serum", 49.99, "Hyaluronic acid, 30 ml"),
    ("vitamin-c-glow", "Vitamin C Glow", 39.0, "Brightening drops, 15 ml"),
    ("night-repair-cream", "Night Repair Cream", 54.5, "Peptides and ceramides, 50 ml"),
    ("rose-lip-balm", "Rose Lip Balm", 12.0, "Shea butter, 10 g"),
]


def _copy_demo_images(uploads: Path) -> None:
    import shutil

    demo_dir = Path(__file__).resolve().parent.parent / "resources" / "demo"
    uploads.mkdir(parents=True, exist_ok=True)
    for slug, *_ in DEMO_PRODUCTS:
        source = demo_dir / f"{slug}.svg"
        if source.exists():
            shutil.copyfile(source, uploads / f"{slug}.svg")


async def _set_up_demo(hub: object, broadcaster: object) -> None:
    """A demo catalog with images, a live stream and two pinned products."""
    from wrencos_studio.clock import utc_now_iso
    from wrencos_studio.store import repositories as repo

    uploads = hub.settings.uploads_dir / "demo"  # type: ignore[attr-defined]
    await asyncio.to_thread(_copy_demo_images, uploads)
    pins = []
    for i, (slug, name, price, description) in enumerate(DEMO_PRODUCTS):
        product = {
            "productId": slug,
            "name": name,
            "price": price,
            "image": f"/uploads/demo/{slug}.svg",
            "description": description,
            "url": "",
        }
        await hub.store.run(repo.upsert_product, product, utc_now_iso())  # type: ignore[attr-defined]
        if i < 2:
            pins.append(
                {
                    "productId": slug,
                    "name": name,
                    "price": price,
                    "image": product["image"],
                    "displayOrder": i + 1,
                }
            )
    say = broadcaster._say  # type: ignore[attr-defined]
    if hub.stream is None:  # type: ignore[attr-defined]
        await say(
            {
                "type": "start_stream",
                "title": "Wrencos demo: spring serums",
                "description": "A test pattern stands in for the camera",
            }
        )
    await say({"type": "pin_products", "pinnedProducts": pins})
