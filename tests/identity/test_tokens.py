"""merchant.identity.tokens: API key format, generation and hashing."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from merchant.identity import tokens

VALID_KEY_ID = "key_0123456789abcdef"
VALID_SECRET = "xygoYJfqpv3P5AwQHMBCiIDfD0ZXL1UtFZyxORmaPiA"
VALID_TOKEN = f"{VALID_KEY_ID}.{VALID_SECRET}"


class TestIssue:
    def test_token_is_key_id_dot_secret(self) -> None:
        issued = tokens.issue()
        key_id, _, secret = issued.token.partition(".")
        assert key_id == issued.key_id
        assert len(secret) == 43

    def test_key_id_format(self) -> None:
        assert re.fullmatch(r"key_[0-9a-f]{16}", tokens.issue().key_id)

    def test_secret_has_256_bits_url_safe(self) -> None:
        secret = tokens.issue().token.split(".", 1)[1]
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", secret)
        assert len(base64.urlsafe_b64decode(secret + "=")) == 32

    def test_hash_is_sha256_of_secret(self) -> None:
        issued = tokens.issue()
        secret = issued.token.split(".", 1)[1]
        assert issued.secret_hash == hashlib.sha256(secret.encode()).digest()
        assert len(issued.secret_hash) == 32

    def test_parse_round_trip(self) -> None:
        issued = tokens.issue()
        assert tokens.parse(issued.token) == (issued.key_id, issued.token.split(".", 1)[1])

    def test_two_tokens_differ(self) -> None:
        first, second = tokens.issue(), tokens.issue()
        assert first.key_id != second.key_id
        assert first.token.split(".")[1] != second.token.split(".")[1]
        assert first.secret_hash != second.secret_hash


class TestHashSecret:
    def test_known_sha256_vector(self) -> None:
        expected = bytes.fromhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        assert tokens.hash_secret("abc") == expected


class TestParse:
    def test_valid_token_split(self) -> None:
        assert tokens.parse(VALID_TOKEN) == (VALID_KEY_ID, VALID_SECRET)

    @pytest.mark.parametrize(
        "token",
        [
            "",
            f"api_0123456789abcdef.{VALID_SECRET}",
            f"KEY_0123456789abcdef.{VALID_SECRET}",
            f"{VALID_KEY_ID}{VALID_SECRET}",
            f"{VALID_KEY_ID}:{VALID_SECRET}",
            f"{VALID_KEY_ID}.{VALID_SECRET[:-1]}",
            f"{VALID_TOKEN}x",
            f"{VALID_TOKEN}.extra",
            f"{VALID_TOKEN} ",
            f" {VALID_TOKEN}",
            f"Bearer {VALID_TOKEN}",
            f"key_0123456789ABCDEF.{VALID_SECRET}",
            f"key_0123456789abcde.{VALID_SECRET}",
            f"key_0123456789abcdeg.{VALID_SECRET}",
            f"{VALID_KEY_ID}.{VALID_SECRET[:-1]}+",
            f"{VALID_KEY_ID}.{VALID_SECRET[:-1]}=",
            VALID_KEY_ID,
            VALID_SECRET,
        ],
        ids=[
            "empty",
            "wrong-prefix",
            "uppercase-prefix",
            "missing-dot",
            "colon-separator",
            "short-secret",
            "trailing-char",
            "trailing-segment",
            "trailing-space",
            "leading-space",
            "with-scheme",
            "uppercase-hex",
            "short-key-id",
            "non-hex-key-id",
            "plus-in-secret",
            "padding-in-secret",
            "key-id-only",
            "secret-only",
        ],
    )
    def test_malformed_rejected(self, token: str) -> None:
        assert tokens.parse(token) is None

    def test_trailing_newline_rejected(self) -> None:
        assert tokens.parse(VALID_TOKEN + "\n") is None


class TestMatches:
    def test_right_secret(self) -> None:
        issued = tokens.issue()
        assert tokens.matches(issued.token.split(".", 1)[1], issued.secret_hash) is True

    def test_wrong_secret(self) -> None:
        issued = tokens.issue()
        other = tokens.issue().token.split(".", 1)[1]
        assert tokens.matches(other, issued.secret_hash) is False

    def test_whole_token_is_not_the_secret(self) -> None:
        issued = tokens.issue()
        assert tokens.matches(issued.token, issued.secret_hash) is False

    def test_empty_secret(self) -> None:
        assert tokens.matches("", tokens.hash_secret(VALID_SECRET)) is False

    def test_truncated_hash(self) -> None:
        assert tokens.matches(VALID_SECRET, tokens.hash_secret(VALID_SECRET)[:16]) is False

    def test_dummy_zero_hash(self) -> None:
        assert tokens.matches(VALID_SECRET, bytes(32)) is False
