"""Accept-Language negotiation."""

from __future__ import annotations

import pytest

from merchant.kit.locale import negotiate

SUPPORTED = ("en", "fr", "pt-BR")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("fr", "fr"),
        ("fr-CA", "fr"),  # language of a regional tag
        ("pt-br", "pt-BR"),  # tags are case-insensitive
        ("de, fr;q=0.8, en;q=0.9", "en"),  # quality wins over order
        ("fr;q=0.5, en;q=0.5", "fr"),  # equal quality: order
        ("de, es", "en"),  # nothing supported: the default
        ("fr;q=0, pt-BR", "pt-BR"),  # q=0 means "not this one"
        ("*", "en"),
        ("fr;q=abc, en;q=0.1", "en"),  # a malformed quality drops its item
        (" ; , fr ;q=0.7", "fr"),
    ],
)
def test_negotiate(header: str | None, expected: str) -> None:
    assert negotiate(header, SUPPORTED) == expected


def test_only_english_ships_today() -> None:
    assert negotiate("fr-FR, de;q=0.9") == "en"
