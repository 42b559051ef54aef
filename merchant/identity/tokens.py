"""Pure: API key token format, generation and hashing.

A token is ``<key id>.<secret>``: the id (``key_`` + 16 hex) finds the row, the
secret (256 random bits, URL-safe base64) is checked against its SHA-256 in
constant time. SHA-256 without a slow KDF is right here because the secret is
random, not a password.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

KEY_ID_PREFIX = "key_"
SECRET_BYTES = 32
TOKEN_PATTERN = re.compile(r"(key_[0-9a-f]{16})\.([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class IssuedToken:
    key_id: str
    secret_hash: bytes
    token: str


def issue() -> IssuedToken:
    key_id = KEY_ID_PREFIX + secrets.token_hex(8)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return IssuedToken(key_id, hash_secret(secret), f"{key_id}.{secret}")


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse(token: str) -> tuple[str, str] | None:
    """Split a token into (key id, secret), or None when it is not one of ours."""
    match = TOKEN_PATTERN.fullmatch(token)
    return (match.group(1), match.group(2)) if match else None


def matches(secret: str, secret_hash: bytes) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)
