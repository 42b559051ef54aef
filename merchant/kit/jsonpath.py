"""Pure: RFC 9535 JSONPath for a location given as keys and indexes."""

from __future__ import annotations

import re
from collections.abc import Iterable

_SHORTHAND = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# RFC 9535 §2.3.1.1: escapes inside a single-quoted name selector.
_ESCAPES = {"\\": "\\\\", "'": "\\'", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _name_selector(name: str) -> str:
    if _SHORTHAND.fullmatch(name):
        return "." + name
    return "['" + "".join(_escape(char) for char in name) + "']"


def _escape(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    return f"\\u{code:04x}" if code < 0x20 or 0xD800 <= code <= 0xDFFF else char  # surrogates: not UTF-8


def jsonpath(parts: Iterable[str | int]) -> str:
    """``("line_items", 0, "id")`` -> ``$.line_items[0].id``."""
    return "$" + "".join(
        f"[{part}]" if isinstance(part, int) else _name_selector(str(part)) for part in parts
    )
