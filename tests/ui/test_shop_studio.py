"""The shop in the studio window, offscreen, with a real hub and real customers: the pinned
strip's live taps, the CSV import preview, export and template, the End dialog's
figures and the Past shows dialog (issue 11)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest.importorskip("qasync")

from PySide6.QtWidgets import QVBoxLayout

from tests.ui.running import Running, join_as_customer, next_of_type
from wrencos_studio.catalog.csv_import import import_products

pytestmark = pytest.mark.slow


def menu_action(studio: Running, menu: str, action: str) -> Any:
    """The window's menu action ``menu`` > ``action`` (as a presenter finds it)."""
    for top in studio.window.menuBar().actions():
        if top.text() == menu and top.menu() is not None:
            for item in top.menu().actions():
                if item.text() == action:
                    return item
    raise AssertionError(f"no {menu} > {action} in the menu bar")


def save(studio: Running, product_id: str, name: str, price: float) -> None:
    product = {"productId": product_id, "name": name, "price": price}
    studio.run(studio.studio.bridge.request({"type": "save_product", "product": product}))


def test_the_pinned_strip_shows_taps_and_pin_time_live(studio: Running) -> None:
    """A product pinned from the catalog while live: a phone taps its card twice and the
    strip says "2 taps · pinned HH:MM" without anything being clicked."""
    panel = studio.window.products
    save(studio, "serum", "Hydrating Serum", 24.9)
    panel.refresh()
    studio.until(lambda: panel.catalog_model.rowCount() == 1)
    studio.run(studio.studio.bridge.request({"type": "start_stream", "title": "Taps"}))
    panel.on_product_double_clicked(0, 0)  # pin
    studio.until(lambda: panel.pinned_model.rowCount() == 1)
    studio.until(lambda: "0 taps" in str(panel.pinned_model.index(0).data()))

    async def tap_twice() -> None:
        ws = await join_as_customer(studio.url, "phone")
        pins = await next_of_type(ws, "pinned_products_updated")
        [card] = pins["pinnedProducts"]
        for _ in range(2):
            await ws.send(json.dumps({"type": "product_tapped", "productId": card["productId"]}))
        await asyncio.sleep(0.1)
        await ws.close()

    studio.run(tap_twice())
    studio.until(lambda: "2 taps" in str(panel.pinned_model.index(0).data()), timeout=3)
    shown = str(panel.pinned_model.index(0).data())
    assert shown.startswith("Hydrating Serum — 2 taps · pinned ")
    hhmm = shown.rsplit(" ", 1)[-1]
    assert len(hhmm) == 5 and hhmm[2] == ":", shown


SHEET = (
    "sku;name;price\r\n"
    "S-1;Hydrating Serum;19,90 €\r\n"  # an update of the catalog's S-1 (24.90 before)
    "S-2;Night Cream;54,50 €\r\n"  # new
    "S-3;Mask;free\r\n"  # error
)


def test_the_import_preview_shows_every_row_and_saves_only_on_import(
    studio: Running, tmp_path: Path
) -> None:
    """Each row's line, outcome (new/update/error with the reason), name and price;
    Cancel saves nothing, Import saves the new and changed products."""
    panel = studio.window.products
    save(studio, "S-1", "Hydrating Serum", 24.9)
    panel.refresh()
    studio.until(lambda: panel.catalog_model.rowCount() == 1)
    sheet = tmp_path / "catalog.csv"
    sheet.write_bytes(SHEET.encode("cp1252"))

    panel.import_csv(str(sheet))
    dialog = panel.import_dialog
    assert dialog is not None and dialog.isVisible()
    rows = dialog.row_texts()
    assert [r[:4] for r in rows] == [
        ["2", "update", "Hydrating Serum", "€19.90"],
        ["3", "new", "Night Cream", "€54.50"],
        ["4", "error", "", ""],
    ]
    assert "not a price" in rows[2][4]
    assert dialog.import_button.text() == "Import 2 products" and dialog.import_button.isEnabled()
    assert "windows-1252" in dialog.dialect.text() and "semicolons" in dialog.dialect.text()
    dialog.cancel_button.click()
    studio.run(asyncio.sleep(0.5))
    panel.refresh()
    studio.run(asyncio.sleep(0.3))
    assert [(p["name"], p["price"]) for p in panel.catalog] == [("Hydrating Serum", 24.9)]

    panel.import_csv(str(sheet))
    panel.import_dialog.import_button.click()
    studio.until(lambda: panel.catalog_model.rowCount() == 2)
    studio.until(lambda: {p["productId"]: p["price"] for p in panel.catalog}["S-1"] == 19.9)


def test_broken_quoting_is_shown_and_nothing_can_be_imported(
    studio: Running, tmp_path: Path
) -> None:
    """An unterminated quote: the rows before it, then the line where it opens as an
    error; the summary says nothing is imported and Import is disabled."""
    panel = studio.window.products
    sheet = tmp_path / "broken.csv"
    sheet.write_text("name,price\nA,1\n" + 'B,2,"oops\n' + "".join(f"R{i},{i}\n" for i in range(8)))
    panel.import_csv(str(sheet))
    dialog = panel.import_dialog
    rows = dialog.row_texts()
    assert [r[:2] for r in rows] == [["2", "new"], ["3", "error"]]
    assert "never closed" in rows[1][4]
    assert dialog.summary.text().startswith("Nothing imported: line 3")
    assert not dialog.import_button.isEnabled()
    dialog.reject()


def test_export_and_template_from_the_catalog_menu(
    studio: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Catalog > Export writes the catalog (BOM, header, every product) that imports
    back unchanged; Catalog > Save CSV template writes a file the import accepts."""
    from PySide6.QtWidgets import QFileDialog

    panel = studio.window.products
    save(studio, "S-1", "Crème riche", 24.9)
    save(studio, "S-2", "Soap, lavender", 3)
    panel.refresh()
    studio.until(lambda: panel.catalog_model.rowCount() == 2)
    out = tmp_path / "export.csv"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(out), ""))
    )
    menu_action(studio, "Catalog", "Export catalog to CSV…").trigger()
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfproductId,name,price,currency,url,image,description\r\n")
    again = import_products(out, existing=panel.catalog)
    assert again.summary() == "0 new, 0 updated, 2 unchanged, 0 errors"

    template = tmp_path / "template.csv"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(template), ""))
    )
    menu_action(studio, "Catalog", "Save CSV template…").trigger()
    report = import_products(template)
    assert report.file_error is None and report.created == 1


def run_show(studio: Running, title: str, taps: int = 0) -> None:
    """Go live, pin the catalog's "serum", have a phone tap it ``taps`` times and ask
    support once, end."""
    bridge = studio.studio.bridge

    async def show() -> None:
        await bridge.request({"type": "start_stream", "title": title})
        await bridge.pin_products([{"productId": "serum", "name": "Serum", "price": 1}])
        ws = await join_as_customer(studio.url, f"phone-{title}")
        await next_of_type(ws, "registered")
        for _ in range(taps):
            await ws.send(json.dumps({"type": "product_tapped", "productId": "serum"}))
        await ws.send(json.dumps({"type": "customer_message", "message": "price?"}))
        await asyncio.sleep(0.3)
        await ws.close()
        await bridge.request({"type": "stop_stream"})

    studio.run(show())


def test_end_dialog_and_past_shows_give_every_figure(
    studio: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End shows average viewers, support conversations and taps per product; Shows >
    Past shows lists the shows newest first, pages with "Load more", and its details
    pane has every figure and the chosen show's replay actions."""
    import wrencos_studio.ui.dialogs.past_shows as past_shows

    w = studio.window
    save(studio, "serum", "Serum", 1)
    for n, title in enumerate(("one", "two", "three")):
        before = getattr(w, "summary_dialog", None)
        run_show(studio, title, taps=n + 1)
        studio.until(lambda b=before: getattr(w, "summary_dialog", None) not in (None, b))
    # The End dialog's own page of past shows has come (not one the next dialog asks for).
    studio.until(lambda: w.summary_dialog.past.count() == 3)
    text = w.summary_dialog.figures.text()
    for what in ("Average viewers:", "Support conversations: 1", "Taps per product:"):
        assert what in text, text
    assert "\u2068Serum\u2069: 3 taps" in text, text

    monkeypatch.setattr(past_shows, "PAGE_SIZE", 2)
    menu_action(studio, "Shows", "Past shows…").trigger()
    dialog = w.products.past_shows
    assert dialog is not None and dialog.isVisible()
    studio.until(lambda: dialog.list.count() == 2)
    assert [dialog.list.item(i).text().split("  ", 1)[1].split(" —")[0] for i in range(2)] == [
        "\u2068three\u2069",
        "\u2068two\u2069",
    ]
    assert dialog.more_button.isEnabled()
    dialog.more_button.click()
    studio.until(lambda: dialog.list.count() == 3)
    assert not dialog.more_button.isEnabled()
    dialog.list.setCurrentRow(2)  # "one"
    assert dialog.selected is not None and dialog.selected["title"] == "one"
    assert dialog.figure("Support conversations") == "1"
    assert dialog.figure("Products pinned") == "1"
    assert float(dialog.figure("Average viewers")) >= 0
    for label in ("Duration", "Peak viewers", "Likes", "Chat lines", "Chatters"):
        assert dialog.figure(label) != ""
    assert dialog.taps_table.rowCount() == 1
    assert (dialog.taps_table.item(0, 0).text(), dialog.taps_table.item(0, 1).text()) == (
        "Serum",
        "1",
    )
    # The actions area holds the chosen show's replay actions (the recording issue).
    assert isinstance(dialog.actions_area, QVBoxLayout) and dialog.actions_area.count() == 1
    actions = dialog.replay_actions
    assert actions is not None and dialog.actions_area.itemAt(0).widget() is actions
    replay_id = dialog.selected.get("replayId")
    assert actions.replay_id == replay_id
    if replay_id:
        assert actions.link.text().endswith(f"/replay/{replay_id}")
    else:
        assert actions.status.text() == "This show was not recorded."
    dialog.list.setCurrentRow(0)  # another show: its own actions, the old ones gone
    assert dialog.actions_area.count() == 1 and dialog.replay_actions is not actions
    dialog.close()


def test_pinning_from_the_studio_keeps_the_link_and_an_edit_reaches_the_phone(
    studio: Running,
) -> None:
    """A product saved in the studio with a shop link, pinned by double-click: the phone's
    pin carries url, currency and description; the presenter's price edit reaches the
    phone within a second, link kept."""
    import time

    panel = studio.window.products
    product = {
        "productId": "serum",
        "name": "Hydrating Serum",
        "price": 24.9,
        "url": "https://shop.example/serum?ref=live",
        "description": "30 ml",
    }
    panel.save(product)
    studio.until(lambda: panel.catalog_model.rowCount() == 1)
    studio.run(studio.studio.bridge.request({"type": "start_stream", "title": "Links"}))

    async def pin_then_edit() -> tuple[dict[str, Any], dict[str, Any], float]:
        ws = await join_as_customer(studio.url, "linker")
        await next_of_type(ws, "registered")
        await next_of_type(ws, "pinned_products_updated")  # the join's (empty) pins
        panel.on_product_double_clicked(0, 0)
        pinned = await next_of_type(ws, "pinned_products_updated")
        t0 = time.monotonic()
        panel.save({**panel.catalog[0], "price": 19.9})
        edited = await next_of_type(ws, "pinned_products_updated")
        took = time.monotonic() - t0
        await ws.close()
        return pinned, edited, took

    pinned, edited, took = studio.run(pin_then_edit())
    [card] = pinned["pinnedProducts"]
    assert card["url"] == "https://shop.example/serum?ref=live"
    assert (card["currency"], card["description"], card["price"]) == ("EUR", "30 ml", 24.9)
    [card] = edited["pinnedProducts"]
    assert (card["price"], card["url"]) == (19.9, "https://shop.example/serum?ref=live")
    assert took < 1.0


def test_the_product_dialog_prices_in_the_shop_currency(
    qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new product defaults to WRENCOS_CURRENCY; a product keeps its own; a currency
    that is not ISO 4217 is refused with a message and nothing is accepted."""
    from PySide6.QtWidgets import QMessageBox, QWidget

    from wrencos_studio.ui.dialogs.product import ProductDialog
    from wrencos_studio.ui.panels.products import studio_money

    monkeypatch.setenv("WRENCOS_CURRENCY", "gbp")
    monkeypatch.setenv("WRENCOS_LOCALE", "en_GB")
    assert studio_money() == ("GBP", "en_GB")
    parent = QWidget()
    qtbot.addWidget(parent)
    dialog = ProductDialog(parent, {}, studio_money()[0])
    dialog.name.setText("Soap")
    dialog.accept()
    accepted = ProductDialog.DialogCode.Accepted.value
    assert dialog.result() == accepted
    assert dialog.result_product()[0]["currency"] == "GBP"
    kept = ProductDialog(parent, {"name": "Balm", "price": 3, "currency": "USD"}, "GBP")
    assert kept.result_product()[0]["currency"] == "USD"
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda *a: warnings.append(a[2])))
    bad = ProductDialog(parent, {"name": "Mask"}, "GBP")
    bad.currency.setText("XYZ")  # three letters, but no ISO 4217 code
    bad.accept()
    assert bad.result() != accepted
    assert warnings and "ISO 4217" in warnings[0]
    monkeypatch.setenv("WRENCOS_LOCALE", "nonsense")
    assert studio_money() == ("GBP", "en_US"), "the start refuses it; the panel never breaks"
