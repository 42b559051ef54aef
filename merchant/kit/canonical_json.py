"""RFC 8785 (JCS) canonical form of a JSON body and its SHA-256 fingerprint.

Equal fingerprints mean semantically equal JSON: key order and ``1.0`` vs ``1`` do not
matter; ``null`` differs from an absent member and array order matters. An empty body
counts as ``{}``; a body that is not JSON is fingerprinted byte for byte.
"""

from __future__ import annotations

import hashlib
import json

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


def fingerprint(body: bytes) -> str:
    form = canonical(body)
    return hashlib.sha256(b"jcs:" + form if form is not None else b"raw:" + body).hexdigest()
