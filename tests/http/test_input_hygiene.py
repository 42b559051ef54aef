"""Input hygiene at every door: what PostgreSQL or Python cannot hold is refused at the edge as a 4xx.

Before: a JSON string holding NUL (``\\u0000``) anywhere in a body (a buyer name, an address, an item
id, risk signals, an intent trace, a staff note) reached PostgreSQL and answered 500; so did NUL in a
path id or a query parameter, and an admin numeric filter beyond bigint; a 10,000-level nested body
or a lone surrogate broke the request too. ``buyer.company``/``loyalty``/``tax_exemption`` were
echoed unvalidated (the response broke the CheckoutSession schema), ``affiliate_attribution`` was
not validated at all, and an extra field in ``payment_data.instrument.credential`` (an open object
in the schema) was refused as ``unknown_field``.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest

from tests.checkout.test_routes import Keys, assert_session
from tests.checkout.test_service import ADDRESS

Headers = dict[str, str]
Json = dict[str, Any]
JSON = {"Content-Type": "application/json"}
SESSION = {"currency": "usd", "line_items": [{"id": "mug"}], "capabilities": {}}


def raw(body: Any) -> bytes:
    """JSON with every non-ASCII character escaped, so NUL and lone surrogates travel as ``\\uXXXX``."""
    return json.dumps(body).encode()


def assert_refused(
    response: httpx.Response, param: str, status: int = 400, code: str = "invalid_value"
) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["type"], body["code"], body.get("param")) == ("invalid_request", code, param), body


async def open_session(client: httpx.AsyncClient, acp: Headers, keys: Keys) -> str:
    created = await client.post("/checkout_sessions", headers=keys(acp), json=SESSION)
    assert created.status_code == 201, created.text
    session_id: str = created.json()["id"]
    return session_id


def complete_body(**extra: Any) -> Json:
    return {
        "payment_data": {
            "handler_id": "card_tokenized",
            "instrument": {"type": "card", "credential": {"type": "spt", "token": "spt_x"}},
        },
        **extra,
    }


BAD_STRINGS = pytest.mark.parametrize("bad", ["a\u0000b", "a\ud800b"], ids=["nul", "lone_surrogate"])

CHECKOUT_CASES = [
    ("create", {**SESSION, "buyer": {"email": "a@example.com", "first_name": "{bad}"}}, "$.buyer.first_name"),
    ("create", {**SESSION, "line_items": [{"id": "{bad}"}]}, "$.line_items[0].id"),
    ("create", {**SESSION, "fulfillment_details": {"address": {**ADDRESS, "line_one": "{bad}"}}},
     "$.fulfillment_details.address.line_one"),
    ("create", {**SESSION, "metadata": {"note": ["ok", "{bad}"]}}, "$.metadata.note[1]"),
    ("update", {"buyer": {"email": "a@example.com", "last_name": "{bad}"}}, "$.buyer.last_name"),
    ("complete", complete_body(risk_signals={"user_agent": "{bad}"}), "$.risk_signals.user_agent"),
    ("cancel", {"intent_trace": {"reason_code": "other", "trace_summary": "{bad}"}},
     "$.intent_trace.trace_summary"),
]  # fmt: skip
PATHS = {"create": "", "update": "/{id}", "complete": "/{id}/complete", "cancel": "/{id}/cancel"}


def fill(template: Any, bad: str) -> Any:
    if isinstance(template, dict):
        return {k: fill(v, bad) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, bad) for v in template]
    return bad if template == "{bad}" else template


@BAD_STRINGS
@pytest.mark.parametrize(("route", "template", "param"), CHECKOUT_CASES)
async def test_checkout_bodies_refuse_nul_and_lone_surrogates(
    client: httpx.AsyncClient,
    acp: Headers,
    keys: Keys,
    route: str,
    template: Json,
    param: str,
    bad: str,
) -> None:
    session_id = await open_session(client, acp, keys) if route != "create" else ""
    path = "/checkout_sessions" + PATHS[route].format(id=session_id)
    response = await client.post(path, headers={**keys(acp), **JSON}, content=raw(fill(template, bad)))
    assert_refused(response, param)


async def test_a_nul_in_a_key_is_named_escaped(client: httpx.AsyncClient, acp: Headers, keys: Keys) -> None:
    body = {**SESSION, "metadata": {"a\u0000b": "x", "c\ud800": "y"}}
    response = await client.post("/checkout_sessions", headers={**keys(acp), **JSON}, content=raw(body))
    assert_refused(response, "$.metadata['a\\u0000b']")
    assert response.json()["message"].endswith("(at $.metadata['a\\u0000b']).")


@BAD_STRINGS
async def test_staff_bodies_refuse_nul_and_lone_surrogates(
    client: httpx.AsyncClient, staff: Headers, bad: str
) -> None:
    response = await client.post(
        "/admin/v1/keys", headers={**staff, **JSON}, content=raw({"role": "viewer", "name": bad})
    )
    assert_refused(response, "$.name")
    platform = {"name": "p", "webhook_url": f"https://example.com/{bad}"}
    response = await client.post("/admin/v1/platforms", headers={**staff, **JSON}, content=raw(platform))
    assert_refused(response, "$.webhook_url")
    note = raw({"text": bad})
    response = await client.post(
        "/admin/v1/orders/ord_missing/notes", headers={**staff, **JSON}, content=note
    )
    assert_refused(response, "$.text")
    feed = raw({"url": f"https://feeds.example/{bad}.csv"})
    response = await client.post("/admin/v1/feeds", headers={**staff, **JSON}, content=feed)
    assert_refused(response, "$.url")
    inventory = raw({"availability": bad})
    response = await client.patch(
        "/admin/v1/products/mug/inventory", headers={**staff, **JSON}, content=inventory
    )
    assert_refused(response, "$.availability")


async def test_a_deeply_nested_body_is_refused_quickly(
    client: httpx.AsyncClient,
    acp: Headers,
    keys: Keys,
    staff: Headers,
) -> None:
    deep = b'{"currency":"usd","line_items":[{"id":"mug"}],"metadata":' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    started = time.perf_counter()
    response = await client.post("/checkout_sessions", headers={**keys(acp), **JSON}, content=deep)
    assert response.status_code == 400, response.text
    assert (response.json()["code"], response.json()["param"]) == ("invalid_value", "$")
    nested = b'{"text":' + b'{"a":' * 10_000 + b"1" + b"}" * 10_001
    response = await client.post("/admin/v1/orders/ord_x/notes", headers={**staff, **JSON}, content=nested)
    assert response.status_code == 400, response.text
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize(
    ("line", "param"),
    [
        ({"id": "mug", "quantity": 2**70}, "$.line_items[0].quantity"),
        ({"id": "mug", "quantity": 1e40}, "$.line_items[0].quantity"),
        ({"id": "mug", "unit_amount": 2**70}, "$.line_items[0].unit_amount"),
        ({"id": "mug", "unit_amount": -(2**64)}, "$.line_items[0].unit_amount"),
    ],
)
async def test_numbers_beyond_int64_are_refused(
    client: httpx.AsyncClient,
    acp: Headers,
    keys: Keys,
    line: Json,
    param: str,
) -> None:
    body = {**SESSION, "line_items": [line]}
    response = await client.post("/checkout_sessions", headers={**keys(acp), **JSON}, content=raw(body))
    assert_refused(response, param)


async def test_huge_numbers_in_open_objects_and_staff_bodies(
    client: httpx.AsyncClient,
    acp: Headers,
    keys: Keys,
    staff: Headers,
) -> None:
    body = {**SESSION, "metadata": {"n": 10**30}}
    response = await client.post("/checkout_sessions", headers={**keys(acp), **JSON}, content=raw(body))
    assert_refused(response, "$.metadata.n")
    digits = b'{"currency":"usd","line_items":[{"id":"mug","quantity":' + b"9" * 5000 + b"}]}"
    response = await client.post("/checkout_sessions", headers={**keys(acp), **JSON}, content=digits)
    assert_refused(response, "$.line_items[0].quantity")
    not_finite = b'{"currency":"usd","line_items":[{"id":"mug"}],"metadata":{"x":NaN}}'
    response = await client.post("/checkout_sessions", headers={**keys(acp), **JSON}, content=not_finite)
    assert_refused(response, "$.metadata.x")
    refund = raw({"amount": 2**70, "reason": "customer_request"})
    response = await client.post("/admin/v1/orders/ord_x/refunds", headers={**staff, **JSON}, content=refund)
    assert_refused(response, "$.amount")
    stock = raw({"inventory_quantity": 2**40})
    response = await client.patch(
        "/admin/v1/products/mug/inventory", headers={**staff, **JSON}, content=stock
    )
    assert response.status_code < 500, response.text


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({**SESSION, "buyer": {"email": "a@example.com", "first_name": "x" * 300}}, "$.buyer.first_name"),
        ({**SESSION, "line_items": [{"id": "mug", "name": "x" * 5000}]}, "$.line_items[0].name"),
        ({**SESSION, "timezone": "x" * 300}, "$.timezone"),
        ({**SESSION, "coupons": ["x" * 300]}, "$.coupons[0]"),
        ({**SESSION, "metadata": {"k": "x" * 20_000}}, "$.metadata.k"),
        (
            {**SESSION, "fulfillment_details": {"phone_number": "1" * 100}},
            "$.fulfillment_details.phone_number",
        ),
    ],
)
async def test_strings_are_length_capped(
    client: httpx.AsyncClient,
    acp: Headers,
    keys: Keys,
    body: Json,
    param: str,
) -> None:
    response = await client.post("/checkout_sessions", headers={**keys(acp), **JSON}, content=raw(body))
    assert response.status_code == 400, response.text
    assert response.json()["param"] == param


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/checkout_sessions/%00", 404),
        ("/checkout_sessions/a%00b/complete", 404),
        ("/order-status/%00", 404),
        ("/admin/v1/orders/%00", 404),
        ("/admin/v1/products/%00", 404),
        ("/admin/v1/webhooks/events/%00", 404),
        ("/admin/v1/platforms/%00", 404),
    ],
)
async def test_nul_in_a_path_id_is_not_found(
    client: httpx.AsyncClient,
    acp: Headers,
    staff: Headers,
    keys: Keys,
    path: str,
    status: int,
) -> None:
    headers = {**keys(acp), **staff} if path.startswith("/admin") else keys(acp)
    response = await client.get(path, headers=headers)
    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("q=%00", "$.query.q"),
        ("q=ada%00", "$.query.q"),
        ("email=a%00@b.c", "$.query.email"),
        ("status=paid&platform_id=%00", "$.query.platform_id"),
        ("starting_after=%00", "$.query.starting_after"),
    ],
)
async def test_nul_in_a_query_parameter_is_refused(
    client: httpx.AsyncClient, staff: Headers, query: str, param: str
) -> None:
    assert_refused(await client.get(f"/admin/v1/orders?{query}", headers=staff), param)


async def test_nul_in_other_staff_queries(client: httpx.AsyncClient, staff: Headers) -> None:
    for path in (
        "/admin/v1/products?q=%00",
        "/admin/v1/audit?target_id=%00",
        "/admin/v1/keys?starting_after=%00",
    ):
        response = await client.get(path, headers=staff)
        assert response.status_code == 400, (path, response.text)


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("total_min=1e40", "$.query.total_min"),
        ("total_min=10000000000000000000000000000000000000000", "$.query.total_min"),
        ("total_max=9223372036854775808", "$.query.total_max"),
    ],
)
async def test_numeric_filters_beyond_bigint_are_refused(
    client: httpx.AsyncClient, staff: Headers, query: str, param: str
) -> None:
    response = await client.get(f"/admin/v1/orders?{query}", headers=staff)
    assert response.status_code == 400, response.text
    assert response.json()["param"] == param
    ok = await client.get("/admin/v1/orders?total_max=9223372036854775807", headers=staff)
    assert ok.status_code == 200, ok.text


async def test_other_numeric_filters_beyond_bigint_are_refused(
    client: httpx.AsyncClient, staff: Headers
) -> None:
    for path, param in [
        ("/admin/v1/feeds/run_x?errors_after=99999999999999999999999", "$.query.errors_after"),
        ("/admin/v1/audit?starting_after=9223372036854775808", "$.query.starting_after"),
    ]:
        response = await client.get(path, headers=staff)
        assert response.status_code == 400, response.text
        assert response.json()["param"] == param


BUYER = {"email": "a@example.com"}
EXEMPTION = {"certificate_id": "c", "certificate_type": "resale"}


@pytest.mark.parametrize(
    ("buyer", "param"),
    [
        ({**BUYER, "company": {"name": "Acme", "cost_center": True}}, "$.buyer.company.cost_center"),
        ({**BUYER, "company": {"tax_id": "1"}}, "$.buyer.company.name"),
        ({**BUYER, "company": {"name": "Acme", "extra": 1}}, "$.buyer.company.extra"),
        ({**BUYER, "loyalty": {"points_balance": "lots"}}, "$.buyer.loyalty.points_balance"),
        ({**BUYER, "loyalty": {"member_since": "yesterday"}}, "$.buyer.loyalty.member_since"),
        ({**BUYER, "tax_exemption": {"certificate_id": "c", "certificate_type": "other"}},
         "$.buyer.tax_exemption.certificate_type"),
        ({**BUYER, "tax_exemption": {**EXEMPTION, "exempt_regions": [1]}},
         "$.buyer.tax_exemption.exempt_regions[0]"),
    ],
)  # fmt: skip
async def test_buyer_sub_objects_are_validated(
    client: httpx.AsyncClient,
    acp: Headers,
    keys: Keys,
    buyer: Json,
    param: str,
) -> None:
    response = await client.post("/checkout_sessions", headers=keys(acp), json={**SESSION, "buyer": buyer})
    assert response.status_code == 400, response.text
    assert response.json()["param"] == param


async def test_valid_buyer_sub_objects_are_echoed_schema_valid(
    client: httpx.AsyncClient,
    acp: Headers,
    keys: Keys,
) -> None:
    buyer = {
        **BUYER,
        "company": {"name": "Acme", "tax_id": "12-3", "department": "Ops", "cost_center": "CC-1"},
        "loyalty": {"tier": "Gold", "points_balance": 5000, "member_since": "2024-01-15T09:00:00Z"},
        "tax_exemption": {"certificate_id": "c1", "certificate_type": "resale", "exempt_regions": ["CA"],
                          "expires_at": "2027-12-31T23:59:59Z"},
    }  # fmt: skip
    created = assert_session(
        await client.post("/checkout_sessions", headers=keys(acp), json={**SESSION, "buyer": buyer}), 201
    )
    assert created["buyer"] == buyer


async def test_credential_extra_fields_are_accepted(
    client: httpx.AsyncClient, acp: Headers, keys: Keys
) -> None:
    session_id = await open_session(client, acp, keys)
    body = complete_body()
    body["payment_data"]["instrument"]["credential"]["expires_at"] = "2030-01-01T00:00:00Z"
    response = await client.post(f"/checkout_sessions/{session_id}/complete", headers=keys(acp), json=body)
    # The body passes validation: what stops it is the session (no address yet).
    assert (response.status_code, response.json()["code"]) == (400, "checkout_session_not_ready"), (
        response.text
    )


ATTRIBUTION = {"provider": "impact.com", "token": "atp_1"}


@pytest.mark.parametrize(
    ("attribution", "param"),
    [
        ({"token": "atp_1"}, "$.affiliate_attribution.provider"),
        ({"provider": 7, "token": "atp_1"}, "$.affiliate_attribution.provider"),
        ({"provider": "impact.com"}, "$.affiliate_attribution"),
        ({**ATTRIBUTION, "touchpoint": "middle"}, "$.affiliate_attribution.touchpoint"),
        ({**ATTRIBUTION, "issued_at": "soon"}, "$.affiliate_attribution.issued_at"),
        ({**ATTRIBUTION, "source": {"type": "radio"}}, "$.affiliate_attribution.source.type"),
        ({**ATTRIBUTION, "metadata": {"nested": {"a": 1}}}, "$.affiliate_attribution.metadata.nested"),
        ({**ATTRIBUTION, "metadata": {"list": [1]}}, "$.affiliate_attribution.metadata.list"),
    ],
)
async def test_affiliate_attribution_is_validated(
    client: httpx.AsyncClient,
    acp: Headers,
    keys: Keys,
    attribution: Json,
    param: str,
) -> None:
    body = {**SESSION, "affiliate_attribution": attribution}
    response = await client.post("/checkout_sessions", headers=keys(acp), json=body)
    assert response.status_code == 400, response.text
    assert response.json()["param"] == param
    session_id = await open_session(client, acp, keys)
    path = f"/checkout_sessions/{session_id}/complete"
    response = await client.post(
        path, headers=keys(acp), json=complete_body(affiliate_attribution=attribution)
    )
    assert response.status_code == 400, response.text
    assert response.json()["param"] == param


async def test_valid_affiliate_attribution_is_accepted(
    client: httpx.AsyncClient, acp: Headers, keys: Keys
) -> None:
    attribution = {
        **ATTRIBUTION, "publisher_id": "pub_1", "campaign_id": "c", "creative_id": "cr", "sub_id": "s",
        "source": {"type": "url", "url": "https://example.com/review"}, "issued_at": "2026-02-11T10:00:00Z",
        "expires_at": "2026-02-11T11:00:00Z", "metadata": {"rate": 0.15, "ok": True, "kind": "x"},
        "touchpoint": "first", "future_field": {"ignored": True},
    }  # fmt: skip
    body = {**SESSION, "affiliate_attribution": attribution}
    created = assert_session(await client.post("/checkout_sessions", headers=keys(acp), json=body), 201)
    assert "affiliate_attribution" not in created  # write-only


def cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("sort", "after"),
    [
        ("-created_at", cursor("-created_at", "2026-01-01T00:00:00+00:00", "ord_\u0000")),
        ("-total", cursor("-total", 2**70, "ord_1")),
        ("-total", cursor("-total", "9" * 30, "ord_1")),
        ("-total", cursor("-total", 1e300, "ord_1")),
    ],
)
async def test_forged_cursors_are_refused(
    client: httpx.AsyncClient, staff: Headers, sort: str, after: str
) -> None:
    response = await client.get(
        "/admin/v1/orders", headers=staff, params={"sort": sort, "starting_after": after}
    )
    assert_refused(response, "$.starting_after", code="invalid_request")
