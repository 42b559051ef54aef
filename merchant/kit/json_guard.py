"""Pure: parse a JSON request body and refuse what no field of ours can hold, naming where it is.

PostgreSQL cannot store NUL in ``text``/``jsonb``; a lone surrogate cannot be encoded as UTF-8;
an integer beyond 64 bits overflows ``bigint``; unbounded nesting or strings cost time and memory
for nothing. ``parse`` finds the first such value and raises ``Refused`` with its location, so the
HTTP edge can answer 400 with a JSONPath ``param`` before any model or query sees the value.
Per-field limits (tighter string caps, ranges) stay in the request models.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
MAX_DEPTH: Final = 32  # the deepest legitimate body (ACP metadata in a line item) is far shallower
MAX_STRING: Final = 16_384  # characters, any string or key; fields have tighter caps of their own

_UNSAFE_CHARS = re.compile("[\x00\ud800-\udfff]")
_MAX_INT_DIGITS = 20  # longer digit strings are out of range anyway: not converted at all


class _Unrepresentable:
    """Stands in for a number the parser must not build (too many digits, NaN, Infinity)."""


_UNREPRESENTABLE: Final = _Unrepresentable()

Location = tuple[str | int, ...]


class Refused(ValueError):
    def __init__(self, location: Location, reason: str) -> None:
        super().__init__(reason)
        self.location = location
        self.reason = reason


def _parse_int(text: str) -> int | _Unrepresentable:
    return int(text) if len(text.lstrip("-")) <= _MAX_INT_DIGITS else _UNREPRESENTABLE


def _parse_constant(_: str) -> _Unrepresentable:
    return _UNREPRESENTABLE


def parse(raw: bytes | str) -> Any:
    """The JSON value of ``raw``; ``Refused`` for an unsafe value; ``ValueError`` if not JSON at all."""
    try:
        value = json.loads(raw, parse_int=_parse_int, parse_constant=_parse_constant)
    except RecursionError:
        raise Refused((), f"The request body is nested deeper than {MAX_DEPTH} levels.") from None
    check(value)
    return value


def check(value: Any) -> None:
    """Raise ``Refused`` for the first unsafe value in ``value`` (depth-first, document order)."""
    stack: list[tuple[Any, Location]] = [(value, ())]
    while stack:
        node, location = stack.pop()
        if isinstance(node, dict | list) and len(location) >= MAX_DEPTH:
            raise Refused(location, f"The request body is nested deeper than {MAX_DEPTH} levels.")
        if isinstance(node, dict):
            children = list(node.items())
            for name, _ in children:
                _check_string(name, (*location, name))
            stack.extend(((child, (*location, name)) for name, child in reversed(children)))
        elif isinstance(node, list):
            stack.extend(((child, (*location, index)) for index, child in reversed(list(enumerate(node)))))
        elif isinstance(node, str):
            _check_string(node, location)
        else:
            _check_number(node, location)


def _check_string(text: str, location: Location) -> None:
    if _UNSAFE_CHARS.search(text):
        raise Refused(location, "Text must not contain NUL characters or unpaired surrogates.")
    if len(text) > MAX_STRING:
        raise Refused(location, f"Text must be at most {MAX_STRING:,} characters long.")


def _check_number(number: Any, location: Location) -> None:
    if isinstance(number, bool) or number is None:
        return
    if number is _UNREPRESENTABLE or (isinstance(number, float) and not math.isfinite(number)):
        raise Refused(location, "Numbers must be finite and within the 64-bit integer range.")
    if isinstance(number, int | float) and not INT64_MIN <= number <= INT64_MAX:
        raise Refused(location, "Numbers must be finite and within the 64-bit integer range.")
