"""Catalog CSV import with real files in each dialect (no Qt, nothing saved)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wrencos_studio.catalog import format_price
from wrencos_studio.catalog.csv_import import TEMPLATE_CSV, export_products, import_products
from wrencos_studio.catalog.money import PriceError, parse_price
from wrencos_studio.store.rows import Product

# What LibreOffice / Excel write for a German locale: semicolons, decimal commas, a BOM,
# CRLF, quoted text with the delimiter inside.
SPREADSHEET_DE = (
    "\ufeffSKU;Produkt;Preis;Bild;Link;Beschreibung\r\n"
    'S-1;Hydrating Serum;14,90 €;;https://shop.example/serum;"Mild; 30 ml"\r\n'
    "S-2;Night Cream;1.234,50;;;\r\n"
)


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def product(pid: str, name: str, price: float, **more: str) -> Product:
    fields = {"image": "", "description": "", "url": "", "currency": "EUR", **more}
    return Product(
        pid,
        name,
        price,
        fields["image"],
        fields["description"],
        fields["url"],
        "t",
        fields["currency"],
    )


def test_a_semicolon_file_from_a_spreadsheet_imports(tmp_path: Path) -> None:
    """Semicolons, a BOM, CRLF, German header names, a quoted delimiter, decimal commas
    and a euro sign: two products (the old importer read 0 rows)."""
    report = import_products(write(tmp_path, "de.csv", SPREADSHEET_DE), currency="EUR")
    assert report.file_error is None, report.file_error
    assert report.delimiter == ";"
    assert report.summary() == "2 new, 0 updated, 0 unchanged, 0 errors"
    first, second = report.to_save
    assert first == {
        "productId": "S-1",
        "name": "Hydrating Serum",
        "price": 14.9,
        "image": "",
        "description": "Mild; 30 ml",
        "url": "https://shop.example/serum",
        "currency": "EUR",
    }
    assert second["price"] == 1234.5


def test_header_names_are_matched_case_insensitively_with_synonyms(tmp_path: Path) -> None:
    """Title/Cost/id/Link/Picture/Desc, in any case and with spaces or underscores."""
    text = "Product_ID,TITLE,Cost,Picture,Link,Desc\n7,Toner,12,/uploads/t.jpg,,Fresh\n"
    report = import_products(write(tmp_path, "s.csv", text))
    assert report.columns == {
        "Product_ID": "productId",
        "TITLE": "name",
        "Cost": "price",
        "Picture": "image",
        "Link": "url",
        "Desc": "description",
    }
    [saved] = report.to_save
    assert (saved["productId"], saved["name"], saved["price"]) == ("7", "Toner", 12.0)


@pytest.mark.parametrize(
    ("delimiter", "encoding", "bom"),
    [(",", "utf-8", False), (",", "utf-8", True), ("\t", "utf-8", False), (";", "cp1252", False)],
)
def test_each_dialect_and_encoding(
    tmp_path: Path, delimiter: str, encoding: str, bom: bool
) -> None:
    """Comma, tab and semicolon; UTF-8 with or without BOM and Windows-1252 (é, €)."""
    rows = [["name", "price", "description"], ["Crème", "€14.90", "Très doux"], ["Soap", "3", ""]]
    text = "\r\n".join(delimiter.join(r) for r in rows) + "\r\n"
    path = write(tmp_path, "f.csv", ("\ufeff" if bom else "") + text, encoding)
    report = import_products(path)
    assert report.file_error is None and report.errors == []
    assert report.delimiter == delimiter
    assert report.encoding == ("windows-1252" if encoding == "cp1252" else "utf-8")
    assert [(p["name"], p["price"], p["currency"]) for p in report.to_save] == [
        ("Crème", 14.9, "EUR"),
        ("Soap", 3.0, "EUR"),
    ]
    assert report.to_save[0]["description"] == "Très doux"


def test_prices_as_people_write_them() -> None:
    """Babel reads the number for the locale, then the other convention; symbols and codes
    name the currency."""
    cases = {
        "€14.90": (14.9, "EUR"),
        "14,90 €": (14.9, "EUR"),
        "EUR 1.234,50": (1234.5, "EUR"),
        "1,234.50": (1234.5, None),
        "1 234,50": (1234.5, None),
        "$5": (5.0, "USD"),
        "£0.99": (0.99, "GBP"),
        "12": (12.0, None),
    }
    for text, (amount, currency) in cases.items():
        value, named = parse_price(text, "en_US")
        assert (float(value), named) == (amount, currency), text
    assert float(parse_price("1.234", "de_DE")[0]) == 1234.0
    assert float(parse_price("1.234", "en_US")[0]) == 1.234
    for bad in ("", "abc", "14.90 ABC", "1,2,3,4.5.6", "€"):
        with pytest.raises(PriceError):
            parse_price(bad, "en_US")


def test_format_price_is_babel_for_the_locale() -> None:
    """The studio and anything Python-side formats prices with Babel."""
    assert format_price(14.9, "EUR", "de_DE") == "14,90\xa0€"
    assert format_price(14.9, "USD", "en_US") == "$14.90"
    assert format_price(1234.5, "CHF", "de_CH") == "CHF\xa01'234.50"
    assert format_price(14.9, "EUR", "not-a-locale") == "€14.90"


def test_rows_are_checked_like_save_product_with_line_numbers(tmp_path: Path) -> None:
    """A bad price, a relative url, an unknown currency, no name: each row's own error
    with the line it starts on (a quoted line break counts); the good rows still import."""
    text = (
        "name,price,url,currency,description\n"  # line 1
        "Good,1,https://shop.example/g,,\n"  # line 2
        'Multi,2,,,"two\nlines"\n'  # lines 3-4
        "Bad price,abc,,,\n"  # line 5
        "Relative,3,/shop/x,,\n"  # line 6
        "Coin,4,,XYZ,\n"  # line 7
        ",5,,,\n"  # line 8
        "Negative,-1,,,\n"  # line 9
        "Dollar,7,,usd,\n"  # line 10: lower case is fine in a file
    )
    report = import_products(text)
    assert [r.outcome for r in report.rows] == [
        "created",
        "created",
        "error",
        "error",
        "error",
        "error",
        "error",
        "created",
    ]
    assert [e.split(":")[0] for e in report.errors] == [
        "line 5",
        "line 6",
        "line 7",
        "line 8",
        "line 9",
    ]
    assert "not a price" in report.errors[0]
    assert "not an absolute http(s) URL" in report.errors[1]
    assert "ISO 4217" in report.errors[2]
    assert "needs a name" in report.errors[3]
    assert report.to_save[1]["description"] == "two\nlines"
    assert report.to_save[2]["currency"] == "USD"


def test_an_unterminated_quote_is_an_error_for_the_whole_file(tmp_path: Path) -> None:
    """Not "1 saved, 0 errors" with 8 rows silently gone: nothing to save, and where."""
    lines = ["name,price", "A,1", 'B,2,"oops', *[f"R{i},{i}" for i in range(8)]]
    report = import_products(write(tmp_path, "broken.csv", "\n".join(lines) + "\n"))
    assert report.file_error is not None
    assert report.file_error.startswith("line 3: a quoted field is never closed")
    assert report.to_save == []
    assert report.summary().startswith("Nothing imported: line 3")


def test_a_file_without_a_name_or_price_column_says_what_it_found(tmp_path: Path) -> None:
    """The header is reported back, so the fix is obvious."""
    report = import_products("Artikel;Betrag\nA;1\n")
    assert report.file_error == "line 1: no name or price column (the header has: Artikel, Betrag)"


def test_importing_the_same_file_twice_creates_nothing_new(tmp_path: Path) -> None:
    """Matched by productId/SKU when given, else by name (case-insensitive): the second
    import is all unchanged; an edited price is an update of the same product."""
    text = "sku,name,price\nS-1,Serum,14.90\n,Soap,3\n"
    first = import_products(text)
    assert first.summary() == "2 new, 0 updated, 0 unchanged, 0 errors"
    catalog = [product("S-1", "Serum", 14.9), product("a1b2", "Soap", 3.0)]
    again = import_products(text, existing=catalog)
    assert again.summary() == "0 new, 0 updated, 2 unchanged, 0 errors"
    assert again.to_save == []
    edited = import_products(text.replace("14.90", "12.90"), existing=catalog)
    assert edited.summary() == "0 new, 1 updated, 1 unchanged, 0 errors"
    [saved] = edited.to_save
    assert (saved["productId"], saved["price"]) == ("S-1", 12.9)


def test_columns_the_file_lacks_keep_the_products_values(tmp_path: Path) -> None:
    """A price list (name, price) does not wipe the images and links already there."""
    catalog = [product("p1", "Serum", 14.9, image="/uploads/a.jpg", url="https://s.example/p")]
    report = import_products("name,price\nSerum,12\n", existing=catalog)
    [saved] = report.to_save
    assert saved["image"] == "/uploads/a.jpg" and saved["url"] == "https://s.example/p"
    assert saved["productId"] == "p1" and saved["price"] == 12.0


def test_the_same_product_twice_in_a_file_is_an_error(tmp_path: Path) -> None:
    """Which of the two rows should win is the shop's call, not ours."""
    report = import_products("name,price\nSerum,1\nserum,2\n")
    assert report.errors == ["line 3: the same product as line 2"]


def test_export_and_template_read_back(tmp_path: Path) -> None:
    """An export imports back as all unchanged; the template imports as one product."""
    catalog = [
        product("S-1", "Serum, 30 ml", 14.9, url="https://s.example/1", description='A "b"'),
        product("S-2", "Cream", 0.125, currency="USD"),
    ]
    exported = export_products(catalog)
    assert exported.splitlines()[0] == "productId,name,price,currency,url,image,description"
    path = write(tmp_path, "export.csv", exported)
    assert import_products(path, existing=catalog).unchanged == 2
    template = import_products(TEMPLATE_CSV)
    assert template.errors == [] and template.created == 1


def test_broken_quoting_is_a_row_of_the_preview_after_the_rows_before_it(
    tmp_path: Path,
) -> None:
    """The preview shows the rows read before the break with their outcomes, then the
    line where the quote opens as an error; nothing is saved."""
    lines = ["name,price", "A,1", "B,x", 'C,2,"oops', *[f"R{i},{i}" for i in range(8)]]
    report = import_products(write(tmp_path, "broken.csv", "\n".join(lines) + "\n"))
    assert [(r.line, r.outcome) for r in report.rows] == [
        (2, "created"),
        (3, "error"),
        (4, "error"),
    ]
    assert report.rows[-1].error is not None and "never closed" in report.rows[-1].error
    assert report.to_save == []
