"""Staff order API under ``/admin/v1``: lists, detail, the review queue and order operations.

Staff keys read (viewer, operator, admin); operators and admins act. Every operation refuses
what the order's state does not allow (409 ``order_state_invalid``), moves money through the
payment operations (idempotent at Stripe) and emits the ``order_update`` event in the
transaction of the change. POSTs take an optional ``Idempotency-Key`` with the ACP semantics.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.db.transaction import checkpoint
from merchant.http.audit import CallerDep
from merchant.http.auth import OperatorPrincipal, StaffPrincipal
from merchant.http.deps import SessionDep
from merchant.http.idempotency import HEADER, IdempotentRoute, OptionalHeldIdempotent
from merchant.kit.clock import utc_now
from merchant.kit.json_guard import INT64_MAX
from merchant.orders import admin, operations, service
from merchant.orders.admin import OrderFilters, OrderSort
from merchant.orders.schemas import (
    FulfillmentEventIn,
    FulfillmentIn,
    NoteIn,
    OrderDetailOut,
    OrderList,
    ReasonIn,
    RefundIn,
)
from merchant.payments.operations import Payments

PREFIX = "/admin/v1"
router = APIRouter(prefix=PREFIX, route_class=IdempotentRoute, tags=["orders"])
Limit = Annotated[int, Query(ge=1, le=100, description="Page size.")]
CSV_PAGE = 1000


async def payments(request: Request) -> Payments:
    return Payments(request.app.state.sessions, request.app.state.payment_gateway)


PaymentsDep = Annotated[Payments, Depends(payments)]


def filters(
    status: str | None = None,
    fraud_decision: Annotated[str | None, Query(pattern="^(approve|review|block)$")] = None,
    score_min: Annotated[int | None, Query(ge=0, le=100)] = None,
    score_max: Annotated[int | None, Query(ge=0, le=100)] = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    total_min: Annotated[int | None, Query(ge=0, le=INT64_MAX)] = None,
    total_max: Annotated[int | None, Query(ge=0, le=INT64_MAX)] = None,
    platform_id: str | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Order number, email or name prefix.")] = None,
) -> OrderFilters:
    return OrderFilters(
        status, fraud_decision, score_min, score_max, created_from, created_to, email, total_min, total_max,
        platform_id, q,
    )  # fmt: skip


FiltersDep = Annotated[OrderFilters, Depends(filters)]


@router.get("/orders", summary="List orders", response_model=OrderList)
async def list_orders(
    _staff: StaffPrincipal,
    session: SessionDep,
    found: FiltersDep,
    sort: OrderSort = OrderSort.newest,
    starting_after: str | None = None,
    limit: Limit = 50,
) -> OrderList:
    return OrderList.of(
        await admin.list_orders(session, found, sort=sort, starting_after=starting_after, limit=limit)
    )


_CSV: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The orders as CSV, a header row first",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/orders.csv",
    summary="Export orders as CSV (streamed, same filters)",
    response_class=StreamingResponse,
    responses=_CSV,
)
async def export_orders(
    _staff: StaffPrincipal, request: Request, found: FiltersDep, sort: OrderSort = OrderSort.newest
) -> StreamingResponse:
    sessions = request.app.state.sessions

    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        cursor: str | None = None
        while True:
            async with sessions() as session:
                page = await admin.export_page(
                    session, found, sort=sort, starting_after=cursor, limit=CSV_PAGE
                )
            for order in page.items:
                writer.writerow(_csv_row(order))
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if not page.has_more:
                return
            cursor = page.next_cursor

    headers = {"Content-Disposition": 'attachment; filename="orders.csv"'}
    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers=headers)


CSV_COLUMNS = (
    "id", "order_number", "created_at", "status", "currency", "total", "amount_refunded", "email",
    "buyer_name", "fraud_decision", "fraud_score", "platform_id",
)  # fmt: skip


# A cell a spreadsheet would read as a formula (OWASP CSV injection): these starts, and their
# full-width forms, which some spreadsheets also take.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def _text(value: str | None) -> str:
    """A cell of text someone else typed: a formula-looking start is made literal with a quote."""
    if not value:
        return ""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _csv_row(order: Any) -> list[Any]:
    return [
        order.id, order.number, order.created_at.isoformat(), order.status, order.currency, order.total,
        order.amount_refunded, _text(order.email), _text(order.buyer_display_name),
        order.fraud_decision or "", "" if order.fraud_score is None else order.fraud_score,
        order.platform_id or "",
    ]  # fmt: skip


@router.get("/orders/{order_id}", summary="An order with payments, fraud, events and timeline")
async def get_order(order_id: str, _staff: StaffPrincipal, session: SessionDep) -> OrderDetailOut:
    return OrderDetailOut.of(await admin.detail(session, order_id))


@router.get("/reviews", summary="Orders waiting for review, oldest first", response_model=OrderList)
async def reviews(
    _staff: StaffPrincipal, session: SessionDep, starting_after: str | None = None, limit: Limit = 50
) -> OrderList:
    return OrderList.of(await admin.review_queue(session, starting_after=starting_after, limit=limit))


async def _detail(session: AsyncSession, order_id: str) -> OrderDetailOut:
    return OrderDetailOut.of(await admin.detail(session, order_id))


@router.post("/orders/{order_id}/approve", summary="Approve an order held for review")
async def approve(
    order_id: str, body: ReasonIn, _who: OperatorPrincipal, by: CallerDep, _claim: OptionalHeldIdempotent,
    deps: PaymentsDep, session: SessionDep,
) -> OrderDetailOut:  # fmt: skip
    await checkpoint(session)  # the operation's own transactions; none held across Stripe
    await operations.approve(deps, order_id, reason=body.reason, now=utc_now(), by=by)
    return await _detail(session, order_id)


@router.post("/orders/{order_id}/reject", summary="Reject an order held for review (authorization released)")
async def reject(
    order_id: str, body: ReasonIn, _who: OperatorPrincipal, by: CallerDep, _claim: OptionalHeldIdempotent,
    deps: PaymentsDep, session: SessionDep,
) -> OrderDetailOut:  # fmt: skip
    await checkpoint(session)  # the operation's own transactions; none held across Stripe
    await operations.reject(deps, order_id, reason=body.reason, now=utc_now(), by=by)
    return await _detail(session, order_id)


@router.post("/orders/{order_id}/cancel", summary="Cancel an order nothing of which has shipped")
async def cancel(
    order_id: str, body: ReasonIn, _who: OperatorPrincipal, by: CallerDep, _claim: OptionalHeldIdempotent,
    deps: PaymentsDep, session: SessionDep,
) -> OrderDetailOut:  # fmt: skip
    await checkpoint(session)  # the operation's own transactions; none held across Stripe
    await operations.cancel(deps, order_id, reason=body.reason, now=utc_now(), by=by)
    return await _detail(session, order_id)


@router.post("/orders/{order_id}/refunds", summary="Refund an amount or lines, optionally restocking")
async def refund(
    order_id: str, body: RefundIn, _who: OperatorPrincipal, by: CallerDep, _claim: OptionalHeldIdempotent,
    request: Request, deps: PaymentsDep, session: SessionDep,
) -> OrderDetailOut:  # fmt: skip
    lines = [(line.id, line.quantity) for line in body.lines or []]
    amount = body.amount
    if amount is None:
        amount = operations.value_of_lines(await service.load(session, order_id), lines)
    key = request.headers.get(HEADER)
    restock = lines if body.restock else []
    await checkpoint(session)  # the operation's own transactions; none held across Stripe
    await operations.refund(
        deps, order_id, amount, reason=body.reason, restock=restock, request_key=key, now=utc_now(), by=by
    )
    return await _detail(session, order_id)


@router.post("/orders/{order_id}/fulfillments", status_code=201, summary="Ship lines (captures the payment)")
async def fulfil(
    order_id: str, body: FulfillmentIn, _who: OperatorPrincipal, by: CallerDep,
    _claim: OptionalHeldIdempotent, deps: PaymentsDep, session: SessionDep,
) -> OrderDetailOut:  # fmt: skip
    shipment = operations.Shipment(
        lines=[(line.id, line.quantity) for line in body.lines] if body.lines else None,
        carrier=body.carrier,
        tracking_number=body.tracking_number,
        tracking_url=body.tracking_url,
    )
    await checkpoint(session)  # the operation's own transactions; none held across Stripe
    await operations.fulfil(deps, order_id, shipment, now=utc_now(), by=by)
    return await _detail(session, order_id)


@router.post("/orders/{order_id}/fulfillments/{fulfillment_id}/events", summary="Add a carrier event")
async def fulfillment_event(
    order_id: str, fulfillment_id: str, body: FulfillmentEventIn, _who: OperatorPrincipal, by: CallerDep,
    _claim: OptionalHeldIdempotent, deps: PaymentsDep, session: SessionDep,
) -> OrderDetailOut:  # fmt: skip
    await checkpoint(session)  # the operation's own transactions; none held across Stripe
    await operations.add_fulfillment_event(
        deps, order_id, fulfillment_id, body.type, description=body.description, location=body.location,
        occurred_at=body.occurred_at, now=utc_now(), by=by,
    )  # fmt: skip
    return await _detail(session, order_id)


@router.post("/orders/{order_id}/notes", status_code=201, summary="Add a staff note")
async def note(
    order_id: str, body: NoteIn, who: OperatorPrincipal, by: CallerDep, _claim: OptionalHeldIdempotent,
    deps: PaymentsDep, session: SessionDep,
) -> OrderDetailOut:  # fmt: skip
    await checkpoint(session)  # the operation's own transactions; none held across Stripe
    await operations.add_note(deps, order_id, body.text, author=who.key_id, now=utc_now(), by=by)
    return await _detail(session, order_id)
