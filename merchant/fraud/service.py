"""Fraud assessments: assess a complete attempt, then add its payment outcome and later events.

No HTTP, and nothing here commits: the caller's transaction holds the assessment together with
the charge and the order it decided. Velocity counts are of **earlier** attempts only: assessments
created before ``now`` and within each rule's window (the rules add the attempt being assessed).
"Prior orders" of an email are its assessments that led to an order and are not blocked.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from merchant.fraud import rules
from merchant.fraud.config import FraudConfig, VelocityKey, VelocityRule
from merchant.fraud.errors import AssessmentBlocked, AssessmentNotFound
from merchant.fraud.models import FraudAssessment, FraudSignal
from merchant.fraud.rules import Decision, FraudInputs, History, Outcome, Signal

_COLUMN: dict[VelocityKey, InstrumentedAttribute[str | None]] = {
    "email": FraudAssessment.email,
    "device": FraudAssessment.device_fingerprint,
    "ip": FraudAssessment.ip_address,
    "card": FraudAssessment.card_fingerprint,
}


@dataclass(frozen=True, slots=True)
class StoredAssessment:
    id: str
    outcome: Outcome


def new_assessment_id() -> str:
    return f"fa_{secrets.token_hex(12)}"


def _key_values(inputs: FraudInputs) -> dict[VelocityKey, str | None]:
    return {
        "email": inputs.email,
        "device": inputs.device_fingerprint,
        "ip": inputs.ip_address,
        "card": inputs.card_fingerprint,
    }


async def _history(
    session: AsyncSession,
    inputs: FraudInputs,
    velocity: Sequence[VelocityRule],
    *,
    now: datetime,
    prior_orders: bool,
) -> History:
    """Every count the rules need, in one query (one ``FILTER`` aggregate per count)."""
    values = _key_values(inputs)
    counted = [rule for rule in velocity if values[rule.key] is not None]
    aggregates: list[ColumnElement[int]] = [
        func.count().filter(
            _COLUMN[rule.key] == values[rule.key],
            FraudAssessment.created_at >= now - timedelta(minutes=rule.window_minutes),
        )
        for rule in counted
    ]
    matches: list[ColumnElement[bool]] = []
    for key in dict.fromkeys(rule.key for rule in counted):
        oldest = now - timedelta(minutes=max(r.window_minutes for r in counted if r.key == key))
        matches.append(and_(_COLUMN[key] == values[key], FraudAssessment.created_at >= oldest))
    if prior_orders and inputs.email is not None:
        aggregates.append(
            func.count().filter(
                FraudAssessment.email == inputs.email,
                FraudAssessment.order_id.is_not(None),
                FraudAssessment.decision != Decision.block.value,
            )
        )
        matches.append(FraudAssessment.email == inputs.email)
    if not aggregates:
        return History({}, 0)
    statement = select(*aggregates).where(FraudAssessment.created_at < now, or_(*matches))
    row = (await session.execute(statement)).one()
    attempts = {rule.id: int(count) for rule, count in zip(counted, row, strict=False)}
    prior = int(row[-1]) if len(row) > len(counted) else 0
    return History(attempts, prior)


def _signal_rows(
    assessment_id: str, signals: Sequence[Signal], source: str, now: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "assessment_id": assessment_id,
            "name": signal.name,
            "value": signal.value,
            "weight": signal.weight,
            "detail": signal.detail,
            "source": source,
            "created_at": now,
        }
        for signal in signals
    ]


async def _add_signals(
    session: AsyncSession, assessment_id: str, signals: Sequence[Signal], source: str, now: datetime
) -> None:
    if signals:
        await session.execute(insert(FraudSignal), _signal_rows(assessment_id, signals, source, now))


async def assess_checkout(
    session: AsyncSession, inputs: FraudInputs, config: FraudConfig, *, now: datetime
) -> StoredAssessment:
    """Assess a complete attempt before the charge and store it with all its signals."""
    inputs = rules.normalized(inputs)
    history = await _history(session, inputs, config.velocity, now=now, prior_orders=True)
    outcome = rules.assess(inputs, history, config)
    row = FraudAssessment(
        id=new_assessment_id(),
        checkout_session_id=inputs.checkout_session_id,
        email=inputs.email,
        ip_address=inputs.ip_address,
        device_fingerprint=inputs.device_fingerprint,
        card_fingerprint=inputs.card_fingerprint,
        amount=inputs.amount,
        currency=inputs.currency,
        score=outcome.score,
        decision=outcome.decision.value,
        inputs=rules.inputs_to_json(inputs),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    await _add_signals(session, row.id, outcome.signals, "rules", now)
    return StoredAssessment(row.id, outcome)


async def _signals(session: AsyncSession, assessment_id: str) -> list[FraudSignal]:
    statement = select(FraudSignal).where(FraudSignal.assessment_id == assessment_id).order_by(FraudSignal.id)
    return list((await session.scalars(statement)).all())


async def _outcome(session: AsyncSession, row: FraudAssessment) -> Outcome:
    stored = await _signals(session, row.id)
    signals = tuple(Signal(s.name, s.value, s.weight, s.detail) for s in stored)
    return Outcome(signals, row.score, Decision(row.decision))


async def _locked(session: AsyncSession, assessment_id: str) -> FraudAssessment:
    statement = (
        select(FraudAssessment)
        .where(FraudAssessment.id == assessment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    row = await session.scalar(statement)
    if row is None:
        raise AssessmentNotFound(f"No fraud assessment {assessment_id}.")
    return row


async def _save(
    session: AsyncSession, row: FraudAssessment, outcome: Outcome, added: int, source: str, now: datetime
) -> StoredAssessment:
    """Store ``outcome``'s last ``added`` signals and its score and decision on ``row``."""
    await _add_signals(session, row.id, outcome.signals[len(outcome.signals) - added :], source, now)
    row.score, row.decision, row.updated_at = outcome.score, outcome.decision.value, now
    await session.flush()
    return StoredAssessment(row.id, outcome)


async def _card_signals(
    session: AsyncSession,
    row: FraudAssessment,
    card: Mapping[str, Any] | None,
    config: FraudConfig,
    now: datetime,
) -> tuple[Signal, ...]:
    """Card rules for what the charge revealed (fingerprint, country) and was not known before;
    the row is updated so later velocity counts see the card."""
    known = rules.inputs_from_json(row.inputs)
    charged = rules.normalized(
        replace(
            known,
            card_fingerprint=known.card_fingerprint or (card or {}).get("fingerprint"),
            card_country=known.card_country or (card or {}).get("country"),
        )
    )
    signals: list[Signal] = []
    if charged.card_fingerprint != known.card_fingerprint:
        card_rules = [rule for rule in config.velocity if rule.key == "card"]
        # The row itself has no fingerprint yet, so it is not counted: the rules add it.
        history = await _history(session, charged, card_rules, now=now, prior_orders=False)
        signals.extend(rules.card_velocity(charged, history, config))
    if charged.card_country != known.card_country:
        signals.append(rules.card_country(charged, config))
    if charged != known:
        row.card_fingerprint, row.inputs = charged.card_fingerprint, rules.inputs_to_json(charged)
    return tuple(signals)


async def record_payment_outcome(
    session: AsyncSession,
    assessment_id: str,
    radar: Mapping[str, Any] | None,
    card: Mapping[str, Any] | None,
    config: FraudConfig,
    *,
    now: datetime,
) -> StoredAssessment:
    """Add the charge's Radar outcome and the card it revealed (signals of source ``payment``).

    Once per assessment: a repeated call returns the stored outcome unchanged. The decision rises
    to ``review`` at most; a blocked attempt is never charged (``AssessmentBlocked``).
    """
    row = await _locked(session, assessment_id)
    previous = await _outcome(session, row)
    if previous.decision is Decision.block:
        raise AssessmentBlocked(f"Fraud assessment {assessment_id} blocked the attempt; nothing was charged.")
    if await _has_signal(session, row.id, source="payment"):
        return StoredAssessment(row.id, previous)
    card_signals = await _card_signals(session, row, card, config, now)
    outcome = rules.with_payment_outcome(previous, radar, config, card=card_signals)
    return await _save(session, row, outcome, len(outcome.signals) - len(previous.signals), "payment", now)


async def _has_signal(
    session: AsyncSession,
    assessment_id: str,
    *,
    source: str,
    name: str | None = None,
    event_id: str | None = None,
) -> bool:
    statement = select(FraudSignal.id).where(
        FraudSignal.assessment_id == assessment_id, FraudSignal.source == source
    )
    if name is not None:
        statement = statement.where(FraudSignal.name == name)
    if event_id is not None:
        statement = statement.where(FraudSignal.value["id"].astext == event_id)
    return await session.scalar(statement.limit(1)) is not None


async def attach_order(session: AsyncSession, assessment_id: str, order_id: str) -> None:
    """Link the assessment to the order its attempt created (events find it by order id)."""
    result = await session.execute(
        update(FraudAssessment)
        .where(FraudAssessment.id == assessment_id)
        .values(order_id=order_id, updated_at=func.now())
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise AssessmentNotFound(f"No fraud assessment {assessment_id}.")


async def assessment_id_for_session(session: AsyncSession, checkout_session_id: str) -> str | None:
    """The latest assessment of a checkout's complete (a resumed payment finds its own)."""
    return await session.scalar(
        select(FraudAssessment.id)
        .where(FraudAssessment.checkout_session_id == checkout_session_id)
        .order_by(FraudAssessment.created_at.desc(), FraudAssessment.id.desc())
        .limit(1)
    )


async def _for_order(session: AsyncSession, order_id: str, *, lock: bool) -> FraudAssessment | None:
    statement = (
        select(FraudAssessment)
        .where(FraudAssessment.order_id == order_id)
        .order_by(FraudAssessment.created_at.desc(), FraudAssessment.id.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    return await session.scalar(statement.with_for_update() if lock else statement)


async def record_event(
    session: AsyncSession,
    *,
    order_id: str,
    kind: rules.EventKind,
    detail: Mapping[str, Any],
    config: FraudConfig,
    now: datetime,
) -> StoredAssessment | None:
    """Add an early fraud warning or a dispute to the assessment of ``order_id`` (source ``event``).

    None when the order has no assessment. An event whose ``detail["id"]`` is already recorded
    (PSP events repeat) changes nothing.
    """
    row = await _for_order(session, order_id, lock=True)
    if row is None:
        return None
    previous = await _outcome(session, row)
    event_id = detail.get("id")
    if event_id is not None and await _has_signal(
        session, row.id, source="event", name=kind, event_id=str(event_id)
    ):
        return StoredAssessment(row.id, previous)
    outcome = rules.with_event(previous, kind, detail, config)
    return await _save(session, row, outcome, 1, "event", now)


async def assessment_for_order(
    session: AsyncSession, order_id: str
) -> tuple[FraudAssessment, list[FraudSignal]] | None:
    """The latest assessment of ``order_id`` with its signals in the order they were recorded."""
    row = await _for_order(session, order_id, lock=False)
    if row is None:
        return None
    return row, await _signals(session, row.id)
