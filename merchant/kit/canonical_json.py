"""RFC 8785 (JCS) canonical form of a JSON body and its SHA-256 fingerprint.

Equal fingerprints mean semantically equal JSON: key order and ``1.0`` vs ``1`` do not
matter; ``null`` differs from an absent member and array order matters. An empty body
counts as ``{}``; a body that is not JSON is fingerprinted byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

_EMPTY = b"{}"


def canonical(body: bytes) -> bytes | None:
    """The canonical bytes of ``body``, or ``None`` when it is not JSON that JCS can express."""
    if not body.strip():
        return _EMPTY
    try:
        return rfc8785.dumps(json.loads(body))
    except (ValueError, rfc8785.CanonicalizationError):  # not JSON, or e.g. an integer beyond 2**53
        return None


def fingerprint(body: bytes, parsed: Any = None) -> str:
    """The body's fingerprint; ``parsed``, when given, is ``json.loads(body)`` already done (not
    parsed again)."""
    form = canonical(body) if parsed is None else _canonical_value(parsed)
    return hashlib.sha256(b"jcs:" + form if form is not None else b"raw:" + body).hexdigest()


def _canonical_value(value: Any) -> bytes | None:
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        return None
