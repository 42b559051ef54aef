"""The 2026-04-17 rendering of real sessions validates against the official CheckoutSession schema."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from merchant.checkout import service
from merchant.checkout.evaluate import RequestedItem
from merchant.checkout.wire_2026_04_17 import render_capabilities, render_links, render_session
from merchant.kit.clock import utc_now
from merchant.merchant_config import MerchantConfig
from tests.catalog.acp_schema import CHECKOUT_SCHEMA_PATH, schema_problems
from tests.catalog.helpers import FEEDS, run_feed
from tests.checkout.test_service import ADDRESS, CONFIG, OWNER

INCLUSIVE = MerchantConfig.model_validate(
    {
        **CONFIG.model_dump(mode="json"),
        "tax": {"rates": {"US": {"components": [{"jurisdiction": "US", "rate": "0.2"}], "inclusive": True}}},
        "links": {
            "terms_of_use": "https://shop.example/terms",
            "return_policy": "https://shop.example/returns",
        },
    }
)


def assert_valid(body: dict[str, Any]) -> None:
    assert schema_problems(body, "CheckoutSession", CHECKOUT_SCHEMA_PATH) == []


@pytest.fixture
async def catalog(sessions: async_sessionmaker[AsyncSession]) -> None:
    await run_feed(sessions, FEEDS / "openai.csv")


@pytest.mark.parametrize("config", [CONFIG, INCLUSIVE], ids=["exclusive", "inclusive"])
async def test_every_state_renders_schema_valid(
    catalog: None, session: AsyncSession, config: MerchantConfig
) -> None:
    now = utc_now()
    links = render_links(config.links)
    items = [RequestedItem("mug", 2), RequestedItem("nope", 1), RequestedItem("tee-red-m", 1)]
    view = await service.create(
        session,
        OWNER,
        service.NewSession(items, "USD", buyer={"email": "ada@example.com"}),
        config=config,
        now=now,
    )
    assert_valid(render_session(view, links=links, now=now))
    ready = await service.update(
        session,
        OWNER,
        view.record.id,
        service.Changes(
            items=[RequestedItem("mug", 2), RequestedItem("tee-red-s", 1)],
            fulfillment_details={"name": "Ada", "address": ADDRESS},
            selected_option="exp",
        ),
        config=config,
        now=now,
    )
    body = render_session(ready, links=links, now=now)
    assert_valid(body)
    assert body["status"] == "ready_for_payment"
    totals = {t["type"]: t for t in body["totals"]}
    assert totals["total"]["amount"] == ready.evaluation.totals.total
    assert body["selected_fulfillment_options"] == [
        {"type": "shipping", "option_id": "exp", "item_ids": ["li_0", "li_1"]}
    ]
    if config is INCLUSIVE:
        assert totals["tax"]["display_text"] == "Tax (included)"
        assert totals["tax"]["breakdown"] == [
            {"jurisdiction": "US", "rate": 0.2, "amount": totals["tax"]["amount"]}
        ]
        assert [link["type"] for link in body["links"]] == ["terms_of_use", "return_policy"]
    canceled = await service.cancel(session, OWNER, view.record.id, config=config, now=now)
    assert_valid(render_session(canceled, links=links, now=now))


async def test_messages_render_with_protocol_codes(catalog: None, session: AsyncSession) -> None:
    now = utc_now()
    view = await service.create(
        session,
        OWNER,
        service.NewSession([RequestedItem("mug", 3), RequestedItem("nope", 1)], "usd"),
        config=CONFIG,
        now=now,
    )
    body = render_session(view, links=[], now=now)
    assert_valid(body)
    assert body["messages"] == [
        {
            "type": "error",
            "code": "invalid",
            "param": "$.line_items[1].id",
            "content_type": "plain",
            "content": "No product with id 'nope'.",
        },
        {
            "type": "error",
            "code": "missing",
            "param": "$.fulfillment_details.address",
            "content_type": "plain",
            "content": "A shipping address is needed.",
        },
    ]
    assert Decimal(body["line_items"][0]["unit_amount"]) == 1200


async def test_capabilities_intersect_interventions(catalog: None, session: AsyncSession) -> None:
    config = MerchantConfig.model_validate(
        {
            **CONFIG.model_dump(mode="json"),
            "payments": {
                "card": {
                    "merchant_id": "acct_123",
                    "accepted_brands": ["visa"],
                    "environment": "production",
                }
            },
            "interventions": {"supported": ["3ds", "address_verification"], "required": ["3ds"]},
        }
    )
    now = utc_now()
    new = service.NewSession([RequestedItem("mug", 1)], "usd", agent_interventions=["3ds", "biometric"])
    view = await service.create(session, OWNER, new, config=config, now=now)
    capabilities = render_capabilities(config, view.record.agent_interventions)
    body = render_session(view, links=[], now=now, capabilities=capabilities)
    assert_valid(body)
    assert body["capabilities"]["interventions"] == {
        "supported": ["3ds"],
        "required": ["3ds"],
        "enforcement": "conditional",
    }
    handler = body["capabilities"]["payment"]["handlers"][0]
    assert handler["config"]["merchant_id"] == "acct_123"
    assert handler["config"]["accepted_brands"] == ["visa"]
