"""The catalog across two hubs through a real redis-server: a pinned product's edit and
a show's summary reach the other hub's clients."""

from __future__ import annotations

import time

from tests.conftest import RunningHub


async def test_a_pinned_products_edit_reaches_the_other_hub(
    pair: tuple[RunningHub, RunningHub],
) -> None:
    """Saved on hub A, the new price is on hub B's phones within 1 s; the summary of the
    show reaches hub B's staff and is kept in B's database too."""
    a, b = pair
    admin = await a.admin()
    await a.live(admin)
    phone = await b.customer("s1")
    staff_b = await b.admin("bob", "staff")
    await admin.send(
        {"type": "save_product", "product": {"productId": "p", "name": "Serum", "price": 24.9}}
    )
    await admin.expect("product_saved")
    await admin.send({"type": "pin_products", "pinnedProducts": [{"productId": "p", "price": 1}]})
    assert (await phone.expect("pinned_products_updated"))["pinnedProducts"][0]["price"] == 24.9
    started = time.monotonic()
    await admin.send(
        {"type": "save_product", "product": {"productId": "p", "name": "Serum", "price": 19.9}}
    )
    pins = (await phone.expect("pinned_products_updated", timeout=1.0))["pinnedProducts"]
    assert pins[0]["price"] == 19.9 and time.monotonic() - started < 1.0
    await admin.send({"type": "stop_stream"})
    summary = (await admin.expect("stream_summary"))["summary"]
    assert (await staff_b.expect("stream_summary"))["summary"] == summary
    await staff_b.send({"type": "get_stream_summaries"})
    assert (await staff_b.expect("stream_summaries"))["summaries"] == [summary]
