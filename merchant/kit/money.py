"""Pure: money as integer minor units with the currency's real ISO 4217 exponent.

JPY has 0 decimals, USD 2, KWD 3: a major-unit string is converted exactly, and a
value with more decimals than its currency allows is an error, never rounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from iso4217 import Currency

_AMOUNT = re.compile(r"([0-9]+)(?:\.([0-9]+))?")
_PRICE = re.compile(r"(\S+) ([A-Za-z]{3})")


class MoneyError(ValueError):
    """An amount or currency that cannot be represented exactly."""


@dataclass(frozen=True, slots=True)
class Money:
    amount: int  # minor units
    currency: str  # upper-case ISO 4217 code

    def __str__(self) -> str:
        return format_price(self)


def currency_code(code: str) -> str:
    """Validate and upper-case an ISO 4217 code of a currency one can pay in."""
    exponent(code)
    return code.upper()


def exponent(code: str) -> int:
    """Number of minor-unit digits: 0 for JPY, 2 for USD, 3 for KWD."""
    try:
        currency = Currency[code.upper()]
    except KeyError:
        raise MoneyError(f"{code!r} is not an ISO 4217 currency code") from None
    if currency.exponent is None:
        raise MoneyError(f"{code.upper()} has no minor unit (not a payable currency)")
    return int(currency.exponent)


def to_minor(amount: str, code: str) -> int:
    """``"79.99"``, ``"USD"`` -> 7999; more decimals than the currency allows is an error."""
    match = _AMOUNT.fullmatch(amount.strip())
    if not match:
        raise MoneyError(f"{amount!r} is not a plain decimal amount (digits, optional '.' and decimals)")
    whole, fraction = match.group(1), match.group(2) or ""
    digits = exponent(code)
    if len(fraction) > digits:  # feed rule: no more fraction digits than the currency has
        raise MoneyError(f"{amount} has more decimals than {code.upper()} allows ({digits})")
    return int(whole + fraction.ljust(digits, "0"))


def to_major(minor: int, code: str) -> str:
    """7999, ``"USD"`` -> ``"79.99"``; 1000, ``"JPY"`` -> ``"1000"``."""
    digits = exponent(code)
    sign, value = ("-", -minor) if minor < 0 else ("", minor)
    if not digits:
        return f"{sign}{value}"
    whole, fraction = divmod(value, 10**digits)
    return f"{sign}{whole}.{fraction:0{digits}d}"


def parse_price(text: str) -> Money:
    """OpenAI feed money: ``"79.99 USD"`` -> Money(7999, "USD")."""
    match = _PRICE.fullmatch(text.strip())
    if not match:
        raise MoneyError(f"{text!r} is not '<amount> <currency>', e.g. '79.99 USD'")
    code = currency_code(match.group(2))
    return Money(to_minor(match.group(1), code), code)


def format_price(money: Money) -> str:
    return f"{to_major(money.amount, money.currency)} {money.currency}"
