"""Settings (one dataclass) and the paths of the data dir."""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "DB_FILENAME",
    "Settings",
    "check_delivery_urls",
    "check_http_url",
    "check_shop_currency",
    "default_data_dir",
    "load_or_create_secret",
]

DB_FILENAME = "wrencos.sqlite3"
SECRET_FILENAME = "jwt-secret"
APP_DIR_NAME = "wrencos-studio"


def default_data_dir() -> Path:
    """The platform's user data dir for the app; ``WRENCOS_DATA_DIR`` overrides it."""
    env = os.environ.get("WRENCOS_DATA_DIR")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "Wrencos Studio"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Wrencos Studio"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / APP_DIR_NAME


def load_or_create_secret(data_dir: Path) -> str:
    """The HS256 secret: ``WRENCOS_JWT_SECRET``, else one kept (mode 0600) in the data dir.

    ``token`` and ``serve`` both call this, so tokens minted by one are accepted by
    the other without any configuration.
    """
    env = os.environ.get("WRENCOS_JWT_SECRET")
    if env:
        return env
    path = data_dir / SECRET_FILENAME
    try:
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting at once must not each write a different secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    return value


def check_shop_currency(value: str) -> str:
    """The shop's currency, upper-cased; ValueError unless it is an ISO 4217 code."""
    from wrencos_studio.catalog.money import is_currency

    code = value.strip().upper()
    if not is_currency(code):
        raise ValueError(
            f"WRENCOS_CURRENCY={value!r} is not an ISO 4217 currency code (e.g. EUR, USD)"
        )
    return code


def check_http_url(value: str, name: str) -> str:
    """``value`` stripped if it is an absolute ``http://`` or ``https://`` URL with a host;
    ValueError naming the setting ``name`` (e.g. ``WRENCOS_WHIP_URL``) otherwise. Empty
    stays empty (the setting is off)."""
    text = value.strip()
    if not text:
        return ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{name}={value!r} is not an absolute http:// or https:// URL "
            f"(e.g. https://sfu.example.com/whip/endpoint/shop)"
        )
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValueError(f"{name}={value!r} has a bad port number") from None
    return text


def check_delivery_urls(settings: Settings) -> None:
    """Check (and strip) the WHIP and external playback URLs of ``settings``: each must be
    empty or an absolute ``http://``/``https://`` URL with a host. ValueError naming the
    variable otherwise (``serve`` then exits 2); a token without a URL is an error too."""
    settings.whip_url = check_http_url(settings.whip_url, "WRENCOS_WHIP_URL")
    settings.public_hls_url = check_http_url(settings.public_hls_url, "WRENCOS_PUBLIC_HLS_URL")
    settings.whep_url = check_http_url(settings.whep_url, "WRENCOS_WHEP_URL")
    if settings.whip_token and not settings.whip_url:
        raise ValueError("WRENCOS_WHIP_TOKEN is set but WRENCOS_WHIP_URL is not")
    if any(c in settings.whip_token for c in "\r\n"):
        raise ValueError("WRENCOS_WHIP_TOKEN must be one line")


def _flag(name: str, default: bool) -> bool:
    """A yes/no environment variable: 1/true/yes/on or 0/false/no/off (ValueError else)."""
    text = os.environ.get(name, "").strip().lower()
    if not text:
        return default
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={text!r}: use 1 or 0")


def _split_csv(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(slots=True)
class Settings:
    """Everything the hub needs to run; built from the command line and the environment."""

    host: str = "0.0.0.0"
    port: int = 3000
    data_dir: Path = field(default_factory=default_data_dir)
    jwt_secret: str = ""
    allowed_origins: tuple[str, ...] = ()
    redis_url: str | None = None
    # The contract's frame limit; the text limits live in hub/protocol.py.
    max_frame_bytes: int = 64 * 1024
    # Chat lines kept for late joiners (what fits in one 64 KiB frame is sent).
    chat_history_limit: int = 200
    # Per-connection token buckets: (rate per second, burst).
    chat_rate: tuple[float, int] = (5.0, 10)
    like_rate: tuple[float, int] = (5.0, 10)
    support_rate: tuple[float, int] = (5.0, 10)
    # Everything else a client may ask that costs work (signalling, inbox reads).
    general_rate: tuple[float, int] = (50.0, 100)
    # Registering: at most 5 in any 10 s on one connection (a sliding window, not a
    # bucket: the contract's Trust rules, rule 2).
    register_rate: tuple[float, int] = (0.5, 5)
    # A client whose unsent backlog stays above the high-water mark this long, or
    # passes the hard cap, is disconnected (it stopped reading).
    slow_client_high_water: int = 256 * 1024
    slow_client_hard_cap: int = 8 * 1024 * 1024
    slow_client_grace_s: float = 10.0
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    close_timeout_s: float = 2.0
    shop_url_pattern: str = ""
    #: The shop's ISO 4217 currency (``WRENCOS_CURRENCY``): products that name none.
    currency: str = "EUR"
    #: How the studio writes prices (``WRENCOS_LOCALE``, else the system's; Babel names).
    price_locale: str = "en_US"
    # Media (the broadcaster).
    video_width: int = 1280
    video_height: int = 720
    video_fps: int = 30
    video_bitrate: int = 2_500_000
    #: STUN/TURN servers, e.g. "stun:stun.example.org:3478"; none by default, so nothing
    #: outside the machine is contacted unless configured.
    ice_servers: str = ""
    #: Record every live show under ``<data dir>/recordings/`` (``WRENCOS_RECORDING=0``: off).
    recording: bool = True
    #: Free disk (MiB) below which a recording stops (warned at twice this);
    #: ``WRENCOS_RECORDING_MIN_FREE_MB``.
    recording_min_free_mb: int = 500
    #: List past shows at ``/replays`` (``WRENCOS_LIST_REPLAYS=1``); off: only those who
    #: have a replay's link can watch it.
    list_replays: bool = False
    #: Publish the live stream to this WHIP endpoint (RFC 9725), with this bearer token
    #: (``WRENCOS_WHIP_URL``, ``WRENCOS_WHIP_TOKEN``); "" : off.
    whip_url: str = ""
    whip_token: str = ""
    #: Where the customer page plays from first, falling back to the studio itself
    #: (``WRENCOS_PUBLIC_HLS_URL``, ``WRENCOS_WHEP_URL``); "": not set.
    public_hls_url: str = ""
    whep_url: str = ""

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from the environment, then explicit overrides (e.g. CLI flags)."""
        settings = cls()
        settings.allowed_origins = _split_csv(os.environ.get("WRENCOS_ALLOWED_ORIGINS"))
        settings.redis_url = os.environ.get("WRENCOS_REDIS_URL") or None
        settings.shop_url_pattern = os.environ.get("WRENCOS_SHOP_URL_PATTERN", "")
        settings.ice_servers = os.environ.get("WRENCOS_ICE_SERVERS", "")
        settings.recording = _flag("WRENCOS_RECORDING", settings.recording)
        settings.list_replays = _flag("WRENCOS_LIST_REPLAYS", settings.list_replays)
        if os.environ.get("WRENCOS_RECORDING_MIN_FREE_MB"):
            text = os.environ["WRENCOS_RECORDING_MIN_FREE_MB"]
            if not text.strip().isdigit():
                raise ValueError(f"WRENCOS_RECORDING_MIN_FREE_MB={text!r} is not a whole number")
            settings.recording_min_free_mb = int(text)
        settings.whip_url = os.environ.get("WRENCOS_WHIP_URL", "")
        settings.whip_token = os.environ.get("WRENCOS_WHIP_TOKEN", "")
        settings.public_hls_url = os.environ.get("WRENCOS_PUBLIC_HLS_URL", "")
        settings.whep_url = os.environ.get("WRENCOS_WHEP_URL", "")
        if os.environ.get("WRENCOS_CURRENCY"):
            settings.currency = os.environ["WRENCOS_CURRENCY"]
        for key, value in overrides.items():
            if value is not None:
                setattr(settings, key, value)
        settings.data_dir = Path(settings.data_dir).expanduser()
        settings.currency = check_shop_currency(settings.currency)
        check_delivery_urls(settings)
        from wrencos_studio.catalog.money import shop_locale

        settings.price_locale = shop_locale()  # ValueError for a bad WRENCOS_LOCALE
        if not settings.jwt_secret:
            settings.jwt_secret = load_or_create_secret(settings.data_dir)
        return settings

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_FILENAME

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def recordings_dir(self) -> Path:
        """Where shows are recorded (``<data dir>/recordings``)."""
        return self.data_dir / "recordings"
