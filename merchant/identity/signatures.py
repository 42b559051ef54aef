"""Verify an agent's request signature (ACP ``Signature`` + ``Timestamp`` headers). Pure.

ACP leaves the details open (acp-spec.md §3.2); what we accept, per API key:
- ``Signature``: a base64url (padding optional) detached signature of the **raw request body**
  (or, for signers that canonicalise first, of its RFC 8785 form), made with the key's
  HMAC-SHA256 shared secret or its Ed25519 private key;
- ``Timestamp``: RFC 3339, within the configured skew of our clock (default 300 s); required
  whenever a signature is sent.
Policy per key: ``off`` (never checked), ``verify_if_present`` (a signature that is sent must
be valid), ``require`` (every request must be signed).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from merchant.errors import Unauthenticated
from merchant.kit.canonical_json import canonical


class SignaturePolicy(StrEnum):
    off = "off"
    verify_if_present = "verify_if_present"
    require = "require"


class Verdict(StrEnum):
    """What the check concluded (kept for the audit trail)."""

    verified = "verified"
    unsigned = "unsigned"  # no signature sent, and the key does not require one
    not_checked = "not_checked"  # policy off, or no key material


@dataclass(frozen=True, slots=True)
class SigningKeys:
    policy: SignaturePolicy = SignaturePolicy.off
    secret: str | None = None
    public_key: str | None = None  # base64url of the raw 32-byte Ed25519 key


class SignatureRejected(Unauthenticated):
    code = "invalid_signature"


class MissingSignature(SignatureRejected):
    code = "missing_signature"


class InvalidTimestamp(SignatureRejected):
    code = "invalid_timestamp"


class StaleTimestamp(SignatureRejected):
    code = "stale_timestamp"


def b64url_decode(value: str) -> bytes:
    text = value.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key_from(value: str) -> Ed25519PublicKey:
    """An Ed25519 public key from base64url raw bytes (ValueError when it is not one)."""
    try:
        raw = b64url_decode(value)
    except (binascii.Error, ValueError):
        raise ValueError("the public key is not base64url") from None
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def _timestamp(value: str | None, now: datetime, skew: timedelta) -> None:
    if not value:
        raise InvalidTimestamp("A signed request needs a Timestamp header (RFC 3339).")
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidTimestamp("Timestamp must be an RFC 3339 date-time.") from None
    if when.tzinfo is None:
        raise InvalidTimestamp("Timestamp must carry a UTC offset.")
    if abs(now - when) > skew:
        raise StaleTimestamp(f"Timestamp is more than {int(skew.total_seconds())} s away from our clock.")


def _matches(keys: SigningKeys, signature: bytes, message: bytes) -> bool:
    if keys.secret is not None:
        expected = hmac.new(keys.secret.encode(), message, hashlib.sha256).digest()
        if hmac.compare_digest(expected, signature):
            return True
    if keys.public_key is not None:
        try:
            public_key_from(keys.public_key).verify(signature, message)
            return True
        except (CryptoInvalidSignature, ValueError):
            pass
    return False


def verify(
    keys: SigningKeys,
    *,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now: datetime,
    skew: timedelta,
) -> Verdict:
    """Raise ``SignatureRejected`` (401) or say how the request stands."""
    if keys.policy is SignaturePolicy.off or (keys.secret is None and keys.public_key is None):
        return Verdict.not_checked
    if not signature:
        if keys.policy is SignaturePolicy.require:
            raise MissingSignature("This API key must sign its requests (Signature and Timestamp headers).")
        return Verdict.unsigned
    _timestamp(timestamp, now, skew)
    try:
        raw = b64url_decode(signature)
    except (binascii.Error, ValueError):
        raise SignatureRejected("Signature must be base64url.") from None
    forms = [body]
    jcs = canonical(body)
    if jcs is not None and jcs != body:
        forms.append(jcs)
    if any(_matches(keys, raw, form) for form in forms):
        return Verdict.verified
    raise SignatureRejected("The Signature does not match the request body.")
