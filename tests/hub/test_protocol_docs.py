"""docs/protocol.md's access, limit and rate tables are held equal to the message registry
(`protocol.MESSAGES`) and the rate settings (`config.Settings`), both ways."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from wrencos_studio.config import Settings
from wrencos_studio.hub import protocol as p

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"

# How §4.5 and §3.1 say who may send a message.
WHO = {
    "anyone": p.Access.ANYONE,
    "not staff": p.Access.NON_STAFF,
    "staff or admin": p.Access.STAFF,
    "admin only": p.Access.ADMIN,
}
# §3.1's columns customer / staff / admin, per access level (the unregistered column is
# checked apart: for a customer's own messages the handler decides).
COLUMNS = {
    p.Access.ANYONE: (True, True, True),
    p.Access.NON_STAFF: (True, False, False),
    p.Access.STAFF: (False, True, True),
    p.Access.ADMIN: (False, False, True),
}
# A valid container for the nested limits of §4.3, which the field's own parser checks.
NESTED_BASE: dict[str, dict[str, Any]] = {
    "pin_products.pinnedProducts[]": {"productId": "p1", "price": 1},
    "save_product.product": {"name": "Serum", "price": 1},
}
BACKTICKED = re.compile(r"`([^`]+)`")


def table(heading: str) -> list[list[str]]:
    """The body rows (cells stripped) of the first table under ``heading`` in the doc."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    assert start is not None, f"{heading!r} is not a heading of {DOC.name}"
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    assert len(rows) > 2, f"no table under {heading!r}"
    return rows[2:]  # past the header and the |---| line


def limit(cell: str) -> int:
    """The upper bound in a limit cell: ``≤ 50``, ``1–500 characters``, ``≤ 50 items``."""
    match = re.search(r"(?:≤\s*|\d\s*–\s*)(\d+)", cell)
    assert match, f"no limit in {cell!r}"
    return int(match[1])


def refusal(obj: dict[str, Any]) -> str | None:
    """The error text `Spec.build` refuses ``obj`` with (None: accepted)."""
    try:
        p.MESSAGES[obj["type"]].build(obj)
    except p.ProtocolError as exc:
        return str(exc)
    return None


def registry_limits() -> dict[tuple[str, str], p.FieldSpec]:
    return {(t, f.key): f for t, spec in p.MESSAGES.items() for f in spec.fields if f.max_chars}


def test_every_message_has_one_row_with_its_access_bucket_and_limits() -> None:
    """§4.5: one row per registered type, no other; who may send, bucket, field limits."""
    rows = table("### 4.5 Every message at a glance")
    documented = [BACKTICKED.fullmatch(row[0])[1] for row in rows]  # type: ignore[index]
    assert sorted(documented) == sorted(p.MESSAGES), "§4.5 must list every type exactly once"
    for type_, who, bucket, limits in rows:
        name = type_.strip("`")
        spec = p.MESSAGES[name]
        assert WHO.get(who) == spec.access, (name, who, spec.access)
        assert bucket == (f"`{spec.rate}`" if spec.rate else "none"), (name, bucket)
        said = {k: int(n) for k, n in re.findall(r"`([^`]+)` ≤ (\d+)", limits)}
        code = {f.key: f.max_chars for f in spec.fields if f.max_chars}
        assert said == code, (name, said, code)


def test_who_may_send_what_matches_the_registry() -> None:
    """§3.1: every type in a plain row, whose ✓/– columns follow its access level."""
    seen: set[str] = set()
    for cells in _access_rows():
        first = re.sub(r"\([^)]*\)", "", cells[0])
        names = BACKTICKED.findall(first)
        ticks = tuple(cell.startswith("✓") for cell in cells[1:])
        assert all(cell[:1] in ("✓", "–") for cell in cells[1:]), cells
        if " with " in first:  # a handler rule on one type (e.g. an admin-type peer)
            assert names[0] in p.MESSAGES, cells
            continue
        for name in names:
            assert name in p.MESSAGES, f"§3.1 names {name!r}, which is not a message type"
            access = p.MESSAGES[name].access
            assert ticks[1:] == COLUMNS[access], (name, access, cells)
            if access in (p.Access.STAFF, p.Access.ADMIN) or p.MESSAGES[name].registered:
                assert not ticks[0], (name, "an unregistered connection may not send it")
            elif access is p.Access.ANYONE:
                assert ticks[0], (name, "an unregistered connection may send it")
            seen.add(name)
    assert seen == set(p.MESSAGES), f"§3.1 lacks {sorted(set(p.MESSAGES) - seen)}"


def _access_rows() -> list[list[str]]:
    """§3.1's second table ("Who may send what"), the one whose header starts `Message`."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index("Who may send what:")
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    assert rows and rows[0][0] == "Message", rows[:1]
    return rows[2:]


def test_field_limits_equal_the_registry_both_ways() -> None:
    """§4.3: each message field with a limit, and no other, with its bound, its error text
    and whether it is trimmed."""
    code = registry_limits()
    documented: dict[tuple[str, str], str] = {}
    for field_cell, limit_cell, over in table("### 4.3 Field limits"):
        for path in BACKTICKED.findall(field_cell):
            type_, _, key = path.partition(".")
            assert type_ in p.MESSAGES, f"§4.3 names {path!r}, not a field of a message type"
            if "." in key or "[]" in key or "items" in limit_cell:
                continue  # nested limits: see the next test
            assert (type_, key) not in documented, f"{path} is in §4.3 twice"
            documented[(type_, key)] = path
            spec = code.get((type_, key))
            assert spec is not None, f"§4.3 limits {path}, which has no limit in the registry"
            assert limit(limit_cell) == spec.max_chars, (path, limit_cell, spec.max_chars)
            assert over.strip("*") == spec.too_long, (path, over, spec.too_long)
            trimmed = "trimmed" in limit_cell.replace("not trimmed", "")
            assert trimmed == spec.strip, (path, limit_cell, "strip", spec.strip)
    missing = sorted(f"{t}.{k}" for t, k in set(code) - set(documented))
    assert not missing, f"§4.3 lacks the limits of {missing}"


def test_nested_limits_are_what_the_parsers_enforce() -> None:
    """§4.3's limits inside `pinnedProducts` and `product`: the documented bound passes,
    one more is refused with the documented text."""
    checked = 0
    for field_cell, limit_cell, over in table("### 4.3 Field limits"):
        for path in BACKTICKED.findall(field_cell):
            type_, _, rest = path.partition(".")
            if type_ not in p.MESSAGES:
                continue
            n = limit(limit_cell)
            if "items" in limit_cell:  # a list's length
                item = NESTED_BASE[f"{path}[]"]
                fits = [{**item, "productId": f"p{i}"} for i in range(n)]
                too_many = [*fits, {**item, "productId": "one-more"}]
                assert refusal({"type": type_, rest: fits}) is None, path
                assert refusal({"type": type_, rest: too_many}) == over, path
                checked += 1
                continue
            if "." not in rest:
                continue  # a message's own field: the test above
            container, _, key = path.rpartition(".")
            base = NESTED_BASE.get(container)
            assert base is not None, f"add a valid {container} to NESTED_BASE for {path}"
            outer = container.partition(".")[2].removesuffix("[]")
            fill = _url if key == "url" else (lambda size: "x" * size)
            for value, expected in ((fill(n), None), (fill(n + 1), over)):
                inner = {**base, key: value}
                wrapped: Any = [inner] if container.endswith("[]") else inner
                assert refusal({"type": type_, outer: wrapped}) == expected, (path, len(value))
            checked += 1
    assert checked >= 10, "§4.3's nested rows were not found"


def _url(size: int) -> str:
    """A valid absolute URL of ``size`` characters (a url field's limit is on valid ones)."""
    base = "https://shop.example/"
    return base + "x" * (size - len(base))


def test_whole_message_limit_is_the_frame_limit() -> None:
    """§4.3's last row: the frame limit of the settings."""
    [row] = [r for r in table("### 4.3 Field limits") if r[0] == "the whole message"]
    kib = int(re.fullmatch(r"(\d+) KiB", row[1])[1])  # type: ignore[index]
    assert kib * 1024 == _setting("max_frame_bytes")
    assert "1009" in row[2]


def _setting(name: str) -> Any:
    """A `Settings` default (not the environment's)."""
    [f] = [f for f in dataclasses.fields(Settings) if f.name == name]
    assert f.default is not dataclasses.MISSING, name
    return f.default


def test_rate_table_equals_the_buckets_and_settings_both_ways() -> None:
    """§4.4: each bucket's rate and burst are the settings'; each lists exactly the types
    that draw from it."""
    rows = table("### 4.4 Rate limits")
    buckets = {spec.rate for spec in p.MESSAGES.values()}
    documented: dict[str | None, set[str]] = {}
    for bucket_cell, rate_cell, messages in rows:
        bucket = None if bucket_cell == "none" else bucket_cell.strip("`")
        assert bucket not in documented, f"bucket {bucket_cell} is in §4.4 twice"
        names = set(BACKTICKED.findall(re.sub(r"\([^)]*\)", "", messages)))
        documented[bucket] = names
        assert names == {t for t, s in p.MESSAGES.items() if s.rate == bucket}, bucket_cell
        if bucket is None:
            assert rate_cell == "–"
            continue
        match = re.fullmatch(r"(\d+(?:\.\d+)?) per s / (\d+)", rate_cell)
        assert match, rate_cell
        rate, burst = _setting(f"{bucket}_rate")
        assert (float(match[1]), int(match[2])) == (rate, burst), bucket
    assert set(documented) == buckets, "§4.4 must have one row per bucket in use"
