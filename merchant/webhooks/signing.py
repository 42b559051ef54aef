"""Order event signatures (acp-spec.md §3.3).

``Merchant-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``: made afresh
for every delivery attempt by the sender (``webhooks.delivery``), checked by receivers (the test and
demo receiver, ``webhooks.receiver``).
"""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Merchant-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},v1={_digest(secret, body, str(timestamp))}"


def verify(secret: str, body: bytes, header: str | None, *, now: int, tolerance: int = 300) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` at a time within ``tolerance`` seconds of ``now``.

    The header is ``t=<digits>`` and one or more ``v1=<hex>`` entries (a sender rotating its secret
    signs with both); other schemes are ignored. Every ``v1`` is compared in constant time.
    """
    if not header:
        return False
    timestamps: list[str] = []
    candidates: list[str] = []
    for entry in header.split(","):
        key, sep, value = entry.strip().partition("=")
        if not sep:
            return False
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            candidates.append(value)
    if len(timestamps) != 1 or not candidates:
        return False
    t = timestamps[0]
    if not (t.isascii() and t.isdigit() and len(t) <= 20) or abs(now - int(t)) > tolerance:
        return False
    expected = _digest(secret, body, t).encode()
    matches = [hmac.compare_digest(expected, candidate.lower().encode()) for candidate in candidates]
    return any(matches)


def _digest(secret: str, body: bytes, timestamp: str) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
