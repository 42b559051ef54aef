"""Fraud assessments on real PostgreSQL: velocity windows, buyer history, payment outcome, events."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from merchant.fraud import service
from merchant.fraud.config import FraudConfig
from merchant.fraud.errors import AssessmentBlocked, AssessmentNotFound
from merchant.fraud.models import FraudAssessment, FraudSignal
from merchant.fraud.rules import Decision, FraudInputs, Outcome

CONFIG = FraudConfig()
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def minutes_ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


@pytest.fixture
def email() -> str:
    """A buyer of this test only (other tests' rows never count)."""
    return f"buyer-{uuid.uuid4().hex[:12]}@example.com"


def attempt(email: str | None, **changes: Any) -> FraudInputs:
    base = FraudInputs(
        checkout_session_id=f"cs_{uuid.uuid4().hex[:24]}",
        email=email,
        ip_address=None,
        user_agent="Mozilla/5.0",
        device_fingerprint=None,
        buyer_session_id=None,
        forwarded=None,
        card_fingerprint=None,
        card_country=None,
        billing_country="US",
        shipping_country="US",
        amount=5000,
        currency="usd",
        token_risk=None,
    )
    return dataclasses.replace(base, **changes)


async def assess(
    session: AsyncSession, email: str | None, at: datetime = NOW, **changes: Any
) -> service.StoredAssessment:
    return await service.assess_checkout(session, attempt(email, **changes), CONFIG, now=at)


def weight(outcome: Outcome, name: str) -> int:
    (found,) = [s for s in outcome.signals if s.name == name]
    return found.weight


def attempts(outcome: Outcome, name: str) -> int:
    (found,) = [s for s in outcome.signals if s.name == name]
    return int(found.value["attempts"])


@pytest.fixture
def statements(connection: AsyncConnection) -> Iterator[list[str]]:
    """The SQL statements run on the test connection while the test runs."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(connection.sync_connection, "before_cursor_execute", record)
    yield seen
    event.remove(connection.sync_connection, "before_cursor_execute", record)


class TestAssessCheckout:
    async def test_stores_the_assessment_and_every_signal(self, session: AsyncSession, email: str) -> None:
        stored = await assess(session, email.upper(), ip_address="::ffff:192.0.2.1", device_fingerprint="dev")
        row = await session.get(FraudAssessment, stored.id)
        assert row is not None
        assert stored.id.startswith("fa_")
        assert (row.email, row.ip_address, row.device_fingerprint, row.currency) == (
            email,
            "192.0.2.1",
            "dev",
            "USD",
        )
        assert (row.score, row.decision, row.created_at) == (0, "approve", NOW)
        assert row.inputs["email"] == email
        signals = (
            await session.scalars(
                select(FraudSignal).where(FraudSignal.assessment_id == stored.id).order_by("id")
            )
        ).all()
        assert [(s.name, s.value, s.weight, s.detail) for s in signals] == [
            (s.name, s.value, s.weight, s.detail) for s in stored.outcome.signals
        ]
        assert {s.source for s in signals} == {"rules"}
        unknown_card = await session.scalar(
            select(func.jsonb_typeof(FraudSignal.value)).where(
                FraudSignal.assessment_id == stored.id, FraudSignal.name == "velocity.card:1440m"
            )
        )
        assert unknown_card == "null"  # an input not known is a JSON null value

    async def test_history_is_one_query(
        self, session: AsyncSession, email: str, statements: list[str]
    ) -> None:
        await assess(session, email, ip_address="192.0.2.1", device_fingerprint="d", card_fingerprint="c")
        selects = [sql for sql in statements if sql.lstrip().upper().startswith("SELECT")]
        assert len(selects) == 1
        assert selects[0].count("FILTER (WHERE") == 5  # four velocity rules + prior orders

    async def test_email_velocity_counts_earlier_attempts_within_the_window(
        self, session: AsyncSession, email: str
    ) -> None:
        for minutes in (1, 10, 20, 30, 59):
            await assess(session, email, minutes_ago(minutes))
        await assess(session, email, minutes_ago(61))  # outside the window
        await assess(session, email, NOW + timedelta(minutes=1))  # not earlier
        await assess(session, "someone-else@example.com", minutes_ago(5))
        stored = await assess(session, email.title())
        assert attempts(stored.outcome, "velocity.email:60m") == 6  # five earlier + this one
        assert weight(stored.outcome, "velocity.email:60m") == 30

    async def test_at_the_limit_nothing_fires(self, session: AsyncSession, email: str) -> None:
        for minutes in (1, 2, 3, 4):
            await assess(session, email, minutes_ago(minutes))
        stored = await assess(session, email)
        assert attempts(stored.outcome, "velocity.email:60m") == 5
        assert weight(stored.outcome, "velocity.email:60m") == 0

    async def test_device_ip_and_card_velocity(self, session: AsyncSession) -> None:
        device, card = f"dev_{uuid.uuid4().hex}", f"fp_{uuid.uuid4().hex[:20]}"
        ip = f"2001:db8::{uuid.uuid4().hex[:4]}"
        for minutes in range(1, 11):
            await assess(session, None, minutes_ago(minutes), ip_address=ip.upper())
        for minutes in (5, 15, 25, 45, 55, 65):
            await assess(session, None, minutes_ago(minutes), device_fingerprint=device)
        for hours in (1, 5, 12, 20, 23.9, 24.1):
            await assess(session, None, minutes_ago(hours * 60), card_fingerprint=card)
        stored = await assess(session, None, ip_address=ip, device_fingerprint=device, card_fingerprint=card)
        outcome = stored.outcome
        assert attempts(outcome, "velocity.ip:60m") == 11
        assert attempts(outcome, "velocity.device:60m") == 6
        assert attempts(outcome, "velocity.card:1440m") == 6
        assert {s.name: s.weight for s in outcome.signals if s.weight} == {
            "velocity.ip:60m": 25,
            "velocity.device:60m": 30,
            "velocity.card:1440m": 40,
        }
        assert (outcome.score, outcome.decision) == (95, Decision.block)


class TestFirstTimeBuyer:
    async def test_only_unblocked_orders_make_a_returning_buyer(
        self, session: AsyncSession, email: str
    ) -> None:
        assert weight((await assess(session, email, amount=25000)).outcome, "first_time_high_amount") == 20

        no_order = await assess(session, email, minutes_ago(300))
        blocked = await assess(session, email, minutes_ago(200), amount=10**6, token_risk=_BLOCK)
        assert blocked.outcome.decision is Decision.block
        await service.attach_order(session, blocked.id, "ord_blocked")
        assert weight((await assess(session, email, amount=25000)).outcome, "first_time_high_amount") == 20

        await service.attach_order(session, no_order.id, "ord_1")
        later = await assess(session, email, amount=25000)
        assert weight(later.outcome, "first_time_high_amount") == 0
        (detail,) = [s.detail for s in later.outcome.signals if s.name == "first_time_high_amount"]
        assert detail == "returning buyer (1 earlier orders)"

    async def test_orders_from_any_time_count(self, session: AsyncSession, email: str) -> None:
        old = await assess(session, email, NOW - timedelta(days=400))
        await service.attach_order(session, old.id, "ord_old")
        assert weight((await assess(session, email, amount=25000)).outcome, "first_time_high_amount") == 0


_BLOCK = {"card_testing": {"score": 99, "recommended_action": "block"}}
_RADAR_HIGHEST = {
    "type": "authorized",
    "risk_level": "highest",
    "risk_score": 91,
    "network_status": "approved",
}


class TestRecordPaymentOutcome:
    async def test_radar_raises_to_review_never_block(self, session: AsyncSession, email: str) -> None:
        stored = await assess(session, email, amount=50000)  # amount 25 + first time 20: review
        assert (stored.outcome.score, stored.outcome.decision) == (45, Decision.review)
        after = await service.record_payment_outcome(
            session, stored.id, _RADAR_HIGHEST, None, CONFIG, now=NOW + timedelta(seconds=3)
        )
        assert (after.outcome.score, after.outcome.decision) == (100, Decision.review)
        row = await session.get(FraudAssessment, stored.id)
        assert row is not None
        assert (row.score, row.decision, row.updated_at) == (100, "review", NOW + timedelta(seconds=3))
        sources = await session.execute(
            select(FraudSignal.source, func.count())
            .where(FraudSignal.assessment_id == stored.id)
            .group_by(FraudSignal.source)
        )
        assert dict(sources.all()) == {
            "rules": len(stored.outcome.signals),
            "payment": 1,
        }

    async def test_the_card_revealed_by_the_charge_is_checked_and_stored(
        self, session: AsyncSession, email: str
    ) -> None:
        card = f"fp_{uuid.uuid4().hex[:20]}"
        for hours in (1, 2, 3, 4, 5):
            await assess(session, None, minutes_ago(hours * 60), card_fingerprint=card)
        stored = await assess(session, email)
        after = await service.record_payment_outcome(
            session, stored.id, None, {"fingerprint": card, "country": "ng", "last4": "4242"}, CONFIG, now=NOW
        )
        added = after.outcome.signals[len(stored.outcome.signals) :]
        assert [(s.name, s.weight) for s in added] == [
            ("velocity.card:1440m", 40),
            ("card_country", 10),
            ("radar", 0),
        ]
        assert (after.outcome.score, after.outcome.decision) == (50, Decision.review)
        row = await session.get(FraudAssessment, stored.id)
        assert row is not None
        assert (row.card_fingerprint, row.inputs["card_country"]) == (card, "NG")
        next_one = await assess(session, None, NOW + timedelta(minutes=1), card_fingerprint=card)
        assert attempts(next_one.outcome, "velocity.card:1440m") == 7  # five, the charged one, this one

    async def test_a_card_known_before_is_not_checked_again(self, session: AsyncSession, email: str) -> None:
        stored = await assess(session, email, card_fingerprint="fp_known", card_country="US")
        after = await service.record_payment_outcome(
            session, stored.id, None, {"fingerprint": "fp_known", "country": "US"}, CONFIG, now=NOW
        )
        assert [s.name for s in after.outcome.signals[len(stored.outcome.signals) :]] == ["radar"]

    async def test_once_per_assessment(self, session: AsyncSession, email: str) -> None:
        stored = await assess(session, email)
        first = await service.record_payment_outcome(
            session, stored.id, _RADAR_HIGHEST, None, CONFIG, now=NOW
        )
        again = await service.record_payment_outcome(
            session, stored.id, _RADAR_HIGHEST, None, CONFIG, now=NOW
        )
        assert again == first
        count = await session.scalar(select(func.count()).where(FraudSignal.assessment_id == stored.id))
        assert count == len(first.outcome.signals)

    async def test_blocked_and_unknown_assessments(self, session: AsyncSession, email: str) -> None:
        blocked = await assess(session, email, token_risk=_BLOCK)
        with pytest.raises(AssessmentBlocked):
            await service.record_payment_outcome(session, blocked.id, None, None, CONFIG, now=NOW)
        with pytest.raises(AssessmentNotFound):
            await service.record_payment_outcome(session, "fa_missing", None, None, CONFIG, now=NOW)


class TestOrdersAndEvents:
    async def test_attach_order_and_read_it_back(self, session: AsyncSession, email: str) -> None:
        stored = await assess(session, email)
        order_id = f"ord_{uuid.uuid4().hex[:24]}"
        assert await service.assessment_for_order(session, order_id) is None
        await service.attach_order(session, stored.id, order_id)
        found = await service.assessment_for_order(session, order_id)
        assert found is not None
        row, signals = found
        assert (row.id, row.order_id) == (stored.id, order_id)
        assert [s.name for s in signals] == [s.name for s in stored.outcome.signals]
        with pytest.raises(AssessmentNotFound):
            await service.attach_order(session, "fa_missing", order_id)

    async def test_events_flow_back_into_the_assessment(self, session: AsyncSession, email: str) -> None:
        stored = await assess(session, email)
        order_id = f"ord_{uuid.uuid4().hex[:24]}"
        await service.attach_order(session, stored.id, order_id)
        warning = {"id": "issfr_1", "fraud_type": "made_with_stolen_card", "actionable": True}

        warned = await service.record_event(
            session, order_id=order_id, kind="early_fraud_warning", detail=warning, config=CONFIG, now=NOW
        )
        assert warned is not None
        assert (warned.id, warned.outcome.score, warned.outcome.decision) == (stored.id, 60, Decision.review)
        repeated = await service.record_event(
            session, order_id=order_id, kind="early_fraud_warning", detail=warning, config=CONFIG, now=NOW
        )
        assert repeated == warned

        disputed = await service.record_event(
            session,
            order_id=order_id,
            kind="dispute",
            detail={"id": "dp_1", "reason": "fraudulent"},
            config=CONFIG,
            now=NOW + timedelta(days=3),
        )
        assert disputed is not None
        assert (disputed.outcome.score, disputed.outcome.decision) == (100, Decision.block)
        found = await service.assessment_for_order(session, order_id)
        assert found is not None
        row, signals = found
        assert (row.score, row.decision, row.updated_at) == (100, "block", NOW + timedelta(days=3))
        assert [(s.name, s.source, s.value.get("id")) for s in signals if s.source == "event"] == [
            ("early_fraud_warning", "event", "issfr_1"),
            ("dispute", "event", "dp_1"),
        ]

    async def test_an_order_without_assessment(self, session: AsyncSession) -> None:
        assert (
            await service.record_event(
                session, order_id="ord_none", kind="dispute", detail={}, config=CONFIG, now=NOW
            )
            is None
        )
