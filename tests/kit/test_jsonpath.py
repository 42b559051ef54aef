"""merchant.kit.jsonpath: RFC 9535 paths from keys and indexes."""

from __future__ import annotations

from merchant.kit.jsonpath import jsonpath


class TestJsonpath:
    def test_root(self) -> None:
        assert jsonpath([]) == "$"

    def test_single_key(self) -> None:
        assert jsonpath(["currency"]) == "$.currency"

    def test_nested_keys(self) -> None:
        assert jsonpath(["fulfillment_address", "postal_code"]) == "$.fulfillment_address.postal_code"

    def test_index_between_keys(self) -> None:
        assert jsonpath(("line_items", 0, "id")) == "$.line_items[0].id"

    def test_consecutive_indexes(self) -> None:
        assert jsonpath(["matrix", 1, 12]) == "$.matrix[1][12]"

    def test_index_at_root(self) -> None:
        assert jsonpath([3]) == "$[3]"

    def test_generator_accepted(self) -> None:
        assert jsonpath(part for part in ("items", 2)) == "$.items[2]"

    def test_underscore_and_digits_use_shorthand(self) -> None:
        assert jsonpath(["_meta", "line2"]) == "$._meta.line2"

    def test_digit_string_is_a_name_not_an_index(self) -> None:
        assert jsonpath(["metadata", "0"]) == "$.metadata['0']"

    def test_name_starting_with_digit_bracketed(self) -> None:
        assert jsonpath(["3ds"]) == "$['3ds']"

    def test_hyphen_bracketed(self) -> None:
        assert jsonpath(["headers", "idempotency-key"]) == "$.headers['idempotency-key']"

    def test_dot_bracketed(self) -> None:
        assert jsonpath(["a.b", "c"]) == "$['a.b'].c"

    def test_space_bracketed(self) -> None:
        assert jsonpath(["first name"]) == "$['first name']"

    def test_empty_name_bracketed(self) -> None:
        assert jsonpath([""]) == "$['']"

    def test_non_ascii_name_bracketed(self) -> None:
        assert jsonpath(["prénom"]) == "$['prénom']"

    def test_single_quote_escaped(self) -> None:
        assert jsonpath(["o'brien"]) == "$['o\\'brien']"

    def test_backslash_escaped(self) -> None:
        assert jsonpath(["C:\\tmp"]) == "$['C:\\\\tmp']"

    def test_backslash_then_quote_both_escaped(self) -> None:
        # A literal backslash followed by a quote: \\ for the backslash, \' for the quote.
        assert jsonpath(["\\'"]) == "$['" + "\\\\" + "\\'" + "']"

    def test_double_quote_not_escaped_inside_single_quotes(self) -> None:
        assert jsonpath(['say "hi"']) == "$['say \"hi\"']"

    def test_control_character_escaped(self) -> None:
        assert jsonpath(["a\nb"]) == "$['a\\nb']"

    def test_lone_surrogates_are_escaped(self) -> None:
        # Before: a lone surrogate went into the path as it was, and the error body could not be encoded.
        path = jsonpath(["a\ud800b"])
        assert path == "$['a\\ud800b']"
        assert path.encode()
