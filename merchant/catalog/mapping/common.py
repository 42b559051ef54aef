"""Pure field validators shared by every feed mapper.

Each ``Row`` helper reads one field, records a ``FieldError`` on the row when the
value is wrong and returns ``None`` (so a mapper can report every bad field of a
row at once instead of stopping at the first).
"""

from __future__ import annotations

import re
from collections.abc import Container, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from merchant.catalog.records import FieldError
from merchant.kit.money import Money, MoneyError, parse_price

PLACEHOLDERS = frozenset({"null", "none", "n/a", "na", "unknown", "-"})
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_COUNTRY = re.compile(r"[A-Z]{2}")


def blank(value: Any) -> bool:
    """Omitted, JSON null and an empty (or all-space) cell all mean "no value"."""
    return value is None or (isinstance(value, str) and not value.strip())


def gtin_valid(value: str) -> bool:
    """8, 12, 13 or 14 digits with a valid GS1 mod-10 check digit."""
    if len(value) not in (8, 12, 13, 14) or not value.isascii() or not value.isdigit():
        return False
    digits = [int(c) for c in value]
    body, check = digits[:-1], digits[-1]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def url_problem(value: str) -> str | None:
    """Why ``value`` is not an absolute http(s) URL without credentials, or None."""
    if any(c.isspace() for c in value):
        return "must not contain spaces (percent-encode them)"
    try:
        parts = urlsplit(value)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must be an absolute http(s) URL"
    if not parts.hostname:
        return "has no host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials"
    return None


class Row:
    """One source row plus the errors found while reading it."""

    __slots__ = ("errors", "last", "values")

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values
        self.errors: list[FieldError] = []
        self.last = ""  # the column (or alias) the last value was read from

    def error(self, name: str, code: str, message: str) -> None:
        self.errors.append(FieldError(name, code, message))

    def raw(self, *names: str) -> tuple[str, Any] | None:
        """The first of ``names`` holding a value (aliases in precedence order)."""
        for name in names:
            value = self.values.get(name)
            if not blank(value):
                self.last = name
                return name, value
        self.last = names[0]
        return None

    def text(
        self, *names: str, required: bool = False, max_len: int | None = None, accept: Container[str] = ()
    ) -> str | None:
        """Stripped text; ``accept`` lists lower-case values kept even if they are placeholder words."""
        found = self.raw(*names)
        if found is None:
            if required:
                self.error(names[0], "missing_required_field", f"{names[0]} is required")
            return None
        name, value = found
        if not isinstance(value, str):
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.error(name, "invalid_value", f"{name} must be a string")
                return None
            value = str(value)
        value = value.strip()
        if value.lower() in PLACEHOLDERS and value.lower() not in accept:
            self.error(name, "invalid_value", f"{name} is a placeholder ({value!r}); omit unknown values")
            return None
        if max_len is not None and len(value) > max_len:
            self.error(name, "too_long", f"{name} is {len(value)} characters; at most {max_len} allowed")
            return None
        return value

    def url(self, *names: str, required: bool = False) -> str | None:
        value = self.text(*names, required=required)
        if value is None:
            return None
        problem = url_problem(value)
        if problem:
            self.error(self._name(names), "invalid_value", f"{self._name(names)} {problem}")
            return None
        return value

    def boolean(self, *names: str, default: bool | None = None) -> bool | None:
        found = self.raw(*names)
        if found is None:
            return default
        name, value = found
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        self.error(name, "invalid_value", f"{name} must be true or false, not {value!r}")
        return default

    def choice(self, *names: str, allowed: Mapping[str, str], required: bool = False) -> str | None:
        """A value from ``allowed`` (source spelling -> canonical value), case-insensitive."""
        value = self.text(*names, required=required, accept=allowed)  # a listed value is no placeholder
        if value is None:
            return None
        canonical = allowed.get(value.lower())
        if canonical is None:
            choices = ", ".join(sorted(set(allowed)))
            self.error(self._name(names), "invalid_value", f"{self._name(names)} must be one of {choices}")
        return canonical

    def price(self, *names: str, required: bool = False) -> Money | None:
        """OpenAI money ``"79.99 USD"``: exact minor units, never rounded."""
        value = self.text(*names, required=required)
        if value is None:
            return None
        try:
            money = parse_price(value)
        except MoneyError as exc:
            self.error(self._name(names), "invalid_price", str(exc))
            return None
        return money

    def decimal(self, *names: str) -> Decimal | None:
        """A positive plain decimal (weights, dimensions); units are never inferred."""
        value = self.text(*names)
        if value is None:
            return None
        if not _DECIMAL.fullmatch(value):
            self.error(self._name(names), "invalid_value", f"{self._name(names)} must be a positive decimal")
            return None
        try:
            number = Decimal(value)
        except InvalidOperation:  # pragma: no cover - excluded by the pattern
            number = Decimal(0)
        if number <= 0:
            self.error(self._name(names), "invalid_value", f"{self._name(names)} must be greater than 0")
            return None
        return number

    def integer(self, *names: str, minimum: int = 0) -> int | None:
        found = self.raw(*names)
        if found is None:
            return None
        name, value = found
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int):
            number = value
        elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            number = int(value.strip())
        else:
            number = None
        if number is None or number < minimum:
            self.error(name, "invalid_value", f"{name} must be an integer of at least {minimum}")
            return None
        return number

    def gtin(self, *names: str) -> str | None:
        value = self.text(*names)
        if value is None:
            return None
        if not gtin_valid(value):
            self.error(
                self._name(names),
                "invalid_gtin",
                f"{self._name(names)} {value!r} is not a GTIN-8/12/13/14 with a valid check digit",
            )
            return None
        return value

    def countries(self, *names: str) -> tuple[str, ...]:
        """ISO 3166-1 alpha-2 codes: a JSON array or a comma-separated string."""
        found = self.raw(*names)
        if found is None:
            return ()
        name, value = found
        items = value if isinstance(value, list) else str(value).split(",")
        codes = tuple(str(item).strip() for item in items if not blank(item))
        bad = [code for code in codes if not _COUNTRY.fullmatch(code)]
        if bad:
            self.error(name, "invalid_value", f"{name} must hold upper-case ISO 3166-1 codes, not {bad[0]!r}")
            return ()
        return codes

    def _name(self, names: tuple[str, ...]) -> str:
        return self.last or names[0]
