"""Pure: scrub secrets and personal data from anything about to be logged."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

REDACTED = "[REDACTED]"

# Keys whose values are never logged, matched as substrings of the lower-cased key.
SENSITIVE_KEY_PARTS = (
    "authorization",
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "signature",
    "cookie",
    "credential",
    "card",
    "cvc",
    "cvv",
    "email",
    "address",
    "line1",
    "line2",
    "street",
    "phone",
    "postal_code",
)
# Keys redacted only on an exact (lower-cased) match: as substrings they are too common.
SENSITIVE_KEYS = frozenset({"pan", "number", "zip", "zipcode", "dsn", "database_url"})

# Where a token may start: not inside a word, or right after a percent-escape (``%2Fspt_...``).
_START = r"(?:(?<![A-Za-z0-9])|(?<=%[0-9A-Fa-f]{2}))"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # First: a URL password may contain '@'-like text that later patterns would half-match.
    (re.compile(r"postgres(?:ql)?(?:\+\w+)?://([^:/@\s]+):[^@\s]+@"), r"postgresql://\1:" + REDACTED + "@"),
    (
        re.compile(r"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key)(\s*[=:]\s*)[^\s,;&\"']+"),
        r"\1\2" + REDACTED,
    ),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer " + REDACTED),
    (re.compile(_START + r"key_[0-9a-f]{16}\.[A-Za-z0-9_-]{20,}"), REDACTED),  # our API keys
    # Stripe: secret and restricted keys (with or without live/test), client secrets of
    # intents, webhook secrets (ours are whsec_ + URL-safe base64), shared payment and other tokens.
    (re.compile(_START + r"(?:sk|rk)_(?:live_|test_)?[A-Za-z0-9][A-Za-z0-9_-]{7,}"), REDACTED),
    (re.compile(_START + r"(?:pi|seti)_[A-Za-z0-9]+_secret_[A-Za-z0-9_-]{4,}"), REDACTED),
    (re.compile(_START + r"(?:whsec|spt|vt|tok)_[A-Za-z0-9_-]{8,}"), REDACTED),
    (re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"), "[EMAIL]"),
)
_CARD_CANDIDATE = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[CARD]" if _luhn_ok(digits) else match.group(0)


def redact_text(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _CARD_CANDIDATE.sub(_mask_card, text)


def is_sensitive_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in SENSITIVE_KEYS or any(part in lowered for part in SENSITIVE_KEY_PARTS)


def redact(value: Any) -> Any:
    """Redact a log value: mappings by key name, strings by pattern, recursively."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            key: REDACTED if isinstance(key, str) and is_sensitive_key(key) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set):
        return [redact(item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, BaseModel):
        return redact(value.model_dump(mode="json"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return redact(dataclasses.asdict(value))
    # Exceptions, UUIDs, datetimes, anything else: rendered as text, then scrubbed.
    return redact_text(str(value))
