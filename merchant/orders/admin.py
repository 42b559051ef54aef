"""What staff read about orders: filtered keyset lists, the review queue, the full detail with a timeline.

Lists are keyset pages: the cursor carries the sort value and the id of the last row, so a page
costs an index range scan whatever its depth (the orders indexes match the filters). A page is a
deferred join: its ids come first, from the index alone where one covers the filter (the name
search), then only those rows are read. bench/orders_admin.py measures them on 1M orders.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeAlias, TypeVar, TypeVarTuple

from sqlalchemy import ColumnElement, Row, Select, Subquery, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.errors import InvalidRequest
from merchant.fraud import service as fraud
from merchant.fraud.models import FraudAssessment, FraudSignal
from merchant.kit import json_guard
from merchant.orders import service
from merchant.orders.models import Order, OrderNote
from merchant.orders.service import MANUAL_REVIEW, OrderView
from merchant.payments.models import Payment, Refund
from merchant.webhooks.models import OrderEvent, WebhookAttempt


class OrderSort(StrEnum):
    newest = "-created_at"
    oldest = "created_at"
    largest = "-total"
    smallest = "total"


@dataclass(frozen=True, slots=True)
class OrderFilters:
    status: str | None = None
    fraud_decision: str | None = None
    score_min: int | None = None
    score_max: int | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    email: str | None = None
    total_min: int | None = None
    total_max: int | None = None
    platform_id: str | None = None
    q: str | None = None  # an order number, an email, or the start of the buyer's name


T = TypeVar("T", Order, Row[Any])
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    has_more: bool
    next_cursor: str | None


OrderPage: TypeAlias = Page[Order]

# What the CSV export reads: the summary columns only (no JSONB, no ORM objects): 2.5x the rows/s.
EXPORT_COLUMNS = (
    Order.id, Order.number, Order.created_at, Order.status, Order.currency, Order.total,
    Order.amount_refunded, Order.email, Order.buyer_display_name, Order.fraud_decision, Order.fraud_score,
    Order.platform_id,
)  # fmt: skip


def _conditions(filters: OrderFilters) -> list[ColumnElement[bool]]:
    f = filters
    conditions: list[ColumnElement[bool]] = []
    if f.status is not None:
        conditions.append(Order.status == f.status)
    if f.fraud_decision is not None:
        conditions.append(Order.fraud_decision == f.fraud_decision)
    if f.score_min is not None:
        conditions.append(Order.fraud_score >= f.score_min)
    if f.score_max is not None:
        conditions.append(Order.fraud_score <= f.score_max)
    if f.created_from is not None:
        conditions.append(Order.created_at >= f.created_from)
    if f.created_to is not None:
        conditions.append(Order.created_at < f.created_to)
    if f.email is not None:
        conditions.append(Order.email == f.email.strip().lower())
    if f.total_min is not None:
        conditions.append(Order.total >= f.total_min)
    if f.total_max is not None:
        conditions.append(Order.total <= f.total_max)
    if f.platform_id is not None:
        conditions.append(Order.platform_id == f.platform_id)
    if f.q and f.q.strip():
        conditions.append(_search(f.q.strip()))
    return conditions


def _search(q: str) -> ColumnElement[bool]:
    """An order number (exact), an email (exact, any case) or a name prefix (any case)."""
    if q.isdigit() and len(q) < 19:
        return Order.number == int(q)
    if "@" in q:
        return Order.email == q.lower()
    pattern = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return Order.buyer_name.like(pattern)


def _sort_column(sort: OrderSort) -> Any:
    return Order.total if sort in (OrderSort.largest, OrderSort.smallest) else Order.created_at


def encode_cursor(sort: OrderSort, order: Order | Row[Any]) -> str:
    value = order.total if sort in (OrderSort.largest, OrderSort.smallest) else order.created_at.isoformat()
    raw = json.dumps([sort.value, value, order.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bigint(number: int) -> int:
    if not json_guard.INT64_MIN <= number <= json_guard.INT64_MAX:
        raise ValueError("beyond bigint")
    return number


def _decode_cursor(cursor: str, sort: OrderSort) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        kind, value, order_id = json_guard.parse(raw)  # forged: no NUL, no number beyond bigint
        if kind != sort.value or not isinstance(order_id, str):
            raise ValueError("cursor of another sort")
        if sort in (OrderSort.largest, OrderSort.smallest):
            return _bigint(int(value)), order_id
        return datetime.fromisoformat(value), order_id
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidRequest("The cursor is not one this list gave out.", param="$.starting_after") from exc


def _ordering(sort: OrderSort, column: Any, order_id: Any) -> tuple[Any, Any]:
    descending = sort.value.startswith("-")
    return (column.desc(), order_id.desc()) if descending else (column.asc(), order_id.asc())


def _page_keys(filters: OrderFilters, sort: OrderSort, cursor: str | None, limit: int) -> Subquery:
    """The page's (id, sort value) pairs: from the index alone where an index covers the filter."""
    column = _sort_column(sort)
    query = select(Order.id, column.label("sort_value")).where(*_conditions(filters))
    if cursor is not None:
        value, order_id = _decode_cursor(cursor, sort)
        # A row comparison, so the (column, id) index seeks to the cursor (an OR re-scans from the top).
        key, cursor_key = tuple_(column, Order.id), tuple_(value, order_id)
        query = query.where(key < cursor_key if sort.value.startswith("-") else key > cursor_key)
    return query.order_by(*_ordering(sort, column, Order.id)).limit(limit).subquery("page")


def _page_query(
    query: Select[*Ts], filters: OrderFilters, sort: OrderSort, cursor: str | None, limit: int
) -> Select[*Ts]:
    # A deferred join: pick the page's ids first, then read those rows only.
    page = _page_keys(filters, sort, cursor, limit + 1)
    query = query.join(page, Order.id == page.c.id)
    return query.order_by(*_ordering(sort, page.c.sort_value, page.c.id))


def _paged(rows: Sequence[T], sort: OrderSort, limit: int) -> Page[T]:
    items = rows[:limit]
    has_more = len(rows) > limit
    return Page(items, has_more, encode_cursor(sort, items[-1]) if has_more and items else None)


async def list_orders(
    session: AsyncSession,
    filters: OrderFilters,
    *,
    sort: OrderSort = OrderSort.newest,
    starting_after: str | None = None,
    limit: int = 50,
) -> OrderPage:
    query = _page_query(select(Order), filters, sort, starting_after, limit)
    return _paged(list(await session.scalars(query)), sort, limit)


async def export_page(
    session: AsyncSession, filters: OrderFilters, *, sort: OrderSort, starting_after: str | None, limit: int
) -> Page[Row[Any]]:
    """The same page as ``list_orders``, as rows of ``EXPORT_COLUMNS``."""
    query = _page_query(select(*EXPORT_COLUMNS), filters, sort, starting_after, limit)
    return _paged(list(await session.execute(query)), sort, limit)


async def review_queue(session: AsyncSession, *, starting_after: str | None, limit: int) -> OrderPage:
    """Orders waiting for staff (``manual_review``), oldest first."""
    return await list_orders(
        session,
        OrderFilters(status=MANUAL_REVIEW),
        sort=OrderSort.oldest,
        starting_after=starting_after,
        limit=limit,
    )


@dataclass(frozen=True, slots=True)
class OrderDetail:
    view: OrderView
    payments: list[Payment]
    refunds: list[Refund]
    assessment: FraudAssessment | None
    signals: list[FraudSignal]
    events: list[OrderEvent]
    attempts: list[WebhookAttempt]
    notes: list[OrderNote]

    def timeline(self) -> list[dict[str, Any]]:
        """Everything that happened to the order, oldest first."""
        order = self.view.order
        entries: list[dict[str, Any]] = [
            {"at": order.created_at, "kind": "order.created", "detail": order.status}
        ]
        entries += [
            {"at": p.updated_at, "kind": f"payment.{p.status}", "detail": f"{p.amount} {p.currency}"}
            for p in self.payments
        ]
        entries += [
            {"at": r.created_at, "kind": f"refund.{r.status}", "detail": str(r.amount)} for r in self.refunds
        ]
        entries += [
            {"at": a.created_at, "kind": f"adjustment.{a.type}", "detail": a.reason or ""}
            for a in self.view.adjustments
        ]
        entries += [
            {"at": f.created_at, "kind": f"fulfillment.{f.status}", "detail": f.tracking_number or f.type}
            for f in self.view.fulfillments
        ]
        entries += [{"at": e.created_at, "kind": f"event.{e.type}", "detail": e.status} for e in self.events]
        entries += [{"at": n.created_at, "kind": "note", "detail": n.text} for n in self.notes]
        return sorted(entries, key=lambda entry: entry["at"])


async def detail(session: AsyncSession, order_id: str) -> OrderDetail:
    view = await service.load(session, order_id)
    payments = list(
        await session.scalars(
            select(Payment).where(Payment.order_id == order_id).order_by(Payment.created_at)
        )
    )
    refunds = list(
        await session.scalars(
            select(Refund).where(Refund.payment_id.in_([p.id for p in payments])).order_by(Refund.created_at)
        )
    ) if payments else []  # fmt: skip
    found = await fraud.assessment_for_order(session, order_id)
    events = list(
        await session.scalars(
            select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.sequence)
        )
    )
    attempts = list(
        await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.event_id.in_([e.id for e in events]))
            .order_by(WebhookAttempt.started_at)
        )
    ) if events else []  # fmt: skip
    notes = list(
        await session.scalars(
            select(OrderNote).where(OrderNote.order_id == order_id).order_by(OrderNote.created_at)
        )
    )
    return OrderDetail(
        view,
        payments,
        refunds,
        found[0] if found else None,
        list(found[1]) if found else [],
        events,
        attempts,
        notes,
    )
