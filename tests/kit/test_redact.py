"""merchant.kit.redact: secrets and personal data scrubbed from log values."""

from __future__ import annotations

from typing import Any

import pytest

from merchant.identity import tokens
from merchant.kit.redact import REDACTED, is_sensitive_key, redact, redact_text

API_KEY = "key_b14e59e91cea3c6e.xygoYJfqpv3P5AwQHMBCiIDfD0ZXL1UtFZyxORmaPiA"


class TestRedactText:
    def test_bearer_token_replaced(self) -> None:
        text = "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig-nat_ure~x/y+z="
        assert redact_text(text) == "Authorization: Bearer [REDACTED]"

    def test_bearer_scheme_matched_case_insensitively(self) -> None:
        assert redact_text("header=bearer abc123 sent") == "header=Bearer [REDACTED] sent"

    def test_bearer_carrying_api_key_hides_the_whole_key(self) -> None:
        out = redact_text(f"Bearer {API_KEY}")
        assert out == "Bearer [REDACTED]"
        assert "key_b14e59e91cea3c6e" not in out

    def test_fixed_api_key_replaced(self) -> None:
        assert redact_text(f"key={API_KEY};") == f"key={REDACTED};"

    def test_freshly_issued_api_key_replaced(self) -> None:
        issued = tokens.issue()
        out = redact_text(f"created {issued.token} for ops")
        assert out == f"created {REDACTED} for ops"
        assert issued.token.split(".")[1] not in out

    def test_bare_key_id_without_secret_kept(self) -> None:
        # The key id alone is an identifier, not a credential.
        assert redact_text("revoked key_b14e59e91cea3c6e") == "revoked key_b14e59e91cea3c6e"

    @pytest.mark.parametrize(
        "secret",
        ["sk_live_51HxYzAbCdEfGhIjKlMnOp", "sk_test_4eC39HqLyjWDarjtT1zdp7dc", "rk_live_abcdEFGH1234"],
        ids=["sk_live", "sk_test", "rk_live"],
    )
    def test_stripe_secret_key_replaced(self, secret: str) -> None:
        assert redact_text(f"stripe key {secret} loaded") == f"stripe key {REDACTED} loaded"

    def test_webhook_secret_replaced(self) -> None:
        out = redact_text("signing with whsec_5f8a2c9e1b7d4a6f3c0e9b8a7d6c5b4a")
        assert out == f"signing with {REDACTED}"

    def test_shared_payment_token_replaced(self) -> None:
        out = redact_text("charging spt_1RgaZcKaJH3pBGvwZ0a9cS2x now")
        assert out == f"charging {REDACTED} now"

    def test_email_replaced(self) -> None:
        out = redact_text("receipt sent to jane.doe+shop@example.co.uk today")
        assert out == "receipt sent to [EMAIL] today"

    @pytest.mark.parametrize(
        "card",
        ["4242 4242 4242 4242", "4242-4242-4242-4242", "4242424242424242", "3782 822463 10005"],
        ids=["spaces", "dashes", "plain", "amex-15-digits"],
    )
    def test_luhn_valid_card_number_replaced(self, card: str) -> None:
        assert redact_text(f"card {card} declined") == "card [CARD] declined"

    def test_luhn_invalid_sixteen_digits_kept(self) -> None:
        assert redact_text("ref 4242424242424241 ok") == "ref 4242424242424241 ok"

    def test_order_number_kept(self) -> None:
        text = "order 100234 for 4999 cents, tracking 1234567890123"
        assert redact_text(text) == text

    def test_postgres_url_password_replaced(self) -> None:
        out = redact_text("connecting to postgresql://merchant:hunter2@localhost:5432/merchant")
        assert out == f"connecting to postgresql://merchant:{REDACTED}@localhost:5432/merchant"

    @pytest.mark.parametrize(
        "url",
        ["postgres://app:s3cret-pw@localhost/db", "postgresql+psycopg://app:s3cret-pw@localhost/db"],
        ids=["postgres-scheme", "psycopg-driver"],
    )
    def test_postgres_url_variants_password_replaced(self, url: str) -> None:
        assert redact_text(url) == f"postgresql://app:{REDACTED}@localhost/db"

    def test_postgres_url_with_dotted_host_hides_alphanumeric_password(self) -> None:
        # The e-mail pattern runs first and eats "password@host.tld": the password
        # is gone (so is the host), which is safe if not pretty.
        out = redact_text("postgresql://merchant:hunter2@db.example.com:5432/merchant")
        assert "hunter2" not in out

    def test_postgres_url_with_dotted_host_hides_password_with_punctuation(self) -> None:
        out = redact_text("postgresql://merchant:Str0ng!Pass@db.example.com:5432/merchant")
        assert "Str0ng" not in out
        assert out == f"postgresql://merchant:{REDACTED}@db.example.com:5432/merchant"

    def test_postgres_url_without_password_kept(self) -> None:
        text = "postgresql://merchant@localhost/merchant"
        assert redact_text(text) == text

    def test_ordinary_text_unchanged(self) -> None:
        text = "checkout cs_01J9 status ready_for_payment amount 4999 usd"
        assert redact_text(text) == text


class TestIsSensitiveKey:
    @pytest.mark.parametrize(
        "key",
        [
            "authorization",
            "Authorization",
            "password",
            "db_password",
            "client_secret",
            "access_token",
            "api_key",
            "email",
            "billing_email",
            "address",
            "line1",
            "card_number",
            "phone",
            "postal_code",
            "number",
            "PAN",
            "database_url",
        ],
    )
    def test_sensitive(self, key: str) -> None:
        assert is_sensitive_key(key) is True

    @pytest.mark.parametrize(
        "key",
        ["company", "expand", "status", "amount", "currency", "id", "account_number", "pan_id"],
    )
    def test_not_sensitive(self, key: str) -> None:
        assert is_sensitive_key(key) is False


class TestRedact:
    def test_string_redacted_by_pattern(self) -> None:
        assert redact("mail jane@example.com") == "mail [EMAIL]"

    def test_sensitive_keys_in_nested_dicts_replaced(self) -> None:
        value: dict[str, Any] = {
            "headers": {"Authorization": "Bearer abc", "Accept": "application/json"},
            "user": {"password": "hunter2", "email": "jane@example.com", "company": "Acme"},
            "payment": {"card": {"number": "4242424242424242", "cvc": "123"}, "amount": 4999},
        }
        assert redact(value) == {
            "headers": {"Authorization": REDACTED, "Accept": "application/json"},
            "user": {"password": REDACTED, "email": REDACTED, "company": "Acme"},
            "payment": {"card": REDACTED, "amount": 4999},
        }

    def test_address_replaced_whole_and_line1_anywhere(self) -> None:
        value = {
            "address": {"line1": "221B Baker Street", "city": "London"},
            "fulfillment": {"line1": "10 Downing Street", "country": "GB"},
        }
        assert redact(value) == {
            "address": REDACTED,
            "fulfillment": {"line1": REDACTED, "country": "GB"},
        }

    def test_card_number_and_phone_keys_replaced(self) -> None:
        value = {"card_number": "4000 0000 0000 0002", "number": "12", "phone": "+44 20 7946 0000"}
        assert redact(value) == {"card_number": REDACTED, "number": REDACTED, "phone": REDACTED}

    def test_lists_of_dicts_redacted(self) -> None:
        value = [{"email": "a@example.com", "status": "open"}, "b@example.com", 7]
        assert redact(value) == [{"email": REDACTED, "status": "open"}, "[EMAIL]", 7]

    def test_non_sensitive_keys_left_intact(self) -> None:
        value = {"company": "Acme", "expand": ["line_items"], "status": "completed", "amount": 4999}
        assert redact(value) == value

    def test_values_under_ordinary_keys_still_pattern_redacted(self) -> None:
        value = {"note": "call me at jane@example.com", "message": f"key {API_KEY}"}
        assert redact(value) == {"note": "call me at [EMAIL]", "message": f"key {REDACTED}"}

    def test_tuple_becomes_list(self) -> None:
        assert redact(("ok", "x@example.com")) == ["ok", "[EMAIL]"]

    def test_non_string_keys_not_treated_as_sensitive(self) -> None:
        assert redact({1: "x@example.com", 2: 3}) == {1: "[EMAIL]", 2: 3}

    @pytest.mark.parametrize("scalar", [None, 42, 3.5, True], ids=["none", "int", "float", "bool"])
    def test_scalars_returned_unchanged(self, scalar: object) -> None:
        assert redact(scalar) is scalar

    def test_input_not_mutated(self) -> None:
        value = {"password": "hunter2", "items": [{"email": "a@example.com"}]}
        redact(value)
        assert value == {"password": "hunter2", "items": [{"email": "a@example.com"}]}


class TestSecretFormats:
    """Before: the patterns stopped at the first ``-`` of a URL-safe secret (our platform signing
    secrets are ``whsec_`` + URL-safe base64), knew Stripe keys only with ``live``/``test`` and 8+
    plain characters, and missed a token right after a percent-encoded ``/`` or ``=``."""

    @pytest.mark.parametrize(
        "secret",
        [
            "whsec_N4tfaCerVz0XGfOJKPzEBa-1Xr5NacYcHyZ6uGJjG7s",  # merchant.platforms: whsec_ + urlsafe
            "whsec_5f8a2c9e1b7d4a6f3c0e9b8a7d6c5b4a",
            "sk_live_51HxYz-AbCdEfGh",
            "sk_test_emulator",
            "rk_live_abcdEFGH1234",
            "rk_test_HuTJ0-urAAVvHYzJhrNcmU9ni8A",
            "sk_4eC39HqLyjWDarjtT1zdp7dc",  # no mode in the prefix
            "spt_1RgaZcKaJH3pBGvwZ0a9cS2x",
            "pi_3MtwBwLkdIwHu7ix28a3tqPa_secret_YrKJUKribcBjcG8HVhfZluoGH",
            "pi_3Mtw_secret_eU4NSH-aaDC9IzEW",
            "seti_1Mm8s8LkdIwHu7ix0OXBfTRG_secret_NXDiqSwUyd5cmHqjuf4y6dN0wXnqZ6Q",
            "key_b14e59e91cea3c6e.xygoYJfqpv3P5AwQHMBCiIDfD0ZXL1UtFZyxORmaPiA",
        ],
    )
    @pytest.mark.parametrize(
        "template",
        [
            "{}",
            "secret {} loaded",
            "GET /v1/shared_payment/granted_tokens/{} 200",
            "path=%2Fv1%2Fgranted_tokens%2F{}",
            "payment_method_data%5Bshared_payment_granted_token%5D%3D{}&amount=1",
            "(b'authorization', b'Bearer {}')",
            '{{"client_secret": "{}"}}',
        ],
    )
    def test_no_part_of_the_secret_survives(self, secret: str, template: str) -> None:
        out = redact_text(template.format(secret))
        assert secret[-8:] not in out, out

    def test_ordinary_identifiers_are_kept(self) -> None:
        text = (
            "risk_level elevated; task_id 7; skip_reason none; order_events_total 3; tok; "
            'duplicate key violates unique constraint "pk_checkout_session"; fk_order_line_order_id_orders'
        )
        assert redact_text(text) == text
