"""GET routes on the hub's port and the WebSocket Origin check."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import RunningHub


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


async def get(url: str) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(_get, url)


async def test_root_serves_the_customer_page(hub: RunningHub) -> None:
    """`/` is a real HTML page that loads its script and styles."""
    status, headers, body = await get(hub.http_url + "/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert b"<!doctype html>" in body.lower()
    assert b'src="/static/live.js"' in body
    status, headers, js = await get(hub.http_url + "/static/live.js")
    assert status == 200 and b"WebSocket" in js


async def test_healthz_reports_status_and_connection_counts(hub: RunningHub) -> None:
    """`/healthz` is JSON with status and connection counts."""
    await hub.customer("a")
    await hub.customer("b")
    await hub.admin()
    status, headers, body = await get(hub.http_url + "/healthz")
    assert status == 200 and headers["Content-Type"] == "application/json"
    health = json.loads(body)
    assert health["status"] == "ok"
    assert health["connections"]["customers"] == 2
    assert health["connections"]["admins"] == 1
    assert health["connections"]["total"] == 3


async def test_metrics_is_prometheus_text(hub: RunningHub) -> None:
    """`/metrics` has HELP/TYPE lines and the hub's figures."""
    c = await hub.customer("m")
    await c.send({"type": "nonsense"})
    await c.expect("error")
    status, headers, body = await get(hub.http_url + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    text = body.decode()
    assert "# TYPE wrencos_connections gauge" in text
    assert 'wrencos_connections{kind="customer"} 1' in text
    assert 'wrencos_errors_total{message="Unknown message type"} 1' in text
    assert 'wrencos_messages_received_total{type="register"} 1' in text
    for line in text.splitlines():
        if line and not line.startswith("#"):
            _name, value = line.rsplit(" ", 1)
            float(value)  # every sample is a number


async def test_uploads_are_served_and_traversal_is_refused(hub: RunningHub) -> None:
    """`/uploads/...` serves product images from the data dir, nothing outside it."""
    uploads = hub.data_dir / "uploads" / "products"
    uploads.mkdir(parents=True)
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
    (uploads / "serum.png").write_bytes(png)
    (hub.data_dir / "secret.png").write_bytes(b"secret")
    status, headers, body = await get(hub.http_url + "/uploads/products/serum.png")
    assert status == 200 and body == png and headers["Content-Type"] == "image/png"
    for path in (
        "/uploads/../secret.png",
        "/uploads/%2e%2e/secret.png",
        "/uploads/..%2fsecret.png",
        "/uploads/../wrencos.sqlite3",
        "/uploads/products/missing.png",
    ):
        status, _, body = await get(hub.http_url + path)
        assert status == 404, path
        assert b"secret" not in body


async def test_stored_product_images_are_cached_for_good(hub: RunningHub) -> None:
    """An image stored under the hash of its content (and its thumbnail) is immutable for
    caches; any other upload is cached for an hour only."""
    from PIL import Image

    from wrencos_studio.catalog.images import store_product_image

    picture = hub.data_dir / "photo.png"
    Image.new("RGB", (64, 48), "pink").save(picture)
    stored = store_product_image(picture, hub.data_dir / "uploads")
    for url in (stored.url, stored.thumbnail_url):
        status, headers, _ = await get(hub.http_url + url)
        assert status == 200 and headers["Cache-Control"] == "public, max-age=31536000, immutable"
    (hub.data_dir / "uploads" / "products" / "serum.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + b"\0" * 16
    )
    _, headers, _ = await get(hub.http_url + "/uploads/products/serum.png")
    assert headers["Cache-Control"] == "public, max-age=3600"


async def test_unknown_path_is_404(hub: RunningHub) -> None:
    """Anything else is 404."""
    for path in ("/nope", "/static/../../pyproject.toml", "/api/streams"):
        status, _, _ = await get(hub.http_url + path)
        assert status == 404, path


async def test_foreign_origin_is_refused_with_403(hub: RunningHub) -> None:
    """A WebSocket upgrade from another site's page gets HTTP 403."""
    with pytest.raises(InvalidStatus) as info:
        async with connect(hub.url, origin="https://evil.example"):
            pass
    assert info.value.response.status_code == 403


async def test_own_origin_and_no_origin_are_allowed(hub: RunningHub) -> None:
    """The server's own host (as the page would send it) and non-browser clients connect."""
    port = hub.url.rsplit(":", 1)[1]
    async with connect(hub.url, origin=f"http://127.0.0.1:{port}") as ws:
        await ws.send('{"type":"ping"}')
        assert json.loads(await ws.recv()) == {"type": "pong"}
    async with connect(hub.url) as ws:
        await ws.send('{"type":"ping"}')
        assert json.loads(await ws.recv()) == {"type": "pong"}


async def test_allowed_origins_setting(tmp_path: object) -> None:
    """Origins listed in WRENCOS_ALLOWED_ORIGINS may connect."""
    from pathlib import Path

    running = RunningHub(Path(str(tmp_path)) / "d", allowed_origins=("https://shop.example",))
    await running.start()
    try:
        async with connect(running.url, origin="https://shop.example") as ws:
            await ws.send('{"type":"ping"}')
            assert json.loads(await ws.recv()) == {"type": "pong"}
        with pytest.raises(InvalidStatus):
            async with connect(running.url, origin="https://other.example"):
                pass
    finally:
        await running.stop()
