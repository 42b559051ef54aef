"""Money: exact conversion with each currency's real number of decimals."""

from __future__ import annotations

import pytest

from merchant.kit.money import Money, MoneyError, exponent, format_price, parse_price, to_major, to_minor


class TestExponent:
    @pytest.mark.parametrize(
        ("code", "digits"), [("JPY", 0), ("usd", 2), ("EUR", 2), ("KWD", 3), ("BHD", 3), ("CLF", 4)]
    )
    def test_iso_4217_digits(self, code: str, digits: int) -> None:
        assert exponent(code) == digits

    def test_unknown_code(self) -> None:
        with pytest.raises(MoneyError, match="not an ISO 4217"):
            exponent("XYZ")

    def test_currency_without_minor_unit(self) -> None:
        with pytest.raises(MoneyError, match="no minor unit"):
            exponent("XAU")


class TestToMinor:
    @pytest.mark.parametrize(
        ("amount", "code", "minor"),
        [
            ("79.99", "USD", 7999),
            ("79", "USD", 7900),
            ("79.9", "USD", 7990),
            ("0.01", "USD", 1),
            ("1000", "JPY", 1000),
            ("1.250", "KWD", 1250),
            ("0.005", "BHD", 5),
            ("12345678.90", "EUR", 1234567890),
        ],
    )
    def test_exact(self, amount: str, code: str, minor: int) -> None:
        assert to_minor(amount, code) == minor

    @pytest.mark.parametrize(
        ("amount", "code"),
        [("79.999", "USD"), ("1000.5", "JPY"), ("1000.0", "JPY"), ("1.2345", "KWD"), ("79.990", "USD")],
    )
    def test_more_decimals_than_the_currency_allows(self, amount: str, code: str) -> None:
        with pytest.raises(MoneyError, match="more decimals"):
            to_minor(amount, code)

    @pytest.mark.parametrize("amount", ["", "-1.00", "1,000.00", "1e3", "1.", ".5", "12.3.4", "NaN", "١٢"])
    def test_not_a_plain_decimal(self, amount: str) -> None:
        with pytest.raises(MoneyError):
            to_minor(amount, "USD")


class TestToMajor:
    @pytest.mark.parametrize(
        ("minor", "code", "major"),
        [
            (7999, "USD", "79.99"),
            (5, "USD", "0.05"),
            (0, "USD", "0.00"),
            (1000, "JPY", "1000"),
            (1250, "KWD", "1.250"),
            (-250, "EUR", "-2.50"),
        ],
    )
    def test_formats(self, minor: int, code: str, major: str) -> None:
        assert to_major(minor, code) == major

    @pytest.mark.parametrize(("amount", "code"), [("79.99", "USD"), ("1000", "JPY"), ("0.125", "KWD")])
    def test_round_trip(self, amount: str, code: str) -> None:
        assert to_major(to_minor(amount, code), code) == amount


class TestParsePrice:
    def test_openai_feed_format(self) -> None:
        assert parse_price("79.99 USD") == Money(7999, "USD")

    def test_lower_case_code_is_normalised(self) -> None:
        assert parse_price("1500 jpy") == Money(1500, "JPY")

    @pytest.mark.parametrize("text", ["79.99", "USD 79.99", "79.99  USD", "$79.99", "79.99 US", "79.99 USDX"])
    def test_malformed(self, text: str) -> None:
        with pytest.raises(MoneyError):
            parse_price(text)

    def test_format_round_trip(self) -> None:
        assert format_price(parse_price("1.250 KWD")) == "1.250 KWD"
        assert str(Money(7999, "USD")) == "79.99 USD"
