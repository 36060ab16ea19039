"""Dataclasses <-> JSON objects: the one place the wire's camelCase is made and read back.

Server -> client messages (``outbound.py``), the rows they carry (``store/rows.py``) and
the hub's events (``hub/events.py``) are frozen dataclasses with snake_case attributes.
:func:`to_json` turns one into a JSON-ready dict (nested dataclasses and lists too) and
:func:`from_json` builds one back from such a dict, following the type annotations.
Keys are the attribute names in camelCase (``stream_id`` -> ``streamId``) unless a field
names its key (``wire_key("from")``), or, with ``camel=False``, the attribute names as
they are (events between hubs). A field with ``flatten`` merges its dataclass's keys into
the parent object (a chat line inside ``chat_message``).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, Union

__all__ = ["CodecError", "camel", "from_json", "to_json", "wire_key"]


class CodecError(ValueError):
    """A JSON object does not have the shape a dataclass needs (missing key, wrong type)."""


def camel(name: str) -> str:
    """``stream_id`` -> ``streamId`` (a trailing underscore, as in ``from_``, is dropped)."""
    head, *rest = name.rstrip("_").split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def wire_key(
    key: str | None = None,
    *,
    flatten: bool = False,
    omit_none: bool = False,
    default: Any = dataclasses.MISSING,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field whose JSON key is ``key`` (default: the camelCase name), whose
    dataclass value is merged into the parent object (``flatten``), or which is left out
    while it is None (``omit_none``)."""
    metadata = {"key": key, "flatten": flatten, "omit_none": omit_none}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


# How each field of a class is written: (attribute, key, flatten, omit_none).
_Plan = tuple[tuple[str, str, bool, bool], ...]


@functools.cache
def _plan(cls: type, use_camel: bool) -> _Plan:
    out = []
    for f in dataclasses.fields(cls):
        key = f.metadata.get("key") or (camel(f.name) if use_camel else f.name)
        out.append(
            (f.name, key, bool(f.metadata.get("flatten")), bool(f.metadata.get("omit_none")))
        )
    return tuple(out)


def to_json(obj: Any, *, use_camel: bool = True) -> Any:
    """A dataclass (or a list/dict holding them) as JSON-ready values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for attr, key, flatten, omit_none in _plan(type(obj), use_camel):
            value = getattr(obj, attr)
            if omit_none and value is None:
                continue
            if flatten:
                out.update(to_json(value, use_camel=use_camel))
            else:
                out[key] = _value(value, use_camel)
        return out
    return _value(obj, use_camel)


def _value(value: Any, use_camel: bool) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_value(v, use_camel) for v in value]
    if isinstance(value, dict):
        return {k: _value(v, use_camel) for k, v in value.items()}
    return to_json(value, use_camel=use_camel)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_json[T](cls: type[T], obj: Any, *, use_camel: bool = True) -> T:
    """Build ``cls`` from a JSON object made by :func:`to_json`.

    Missing keys take the field's default; nested dataclasses and lists of them are
    rebuilt from the annotations. Raises :class:`CodecError` when the shape is wrong.
    """
    if not isinstance(obj, dict):
        raise CodecError(f"{cls.__name__}: expected an object, got {type(obj).__name__}")
    hints = _hints(cls)  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not f.init:
            continue
        if f.metadata.get("flatten"):
            kwargs[f.name] = _convert(hints[f.name], obj, use_camel)
            continue
        key = f.metadata.get("key") or (camel(f.name) if use_camel else f.name)
        if key not in obj:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise CodecError(f"{cls.__name__}: missing {key!r}")
            continue
        kwargs[f.name] = _convert(hints[f.name], obj[key], use_camel)
    return cls(**kwargs)


def _convert(annotation: Any, value: Any, use_camel: bool) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                return _convert(arg, value, use_camel)
    if origin in (list, tuple) and isinstance(value, list):
        (item,) = typing.get_args(annotation)[:1] or (Any,)
        return [_convert(item, v, use_camel) for v in value]
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return from_json(annotation, value, use_camel=use_camel)
    return value


def registrar[C: type](table: dict[str, C], attr: str, what: str) -> Any:
    """A class decorator factory that files classes in ``table`` under a name and sets
    that name as the class attribute ``attr`` (``@outbound("pong")`` sets ``TYPE``,
    ``@event("like")`` sets ``KIND``). A second class under one name raises RuntimeError
    at import, so a registry can never hold two definitions of one name."""

    def named(name: str) -> Any:
        def register(cls: C) -> C:
            if name in table:
                raise RuntimeError(f"two definitions of {what} {name!r}")
            setattr(cls, attr, name)
            table[name] = cls
            return cls

        return register

    return named
