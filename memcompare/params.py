"""Typed parameters: one frozen dataclass per model, workload or cost table (docs/style.md §4).

The same declaration drives TOML validation (with key paths), ``memcompare list``, the docs and
the results columns. Declare a field with :func:`param`::

    @dataclass(frozen=True)
    class Params:
        heap_mb: float | None = param(None, "heap limit in MiB; absent = no limit", minimum=0)

Supported annotations: ``int``, ``float``, ``bool``, ``str``, ``Literal[...]``, ``tuple[int, ...]``
/ ``tuple[int, int, int]``, and unions of these with ``None``. A field may add a ``check``
callable returning an error string (or ``None``) for rules a type cannot say.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import types
import typing
from typing import Any, Callable, Literal, Mapping

from .errors import ConfigError


def param(default: Any, doc: str, *, minimum: float | None = None,
          maximum: float | None = None, check: Callable[[Any], str | None] | None = None) -> Any:
    """A parameter field: its default, a one-line doc, and optional bounds or check."""
    meta = {"doc": doc, "minimum": minimum, "maximum": maximum, "check": check}
    if isinstance(default, (list, dict, set)):
        raise TypeError("parameter defaults must be immutable (use a tuple)")
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class NoParams:
    """No parameters."""


def fields(cls) -> list[dataclasses.Field]:
    return list(dataclasses.fields(cls))


def hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=False)


_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def show(value: Any) -> str:
    """A value as the user wrote it in TOML (double-quoted strings)."""
    try:
        return json.dumps(to_plain(value))
    except (TypeError, ValueError):
        return repr(value)


def _plural(name: str) -> str:
    for article in ("a ", "an "):
        if name.startswith(article):
            return name[len(article):] + "s"
    return name


def type_name(tp: Any) -> str:
    """How a parameter's type reads in errors and listings: ``an integer or "off"``."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " or ".join(show(v) for v in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join("absent" if a is type(None) else type_name(a)
                           for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_plural(type_name(args[0]))}"
        if len(set(args)) == 1:
            return f"a list of {len(args)} {_plural(type_name(args[0]))}"
        return f"a list of {', '.join(type_name(a) for a in args)}"
    return _NAMES.get(tp, getattr(tp, "__name__", str(tp)))


def describe(cls) -> list[dict[str, Any]]:
    """Each field's name, type, default and doc, for ``memcompare list`` and the docs."""
    h = hints(cls)
    out = []
    for f in fields(cls):
        out.append({"name": f.name, "type": type_name(h[f.name]), "default": to_plain(f.default),
                    "doc": f.metadata.get("doc", "")})
    return out


def parse_value(text: str) -> Any:
    """A command-line value read as TOML (``8``, ``1.5``, ``true``, ``"x"``); a bare word is a
    string."""
    import sys
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def to_plain(value: Any) -> Any:
    """Parameter values as JSON/TOML data (tuples become lists)."""
    if isinstance(value, tuple):
        return [to_plain(v) for v in value]
    return value


def as_dict(obj) -> dict[str, Any]:
    return {f.name: to_plain(getattr(obj, f.name)) for f in fields(obj)}


def _coerce(value: Any, tp: Any, path: str) -> Any:
    if isinstance(value, float) and not math.isfinite(value):    # nan, inf: no runtime setting
        raise ConfigError(f"{path}: must be a finite number, got {show(value)}")
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for alt in typing.get_args(tp):
            if alt is type(None):
                continue
            try:
                return _coerce(value, alt, path)
            except ConfigError as e:
                errors.append(e)
        raise ConfigError(f"{path}: must be {type_name(tp)}, got {show(value)}")
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value in allowed and type(value) in {type(a) for a in allowed}:
            return value
        raise ConfigError(f"{path}: must be {type_name(tp)}, got {show(value)}")
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: must be {type_name(tp)}, got {show(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{path}: must be {type_name(tp)}, got {len(value)} item(s)")
        return tuple(_coerce(v, t, f"{path}[{i}]") for i, (v, t) in enumerate(zip(value, args)))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: must be true or false, got {show(value)}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{path}: must be an integer, got {show(value)}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{path}: must be a number, got {show(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{path}: must be a string, got {show(value)}")
    raise TypeError(f"unsupported parameter type {tp!r} at {path}")


def unknown_key(path: str, key: str, valid: list[str], what: str = "parameter") -> ConfigError:
    """The error for a name that is not one of ``valid``, suggesting the nearest."""
    near = difflib.get_close_matches(key, valid, n=1)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    listing = ", ".join(valid) if valid else "(none)"
    return ConfigError(f"{path}: unknown {what} {key!r}{hint} (valid: {listing})")


def build(cls, values: Mapping[str, Any] | None, path: str = "params"):
    """An instance of ``cls`` from plain data, or a :class:`ConfigError` naming the key path."""
    values = dict(values or {})
    h = hints(cls)
    names = [f.name for f in fields(cls)]
    for key in values:
        if key not in names:
            raise unknown_key(path, key, names)
    kwargs = {}
    for f in fields(cls):
        if f.name not in values:
            continue
        p = f"{path}.{f.name}"
        v = _coerce(values[f.name], h[f.name], p)
        lo, hi = f.metadata.get("minimum"), f.metadata.get("maximum")
        for item, ip in (_numbers(v, p)):
            if lo is not None and item < lo:
                raise ConfigError(f"{ip}: must be >= {lo}, got {show(item)}")
            if hi is not None and item > hi:
                raise ConfigError(f"{ip}: must be <= {hi}, got {show(item)}")
        check = f.metadata.get("check")
        if check is not None:
            msg = check(v)
            if msg:
                raise ConfigError(f"{p}: {msg}, got {show(v)}")
        kwargs[f.name] = v
    try:
        obj = cls(**kwargs)
    except (ValueError, TypeError) as e:      # a __post_init__ cross-field rule
        raise ConfigError(f"{path}: {e}") from None
    return obj


def _numbers(v, path):
    if isinstance(v, bool) or v is None:
        return []
    if isinstance(v, (int, float)):
        return [(v, path)]
    if isinstance(v, tuple):
        return [(x, f"{path}[{i}]") for i, x in enumerate(v)
                if isinstance(x, (int, float)) and not isinstance(x, bool)]
    return []
