"""Takes the README's customer-page screenshots from a real `demo` (video included).

    scripts/netns-run .venv/bin/python scripts/screenshots.py

writes docs/screenshots/customer-page-{desktop,phone,landscape}.png (1280x800, 375x812 and a
390x844 phone on its side, 844x390).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHAT = [
    ("Dana", "Is the serum fragrance free?"),
    ("Shop", "Yes, fully fragrance free."),
    ("Lee", "Love the bottle design!"),
]


async def pin_whole_catalog(port: str, secret: str) -> None:
    """The presenter pins a third product during the show: the strip holds more than a
    screen, the newest card highlighted and scrolled wholly into view."""
    from wrencos_studio.hub.auth import mint_token

    async with connect(f"ws://127.0.0.1:{port}") as ws:
        await ws.send(json.dumps({"type": "register_admin", "token": mint_token(secret, "shop")}))
        await ws.recv()
        await ws.send(json.dumps({"type": "get_products"}))
        while (msg := json.loads(await ws.recv()))["type"] != "products":
            pass
        pins = [
            {**p, "displayOrder": i + 1}
            for i, p in enumerate(
                {"productId": p["productId"], "price": p["price"]} for p in msg["products"]
            )
        ]
        await ws.send(json.dumps({"type": "pin_products", "pinnedProducts": pins}))
        while json.loads(await ws.recv())["type"] != "pinned_products_updated":
            pass


async def main() -> None:
    data = tempfile.mkdtemp()
    env = {**os.environ, "WRENCOS_JWT_SECRET": "screenshots-" + "x" * 30}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wrencos_studio",
        "--log-level",
        "WARNING",
        "demo",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--data-dir",
        data,
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    port = (await proc.stdout.readline()).decode().strip().rsplit(":", 1)[1]
    url = f"http://127.0.0.1:{port}/"
    try:
        for name, text in CHAT:
            async with connect(f"ws://127.0.0.1:{port}") as ws:
                if name == "Shop":
                    from wrencos_studio.hub.auth import mint_token

                    await ws.send(
                        json.dumps(
                            {
                                "type": "register_admin",
                                "token": mint_token(env["WRENCOS_JWT_SECRET"], "shop"),
                            }
                        )
                    )
                else:
                    await ws.send(json.dumps({"type": "register", "sessionId": f"shot-{name}"}))
                await ws.recv()
                await ws.send(
                    json.dumps({"type": "chat_message", "username": name, "message": text})
                )
                await asyncio.sleep(0.2)
        await pin_whole_catalog(port, env["WRENCOS_JWT_SECRET"])
        out = ROOT / "docs" / "screenshots"
        out.mkdir(parents=True, exist_ok=True)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=ARGS
            )
            for name, viewport in (
                ("desktop", {"width": 1280, "height": 800}),
                ("phone", {"width": 375, "height": 812}),
                ("landscape", {"width": 844, "height": 390}),
            ):
                page = await browser.new_page(viewport=viewport)
                await page.goto(url)
                for _ in range(100):
                    frames = await page.evaluate(
                        "window.wrencosPlayer ? window.wrencosPlayer.stats.frames : 0"
                    )
                    if frames > 20:
                        break
                    await asyncio.sleep(0.1)
                await page.screenshot(path=str(out / f"customer-page-{name}.png"))
                print("wrote", out / f"customer-page-{name}.png")
            await browser.close()
    finally:
        proc.terminate()
        await proc.wait()


if __name__ == "__main__":
    asyncio.run(main())
