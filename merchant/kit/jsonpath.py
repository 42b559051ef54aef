"""Pure: RFC 9535 JSONPath for a location given as keys and indexes."""

from __future__ import annotations

import re
from collections.abc import Iterable

_SHORTHAND = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _name_selector(name: str) -> str:
    if _SHORTHAND.match(name):
        return "." + name
    escaped = name.replace("\\", "\\\\").replace("'", "\\'")
    return f"['{escaped}']"


def jsonpath(parts: Iterable[str | int]) -> str:
    """``("line_items", 0, "id")`` -> ``$.line_items[0].id``."""
    return "$" + "".join(
        f"[{part}]" if isinstance(part, int) else _name_selector(str(part)) for part in parts
    )
