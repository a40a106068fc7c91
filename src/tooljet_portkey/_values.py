"""What a JSON value a host sent may hold: JSON types only, at most MAX_JSON_DEPTH levels, valid text.

A Python host may pass values natively and a JSON text may hold escapes; either way the value must be
something httpx can send as UTF-8 JSON. ``json_problem`` walks a value once, without recursion: time
linear in its size, memory bounded by its depth, and a config nested 400 deep is a refusal, not a
RecursionError. Lists of only ints or only ASCII text (token arrays, lists of texts) are checked at C
speed. Its words never quote the value.

``loads_strict`` is the other direction: JSON text a server or a model wrote, parsed into values a
host can always serialise again. ``json.loads`` takes ``NaN``, ``Infinity`` and ``1e999`` (a float
infinity) and raises RecursionError for text nested deeper than the stack allows; here each is a
``NotStrictJSON`` (a ValueError) saying which, so a result never holds a number JSON lacks.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from ._constants import MAX_INT_BITS, MAX_JSON_DEPTH

__all__ = [
    "MAX_JSON_DEPTH",
    "NESTED_TOO_DEEPLY",
    "NOT_JSON",
    "SURROGATE",
    "TOO_DEEP",
    "NotStrictJSON",
    "json_problem",
    "loads_strict",
    "raw_decode_strict",
]

TOO_DEEP = f"is nested more than {MAX_JSON_DEPTH} levels deep"
SURROGATE = "contains invalid text (a lone UTF-16 surrogate)"
# NaN, an infinity, a set, bytes, a date; or an int of more than 3,900 digits, which Python refuses to print
NOT_JSON = "must hold only JSON values (text, numbers, true/false, null, arrays, objects)"
_SURROGATES = re.compile("[\ud800-\udfff]")
_END = object()


def _text_problem(text: str) -> str | None:
    # "ab\ud83d": a JavaScript string cut inside an emoji; no UTF-8 encoder (nor httpx) can send it
    return SURROGATE if not text.isascii() and _SURROGATES.search(text) else None


def _scalar_problem(item: Any) -> tuple[str | None, int]:
    """(problem, lower bound of its JSON length) of one value that is not an array or object."""
    if isinstance(item, str):
        return _text_problem(item), len(item) + 2
    if item is None or isinstance(item, bool):
        return None, 4
    if isinstance(item, int):
        return (None if item.bit_length() <= MAX_INT_BITS else NOT_JSON), 1
    if isinstance(item, float):
        return (None if math.isfinite(item) else NOT_JSON), 1
    return NOT_JSON, 0


def _texts_size(items: Any, marks: int) -> int | None:
    """The JSON size bound of items that are all ASCII strs (``marks``: the quotes, and a key's colon,
    each adds), found at C speed; else None."""
    try:
        if all(map(str.isascii, items)):
            return sum(map(len, items)) + marks * len(items)
    except TypeError:  # not all strs
        pass
    return None


def _ints_size(items: Any) -> int | None:
    """The JSON size bound of items that are all printable ints (a token array), at C speed; else None."""
    try:
        if max(map(int.bit_length, items)) <= MAX_INT_BITS:
            return len(items)
    except TypeError:  # not all ints
        pass
    return None


def json_problem(value: Any) -> tuple[str | None, int]:
    """(why ``value`` cannot be sent, or None; a lower bound of its compact JSON length: the characters
    of its texts and keys, their quotes and colons, brackets, one per number, four per true/null).

    One iterative walk: time linear in the size of the value, memory bounded by MAX_JSON_DEPTH, and
    no recursion, so a config nested 400 deep is a refusal, not a RecursionError. Lists of only ints
    or only ASCII text (token arrays, lists of texts) are checked at C speed.
    """
    size = 0
    stack: list[Iterator[Any]] = [iter((value,))]
    while stack:
        for item in stack[-1]:
            kind = type(item)
            if kind is str:
                if not item.isascii() and _SURROGATES.search(item):
                    return SURROGATE, size
                size += len(item) + 2
            elif kind is int:
                if item.bit_length() > MAX_INT_BITS:
                    return NOT_JSON, size
                size += 1
            elif isinstance(item, (dict, list, tuple)):
                size += 2
                if not item:
                    continue
                if len(stack) > MAX_JSON_DEPTH:
                    return TOO_DEEP, size
                if isinstance(item, dict):
                    keys = _texts_size(item, 3)
                    if keys is None:
                        problem, keys = _keys_problem(item)
                        if problem:
                            return problem, size
                    size += keys
                    stack.append(iter(item.values()))
                    break
                flat = (_texts_size(item, 2) or _ints_size(item)) if len(item) > 8 else None
                if flat is None:
                    stack.append(iter(item))
                    break
                size += flat
            else:
                problem, scalar_size = _scalar_problem(item)
                if problem:
                    return problem, size
                size += scalar_size
        else:
            stack.pop()
    return None, size


def _keys_problem(mapping: Mapping[Any, Any]) -> tuple[str | None, int]:
    """(problem, JSON size bound) of an object's keys: JSON keys are valid text."""
    size = 0
    for key in mapping:
        if not isinstance(key, str):
            return NOT_JSON, size
        problem = _text_problem(key)
        if problem:
            return problem, size
        size += len(key) + 3
    return None, size


# ---------------------------------------------------------------------------------------------------
# JSON text read from a server or a model

NESTED_TOO_DEEPLY = "nested too deeply"
TOO_LARGE_NUMBER = "a number is larger than 1.8e308 in size"


class NotStrictJSON(ValueError):
    """Text ``json.loads`` would take but JSON does not allow (NaN, an infinity, a number past the
    float range), or nested deeper than the parser can go; the message says which, never quoting it."""


def _refuse_constant(name: str) -> Any:
    raise NotStrictJSON(f"{name} is not allowed in JSON")


def _finite_float(text: str) -> float:
    """A float literal, refused when it overflows to infinity (``1e999``, 400 digits)."""
    value = float(text)
    if math.isinf(value):
        raise NotStrictJSON(TOO_LARGE_NUMBER)
    return value


# parse_float is called only for literals with a fraction or an exponent; parse_constant only for
# NaN/Infinity/-Infinity: text without them parses at the C scanner's speed.
_STRICT = json.JSONDecoder(parse_float=_finite_float, parse_constant=_refuse_constant)


def loads_strict(text: str | bytes | bytearray) -> Any:
    """``json.loads`` for an answer: the same values, but NaN, infinities and overflowing numbers are
    refused, and text nested deeper than the stack allows is ``NotStrictJSON("nested too deeply")``,
    not a RecursionError (``json.loads`` recurses once per level; how deep it gets depends on how deep
    the caller's stack already is). Other invalid text raises ``json.JSONDecodeError`` as usual."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    elif text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    try:
        return _STRICT.decode(text)  # json.loads, without building a decoder for each answer
    except RecursionError:
        raise NotStrictJSON(NESTED_TOO_DEEPLY) from None


def raw_decode_strict(text: str) -> tuple[Any, int]:
    """``JSONDecoder.raw_decode`` with ``loads_strict``'s refusals: the value at the start of ``text``
    and where it ends (a stream chunk's fast path)."""
    try:
        return _STRICT.raw_decode(text)
    except RecursionError:
        raise NotStrictJSON(NESTED_TOO_DEEPLY) from None
