"""Checkout sessions: create, read, update, cancel, expire (no HTTP, no wire format).

The stored row holds what the agent asked for; every call re-evaluates it against the live
catalog, shipping and tax (``checkout.evaluate``), so prices and stock are never stale. A
session belongs to the API key that created it: another key gets "not found".
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import Exists, exists, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.checkout.errors import PaymentInFlight, SessionClosed, SessionNotFound, SessionNotOpen
from merchant.checkout.evaluate import CatalogItem, Evaluation, RequestedItem, Status, evaluate
from merchant.checkout.items import catalog_items
from merchant.checkout.models import CheckoutSession
from merchant.checkout.tax import Destination
from merchant.merchant_config import MerchantConfig
from merchant.payments.models import LIVE_STATUSES, Payment
from merchant.payments.service import CHARGING

OPEN, COMPLETED, CANCELED, EXPIRED = "open", "completed", "canceled", "expired"
_TERMINAL_STATUS = {COMPLETED: Status.completed, CANCELED: Status.canceled, EXPIRED: Status.expired}


class Unset(Enum):
    UNSET = "unset"


UNSET = Unset.UNSET  # "absent": keep the stored value (None means clear it)


@dataclass(frozen=True, slots=True)
class NewSession:
    items: Sequence[RequestedItem]
    currency: str
    buyer: dict[str, Any] | None = None
    fulfillment_details: dict[str, Any] | None = None
    locale: str | None = None
    order_notes: str | None = None
    metadata: dict[str, Any] | None = None
    agent_interventions: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class Changes:
    items: Sequence[RequestedItem] | Unset = UNSET
    buyer: dict[str, Any] | Unset | None = UNSET
    fulfillment_details: dict[str, Any] | Unset | None = UNSET
    selected_option: str | Unset | None = UNSET
    order_notes: str | Unset | None = UNSET


@dataclass(frozen=True, slots=True)
class View:
    """A session with its evaluation: what every response renders."""

    record: CheckoutSession
    evaluation: Evaluation

    @property
    def status(self) -> Status:
        return _TERMINAL_STATUS.get(self.record.status, self.evaluation.status)


def new_session_id() -> str:
    return f"cs_{secrets.token_hex(12)}"


def _items_json(items: Sequence[RequestedItem]) -> list[dict[str, Any]]:
    return [{"id": item.variant_id, "quantity": item.quantity} for item in items]


def _destination(details: dict[str, Any] | None) -> Destination | None:
    address = (details or {}).get("address") or {}
    country = address.get("country")
    return Destination(country.upper(), address.get("state"), address.get("postal_code")) if country else None


def missing_interventions(config: MerchantConfig, agent: Sequence[str]) -> list[str]:
    """Interventions we require (enforcement ``always``) that are not supported on both sides."""
    seller = config.interventions
    if seller.enforcement != "always":
        return []
    both = set(seller.supported) & set(agent)
    return [name for name in seller.required if name not in both]


async def evaluate_record(
    session: AsyncSession, record: CheckoutSession, config: MerchantConfig, *, unpaid: bool = False
) -> Evaluation:
    """The stored session against the live catalog, shipping and tax; once paid for (a payment in
    flight or done), at the prices it was charged, its stock no longer checked (it is held).

    ``unpaid``: the caller knows no such payment exists (a new session, or one it checked under its
    row lock), so the payment is not looked up."""
    requested = [RequestedItem(i["id"], int(i["quantity"])) for i in record.items]
    destination = _destination(record.fulfillment_details)
    taxes = config.tax_provider()
    rule = await taxes.rule_for(destination) if destination else taxes.default
    items = await catalog_items(session, {item.variant_id for item in requested})
    charged = None if unpaid else await _charged_prices(session, record.id)
    return evaluate(
        requested,
        items if charged is None else _as_charged(items, charged),
        currency=record.currency,
        destination=destination,
        selected_option=record.selected_option,
        shipping=config.shipping_table(),
        tax=rule,
        missing_interventions=missing_interventions(config, record.agent_interventions),
    )


async def _charged_prices(session: AsyncSession, session_id: str) -> dict[str, Any] | None:
    """The unit prices of the session's payment in flight or behind its order, if any."""
    paid = or_(Payment.status.in_(LIVE_STATUSES), Payment.order_id.is_not(None))
    query = (
        select(Payment.unit_prices)
        .where(Payment.checkout_session_id == session_id, paid)
        .order_by(Payment.created_at.desc())
        .limit(1)
    )
    return await session.scalar(query)


def _as_charged(items: dict[str, CatalogItem], prices: dict[str, Any]) -> dict[str, CatalogItem]:
    def charged(item: CatalogItem) -> CatalogItem:
        price = int(prices[item.variant_id])
        return replace(item, unit_amount=price, purchasable=True, inventory_quantity=None)

    return {vid: charged(item) if vid in prices else item for vid, item in items.items()}


async def create(
    session: AsyncSession,
    owner: str,
    new: NewSession,
    *,
    config: MerchantConfig,
    now: datetime,
    platform_id: str | None = None,
) -> View:
    record = CheckoutSession(
        id=new_session_id(),
        owner=owner,
        platform_id=platform_id,
        status=OPEN,
        currency=new.currency.upper(),
        items=_items_json(new.items),
        buyer=new.buyer,
        fulfillment_details=new.fulfillment_details,
        locale=new.locale,
        order_notes=new.order_notes,
        session_metadata=new.metadata or {},
        agent_interventions=list(new.agent_interventions),
        created_at=now,
        updated_at=now,
        expires_at=now + timedelta(minutes=config.checkout.session_ttl_minutes),
    )
    session.add(record)
    evaluation = await evaluate_record(session, record, config, unpaid=True)
    record.selected_option = evaluation.selected_option  # the default option, until the agent chooses
    await session.flush()
    return View(record, evaluation)


async def _load(
    session: AsyncSession, owner: str, session_id: str, *, lock: bool, now: datetime
) -> CheckoutSession:
    query = select(CheckoutSession).where(CheckoutSession.id == session_id, CheckoutSession.owner == owner)
    if lock:  # and refresh: another transaction of this request may have changed the row
        query = query.with_for_update().execution_options(populate_existing=True)
    record = await session.scalar(query)
    if record is None:
        raise SessionNotFound(f"No checkout session {session_id!r}.", param="$.id")
    due = record.status == OPEN and record.expires_at <= now  # expire on read, not only by the job
    if due and not await session.scalar(select(_payment_in_flight(record.id))):
        record.status, record.updated_at = EXPIRED, now
        await session.flush()
    return record


def _payment_in_flight(session_id: Any) -> Exists:
    """A payment whose outcome is not known yet: the session waits for it instead of expiring."""
    return exists().where(Payment.checkout_session_id == session_id, Payment.status == CHARGING)


async def _refuse_while_charging(session: AsyncSession, record: CheckoutSession) -> None:
    """The cart must not change, nor the session close, under a charge whose outcome is not known:
    the order is made from this session if the charge succeeds. The row lock held by the caller
    orders this check with the complete that writes the charging payment under the same lock."""
    if await session.scalar(select(_payment_in_flight(record.id))):
        raise PaymentInFlight(
            f"Checkout session {record.id} is being paid for; its outcome decides. Retry shortly."
        )


async def read(session: AsyncSession, owner: str, session_id: str, *, now: datetime) -> CheckoutSession:
    """The session row, unlocked (expired on read when due)."""
    return await _load(session, owner, session_id, lock=False, now=now)


async def lock(session: AsyncSession, owner: str, session_id: str, *, now: datetime) -> CheckoutSession:
    """The session row, locked for the rest of the transaction (expired on read when due)."""
    return await _load(session, owner, session_id, lock=True, now=now)


async def get(
    session: AsyncSession, owner: str, session_id: str, *, config: MerchantConfig, now: datetime
) -> View:
    record = await _load(session, owner, session_id, lock=False, now=now)
    return View(record, await evaluate_record(session, record, config))


async def update(
    session: AsyncSession,
    owner: str,
    session_id: str,
    changes: Changes,
    *,
    config: MerchantConfig,
    now: datetime,
) -> View:
    record = await _load(session, owner, session_id, lock=True, now=now)
    if record.status != OPEN:
        raise SessionNotOpen(f"Checkout session {session_id} is {record.status}; it cannot change.")
    await _refuse_while_charging(session, record)
    record.updated_at = now
    if not isinstance(changes.items, Unset):
        record.items = _items_json(changes.items)
    if not isinstance(changes.buyer, Unset):
        record.buyer = changes.buyer
    if not isinstance(changes.fulfillment_details, Unset):
        record.fulfillment_details = changes.fulfillment_details
    if not isinstance(changes.selected_option, Unset):
        record.selected_option = changes.selected_option
    if not isinstance(changes.order_notes, Unset):
        record.order_notes = changes.order_notes
    evaluation = await evaluate_record(session, record, config, unpaid=True)
    record.selected_option = evaluation.selected_option
    await session.flush()
    return View(record, evaluation)


async def cancel(
    session: AsyncSession, owner: str, session_id: str, *, config: MerchantConfig, now: datetime
) -> View:
    record = await _load(session, owner, session_id, lock=True, now=now)
    if record.status in (COMPLETED, CANCELED):
        raise SessionClosed(f"Checkout session {session_id} is already {record.status}.")
    await _refuse_while_charging(session, record)
    record.status, record.canceled_at, record.updated_at = CANCELED, now, now
    await session.flush()
    return View(record, await evaluate_record(session, record, config, unpaid=True))


async def expire_due(session: AsyncSession, *, now: datetime) -> int:
    """Mark open sessions past their deadline expired (the periodic job); a session whose
    payment is in flight waits for its outcome (the payment holds its stock until then)."""
    result = await session.execute(
        sql_update(CheckoutSession)
        .where(
            CheckoutSession.status == OPEN,
            CheckoutSession.expires_at <= now,
            ~_payment_in_flight(CheckoutSession.id),
        )
        .values(status=EXPIRED, updated_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# -- the completion lease ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompletionLease:
    """This request's hold on completing one session (see ``CheckoutSession.completion_lease_until``)."""

    session_id: str
    token: str
    status: str  # the session's status when the lease was taken


async def take_completion_lease(
    session: AsyncSession, session_id: str, *, now: datetime, lease: timedelta
) -> CompletionLease | None:
    """Hold the session for one complete, or None while another complete's lease runs.

    The row is locked until the caller's transaction ends; once committed, the lease holds the
    session without a connection until it is released or runs out (its holder died)."""
    token = secrets.token_hex(16)
    free = or_(
        CheckoutSession.completion_lease_until.is_(None), CheckoutSession.completion_lease_until <= now
    )
    status = await session.scalar(
        sql_update(CheckoutSession)
        .where(CheckoutSession.id == session_id, free)
        .values(completion_lease_until=now + lease, completion_lease_token=token)
        .returning(CheckoutSession.status)
        .execution_options(synchronize_session=False)
    )
    return CompletionLease(session_id, token, status) if status is not None else None


async def release_completion_lease(session: AsyncSession, lease: CompletionLease) -> None:
    """End this request's lease (a lease taken over by another request since is left alone)."""
    await session.execute(
        sql_update(CheckoutSession)
        .where(CheckoutSession.id == lease.session_id, CheckoutSession.completion_lease_token == lease.token)
        .values(completion_lease_until=None, completion_lease_token=None)
        .execution_options(synchronize_session=False)
    )
