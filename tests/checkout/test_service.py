"""Checkout sessions on real PostgreSQL with the real catalog: create, get, update, cancel, expire."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from merchant.checkout import service
from merchant.checkout.errors import SessionClosed, SessionNotFound, SessionNotOpen
from merchant.checkout.evaluate import RequestedItem, Status
from merchant.checkout.models import CheckoutSession
from merchant.kit.clock import utc_now
from merchant.merchant_config import MerchantConfig
from tests.catalog.helpers import FEEDS, run_feed

CONFIG = MerchantConfig.model_validate(
    {
        "shop": {"currency": "USD"},
        "checkout": {"session_ttl_minutes": 30},
        "shipping": {
            "zones": [
                {
                    "countries": ["US"],
                    "methods": [
                        {"id": "std", "title": "Standard", "flat": 500},
                        {"id": "exp", "title": "Express", "flat": 1500, "min_days": 1, "max_days": 2},
                    ],
                }
            ]
        },
        "tax": {"rates": {"US-NY": {"components": [{"jurisdiction": "US-NY", "rate": "0.08"}]}}},
    }
)
ADDRESS = {
    "name": "Ada Buyer",
    "line_one": "1 Main St",
    "city": "New York",
    "state": "NY",
    "country": "US",
    "postal_code": "10001",
}
OWNER = "key_agent_one"


@pytest.fixture
async def catalog(sessions: async_sessionmaker[AsyncSession]) -> None:
    run = await run_feed(sessions, FEEDS / "openai.csv")
    assert run.status == "succeeded"


async def new(session: AsyncSession, items: list[tuple[str, int]], **kwargs: object) -> service.View:
    command = service.NewSession([RequestedItem(v, q) for v, q in items], "usd", **kwargs)  # type: ignore[arg-type]
    return await service.create(session, OWNER, command, config=CONFIG, now=utc_now())


async def test_create_then_fill_in_to_ready(catalog: None, session: AsyncSession) -> None:
    view = await new(session, [("mug", 2)])
    assert view.record.id.startswith("cs_")
    assert (view.status, view.record.currency) == (Status.not_ready_for_payment, "USD")
    assert view.evaluation.totals.subtotal == 2400
    assert view.record.expires_at - view.record.created_at == timedelta(minutes=30)

    with_address = await service.update(
        session,
        OWNER,
        view.record.id,
        service.Changes(fulfillment_details={"name": "Ada", "address": ADDRESS}),
        config=CONFIG,
        now=utc_now(),
    )
    assert [o.id for o in with_address.evaluation.options] == ["std", "exp"]
    assert with_address.status is Status.ready_for_payment  # the cheaper option, until another is chosen
    assert (with_address.record.selected_option, with_address.evaluation.totals.fulfillment) == ("std", 500)
    ready = await service.update(
        session, OWNER, view.record.id, service.Changes(selected_option="exp"), config=CONFIG, now=utc_now()
    )
    assert ready.status is Status.ready_for_payment
    totals = ready.evaluation.totals
    assert (totals.subtotal, totals.fulfillment, totals.tax, totals.total) == (2400, 1500, 192, 4092)


async def test_null_clears_and_absent_keeps(catalog: None, session: AsyncSession) -> None:
    view = await new(
        session, [("mug", 1)], fulfillment_details={"address": ADDRESS}, buyer={"email": "a@b.co"}
    )
    kept = await service.update(
        session, OWNER, view.record.id, service.Changes(selected_option="std"), config=CONFIG, now=utc_now()
    )
    assert kept.record.buyer == {"email": "a@b.co"}
    assert kept.status is Status.ready_for_payment
    cleared = await service.update(
        session,
        OWNER,
        view.record.id,
        service.Changes(fulfillment_details=None),
        config=CONFIG,
        now=utc_now(),
    )
    assert cleared.record.fulfillment_details is None
    assert cleared.status is Status.not_ready_for_payment


async def test_catalog_problems_leave_it_not_ready(catalog: None, session: AsyncSession) -> None:
    view = await new(session, [("nope", 1), ("tee-red-m", 1)], fulfillment_details={"address": ADDRESS})
    codes = [(m.code, m.param) for m in view.evaluation.messages]
    assert codes == [
        ("invalid", "$.line_items[0].id"),
        ("out_of_stock", "$.line_items[1]"),
    ]
    assert view.status is Status.not_ready_for_payment


async def test_another_key_sees_nothing(catalog: None, session: AsyncSession) -> None:
    view = await new(session, [("mug", 1)])
    with pytest.raises(SessionNotFound):
        await service.get(session, "key_someone_else", view.record.id, config=CONFIG, now=utc_now())
    with pytest.raises(SessionNotFound):
        await service.cancel(session, "key_someone_else", view.record.id, config=CONFIG, now=utc_now())


async def test_cancel_once_then_405(catalog: None, session: AsyncSession) -> None:
    view = await new(session, [("mug", 1)])
    canceled = await service.cancel(session, OWNER, view.record.id, config=CONFIG, now=utc_now())
    assert canceled.status is Status.canceled
    with pytest.raises(SessionClosed):
        await service.cancel(session, OWNER, view.record.id, config=CONFIG, now=utc_now())
    with pytest.raises(SessionNotOpen):
        await service.update(session, OWNER, view.record.id, service.Changes(), config=CONFIG, now=utc_now())


async def test_expiry_on_read_and_by_the_job(catalog: None, session: AsyncSession) -> None:
    first = await new(session, [("mug", 1)])
    second = await new(session, [("mug", 1)])
    later = utc_now() + timedelta(minutes=31)
    read = await service.get(session, OWNER, first.record.id, config=CONFIG, now=later)
    assert read.status is Status.expired
    assert await service.expire_due(session, now=later) == 1  # the second; the first already is
    stored = await session.get(CheckoutSession, second.record.id, populate_existing=True)
    assert stored is not None
    assert stored.status == "expired"
    with pytest.raises(SessionNotOpen):
        await service.update(session, OWNER, second.record.id, service.Changes(), config=CONFIG, now=later)
    # an expired session can still be canceled (only completed/canceled refuse)
    assert (await service.cancel(session, OWNER, second.record.id, config=CONFIG, now=later)).status is (
        Status.canceled
    )


@pytest.mark.parametrize(
    ("enforcement", "agent", "missing"),
    [("always", [], ["3ds"]), ("always", ["3ds"], []), ("conditional", [], [])],
)
def test_missing_interventions(enforcement: str, agent: list[str], missing: list[str]) -> None:
    config = MerchantConfig.model_validate(
        {"interventions": {"supported": ["3ds"], "required": ["3ds"], "enforcement": enforcement}}
    )
    assert service.missing_interventions(config, agent) == missing
