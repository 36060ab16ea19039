"""``wrencos-studio demo``: a demo catalog with images, live with a test pattern."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from wrencos_studio.clock import utc_now_iso

if TYPE_CHECKING:
    from wrencos_studio.app import App

__all__ = ["DEMO_PRODUCTS", "set_up_demo"]

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


async def set_up_demo(app: App) -> None:
    """A demo catalog with images, a live stream and two pinned products (through an
    in-process admin connection, as the studio would do it)."""
    from wrencos_studio.store import repositories as repo
    from wrencos_studio.store.rows import Product

    assert app.hub is not None and app.store is not None
    uploads = app.settings.uploads_dir / "demo"
    await asyncio.to_thread(_copy_demo_images, uploads)
    pins = []
    for i, (slug, name, price, description) in enumerate(DEMO_PRODUCTS):
        product = Product(
            product_id=slug,
            name=name,
            price=price,
            image=f"/uploads/demo/{slug}.svg",
            description=description,
            url="",
            updated_at=utc_now_iso(),
        )
        await app.store.run(repo.upsert_product, product)
        if i < 2:
            pins.append(
                {
                    "productId": slug,
                    "name": name,
                    "price": price,
                    "image": product.image,
                    "displayOrder": i + 1,
                }
            )
    presenter = app.connect_local(lambda _msg: None, "demo")
    try:
        await presenter.register_admin("demo")
        if app.hub.stream is None:
            await presenter.request(
                {
                    "type": "start_stream",
                    "title": "Wrencos demo: spring serums",
                    "description": "A test pattern stands in for the camera",
                }
            )
        await presenter.request({"type": "pin_products", "pinnedProducts": pins})
    finally:
        presenter.close()
