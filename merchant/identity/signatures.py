"""Verify an agent's request signature (ACP ``Signature`` + ``Timestamp`` headers). Pure.

ACP leaves the details open (acp-spec.md §3.2). What we accept, per API key:

- ``Timestamp``: RFC 3339 with a UTC offset, within the configured skew of our clock (default
  300 s); required whenever a signature is sent.
- ``Signature``: base64url (padding optional) of a detached signature of the **signed content**
  below, made with the key's HMAC-SHA256 shared secret (32-byte MAC) or its Ed25519 private key
  (64-byte signature).

Signed content, version 2 (``merchant-sig-v2``): the UTF-8 bytes of these six lines joined by
``\\n`` (LF), with no newline after the last one::

    merchant-sig-v2
    <the Timestamp header value, exactly as sent>
    <the HTTP method, upper case: GET, POST>
    <the request target: the path exactly as sent (percent-encoding kept), then "?" and the query
     string when there is one (no "?" otherwise); no scheme, no host>
    <the Idempotency-Key header value, or an empty line when none is sent>
    <lowercase hex SHA-256 of the request body bytes (no body: of zero bytes)>

The body hash may also be taken over the RFC 8785 (JCS) form of a JSON body, for signers that
canonicalise first. So a signature covers when, which operation, on which resource, under which
idempotency key and with which body: it cannot be moved to another path, resent later with a new
``Timestamp``, or reused with another ``Idempotency-Key``. In Python::

    ts = datetime.now(UTC).isoformat()  # with microseconds: two GETs in one second differ
    content = "\\n".join(["merchant-sig-v2", ts, "POST", "/checkout_sessions", idem_key,
                         hashlib.sha256(body).hexdigest()]).encode()
    signature = base64.urlsafe_b64encode(hmac.new(secret.encode(), content, "sha256").digest()).rstrip(b"=")

Legacy (version 1): a signature of the raw body alone (or its JCS form) is accepted only while the
deployment allows it (``MERCHANT_SIGNATURE_ACCEPT_LEGACY_UNTIL``, default: never); it is verdict
``verified_legacy`` on the audit trail.

Replays (``merchant.http.signatures``): a version-2 signature of a request without an
``Idempotency-Key`` is accepted once; the same value again inside the skew window is refused
(``replayed_signature``). Sign each request anew, with a fractional-second Timestamp so that two
identical GETs in one second differ. A request with an ``Idempotency-Key`` may come again with the
same signature (an agent resending the very same bytes after a network error): the key is inside
the signature, so such a repeat is the same request under the same key, and the idempotency store
answers it (the stored answer, or 409 while the first one runs) without a second effect. Legacy
signatures are not recorded (the same body gives the same signature, e.g. every GET).

Policy per key: ``off`` (never checked), ``verify_if_present`` (a signature that is sent must be
valid), ``require`` (every request must be signed; the default for key material added in
production).
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

SIGNATURE_VERSION = "merchant-sig-v2"


class SignaturePolicy(StrEnum):
    off = "off"
    verify_if_present = "verify_if_present"
    require = "require"


class Verdict(StrEnum):
    """What the check concluded (kept for the audit trail)."""

    verified = "verified"
    verified_legacy = "verified_legacy"  # body-only signature, inside the transition window
    unsigned = "unsigned"  # no signature sent, and the key does not require one
    not_checked = "not_checked"  # policy off, or no key material


@dataclass(frozen=True, slots=True)
class SigningKeys:
    policy: SignaturePolicy = SignaturePolicy.off
    secret: str | None = None
    public_key: str | None = None  # base64url of the raw 32-byte Ed25519 key


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a signature covers, as received."""

    method: str
    target: str  # path as sent, plus "?query" when there is a query
    idempotency_key: str | None
    body: bytes


class SignatureRejected(Unauthenticated):
    code = "invalid_signature"


class MissingSignature(SignatureRejected):
    code = "missing_signature"


class InvalidTimestamp(SignatureRejected):
    code = "invalid_timestamp"


class StaleTimestamp(SignatureRejected):
    code = "stale_timestamp"


class ReplayedSignature(SignatureRejected):
    code = "replayed_signature"


def default_policy(*, production: bool) -> SignaturePolicy:
    """The policy of a key whose signing material is added without one: a platform that signs
    must sign every request in production; elsewhere unsigned requests still pass."""
    return SignaturePolicy.require if production else SignaturePolicy.verify_if_present


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


def signed_content(
    timestamp: str, method: str, target: str, idempotency_key: str | None, body_sha256: str
) -> bytes:
    """The version-2 signed content (see the module docstring)."""
    lines = (SIGNATURE_VERSION, timestamp, method.upper(), target, idempotency_key or "", body_sha256)
    return "\n".join(lines).encode()


def parse_timestamp(value: str | None, now: datetime, skew: timedelta) -> datetime:
    """The ``Timestamp`` header as a time within ``skew`` of ``now`` (else ``SignatureRejected``)."""
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
    return when


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


def _body_forms(body: bytes) -> list[bytes]:
    """The raw body, and its RFC 8785 form when that differs."""
    jcs = canonical(body)
    return [body] if jcs is None or jcs == body else [body, jcs]


def verify(
    keys: SigningKeys,
    request: SignedRequest,
    *,
    signature: str | None,
    timestamp: str | None,
    now: datetime,
    skew: timedelta,
    legacy_until: datetime | None = None,
) -> Verdict:
    """Raise ``SignatureRejected`` (401) or say how the request stands (replays: the caller's)."""
    if keys.policy is SignaturePolicy.off or (keys.secret is None and keys.public_key is None):
        return Verdict.not_checked
    if not signature:
        if keys.policy is SignaturePolicy.require:
            raise MissingSignature("This API key must sign its requests (Signature and Timestamp headers).")
        return Verdict.unsigned
    parse_timestamp(timestamp, now, skew)
    stamp = timestamp or ""  # not empty: parse_timestamp refuses a missing one
    try:
        raw = b64url_decode(signature)
    except (binascii.Error, ValueError):
        raise SignatureRejected("Signature must be base64url.") from None
    forms = _body_forms(request.body)
    for form in forms:
        digest = hashlib.sha256(form).hexdigest()
        content = signed_content(stamp, request.method, request.target, request.idempotency_key, digest)
        if _matches(keys, raw, content):
            return Verdict.verified
    if legacy_until is not None and now < legacy_until and any(_matches(keys, raw, f) for f in forms):
        return Verdict.verified_legacy
    raise SignatureRejected(
        f"The Signature does not match the request ({SIGNATURE_VERSION}: Timestamp, method, path, "
        "Idempotency-Key and body)."
    )
