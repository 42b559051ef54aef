"""Request signature checks (pure): HMAC-SHA256 and Ed25519 over the body, Timestamp window, policy."""

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
    SigningKeys,
    StaleTimestamp,
    Verdict,
    verify,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SKEW = timedelta(seconds=300)
BODY = b'{"line_items": [{"id": "tee-red-s", "quantity": 2}], "currency": "usd"}'
SECRET = "s3cret-shared"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hmac_signature(message: bytes, secret: str = SECRET) -> str:
    return b64url(hmac.new(secret.encode(), message, hashlib.sha256).digest())


def check(
    keys: SigningKeys, signature: str | None, timestamp: str | None = "2026-12-01T12:00:00Z"
) -> Verdict:
    return verify(keys, body=BODY, signature=signature, timestamp=timestamp, now=NOW, skew=SKEW)


HMAC_KEYS = SigningKeys(SignaturePolicy.require, secret=SECRET)


class TestHmac:
    def test_raw_body_signature_is_verified(self) -> None:
        assert check(HMAC_KEYS, hmac_signature(BODY)) is Verdict.verified

    def test_canonical_body_signature_is_verified(self) -> None:
        jcs = b'{"currency":"usd","line_items":[{"id":"tee-red-s","quantity":2}]}'
        assert check(HMAC_KEYS, hmac_signature(jcs)) is Verdict.verified

    def test_padded_base64url_is_accepted(self) -> None:
        padded = base64.urlsafe_b64encode(hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()).decode()
        assert check(HMAC_KEYS, padded) is Verdict.verified

    @pytest.mark.parametrize(
        "signature",
        [
            hmac_signature(BODY, "another-secret"),
            hmac_signature(BODY + b" "),
            "not base64!!",
            b64url(b"short"),
        ],
    )
    def test_wrong_signatures_are_rejected(self, signature: str) -> None:
        with pytest.raises(SignatureRejected) as rejected:
            check(HMAC_KEYS, signature)
        assert rejected.value.code == "invalid_signature"


class TestEd25519:
    def test_signature_by_the_registered_key(self) -> None:
        private = Ed25519PrivateKey.generate()
        public = b64url(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
        keys = SigningKeys(SignaturePolicy.require, public_key=public)
        assert check(keys, b64url(private.sign(BODY))) is Verdict.verified
        with pytest.raises(SignatureRejected):
            check(keys, b64url(Ed25519PrivateKey.generate().sign(BODY)))


class TestPolicyAndTimestamp:
    def test_require_refuses_an_unsigned_request(self) -> None:
        with pytest.raises(MissingSignature) as rejected:
            check(HMAC_KEYS, None)
        assert rejected.value.code == "missing_signature"

    def test_verify_if_present_lets_unsigned_through_but_checks_signed(self) -> None:
        keys = SigningKeys(SignaturePolicy.verify_if_present, secret=SECRET)
        assert check(keys, None) is Verdict.unsigned
        with pytest.raises(SignatureRejected):
            check(keys, hmac_signature(b"{}"))

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
            check(HMAC_KEYS, hmac_signature(BODY), timestamp)
        assert getattr(rejected.value, "code", None) == code

    @pytest.mark.parametrize("timestamp", ["2026-12-01T12:04:59Z", "2026-12-01T13:00:00+01:00"])
    def test_within_the_window_with_any_offset(self, timestamp: str) -> None:
        assert check(HMAC_KEYS, hmac_signature(BODY), timestamp) is Verdict.verified
