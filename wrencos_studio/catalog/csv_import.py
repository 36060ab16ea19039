"""Catalog CSV files: import (dialect, encoding and prices sniffed), export and a template.

The columns are documented in ``docs/catalog.md``. :func:`import_products` saves
nothing: it reads the file, checks every row by the rules ``save_product`` applies, and
returns an :class:`ImportReport` that a preview can show whole; the products to save
are ``report.to_save``, sent one by one as ``save_product``.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from wrencos_studio.catalog.money import DEFAULT_CURRENCY, PriceError, parse_price
from wrencos_studio.catalog.products import ProductError, normalize_product
from wrencos_studio.store.rows import Product

__all__ = [
    "COLUMNS",
    "TEMPLATE_CSV",
    "ImportReport",
    "ImportRow",
    "export_products",
    "import_products",
]

#: Each product field and the header names that mean it (compared case-insensitively,
#: ignoring spaces, ``_``, ``-`` and ``.``); a few German ones for German spreadsheets.
COLUMNS: dict[str, tuple[str, ...]] = {
    "productId": (
        "productid", "id", "sku", "articlenumber", "itemid", "reference", "ref",
        "artikelnummer", "artnr",
    ),
    "name": ("name", "product", "title", "productname", "item", "produkt", "bezeichnung"),
    "price": ("price", "cost", "unitprice", "amount", "preis"),
    "image": ("image", "imageurl", "img", "picture", "photo", "bild"),
    "url": ("url", "link", "producturl", "shopurl", "shoplink"),
    "description": ("description", "desc", "details", "beschreibung"),
    "currency": ("currency", "currencycode", "währung", "waehrung"),
}  # fmt: skip
#: The order of the columns in an export and the template.
EXPORT_COLUMNS = ("productId", "name", "price", "currency", "url", "image", "description")

TEMPLATE_CSV = (
    "productId,name,price,currency,url,image,description\r\n"
    "SERUM-30,Hydrating Serum 30 ml,24.90,EUR,https://shop.example/serum,,"
    '"Hyaluronic acid, 30 ml"\r\n'
)

Outcome = Literal["created", "updated", "unchanged", "error"]
_FIELDS = ("name", "price", "image", "description", "url", "currency")


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One data row: the line it starts on, what importing it would do, and the product
    as it would be saved (None for an error, whose ``error`` says why)."""

    line: int
    outcome: Outcome
    product: dict[str, Any] | None = None
    error: str | None = None


@dataclass(slots=True)
class ImportReport:
    """What importing a catalog CSV file would do, row by row; nothing is saved yet.

    ``rows`` holds every data row in file order (``line`` is the line it starts on,
    ``outcome`` one of created / updated / unchanged / error); ``file_error`` is set
    when the file as a whole cannot be read (an unterminated quote, no name or price
    column, an unreadable file), and then no row is imported at all; with broken
    quoting, ``rows`` still holds the rows read before it and, last, an error row at
    the line where it breaks. ``to_save`` are
    the products to send as ``save_product`` (wire form: ``productId`` — ``""`` for a
    new product without an id, so the hub makes one — ``name``, ``price``, ``currency``,
    ``url``, ``image``, ``description``). ``delimiter`` and ``encoding`` say how the file
    was read; ``columns`` maps each recognised header to its field.

    A product is matched to the catalog by ``productId`` when the file gives one,
    else by its name (case-insensitive), so importing a file twice creates nothing the
    second time. Columns the file does not have keep the product's current values.
    """

    rows: list[ImportRow] = field(default_factory=list)
    file_error: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    columns: dict[str, str] = field(default_factory=dict)

    def _count(self, outcome: Outcome) -> int:
        return sum(1 for row in self.rows if row.outcome == outcome)

    @property
    def created(self) -> int:
        return self._count("created")

    @property
    def updated(self) -> int:
        return self._count("updated")

    @property
    def unchanged(self) -> int:
        return self._count("unchanged")

    @property
    def errors(self) -> list[str]:
        """``"line N: why"`` for each refused row (and the file's error first, if any)."""
        rows = [f"line {r.line}: {r.error}" for r in self.rows if r.outcome == "error"]
        return [self.file_error, *rows] if self.file_error else rows

    @property
    def to_save(self) -> list[dict[str, Any]]:
        if self.file_error:
            return []
        return [
            r.product
            for r in self.rows
            if r.outcome in ("created", "updated") and r.product is not None
        ]

    def summary(self) -> str:
        """One line for a person: "3 new, 1 updated, 2 unchanged, 1 error"."""
        if self.file_error:
            return f"Nothing imported: {self.file_error}"
        n = len(self.errors)
        return (
            f"{self.created} new, {self.updated} updated, {self.unchanged} unchanged, "
            f"{n} error{'' if n == 1 else 's'}"
        )


def _decode(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        # Excel's "CSV" on Windows: Windows-1252 (a superset of Latin-1's printable part).
        return data.decode("cp1252", errors="replace"), "windows-1252"


def _read_source(source: str | os.PathLike[str] | bytes) -> tuple[str, str]:
    if isinstance(source, (bytes, bytearray)):
        return _decode(bytes(source))
    if isinstance(source, os.PathLike) or ("\n" not in source and Path(source).is_file()):
        return _decode(Path(source).read_bytes())
    return source.removeprefix("\ufeff"), "text"


def _header_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line
    return ""


def _sniff_delimiter(text: str) -> str:
    header = _header_line(text)
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    try:
        sniffed = csv.Sniffer().sniff(text[:8192], delimiters=",;\t").delimiter
    except csv.Error:
        sniffed = ""
    # The header names the columns and holds no prices: it is the surest witness.
    if sniffed and counts.get(sniffed, 0) >= max(counts.values()):
        return sniffed
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else (sniffed or ",")


def _key(header: str) -> str:
    return "".join(ch for ch in header.casefold() if ch not in " _-.").strip()


def _map_columns(header: list[str]) -> dict[int, str]:
    names = {syn: fld for fld, syns in COLUMNS.items() for syn in syns}
    mapping: dict[int, str] = {}
    for i, cell in enumerate(header):
        fld = names.get(_key(cell))
        if fld is not None and fld not in mapping.values():
            mapping[i] = fld
    return mapping


def _existing_index(
    existing: Iterable[Product | Mapping[str, Any]],
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    by_id: dict[str, dict[str, Any]] = {}
    by_name: dict[str, dict[str, Any]] = {}
    for item in existing:
        current: dict[str, Any]
        if isinstance(item, Product):
            current = {
                "productId": item.product_id,
                "name": item.name,
                "price": item.price,
                "image": item.image,
                "description": item.description,
                "url": item.url,
                "currency": item.currency,
            }
        else:
            current = {k: item.get(k, "") for k in ("productId", *_FIELDS)}
            current["productId"] = str(current["productId"])
        by_id[current["productId"]] = current
        by_name.setdefault(str(current["name"]).casefold(), current)
    return by_id, by_name


def import_products(
    source: str | os.PathLike[str] | bytes,
    *,
    currency: str = DEFAULT_CURRENCY,
    locale: str | None = None,
    existing: Iterable[Product | Mapping[str, Any]] = (),
) -> ImportReport:
    """Read a catalog CSV file and say what importing it would do (nothing is saved).

    ``source``: a path, the file's bytes, or its text (a ``str`` with a line break).
    ``currency``: the shop's, for rows that name none. ``locale``: how prices are
    written (Babel, e.g. ``de_DE``); by default ``de_DE`` for semicolon files (a
    spreadsheet's decimal-comma export) and ``en_US`` otherwise, and a price that does
    not read in it is read in the other convention. ``existing``: the catalog as it is
    (``products`` rows), to match rows to products and tell created from updated."""
    report = ImportReport()
    try:
        text, report.encoding = _read_source(source)
    except OSError as exc:
        report.file_error = f"the file cannot be read ({exc.strerror or exc})"
        return report
    report.delimiter = _sniff_delimiter(text)
    locale = locale or ("de_DE" if report.delimiter == ";" else "en_US")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=report.delimiter, strict=True)
    records: list[tuple[int, list[str]]] = []
    last_line = 0
    broken: ImportRow | None = None  # the row where the quoting breaks, if it does
    try:
        for record in reader:
            records.append((last_line + 1, record))
            last_line = reader.line_num
    except csv.Error as exc:
        start = last_line + 1
        if "end of data" in str(exc) or "EOF" in str(exc):
            why = 'a quoted field is never closed (a " without its pair)'
            report.file_error = f"line {start}: {why}; fix the file and import it again"
            broken = ImportRow(start, "error", error=f"{why}: every line from here is lost")
        else:
            report.file_error = f"line {reader.line_num}: broken quoting ({exc})"
            broken = ImportRow(reader.line_num, "error", error=f"broken quoting ({exc})")
    records = [(n, r) for n, r in records if any(cell.strip() for cell in r)]
    if not records:
        report.file_error = report.file_error or "the file is empty"
        return report
    header_line, header = records[0]
    mapping = _map_columns(header)
    report.columns = {header[i].strip(): fld for i, fld in mapping.items()}
    missing = [fld for fld in ("name", "price") if fld not in mapping.values()]
    if missing:
        report.file_error = (
            f"line {header_line}: no {' or '.join(missing)} column "
            f"(the header has: {', '.join(h.strip() for h in header) or 'nothing'})"
        )
        return report
    by_id, by_name = _existing_index(existing)
    seen: dict[str, int] = {}
    for line, record in records[1:]:
        report.rows.append(_row(line, record, mapping, currency, locale, by_id, by_name, seen))
    if broken is not None:
        # The rows before the break are shown as they would be; none is saved
        # (``to_save`` is empty while ``file_error`` is set).
        report.rows.append(broken)
    return report


def _row(
    line: int,
    record: list[str],
    mapping: dict[int, str],
    currency: str,
    locale: str,
    by_id: dict[str, dict[str, Any]],
    by_name: dict[str, dict[str, Any]],
    seen: dict[str, int],
) -> ImportRow:
    cells = {fld: (record[i].strip() if i < len(record) else "") for i, fld in mapping.items()}
    try:
        named_currency = None
        if cells.get("price", "") == "":
            raise ProductError("no price")
        amount, named_currency = parse_price(cells["price"], locale, currency)
        raw: dict[str, Any] = {k: v for k, v in cells.items() if k != "price"}
        raw["price"] = float(amount)
        if not raw.get("currency"):
            raw["currency"] = (named_currency or currency).upper()
        else:
            raw["currency"] = raw["currency"].upper()
        product = normalize_product(raw)
    except (ProductError, PriceError) as exc:
        return ImportRow(line, "error", error=str(exc))
    pid = product["productId"]
    current = by_id.get(pid) if pid else by_name.get(product["name"].casefold())
    key = f"id:{pid}" if pid else f"name:{product['name'].casefold()}"
    if key in seen:
        return ImportRow(line, "error", error=f"the same product as line {seen[key]}")
    seen[key] = line
    if current is None:
        return ImportRow(line, "created", product)
    # Columns the file lacks keep the product's current values.
    merged = {**product, "productId": current["productId"]}
    for fld in ("image", "description", "url"):
        if fld not in mapping.values():
            merged[fld] = current.get(fld, "")
    same = all(merged[f] == current.get(f) for f in _FIELDS)
    return ImportRow(line, "unchanged" if same else "updated", merged)


def export_products(products: Iterable[Product | Mapping[str, Any]]) -> str:
    """The catalog as CSV text (comma, CRLF, a header of :data:`EXPORT_COLUMNS`, prices
    with a decimal point): what :func:`import_products` reads back unchanged.
    ``products``: ``store.rows.Product`` objects or product dicts as ``products`` sends
    them (camelCase keys; a missing field is written empty)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for p in products:
        row: list[Any]
        if isinstance(p, Product):
            row = [p.product_id, p.name, p.price, p.currency, p.url, p.image, p.description]
        else:
            row = [p.get(column, "") for column in EXPORT_COLUMNS]
        row[2] = _price_text(float(row[2] or 0))
        writer.writerow(row)
    return out.getvalue()


def _price_text(price: float) -> str:
    # Two decimals as shops write them, unless that would change the value.
    return f"{price:.2f}" if round(price, 2) == price else repr(price)
