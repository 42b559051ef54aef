"""merchant.kit.json_guard: the first value no field can hold, and where it is.

Before: there was no such check; NUL, lone surrogates, integers beyond 64 bits and deep nesting
reached the models and PostgreSQL (500s).
"""

from __future__ import annotations

import json
import time

import pytest

from merchant.kit.json_guard import INT64_MAX, INT64_MIN, MAX_DEPTH, MAX_STRING, Refused, parse


def refused_at(raw: str | bytes) -> tuple[str | int, ...]:
    with pytest.raises(Refused) as caught:
        parse(raw)
    return caught.value.location


class TestParse:
    def test_clean_body_is_returned(self) -> None:
        raw = '{"a": [1, -2.5, true, null, "\u00e9\U0001f600"], "b": {"c": ""}}'
        assert parse(raw) == {"a": [1, -2.5, True, None, "\u00e9\U0001f600"], "b": {"c": ""}}

    def test_nul_and_lone_surrogates_are_located(self) -> None:
        assert refused_at('{"a": [0, "x\\u0000"]}') == ("a", 1)
        assert refused_at('{"a": {"b": "\\ud800"}}') == ("a", "b")
        assert refused_at('{"a": {"k\\u0000": 1}}') == ("a", "k\x00")
        assert parse('"\\ud83d\\ude00"') == "\U0001f600"  # a paired surrogate is a character

    def test_first_offence_in_document_order(self) -> None:
        assert refused_at('{"a": "ok", "b": ["\\u0000"], "c": "\\u0000"}') == ("b", 0)

    @pytest.mark.parametrize(
        "number",
        [str(INT64_MAX + 1), str(INT64_MIN - 1), "1e40", "-1e19", "1e999", "9" * 5000, "NaN", "-Infinity"],
    )
    def test_numbers_beyond_int64_are_refused(self, number: str) -> None:
        assert refused_at(f'{{"n": [{number}]}}') == ("n", 0)

    def test_int64_bounds_are_accepted(self) -> None:
        assert parse(f"[{INT64_MAX}, {INT64_MIN}, 1.5e18]") == [INT64_MAX, INT64_MIN, 1.5e18]

    def test_depth(self) -> None:
        assert parse("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
        assert len(refused_at("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))) == MAX_DEPTH
        started = time.perf_counter()
        assert refused_at("[" * 100_000 + "]" * 100_000) == ()
        assert time.perf_counter() - started < 1

    def test_string_length(self) -> None:
        assert parse(f'"{"x" * MAX_STRING}"') == "x" * MAX_STRING
        assert refused_at(f'{{"s": "{"x" * (MAX_STRING + 1)}"}}') == ("s",)

    def test_not_json_is_a_value_error_not_a_refusal(self) -> None:
        with pytest.raises(json.JSONDecodeError):
            parse(b"{not json")
        with pytest.raises(UnicodeDecodeError):
            parse(b'"\xff"')
