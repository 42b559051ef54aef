"""Property: no request body, at any door, gets a 5xx; a refusal is the flat error naming its field.

Before: NUL and lone surrogates in any string, integers beyond 64 bits, NaN, deep nesting and wrong
types inside the open objects of the request models reached PostgreSQL or the JSON encoder and
answered 500 (``tests/http/test_input_hygiene.py`` pins each one found). Here hypothesis draws
JSON-ish values, puts them into otherwise-valid bodies of every request model (ACP create, update,
complete, cancel; the staff API's POST/PATCH bodies) and also sends random shapes, through the
real app.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.checkout.test_routes import Keys
from tests.checkout.test_service import ADDRESS

Headers = dict[str, str]
Json = dict[str, Any]
JSON = {"Content-Type": "application/json"}
# No shrink phase: a failure prints the body as drawn, and the run stays bounded on a shared box
# (shrinking replays requests by the hundred).
BOUNDED = settings(
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Strings that have broken things: NUL, lone surrogates, long text, near-misses of valid values.
TEXT = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        ["\x00", "a\x00b", "\ud800", "x\udfff", "mug", "usd", "shipping", "2026-01-01T00:00:00Z"]
    ),
    st.integers(min_value=200, max_value=20_000).map(lambda n: "x" * n),
)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1, 10**40, 0, -1]),
    st.floats(allow_nan=False, allow_infinity=False),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=8,
)
# Drawn often on their own, so every door meets each of them within its examples.
BAD = st.sampled_from(["\x00", "a\x00", "\ud800", "x" * 20_000, 2**70, -(2**63) - 1, 10**40, 1e300, [[[[]]]]])
DEEP = st.integers(min_value=20, max_value=600).map(lambda n: json.loads("[" * n + "]" * n))

CREATE = {
    "currency": "usd",
    "line_items": [{"id": "mug", "quantity": 1}],
    "capabilities": {},
    "buyer": {"email": "a@example.com", "first_name": "Ada", "company": {"name": "Acme"}},
    "fulfillment_details": {"name": "Ada", "address": dict(ADDRESS)},
    "affiliate_attribution": {"provider": "impact.com", "token": "atp_1", "metadata": {"a": 1}},
    "metadata": {"k": "v"},
}
UPDATE = {
    "buyer": {"email": "a@example.com", "loyalty": {"tier": "Gold", "points_balance": 1}},
    "line_items": [{"id": "mug", "quantity": 2}],
    "selected_fulfillment_options": [{"type": "shipping", "option_id": "standard", "item_ids": []}],
    "coupons": ["SAVE"],
}
COMPLETE = {
    "payment_data": {
        "handler_id": "card_tokenized",
        "instrument": {"type": "card", "credential": {"type": "spt", "token": "spt_x"}},
        "billing_address": dict(ADDRESS),
    },
    "risk_signals": {"ip_address": "203.0.113.7", "user_agent": "ua"},
    "affiliate_attribution": {"provider": "impact.com", "publisher_id": "p"},
}
CANCEL = {"intent_trace": {"reason_code": "other", "trace_summary": "s", "metadata": {"a": True}}}
LINE = {"id": "li_0", "quantity": 1}
STAFF = {
    ("POST", "/admin/v1/keys"): {"role": "viewer", "name": "fuzz"},
    ("POST", "/admin/v1/platforms"): {"name": "fuzz-platform", "acp_version": "2026-04-17"},
    ("POST", "/admin/v1/orders/ord_missing/approve"): {"reason": "ok"},
    ("POST", "/admin/v1/orders/ord_missing/refunds"): {"amount": 100, "reason": "r", "lines": [LINE]},
    ("POST", "/admin/v1/orders/ord_missing/fulfillments"): {"carrier": "ups", "tracking_number": "1"},
    ("POST", "/admin/v1/orders/ord_missing/fulfillments/ful_x/events"): {"type": "in_transit"},
    ("POST", "/admin/v1/orders/ord_missing/notes"): {"text": "hello"},
    ("PATCH", "/admin/v1/products/mug/inventory"): {"inventory_quantity": 5, "availability": "in_stock"},
}  # fmt: skip


def paths_of(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every location in ``value`` (the root too)."""
    found = [prefix]
    if isinstance(value, dict):
        for name, child in value.items():
            found += paths_of(child, (*prefix, name))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths_of(child, (*prefix, index))
    return found


def put(body: Any, location: tuple[str | int, ...], value: Any) -> Any:
    if not location:
        return value
    head, rest = location[0], location[1:]
    if isinstance(body, dict):
        return {**body, head: put(body.get(head), rest, value)}
    copy = list(body)
    copy[int(head)] = put(copy[int(head)], rest, value)
    return copy


@st.composite
def bodies(draw: st.DrawFn, valid: Json) -> Any:
    """A valid body with one place (or a new field) replaced by a drawn value; sometimes any value."""
    value = draw(st.one_of(BAD, VALUES, DEEP))
    choice = draw(st.integers(min_value=0, max_value=9))
    if choice == 0:
        return value
    if choice == 1:
        return {**valid, draw(TEXT): value}
    return put(valid, draw(st.sampled_from(paths_of(valid)[1:])), value)


def assert_no_5xx(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code < 400:
        return
    body = response.json()
    assert {"type", "code", "message"} <= set(body), body
    if body.get("param") is not None:
        assert str(body["param"]).startswith("$"), body


async def send(client: httpx.AsyncClient, method: str, path: str, headers: Headers, body: Any) -> None:
    content = json.dumps(body).encode()  # ASCII: NUL and lone surrogates travel as \\uXXXX escapes
    response = await client.request(method, path, headers={**headers, **JSON}, content=content)
    assert_no_5xx(response)


@pytest.fixture
async def session_id(client: httpx.AsyncClient, acp: Headers, keys: Keys) -> str:
    body = {"currency": "usd", "line_items": [{"id": "mug"}], "capabilities": {}}
    created = await client.post("/checkout_sessions", headers=keys(acp), json=body)
    assert created.status_code == 201, created.text
    found: str = created.json()["id"]
    return found


@pytest.mark.parametrize(
    ("route", "valid"),
    [("", CREATE), ("/{id}", UPDATE), ("/{id}/complete", COMPLETE), ("/{id}/cancel", CANCEL)],
    ids=["create", "update", "complete", "cancel"],
)
@settings(BOUNDED, max_examples=120)
@given(data=st.data())
async def test_checkout_bodies_never_5xx(
    client: httpx.AsyncClient,
    acp: Headers,
    keys: Keys,
    session_id: str,
    route: str,
    valid: Json,
    data: Any,
) -> None:
    body = data.draw(bodies(valid))
    path = "/checkout_sessions" + route.format(id=session_id)
    await send(client, "POST", path, keys(acp), body)


@pytest.mark.parametrize(("door", "valid"), list(STAFF.items()), ids=[path for _, path in STAFF])
@settings(BOUNDED, max_examples=60)
@given(data=st.data())
async def test_staff_bodies_never_5xx(
    client: httpx.AsyncClient,
    acp: Headers,
    staff: Headers,
    door: tuple[str, str],
    valid: Json,
    data: Any,
) -> None:
    method, path = door
    await send(client, method, path, staff, data.draw(bodies(valid)))
