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

__all__ = ["PINS_MAX_BYTES", "Catalog", "pin_of"]

#: ``pinned_products_updated`` goes to every customer in one frame: at most 64 KiB.
PINS_MAX_BYTES = 64 * 1024


def pin_of(product: Product, sent: dict[str, Any]) -> dict[str, Any]:
    """A pin of a catalog product: its current fields, with the ``productId`` (as sent,
    a number stays a number) and ``displayOrder`` of the admin's item. ``url`` and
    ``description`` only when the product has them."""
    pin: dict[str, Any] = {
        "productId": sent["productId"],
        "name": product.name,
        "price": product.price,
        "image": product.image,
    }
    if "displayOrder" in sent:
        pin["displayOrder"] = sent["displayOrder"]
    if product.url:
        pin["url"] = product.url
    if product.description:
        pin["description"] = product.description
    pin["currency"] = product.currency
    return pin


class Catalog(Feature):
    """``get_products``, ``save_product``, ``delete_product`` and ``pin_products``.

    Pins of catalog products follow the catalog: pinning fills them from it, saving a
    pinned product re-sends the pins, deleting one takes it off them."""

    def load(self) -> None:
        store = self.hub.store
        store.run_sync(repo.fill_missing_currency, self.hub.settings.currency)
        self.hub.pinned = store.run_sync(repo.load_pinned)

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
        sent: list[dict[str, Any]] = msg.pinned_products
        ids = [str(item["productId"]) for item in sent]
        catalog = await self.hub.store.run(repo.products_by_ids, ids)
        # A pin of a product not in the catalog keeps what the admin sent.
        items = [
            pin_of(catalog[pid], item) if pid in catalog else item
            for pid, item in zip(ids, sent, strict=True)
        ]
        await self._set_pins(items)

    async def _set_pins(self, items: list[dict[str, Any]]) -> None:
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
        self.hub.feature(Customers).taps_changed()  # staff: the pins' taps and times
        if (timeline := timeline_of(self.hub)) is not None:
            timeline.pins(event.items)

    def _pinned_index(self, product_id: str) -> list[int]:
        return [
            i for i, item in enumerate(self.hub.pinned) if str(item.get("productId")) == product_id
        ]

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
            currency=fields["currency"] or self.hub.settings.currency,
        )
        saved = await self.hub.store.run(repo.upsert_product, product)
        self.hub.emit(ev.ProductSaved(saved))
        pinned = self._pinned_index(saved.product_id)
        if pinned:
            # Every phone shows the new price (name, link...) at once, not at the next pin.
            items = list(self.hub.pinned)
            for i in pinned:
                items[i] = pin_of(saved, items[i])
            await self._set_pins(items)

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
        if self._pinned_index(msg.product_id):
            # A card must not offer what the shop no longer sells.
            await self._set_pins(
                [i for i in self.hub.pinned if str(i.get("productId")) != msg.product_id]
            )

    @replicates(ev.ProductDeleted)
    def _copy_deleted(self, event: ev.ProductDeleted) -> StoreJob:
        return (repo.delete_product, event.product_id)

    @applies(ev.ProductDeleted)
    def _deleted(self, event: ev.ProductDeleted) -> None:
        self.hub.broadcast(p.ProductDeleted(event.product_id, event.deleted), to=self.hub.admins)


from wrencos_studio.hub.features.customers import Customers  # noqa: E402
from wrencos_studio.hub.features.timeline import timeline_of  # noqa: E402
