"""Request signature checks (pure): merchant-sig-v2 content, HMAC-SHA256 and Ed25519, Timestamp window,
legacy window, policy.

Before: the signature covered the body only (a signature stayed valid with another Timestamp,
method, path or Idempotency-Key), body-only signatures were always accepted, and key material
added without a policy gave ``verify_if_present`` in production too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from merchant.identity.signatures import (
    InvalidTimestamp,
    MissingSignature,
    SignaturePolicy,
    SignatureRejected,
    SignedRequest,
    SigningKeys,
    StaleTimestamp,
    Verdict,
    default_policy,
    verify,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SKEW = timedelta(seconds=300)
BODY = b'{"line_items": [{"id": "tee-red-s", "quantity": 2}], "currency": "usd"}'
SECRET = "s3cret-shared"
STAMP = "2026-12-01T12:00:00Z"
REQUEST = SignedRequest("POST", "/checkout_sessions", "idem-1", BODY)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def content(
    body: bytes = BODY,
    *,
    stamp: str = STAMP,
    method: str = "POST",
    target: str = "/checkout_sessions",
    key: str = "idem-1",
) -> bytes:
    """The merchant-sig-v2 content, spelled out as the module docstring documents it."""
    digest = hashlib.sha256(body).hexdigest()
    return f"merchant-sig-v2\n{stamp}\n{method}\n{target}\n{key}\n{digest}".encode()


def hmac_signature(message: bytes, secret: str = SECRET) -> str:
    return b64url(hmac.new(secret.encode(), message, hashlib.sha256).digest())


def check(
    keys: SigningKeys,
    signature: str | None,
    timestamp: str | None = STAMP,
    request: SignedRequest = REQUEST,
    legacy_until: datetime | None = None,
) -> Verdict:
    return verify(
        keys,
        request,
        signature=signature,
        timestamp=timestamp,
        now=NOW,
        skew=SKEW,
        legacy_until=legacy_until,
    )


HMAC_KEYS = SigningKeys(SignaturePolicy.require, secret=SECRET)


class TestHmac:
    def test_raw_body_signature_is_verified(self) -> None:
        assert check(HMAC_KEYS, hmac_signature(content())) is Verdict.verified

    def test_canonical_body_signature_is_verified(self) -> None:
        jcs = b'{"currency":"usd","line_items":[{"id":"tee-red-s","quantity":2}]}'
        assert check(HMAC_KEYS, hmac_signature(content(jcs))) is Verdict.verified

    def test_padded_base64url_is_accepted(self) -> None:
        digest = hmac.new(SECRET.encode(), content(), hashlib.sha256).digest()
        assert check(HMAC_KEYS, base64.urlsafe_b64encode(digest).decode()) is Verdict.verified

    def test_no_idempotency_key_signs_an_empty_line(self) -> None:
        get = SignedRequest("GET", "/checkout_sessions/cs_1?x=1", None, b"")
        signature = hmac_signature(content(b"", method="GET", target="/checkout_sessions/cs_1?x=1", key=""))
        assert check(HMAC_KEYS, signature, request=get) is Verdict.verified

    @pytest.mark.parametrize(
        "signature",
        [
            hmac_signature(content(), "another-secret"),
            hmac_signature(content(BODY + b" ")),
            hmac_signature(content(stamp="2026-12-01T12:00:01Z")),  # another Timestamp
            hmac_signature(content(method="GET")),
            hmac_signature(content(target="/checkout_sessions/cs_other/complete")),
            hmac_signature(content(target="/checkout_sessions?x=1")),
            hmac_signature(content(key="idem-2")),
            hmac_signature(content(key="")),
            hmac_signature(BODY),  # the body alone: the legacy form
            "not base64!!",
            b64url(b"short"),
        ],
        ids=[
            "secret", "body", "timestamp", "method", "path", "query", "idempotency-key", "no-key",
            "legacy", "not-base64", "short",
        ],
    )  # fmt: skip
    def test_wrong_signatures_are_rejected(self, signature: str) -> None:
        with pytest.raises(SignatureRejected) as rejected:
            check(HMAC_KEYS, signature)
        assert rejected.value.code == "invalid_signature"


class TestEd25519:
    def test_signature_by_the_registered_key(self) -> None:
        private = Ed25519PrivateKey.generate()
        public = b64url(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
        keys = SigningKeys(SignaturePolicy.require, public_key=public)
        assert check(keys, b64url(private.sign(content()))) is Verdict.verified
        with pytest.raises(SignatureRejected):
            check(keys, b64url(Ed25519PrivateKey.generate().sign(content())))
        with pytest.raises(SignatureRejected):
            check(keys, b64url(private.sign(content(target="/checkout_sessions/cs_b/complete"))))


class TestLegacy:
    def test_body_only_is_refused_without_a_window(self) -> None:
        with pytest.raises(SignatureRejected):
            check(HMAC_KEYS, hmac_signature(BODY))

    def test_body_only_is_accepted_inside_the_window_only(self) -> None:
        assert check(HMAC_KEYS, hmac_signature(BODY), legacy_until=NOW + SKEW) is Verdict.verified_legacy
        with pytest.raises(SignatureRejected):
            check(HMAC_KEYS, hmac_signature(BODY), legacy_until=NOW)

    def test_v2_stays_verified_inside_the_window(self) -> None:
        assert check(HMAC_KEYS, hmac_signature(content()), legacy_until=NOW + SKEW) is Verdict.verified


def test_key_material_defaults_to_require_in_production() -> None:
    assert default_policy(production=True) is SignaturePolicy.require
    assert default_policy(production=False) is SignaturePolicy.verify_if_present


class TestPolicyAndTimestamp:
    def test_require_refuses_an_unsigned_request(self) -> None:
        with pytest.raises(MissingSignature) as rejected:
            check(HMAC_KEYS, None)
        assert rejected.value.code == "missing_signature"

    def test_verify_if_present_lets_unsigned_through_but_checks_signed(self) -> None:
        keys = SigningKeys(SignaturePolicy.verify_if_present, secret=SECRET)
        assert check(keys, None) is Verdict.unsigned
        with pytest.raises(SignatureRejected):
            check(keys, hmac_signature(content(b"{}")))

    @pytest.mark.parametrize(
        "keys", [SigningKeys(SignaturePolicy.off, secret=SECRET), SigningKeys(SignaturePolicy.require)]
    )
    def test_off_or_no_key_material_is_not_checked(self, keys: SigningKeys) -> None:
        assert check(keys, "garbage") is Verdict.not_checked

    @pytest.mark.parametrize(
        ("timestamp", "error", "code"),
        [
            (None, InvalidTimestamp, "invalid_timestamp"),
            ("yesterday", InvalidTimestamp, "invalid_timestamp"),
            ("2026-12-01T12:00:00", InvalidTimestamp, "invalid_timestamp"),  # no offset
            ("2026-12-01T11:54:59Z", StaleTimestamp, "stale_timestamp"),
            ("2026-12-01T12:05:01+00:00", StaleTimestamp, "stale_timestamp"),
        ],
    )
    def test_timestamp_must_be_rfc3339_and_recent(
        self, timestamp: str | None, error: type[Exception], code: str
    ) -> None:
        with pytest.raises(error) as rejected:
            check(HMAC_KEYS, hmac_signature(content()), timestamp)
        assert getattr(rejected.value, "code", None) == code

    @pytest.mark.parametrize("timestamp", ["2026-12-01T12:04:59Z", "2026-12-01T13:00:00+01:00"])
    def test_within_the_window_with_any_offset(self, timestamp: str) -> None:
        assert check(HMAC_KEYS, hmac_signature(content(stamp=timestamp)), timestamp) is Verdict.verified
