"""Complete a checkout session: charge the delegated credential once, create exactly one order.

Recovery points (shared/docs/payments-stripe.md §5.4), so that retries, races and crashes can
never charge twice or leave a charge without its order. The request's own session is used for
every step, committed before each PSP call (``checkpoint``): a complete never holds a database
connection while the PSP answers, and never needs two at once.

1. ``claim``: take the session's completion lease (one complete at a time; a concurrent one,
   whatever its Idempotency-Key, gets 409) and note whether a payment is already live; committed,
   with the Idempotency-Key's pending claim. The token is then inspected at the PSP.
2. ``prepare``: lock the session, check it can be paid, assess fraud, hold the stock, write the
   payment attempt (``charging``) whose id is the PSP idempotency key; committed.
3. ``charge``: call the PSP with that key. An unknown outcome (timeout, 5xx, connection lost)
   leaves the attempt ``charging``: the answer is 503 and the next retry resumes the same
   attempt with the same key, so the PSP replays its first answer.
4. ``finish`` (the request's last transaction, which also saves the idempotency record and ends
   the lease): record the answer; on success create the order, hand the held stock to it and
   close the session; on a decline release the stock and keep the session payable.

A lease left by a dead process runs out (``Completer.lease``) and the next complete takes it
over; a takeover while the first request still runs is safe too: it resumes the same attempt
with the same PSP key, and ``finish`` under the row locks records one outcome and one order. A
partial unique index (one live payment per session) is the last line of defence. Crash tests
kill a real server by SIGKILL around the PSP call (``crash_point``, merchant.kit.faults).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from merchant.checkout import service as sessions_service
from merchant.checkout.errors import SessionNotOpen
from merchant.checkout.evaluate import Evaluation, Message, MessageType, Status
from merchant.checkout.models import CheckoutSession
from merchant.checkout.service import COMPLETED, OPEN, View
from merchant.db.transaction import checkpoint, transaction
from merchant.errors import Conflict, InvalidRequest, ServiceUnavailable
from merchant.fraud import rules as fraud_rules
from merchant.fraud import service as fraud
from merchant.inventory import service as inventory
from merchant.kit.admission import waiting_elsewhere
from merchant.kit.faults import crash_point
from merchant.merchant_config import MerchantConfig
from merchant.orders import service as orders
from merchant.orders.service import OrderView
from merchant.payments import service as payments
from merchant.payments.declines import buyer_notice
from merchant.payments.gateway import (
    CaptureMethod,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    Decline,
    GatewayError,
    GatewayUnavailable,
    PaymentGateway,
    TokenInfo,
)
from merchant.payments.models import Payment
from merchant.webhooks import service as webhooks

PAYMENT_PARAM = "$.payment_data"
# Ask for the token a little before it really expires: the charge must reach the PSP in time.
TOKEN_EXPIRY_MARGIN_SECONDS = 30


class CompletionInFlight(Conflict):
    """Another complete of this session is running (409, never saved for the key)."""

    code = "checkout_session_in_progress"
    retry_after = 2


class SessionNotReady(InvalidRequest):
    code = "checkout_session_not_ready"


class PaymentUnavailable(ServiceUnavailable):
    code = "payment_provider_unavailable"


@dataclass(frozen=True, slots=True)
class PaymentInput:
    handler_id: str | None
    instrument_type: str | None
    credential_type: str | None
    token: str | None
    billing_address: Mapping[str, Any] | None = None
    purchase_order_number: str | None = None


@dataclass(frozen=True, slots=True)
class RiskInput:
    ip_address: str | None = None
    user_agent: str | None = None
    accept_language: str | None = None
    session_id: str | None = None
    device_fingerprint: str | None = None
    forwarded: str | None = None  # the Forwarded / X-Forwarded-For header of the agent's request


AuthenticationOutcome = Literal[
    "abandoned",
    "attempt_acknowledged",
    "authenticated",
    "canceled",
    "denied",
    "informational",
    "internal_error",
    "not_supported",
    "processing_error",
    "rejected",
]
# 3-D Secure outcomes after which a charge may go ahead (the issuer authenticated the buyer, or
# acknowledged the attempt / took note). Any other outcome the agent reports is refused before
# the payment provider is called: the agent itself says the check did not pass.
AUTHENTICATED_OUTCOMES: frozenset[str] = frozenset({"authenticated", "attempt_acknowledged", "informational"})
_ISSUER_REFUSED = frozenset({"denied", "rejected"})  # the issuer said no: another card is needed
AUTHENTICATION_PARAM = "$.authentication_result.outcome"


@dataclass(frozen=True, slots=True)
class CompleteRequest:
    payment: PaymentInput
    buyer: dict[str, Any] | None = None  # replaces the stored buyer when given
    order_notes: str | None = None
    risk: RiskInput = RiskInput()
    authentication_outcome: AuthenticationOutcome | None = None  # the agent's 3-D Secure result


def check_authentication(outcome: AuthenticationOutcome | None) -> None:
    """Refuse a complete whose 3-D Secure result says the buyer was not authenticated (no charge).

    ``denied`` / ``rejected``: the issuer refused, ``payment_declined``. Abandoned, canceled,
    failed or unsupported authentication: ``requires_3ds`` (authenticate again, or pay otherwise).
    No result at all is not refused: we do not ask for 3-D Secure (``supports_3ds`` false).
    """
    if outcome is None or outcome in AUTHENTICATED_OUTCOMES:
        return
    if outcome in _ISSUER_REFUSED:
        text = (
            f"The card issuer refused to authenticate the buyer (3-D Secure {outcome}); nothing was charged."
        )
        raise InvalidRequest(
            f"{text} Use another payment method.", code="payment_declined", param=AUTHENTICATION_PARAM
        )
    text = f"3-D Secure authentication did not succeed ({outcome}); nothing was charged."
    raise InvalidRequest(
        f"{text} Authenticate the payment again or use another payment method.",
        code="requires_3ds",
        param=AUTHENTICATION_PARAM,
    )


@dataclass(frozen=True, slots=True)
class Completion:
    view: View
    order: OrderView | None


@dataclass(frozen=True, slots=True)
class Completer:
    """What completing needs besides the request's own transaction."""

    sessions: async_sessionmaker[AsyncSession]
    gateway: PaymentGateway
    config: MerchantConfig
    public_base: str  # where the order-status pages are served (the permalink_url)
    lease: timedelta = timedelta(seconds=30)  # MERCHANT_COMPLETE_LEASE_SECONDS


@dataclass(frozen=True, slots=True)
class _Charge:
    payment_id: str
    request: ChargeRequest
    review: bool
    assessment_id: str | None


@dataclass(frozen=True, slots=True)
class _Refused:
    message: Message


async def complete(
    completer: Completer,
    session: AsyncSession,
    owner: str,
    session_id: str,
    request: CompleteRequest,
    *,
    now: datetime,
) -> Completion:
    """The completed session and its order, or the still-open session with why it was not paid."""
    record = await sessions_service.read(session, owner, session_id, now=now)  # no row lock here
    if record.status == COMPLETED:  # a retry with another key, or after a lost response
        return await _completed(completer, session, record)
    if record.status != OPEN:
        raise SessionNotOpen(f"Checkout session {session_id} is {record.status}.")
    lease = await _take_lease(completer, session, session_id, now=now)
    if lease.status == COMPLETED:  # another complete finished while we waited for the row
        await sessions_service.release_completion_lease(session, lease)
        record = await sessions_service.lock(session, owner, session_id, now=now)
        return await _completed(completer, session, record)
    if lease.status != OPEN:
        raise SessionNotOpen(f"Checkout session {session_id} is {lease.status}.")
    resuming = await payments.live_payment(session, session_id) is not None
    async with _under_lease(session, lease):  # the lease (and the key's claim) are committed
        return await _complete_held(completer, session, owner, request, lease, resuming, now=now)


async def _complete_held(
    completer: Completer,
    session: AsyncSession,
    owner: str,
    request: CompleteRequest,
    lease: sessions_service.CompletionLease,
    resuming: bool,
    *,
    now: datetime,
) -> Completion:
    """Steps 2 to 4, under the lease; the caller ends it if this raises."""
    token_info = None
    if not resuming and request.payment.token:
        token_info = await _inspect(completer.gateway, request.payment.token)
    step = await _prepare(completer, session, owner, lease.session_id, request, token_info, now=now)
    if isinstance(step, Completion):
        done = step
    elif isinstance(step, _Refused):
        done = await _refused(completer, session, owner, lease.session_id, step.message, now=now)
    else:
        await checkpoint(session)  # the attempt is committed before the PSP sees its key
        crash_point("before_charge")
        result = await _charge(completer.gateway, step.request)
        crash_point("after_charge")  # the PSP answered; nothing of it is recorded yet
        done = await _finish(completer, session, owner, step, result, now=now)
    await sessions_service.release_completion_lease(session, lease)
    return done


async def _take_lease(
    completer: Completer, session: AsyncSession, session_id: str, *, now: datetime
) -> sessions_service.CompletionLease:
    lease = await sessions_service.take_completion_lease(session, session_id, now=now, lease=completer.lease)
    if lease is None:
        raise CompletionInFlight(f"Checkout session {session_id} is being completed by another request.")
    return lease


@asynccontextmanager
async def _under_lease(session: AsyncSession, lease: sessions_service.CompletionLease) -> AsyncIterator[None]:
    """Commit the lease just taken; a block that then fails ends it."""
    await checkpoint(session)
    try:
        yield
    except BaseException:
        await _drop_lease(session, lease)
        raise


async def _drop_lease(session: AsyncSession, lease: sessions_service.CompletionLease) -> None:
    """A complete that failed after its lease was committed ends it, so a retry need not wait."""
    await session.rollback()
    await sessions_service.release_completion_lease(session, lease)
    await checkpoint(session)


async def _inspect(gateway: PaymentGateway, token: str) -> TokenInfo | None:
    try:
        async with waiting_elsewhere():
            return await gateway.inspect_token(token)
    except GatewayUnavailable as exc:
        raise PaymentUnavailable("The payment provider is not reachable; retry shortly.") from exc
    except GatewayError as exc:
        raise PaymentUnavailable("The payment provider refused our request; retry later.") from exc


async def _charge(gateway: PaymentGateway, request: ChargeRequest) -> ChargeResult:
    try:
        async with waiting_elsewhere():
            return await gateway.charge(request)
    except GatewayUnavailable as exc:  # unknown outcome: the attempt stays "charging" for the retry
        raise PaymentUnavailable("The payment provider did not answer; retry with the same request.") from exc
    except GatewayError as exc:
        raise PaymentUnavailable("The payment provider refused our request; retry later.") from exc


# -- step 1: prepare -------------------------------------------------------------------------------


async def _prepare(
    completer: Completer,
    session: AsyncSession,
    owner: str,
    session_id: str,
    request: CompleteRequest,
    token_info: TokenInfo | None,
    *,
    now: datetime,
) -> _Charge | _Refused | Completion:
    record = await sessions_service.lock(session, owner, session_id, now=now)
    if record.status == COMPLETED:  # by a complete that took over a lease we outlived
        return await _completed(completer, session, record)
    if record.status != OPEN:
        raise SessionNotOpen(f"Checkout session {session_id} is {record.status}.")
    resumed = await payments.live_payment(session, session_id, lock=True)
    if resumed is not None:
        return _resume(resumed, record)
    _apply(record, request, now=now)
    # No live payment (checked above under the row lock): priced from the live catalog.
    evaluation = await sessions_service.evaluate_record(session, record, completer.config, unpaid=True)
    _check_ready(evaluation, session_id)
    handler = _check_payment(completer.config, request.payment)
    check_authentication(request.authentication_outcome)  # before anything is held or charged
    refusal = _token_refusal(token_info, evaluation, record.currency, now=now)
    if refusal is not None:
        return _Refused(refusal)
    assessment = await fraud.assess_checkout(
        session,
        _fraud_inputs(record, evaluation, request.risk, token_info),
        completer.config.fraud,
        now=now,
    )
    if assessment.outcome.decision is fraud_rules.Decision.block:
        return _Refused(_payment_message(Decline("blocked")))
    try:
        await inventory.hold(session, session_id, _cart(evaluation), now=now)
    except inventory.OutOfStock:
        return _Refused(_stock_message())
    review = assessment.outcome.decision is fraud_rules.Decision.review
    capture = _capture_method(completer.config, evaluation, review=review)
    token = request.payment.token or ""
    payment = await payments.start(
        session,
        checkout_session_id=session_id,
        handler_id=handler,
        credential_type=request.payment.credential_type or "",
        token=token,
        amount=evaluation.totals.total,
        currency=record.currency,
        capture_method=capture,
        token_info=token_info,
        unit_prices={line.item.variant_id: line.item.unit_amount for line in evaluation.lines},
        now=now,
    )
    charge = _charge_request(payment, record)
    return _Charge(payment.id, charge, review, assessment.id)


def _resume(payment: Payment, record: CheckoutSession) -> _Charge:
    """A previous attempt never learned its outcome: ask again with the same key."""
    return _Charge(payment.id, _charge_request(payment, record), review=False, assessment_id=None)


def _charge_request(payment: Payment, record: CheckoutSession) -> ChargeRequest:
    buyer = record.buyer or {}
    return ChargeRequest(
        attempt_id=payment.id,
        checkout_session_id=record.id,
        token=payment.token,
        amount=payment.amount,
        currency=payment.currency,
        capture_method="manual" if payment.capture_method == "manual" else "automatic",
        idempotency_key=payment.idempotency_key,
        email=buyer.get("email"),
        description=f"Checkout {record.id}",
        shipping=_shipping(record),
    )


def _shipping(record: CheckoutSession) -> dict[str, Any] | None:
    address = (record.fulfillment_details or {}).get("address")
    if not address:
        return None
    return {
        "name": address.get("name") or "",
        "address": {
            "line1": address.get("line_one"),
            "line2": address.get("line_two"),
            "city": address.get("city"),
            "state": address.get("state"),
            "postal_code": address.get("postal_code"),
            "country": address.get("country"),
        },
    }


def _apply(record: CheckoutSession, request: CompleteRequest, *, now: datetime) -> None:
    if request.buyer is not None:
        record.buyer = request.buyer
    if request.order_notes is not None:
        record.order_notes = request.order_notes
    record.updated_at = now


def _check_ready(evaluation: Evaluation, session_id: str) -> None:
    if evaluation.status is Status.ready_for_payment:
        return
    blocking = next((m for m in evaluation.messages if m.blocking), None)
    reason = f": {blocking.text}" if blocking else "."
    raise SessionNotReady(
        f"Checkout session {session_id} is not ready for payment{reason}",
        param=blocking.param if blocking else None,
    )


def _check_payment(config: MerchantConfig, payment: PaymentInput) -> str:
    """The handler the agent pays with must be one we offered, with a credential to charge."""
    handler = config.payments.card
    if payment.handler_id is None:
        raise InvalidRequest(
            "Purchase orders are not accepted; pay with the card handler.",
            code="unsupported_payment_method",
            param=f"{PAYMENT_PARAM}.handler_id",
        )
    if payment.handler_id != handler.id:
        raise InvalidRequest(
            f"Unknown payment handler {payment.handler_id!r}; this session offers {handler.id!r}.",
            code="invalid_payment_handler",
            param=f"{PAYMENT_PARAM}.handler_id",
        )
    if not payment.token or not payment.token.strip():
        raise InvalidRequest(
            "The payment credential has no token.",
            code="missing_required_field",
            param=f"{PAYMENT_PARAM}.instrument.credential.token",
        )
    return handler.id


def _token_refusal(
    info: TokenInfo | None, evaluation: Evaluation, currency: str, *, now: datetime
) -> Message | None:
    """Refuse before charging what the PSP would refuse anyway (payments-stripe.md §1.4)."""
    if info is None:
        return None
    total = evaluation.totals.total
    expired = (
        info.expires_at is not None and (info.expires_at - now).total_seconds() < TOKEN_EXPIRY_MARGIN_SECONDS
    )
    unusable = (
        not info.usable
        or expired
        or (info.currency is not None and info.currency != currency.lower())
        or (info.max_amount is not None and info.max_amount < total)
    )
    return _payment_message(Decline("credential_unusable")) if unusable else None


def _fraud_inputs(
    record: CheckoutSession, evaluation: Evaluation, risk: RiskInput, token: TokenInfo | None
) -> fraud_rules.FraudInputs:
    address = (record.fulfillment_details or {}).get("address") or {}
    card = dict(token.card) if token else {}
    return fraud_rules.FraudInputs(
        checkout_session_id=record.id,
        email=(record.buyer or {}).get("email"),
        ip_address=risk.ip_address,
        user_agent=risk.user_agent,
        device_fingerprint=risk.device_fingerprint,
        buyer_session_id=risk.session_id,
        forwarded=risk.forwarded,
        card_fingerprint=card.get("fingerprint"),
        card_country=card.get("country"),
        billing_country=None,
        shipping_country=address.get("country"),
        amount=evaluation.totals.total,
        currency=record.currency,
        token_risk=token.risk if token else None,
    )


def _cart(evaluation: Evaluation) -> list[tuple[str, int]]:
    return [(line.item.variant_id, line.priced.quantity) for line in evaluation.lines]


def _capture_method(config: MerchantConfig, evaluation: Evaluation, *, review: bool) -> CaptureMethod:
    """Manual (capture at fulfilment) for physical goods and for orders staff must review."""
    mode = config.payments.capture
    if review or mode == "manual":
        return "manual"
    if mode == "automatic":
        return "automatic"
    physical = any(not line.item.is_digital for line in evaluation.lines)
    return "manual" if physical else "automatic"


def _payment_message(decline: Decline | None) -> Message:
    notice = buyer_notice(decline)
    param = "$.authentication_result" if notice.code == "requires_3ds" else PAYMENT_PARAM
    return Message(MessageType.error, notice.code, param, notice.text)


def _stock_message() -> Message:
    text = "Some items sold out while paying; the cart shows what is left."
    return Message(MessageType.error, "out_of_stock", "$.line_items", text)


# -- step 3: finish --------------------------------------------------------------------------------


async def _finish(
    completer: Completer,
    session: AsyncSession,
    owner: str,
    step: _Charge,
    result: ChargeResult,
    *,
    now: datetime,
) -> Completion:
    record = await sessions_service.lock(session, owner, step.request.checkout_session_id, now=now)
    if record.status == COMPLETED:  # a complete that took over our lease recorded this charge
        return await _completed(completer, session, record)
    payment = await payments.lock(session, step.payment_id)
    payments.record_charge(payment, result, now=now)
    if result.status not in (ChargeStatus.authorized, ChargeStatus.captured):
        await inventory.release(session, checkout_session_id=record.id, now=now)
        view = await _view(completer, session, record)
        return Completion(_with_message(view, _payment_message(result.decline)), None)
    assessment_id = step.assessment_id or await fraud.assessment_id_for_session(session, record.id)
    assessment = None
    if assessment_id is not None:
        assessment = await fraud.record_payment_outcome(
            session, assessment_id, result.outcome, dict(result.card), completer.config.fraud, now=now
        )
    review = step.review or (
        assessment is not None and assessment.outcome.decision is not fraud_rules.Decision.approve
    )
    evaluation = await sessions_service.evaluate_record(session, record, completer.config)
    order = await orders.create_from_checkout(
        session,
        record,
        evaluation,
        payment_id=payment.id,
        capture_method=payment.capture_method,
        review=review,
        fraud=(assessment.outcome.decision.value, assessment.outcome.score) if assessment else None,
        public_base=completer.public_base,
        now=now,
    )
    payment.order_id = order.order.id
    await inventory.attach_order(session, record.id, order.order.id, now=now)
    if result.status is ChargeStatus.captured:
        await inventory.commit(session, order.order.id, now=now)
    if assessment is not None:
        await fraud.attach_order(session, assessment.id, order.order.id)
    record.status, record.updated_at = COMPLETED, now
    await session.flush()
    await webhooks.emit(session, order, webhooks.ORDER_CREATE, now=now)
    return Completion(View(record, evaluation), order)


async def order_of(session: AsyncSession, record: CheckoutSession) -> OrderView | None:
    """The order a completed session created (a GET of the session shows it, as complete did)."""
    if record.status != COMPLETED:
        return None
    order_id = await orders.order_id_for_session(session, record.id)
    return await orders.load(session, order_id) if order_id else None


async def _completed(completer: Completer, session: AsyncSession, record: CheckoutSession) -> Completion:
    return Completion(await _view(completer, session, record), await order_of(session, record))


async def _refused(
    completer: Completer,
    session: AsyncSession,
    owner: str,
    session_id: str,
    message: Message,
    *,
    now: datetime,
) -> Completion:
    record = await sessions_service.lock(session, owner, session_id, now=now)
    view = await _view(completer, session, record)
    return Completion(_with_message(view, message), None)


async def _view(completer: Completer, session: AsyncSession, record: CheckoutSession) -> View:
    return View(record, await sessions_service.evaluate_record(session, record, completer.config))


def _with_message(view: View, message: Message) -> View:
    evaluation = dataclasses.replace(view.evaluation, messages=(*view.evaluation.messages, message))
    return View(view.record, evaluation)


# -- recovery of abandoned payments ---------------------------------------------------------------------

STALLED_AFTER = timedelta(minutes=10)  # longer than any request, and than Stripe search's lag


async def stalled_payments(session: AsyncSession, *, now: datetime) -> list[str]:
    """Payments left ``charging`` by a request that never came back (crash, agent gave up)."""
    stalled = (Payment.status == payments.CHARGING) & (Payment.updated_at < now - STALLED_AFTER)
    rows = await session.scalars(select(Payment.id).where(stalled).order_by(Payment.updated_at))
    return list(rows)


async def reconcile(completer: Completer, payment_id: str, *, now: datetime) -> str:
    """Settle one stalled payment from what Stripe knows: finish the order, or give the stock back.

    A retried complete does the same thing; this covers agents that never retry, so no charge is
    left without its order. Like a complete, it holds the session's lease (not a connection)
    while Stripe is asked.
    """
    async with transaction(completer.sessions) as session:
        payment = await payments.lock(session, payment_id)
        if payment.status != payments.CHARGING:
            return "already settled"
        lease = await sessions_service.take_completion_lease(
            session, payment.checkout_session_id, now=now, lease=completer.lease
        )
        if lease is None:
            return "a complete is running"
        record = await session.get(CheckoutSession, payment.checkout_session_id)
        assert record is not None
        async with _under_lease(session, lease):
            return await _settle(completer, session, payment, record, lease, now=now)


async def _settle(
    completer: Completer,
    session: AsyncSession,
    payment: Payment,
    record: CheckoutSession,
    lease: sessions_service.CompletionLease,
    *,
    now: datetime,
) -> str:
    try:
        result = await completer.gateway.find_charge(payment.id)
    except (GatewayUnavailable, GatewayError):
        await _drop_lease(session, lease)
        return "payment provider unavailable"
    if result is None:  # the charge never reached Stripe: nothing to finish
        result = ChargeResult(ChargeStatus.canceled, decline=Decline("abandoned"))
    done = await _finish(completer, session, record.owner, _resume(payment, record), result, now=now)
    await sessions_service.release_completion_lease(session, lease)
    return "order created" if done.order is not None else f"payment {result.status.value}"
