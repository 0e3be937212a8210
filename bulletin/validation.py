"""Turn pydantic's validation errors into one line each that says where and what to do."""

from __future__ import annotations

import datetime as dt
import difflib
import re
import types
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from .yamlsource import Loc, dotted

_TYPE_NAMES = {str: "text", int: "a whole number", bool: "true or false", list: "a list",
               dict: "a mapping", float: "a number", type(None): "nothing"}


def describe(exc: ValidationError, model: type[BaseModel],
             where: Callable[[Loc], str], data: Any = None) -> list[str]:
    """One message per error: `<where(loc)>: <field>: <what is wrong; what was expected>`;
    the keys missing from one table in one message, naming a table of a close name beside
    it in `data` (the input) that holds them: a misspelt table is one mistake."""
    messages: list[tuple[str, str]] = []
    errors = exc.errors(include_url=False)
    missing: dict[Loc, list[str]] = {}
    for error in errors:
        if error["type"] == "missing":
            loc = _loc(error)
            missing.setdefault(loc[:-1], []).append(str(loc[-1]))
    for table, names in missing.items():
        if len(names) > 1:
            messages.append((where(table), _missing(table, names, where, data)))
    for error in errors:
        loc = _loc(error)
        key = getattr((error.get("ctx") or {}).get("error"), "key", None)
        if isinstance(key, str):  # the mistake is in this key of the value (fields.KeyMistake)
            loc = (*loc, key)
        kind = error["type"]
        field = dotted(loc) or "(top level)"
        if kind == "missing" and len(missing[loc[:-1]]) > 1:
            continue  # told with the table's others
        if kind == "missing":
            text = f"missing required key '{loc[-1]}'"
            allowed = _keys(model, loc[:-1])
            if allowed:
                text += f" (expected keys: {', '.join(allowed)})"
        elif kind == "extra_forbidden":
            allowed = _keys(model, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            if close and isinstance(error.get("input"), dict | list):  # a misspelt table
                text = f"unknown key '{loc[-1]}'; did you mean '{close[0]}'? (expected " \
                    f"one of: {', '.join(allowed)})"
            else:
                text = f"unknown key '{loc[-1]}'; expected one of: {', '.join(allowed)}"
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            allowed = _keys(model, loc)
            keys = f" with keys {', '.join(allowed)}" if allowed else ""
            text = f"expected a mapping{keys}, got {_kind_of(error.get('input'))}"
        elif kind == "list_type" and error.get("input", ...) is None and loc:
            text = f"is empty; list its items under '{loc[-1]}:', each starting with '- '"
        elif kind == "list_type":
            text = f"expected a list, got {_kind_of(error.get('input'))}"
        elif error.get("input", ...) is None:
            what = "the date, YYYY-MM-DD," if loc and loc[-1] == "date" else "the text"
            text = f"is empty; write {what} after '{loc[-1]}:'" if loc else "is empty"
        elif kind.startswith("date") and isinstance(error.get("input"), str):
            text = f"{_short(error['input'])} is not a date written YYYY-MM-DD" + \
                _date_hint(error["input"])
        elif kind in ("value_error", "assertion_error"):
            text = str(error["msg"]).removeprefix("Value error, ")
        else:
            msg = str(error["msg"])
            text = msg[0].lower() + msg[1:] + f" (got {_short(error.get('input'))})"
        messages.append((where(loc), f"{field}: {text}"))
    messages.sort(key=lambda m: _line_number(m[0]))
    return [f"{place}: {text}" for place, text in messages]


def _missing(table: Loc, keys: list[str], where: Callable[[Loc], str], data: Any) -> str:
    """`table: missing required keys a, b and c`, and where they are if a table beside it
    of a close name holds them all."""
    text = f"{dotted(table) or '(top level)'}: missing required keys " \
        f"{', '.join(keys[:-1])} and {keys[-1]}"
    around = data
    for part in table[:-1]:
        around = around.get(part) if isinstance(around, dict) else \
            around[part] if isinstance(around, list) and isinstance(part, int) else None
    if table and isinstance(around, dict):
        names = [str(name) for name, value in around.items()
                 if name != table[-1] and isinstance(value, dict) and set(keys) <= set(value)]
        close = difflib.get_close_matches(str(table[-1]), names, n=1)
        if close:
            text += (f"; they are under {dotted((*table[:-1], close[0]))} "
                     f"({where((*table[:-1], close[0]))}); is '{close[0]}' a misspelling of "
                     f"'{table[-1]}'?")
    return text


def _date_hint(value: str) -> str:
    """`; write 2022-01-31` for 31/01/2022 or 31.1.2022 (day first, as written in Wales)."""
    match = re.fullmatch(r"\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*", value) or \
        re.fullmatch(r"\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*", value)
    if match is None:
        return ", such as 2022-01-31"
    a, b, c = match.groups()
    year, month, day = (a, b, c) if len(a) == 4 else (c, b, a)
    try:
        return f"; write {dt.date(int(year), int(month), int(day)).isoformat()}"
    except ValueError:
        return ", such as 2022-01-31"


def _line_number(place: str) -> int:
    tail = place.rpartition(":")[2]
    return int(tail) if tail.isdigit() else 0


def _loc(error: Any) -> Loc:
    """Where the error is, without pydantic's union tags; the key an unknown or missing key
    error names is kept whatever it holds (a typed key may hold '[')."""
    *path, last = error["loc"] or ("",)
    kept = tuple(part for part in path if not _is_union_tag(part))
    if error["type"] in ("missing", "extra_forbidden") or not _is_union_tag(last):
        return (*kept, last) if error["loc"] else kept
    return kept


def _is_union_tag(part: str | int) -> bool:
    return isinstance(part, str) and ("[" in part or part in ("str", "int", "dict"))


def _kind_of(value: object) -> str:
    if isinstance(value, str):
        return f"text {_short(value)}"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys a mapping at `loc` may have, following the model's field types."""
    tp: object = model
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(part, int):
            args = typing.get_args(tp)
            tp = args[0] if args else None
        elif isinstance(tp, type) and issubclass(tp, BaseModel):
            info = tp.model_fields.get(part) or next(
                (f for f in tp.model_fields.values() if f.alias == part), None)
            tp = info.annotation if info else None
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [info.alias or name for name, info in tp.model_fields.items()]
    return []


def _unwrap(tp: object) -> object:
    """Strip Annotated and Optional; of a union, keep the model member."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [a for a in members if isinstance(a, type) and issubclass(a, BaseModel)]
            tp = (models or members)[0]
        else:
            return tp
