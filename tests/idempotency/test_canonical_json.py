"""Body equivalence for idempotency (ACP §6): RFC 8785 canonical form."""

from __future__ import annotations

import pytest

from merchant.kit.canonical_json import canonical, fingerprint


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (b'{"a": 1, "b": [1, 2]}', b'{"b":[1,2],"a":1}'),  # key order and spacing
        (b'{"quantity": 1.0}', b'{"quantity": 1}'),  # 1.0 == 1
        (b'{"x": 1e2}', b'{"x": 100}'),
        (b'{"s": "\\u00e9"}', '{"s": "é"}'.encode()),  # escapes vs literal characters
        (b"", b"{}"),  # an empty body counts as {}
        (b"  \n", b"{}"),
    ],
)
def test_equivalent_bodies_share_a_fingerprint(left: bytes, right: bytes) -> None:
    assert fingerprint(left) == fingerprint(right)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (b'{"buyer": null}', b"{}"),  # null (clear) differs from absent (keep)
        (b'{"items": [1, 2]}', b'{"items": [2, 1]}'),  # array order matters
        (b'{"a": "1"}', b'{"a": 1}'),
        (b"not json", b"not json "),  # not JSON: byte for byte
    ],
)
def test_different_bodies_differ(left: bytes, right: bytes) -> None:
    assert fingerprint(left) != fingerprint(right)


def test_canonical_form_is_rfc_8785() -> None:
    assert canonical(b'{"b": 2.50, "a": [true, null]}') == b'{"a":[true,null],"b":2.5}'
    assert canonical(b"{broken") is None
    assert canonical(b'{"big": 123456789012345678901234567890}') is None  # beyond JCS integers
