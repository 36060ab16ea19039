"""The product catalog (staff keep it) and the products pinned in the live stream."""

from __future__ import annotations

import secrets
from typing import Any

from wrencos_studio.clock import utc_now_iso
from wrencos_studio.hub import events as ev
from wrencos_studio.hub import protocol as p
from wrencos_studio.hub.broker import Snapshot
from wrencos_studio.hub.engine import Client, Feature, StoreJob, applies, handles, replicates
from wrencos_studio.hub.protocol import ProtocolError
from wrencos_studio.store import repositories as repo
from wrencos_studio.store.rows import Product

__all__ = ["PINS_MAX_BYTES", "Catalog"]

#: ``pinned_products_updated`` goes to every customer in one frame: at most 64 KiB.
PINS_MAX_BYTES = 64 * 1024


class Catalog(Feature):
    """``get_products``, ``save_product``, ``delete_product`` and ``pin_products``."""

    def load(self) -> None:
        self.hub.pinned = self.hub.store.run_sync(repo.load_pinned)

    async def join(self, snapshot: Snapshot | None) -> None:
        if snapshot is None:
            return
        if snapshot.pinned is not None:
            self.hub.pinned = snapshot.pinned
        else:
            self.hub.broker.remember_pinned(self.hub.pinned)

    # -- pins ---------------------------------------------------------------------------

    @handles(p.PinProducts)
    async def pin_products(self, client: Client, msg: p.PinProducts) -> None:
        items: list[dict[str, Any]] = msg.pinned_products
        if len(p.encode(p.PinnedProductsUpdated(items))) > PINS_MAX_BYTES:
            raise ProtocolError(p.ERR_TOO_LONG)  # every page gets it in one frame
        await self.hub.store.run(repo.replace_pinned, items)
        self.hub.broker.remember_pinned(items)
        self.hub.emit(ev.PinsChanged(items))

    @replicates(ev.PinsChanged)
    def _copy_pins(self, event: ev.PinsChanged) -> StoreJob:
        return (repo.replace_pinned, event.items)

    @applies(ev.PinsChanged)
    def _pins_changed(self, event: ev.PinsChanged) -> None:
        self.hub.pinned = event.items
        self.hub.broadcast(p.PinnedProductsUpdated(event.items))

    # -- the catalog ----------------------------------------------------------------------

    @handles(p.GetProducts)
    async def get_products(self, client: Client, msg: p.GetProducts) -> None:
        rows = await self.hub.store.run(repo.list_products)
        self.hub.send(client, p.Products(rows))

    @handles(p.SaveProduct)
    async def save_product(self, client: Client, msg: p.SaveProduct) -> None:
        fields = msg.product  # checked by inbound._product_fields
        product = Product(
            product_id=fields["productId"] or secrets.token_hex(12),
            name=fields["name"],
            price=fields["price"],
            image=fields["image"],
            description=fields["description"],
            url=fields["url"],
            updated_at=utc_now_iso(),
        )
        saved = await self.hub.store.run(repo.upsert_product, product)
        self.hub.emit(ev.ProductSaved(saved))

    @replicates(ev.ProductSaved)
    def _copy_saved(self, event: ev.ProductSaved) -> StoreJob:
        return (repo.upsert_product, event.product)

    @applies(ev.ProductSaved)
    def _saved(self, event: ev.ProductSaved) -> None:
        self.hub.broadcast(p.ProductSaved(event.product), to=self.hub.admins)

    @handles(p.DeleteProduct)
    async def delete_product(self, client: Client, msg: p.DeleteProduct) -> None:
        deleted = await self.hub.store.run(repo.delete_product, msg.product_id)
        self.hub.emit(ev.ProductDeleted(msg.product_id, deleted))

    @replicates(ev.ProductDeleted)
    def _copy_deleted(self, event: ev.ProductDeleted) -> StoreJob:
        return (repo.delete_product, event.product_id)

    @applies(ev.ProductDeleted)
    def _deleted(self, event: ev.ProductDeleted) -> None:
        self.hub.broadcast(p.ProductDeleted(event.product_id, event.deleted), to=self.hub.admins)
