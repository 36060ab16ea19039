"""The shop's catalog over a real server: urls and currencies, pins that follow the
catalog, and the summary of a show (issue 11)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningHub
from tests.helpers.clients import WsClient

INVALID = {"type": "error", "message": "Invalid message format"}


async def save(admin: WsClient, **product: Any) -> dict[str, Any]:
    await admin.send({"type": "save_product", "product": {"price": 1, **product}})
    return (await admin.expect("product_saved"))["product"]


async def test_products_carry_a_url_and_a_currency(hub: RunningHub) -> None:
    """`url` and `currency` are stored and sent back; no currency: the shop's (EUR)."""
    admin = await hub.admin()
    serum = await save(
        admin,
        productId="serum",
        name="Serum",
        price=24.9,
        url="https://shop.example/serum?ref=live",
        currency="USD",
    )
    assert serum["url"] == "https://shop.example/serum?ref=live"
    assert serum["currency"] == "USD"
    toner = await save(admin, productId="toner", name="Toner")
    assert toner["currency"] == "EUR" and toner["url"] == ""
    await admin.send({"type": "get_products"})
    listed = (await admin.expect("products"))["products"]
    assert [(p["productId"], p["currency"]) for p in listed] == [("serum", "USD"), ("toner", "EUR")]


@pytest.mark.parametrize(
    "fields",
    [
        {"url": "/serum"},
        {"url": "shop.example/serum"},
        {"url": "javascript:alert(1)"},
        {"url": "ftp://shop.example/serum"},
        {"url": "https://"},
        {"url": "https://shop.example/a b"},
        {"url": 7},
        {"currency": "eur"},
        {"currency": "EURO"},
        {"currency": "XYZ"},
        {"currency": 978},
        {"price": "14.90"},
        {"price": None},
        {"price": -1},
    ],
)
async def test_a_bad_url_currency_or_price_is_refused(
    hub: RunningHub, fields: dict[str, Any]
) -> None:
    """Relative or non-http(s) urls, unknown or lower-case currencies, prices that are not
    numbers: "Invalid message format", nothing saved, the same in a pin."""
    admin = await hub.admin()
    await admin.send({"type": "save_product", "product": {"name": "Serum", "price": 1, **fields}})
    assert await admin.recv() == INVALID
    pin = {"productId": "p1", "name": "Serum", "price": 1, **fields}
    await admin.send({"type": "pin_products", "pinnedProducts": [pin]})
    assert await admin.recv() == INVALID
    await admin.send({"type": "get_products"})
    assert (await admin.expect("products"))["products"] == []


async def test_the_shop_currency_setting_is_the_default(tmp_path: Path) -> None:
    """`Settings.currency` (WRENCOS_CURRENCY) names the currency of products that name none."""
    running = RunningHub(tmp_path / "data", currency="CHF")
    await running.start()
    try:
        admin = await running.admin()
        assert (await save(admin, name="Serum"))["currency"] == "CHF"
    finally:
        await running.stop()


async def test_a_pin_carries_the_catalog_product(hub: RunningHub) -> None:
    """Pinning a catalog product by id sends its current name, price, image, url,
    description and currency, whatever the admin's item said."""
    admin = await hub.admin()
    customer = await hub.customer("s1")
    await save(
        admin,
        productId="serum",
        name="Serum",
        price=24.9,
        image="/uploads/products/a.jpg",
        url="https://shop.example/serum",
        description="30 ml",
    )
    await admin.send(
        {
            "type": "pin_products",
            "pinnedProducts": [
                {"productId": "serum", "name": "old name", "price": 99, "displayOrder": 1},
                {"productId": "gift", "name": "Gift card", "price": 10},
            ],
        }
    )
    pins = (await customer.expect("pinned_products_updated"))["pinnedProducts"]
    assert pins == [
        {
            "productId": "serum",
            "name": "Serum",
            "price": 24.9,
            "image": "/uploads/products/a.jpg",
            "displayOrder": 1,
            "url": "https://shop.example/serum",
            "description": "30 ml",
            "currency": "EUR",
        },
        {"productId": "gift", "name": "Gift card", "price": 10},
    ]


async def test_an_edit_to_a_pinned_product_reaches_every_phone_at_once(hub: RunningHub) -> None:
    """24.90 -> 19.90 on a pinned product: every client gets the new pins within 1 s, and
    a customer who registers later gets them too."""
    admin = await hub.admin()
    await hub.live(admin)
    phones = [await hub.customer(f"s{i}") for i in range(3)]
    await save(admin, productId="serum", name="Serum", price=24.9)
    await admin.send(
        {"type": "pin_products", "pinnedProducts": [{"productId": "serum", "price": 24.9}]}
    )
    for phone in phones:
        await phone.expect("pinned_products_updated")
    started = time.monotonic()
    await save(admin, productId="serum", name="Serum", price=19.9, url="https://s.example/x")
    for phone in [*phones, admin]:
        pins = (await phone.expect("pinned_products_updated", timeout=1.0))["pinnedProducts"]
        assert pins[0]["price"] == 19.9 and pins[0]["url"] == "https://s.example/x"
    assert time.monotonic() - started < 1.0
    late = await hub.customer("late")
    [pinned] = [m for m in late.joined if m["type"] == "pinned_products_updated"]
    assert pinned["pinnedProducts"][0]["price"] == 19.9


async def test_saving_a_product_that_is_not_pinned_tells_customers_nothing(
    hub: RunningHub,
) -> None:
    """Only a pinned product's save re-sends the pins."""
    admin = await hub.admin()
    customer = await hub.customer("s1")
    await save(admin, productId="toner", name="Toner")
    assert await customer.quiet() == []


async def test_deleting_a_pinned_product_takes_it_off_the_pins(hub: RunningHub) -> None:
    """The card disappears for everyone; the other pins stay in order."""
    admin = await hub.admin()
    customer = await hub.customer("s1")
    for pid in ("a", "b", "c"):
        await save(admin, productId=pid, name=pid.upper())
    await admin.send(
        {
            "type": "pin_products",
            "pinnedProducts": [{"productId": pid, "price": 1} for pid in ("a", "b", "c")],
        }
    )
    await customer.expect("pinned_products_updated")
    await admin.send({"type": "delete_product", "productId": "b"})
    pins = (await customer.expect("pinned_products_updated"))["pinnedProducts"]
    assert [p["productId"] for p in pins] == ["a", "c"]


async def test_pins_follow_the_catalog_after_a_restart(hub: RunningHub) -> None:
    """Pins as re-sent after an edit are what a restarted hub sends."""
    admin = await hub.admin()
    await hub.live(admin)
    await save(admin, productId="serum", name="Serum", price=24.9)
    await admin.send(
        {"type": "pin_products", "pinnedProducts": [{"productId": "serum", "price": 1}]}
    )
    await admin.expect("pinned_products_updated")
    await save(admin, productId="serum", name="Serum", price=19.9)
    await admin.expect("pinned_products_updated")
    await hub.restart()
    customer = await hub.customer("s1")
    [pinned] = [m for m in customer.joined if m["type"] == "pinned_products_updated"]
    assert pinned["pinnedProducts"][0]["price"] == 19.9


# -- the show's summary ------------------------------------------------------------------


async def test_the_summary_of_a_scripted_show(hub: RunningHub) -> None:
    """A show with known figures: 3 viewers at the peak, 2 likes, 4 chat lines (one
    deleted, one by staff), 2 customers who chatted, 3 products pinned (one of them
    before going live). Admins get `stream_summary` right after `stream_stopped`;
    customers only `stream_stopped`."""
    admin = await hub.admin()
    await admin.send({"type": "pin_products", "pinnedProducts": [{"productId": "w", "price": 1}]})
    await admin.expect("pinned_products_updated")
    started = await hub.live(admin)
    a, b, c = [await hub.customer(s) for s in ("sa", "sb", "sc")]
    for phone in (a, b):
        await phone.send({"type": "toggle_like"})
        await phone.expect("stream_update")
    for phone, text in ((a, "hi"), (a, "price?"), (b, "spam")):
        await phone.send({"type": "chat_message", "message": text})
        line = await phone.expect("chat_message")
    await admin.send({"type": "chat_message", "message": "welcome"})
    await admin.expect("chat_message", message="welcome")
    await admin.send({"type": "delete_chat_message", "id": line["id"]})  # b's "spam"
    await admin.expect("chat_message_deleted")
    for pins in (["x"], ["x", "y"], ["y"]):
        items = [{"productId": pid, "price": 1} for pid in pins]
        await admin.send({"type": "pin_products", "pinnedProducts": items})
        await admin.expect("pinned_products_updated")
    await asyncio.sleep(1.2)  # longer than a second: a duration to count
    await admin.send({"type": "stop_stream"})
    await admin.expect("stream_stopped")
    following = await admin.recv()  # right after it
    assert following["type"] == "stream_summary"
    summary = following["summary"]
    assert summary["streamId"] == started["streamData"]["streamId"]
    assert summary["title"] == "Spring serums"
    assert summary["startedAt"] == started["streamData"]["startTime"]
    assert summary["durationSeconds"] >= 1
    assert {k: summary[k] for k in ("peakViewers", "likes", "chatLines", "chatters")} == {
        "peakViewers": 3,
        "likes": 2,
        "chatLines": 3,
        "chatters": 1 + 1,
    }
    assert summary["productsPinned"] == 3
    await c.expect("stream_stopped")
    assert [m["type"] for m in await c.quiet()] == []


async def test_past_shows_are_listed_newest_first_in_pages(hub: RunningHub) -> None:
    """`get_stream_summaries` pages like the inbox: `limit`, `more`, `nextCursor`; a
    cursor we did not make and a limit outside 1-100 are refused; customers may not ask."""
    admin = await hub.admin()
    for title in ("one", "two", "three"):
        await hub.live(admin, title)
        await admin.send({"type": "stop_stream"})
        await admin.expect("stream_summary")
    await admin.send({"type": "get_stream_summaries", "limit": 2})
    page = await admin.expect("stream_summaries")
    assert [s["title"] for s in page["summaries"]] == ["three", "two"]
    assert page["more"] is True
    await admin.send({"type": "get_stream_summaries", "limit": 2, "before": page["nextCursor"]})
    last = await admin.expect("stream_summaries")
    assert [s["title"] for s in last["summaries"]] == ["one"]
    assert last["more"] is False and "nextCursor" not in last
    await admin.send({"type": "get_stream_summaries"})
    assert len((await admin.expect("stream_summaries"))["summaries"]) == 3
    for bad in ({"limit": 0}, {"limit": 101}, {"limit": 1.5}, {"before": "nope"}):
        await admin.send({"type": "get_stream_summaries", **bad})
        assert await admin.recv() == INVALID
    customer = await hub.customer("s1")
    await customer.send({"type": "get_stream_summaries"})
    assert await customer.recv() == {"type": "error", "message": "Not authorized"}


async def test_a_summary_survives_a_restart(hub: RunningHub) -> None:
    """Summaries are kept in SQLite."""
    admin = await hub.admin()
    await hub.live(admin, "kept")
    await admin.send({"type": "stop_stream"})
    summary = (await admin.expect("stream_summary"))["summary"]
    await hub.restart()
    admin = await hub.admin()
    await admin.send({"type": "get_stream_summaries"})
    assert (await admin.expect("stream_summaries"))["summaries"] == [summary]


# -- the CSV import through the hub -------------------------------------------------------


async def test_a_csv_file_imported_twice_through_the_hub_duplicates_nothing(
    hub: RunningHub, tmp_path: Path
) -> None:
    """What the studio does: read the file, send `report.to_save` as `save_product`, and
    the second time (with the catalog it got from `products`) nothing is new."""
    from wrencos_studio.catalog.csv_import import import_products
    from wrencos_studio.store.rows import Product

    sheet = tmp_path / "catalog.csv"
    sheet.write_bytes(
        "\ufeffSKU;Name;Price;Link\r\nS-1;Serum;14,90 €;https://shop.example/s\r\n"
        ";Soap;3\r\n".encode()
    )
    admin = await hub.admin()

    async def catalog() -> list[Product]:
        await admin.send({"type": "get_products"})
        rows = (await admin.expect("products"))["products"]
        return [
            Product(
                r["productId"], r["name"], r["price"], r["image"], r["description"],
                r["url"], r["updatedAt"], r["currency"],
            )
            for r in rows
        ]  # fmt: skip

    first = import_products(sheet, existing=await catalog())
    for product in first.to_save:
        await save(admin, **product)
    second = import_products(sheet, existing=await catalog())
    assert (second.created, second.updated, second.unchanged) == (0, 0, 2)
    assert {p.name: p.price for p in await catalog()} == {"Serum": 14.9, "Soap": 3.0}
