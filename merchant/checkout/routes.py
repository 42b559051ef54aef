"""ACP checkout-session endpoints: thin adapters over ``checkout.service``, in the wire format of
the request's ``API-Version`` (``checkout.wire``; bodies are documented in 2026-04-17's).

Every route: agent key, ``API-Version``, request signature (per key policy); every POST also
an ``Idempotency-Key`` (``IdempotentRoute``; optional before 2026-04-17).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.audit import service as audit
from merchant.audit.service import PREVIOUS_AFTER, AuditContext, Previous
from merchant.checkout import complete as completion
from merchant.checkout import service
from merchant.checkout.wire import CompleteBody, CreateBody, UpdateBody, Wire, wire_for
from merchant.checkout.wire_2026_04_17 import CancelIn, render_links
from merchant.http.audit import AuditCtx
from merchant.http.auth import AgentPrincipal
from merchant.http.deps import SessionDep
from merchant.http.idempotency import AcpHeldIdempotent, AcpIdempotent, IdempotentRoute
from merchant.http.locale import DisplayLocale
from merchant.http.schemas import Error
from merchant.http.signatures import SignatureVerdict
from merchant.http.versioning import ApiVersion
from merchant.identity.service import Principal
from merchant.kit.clock import utc_now
from merchant.merchant_config import MerchantConfig, public_base
from merchant.orders.service import OrderView

router = APIRouter(prefix="/checkout_sessions", route_class=IdempotentRoute, tags=["checkout"])
Json = dict[str, Any]


async def merchant_config(request: Request) -> MerchantConfig:  # async: no thread-pool hop
    config: MerchantConfig = request.app.state.merchant_config
    return config


ConfigDep = Annotated[MerchantConfig, Depends(merchant_config)]


@dataclass(frozen=True, slots=True)
class AcpCall:
    """What every checkout route needs once the protocol edge has passed (order matters:
    version, key, signature; the idempotency claim comes after, in the POST routes)."""

    owner: str
    wire: Wire
    config: MerchantConfig
    locale: str
    platform_id: str | None
    actor: Principal
    audit_context: AuditContext

    def render(self, view: service.View) -> Json:
        links = render_links(self.config.links)
        capabilities = self.wire.render_capabilities(self.config, view.record.agent_interventions)
        return self.wire.render_session(
            view, links=links, now=utc_now(), locale=self.locale, capabilities=capabilities
        )

    def render_completion(self, done: completion.Completion) -> Json:
        body = self.render(done.view)
        if done.order is not None:
            body["order"] = self.wire.render_order(done.order)
        return body

    async def audit(
        self,
        session: AsyncSession,
        action: str,
        view: service.View,
        *,
        order: OrderView | None = None,
        before: Previous | None = None,
        status_code: int = 200,
    ) -> None:
        """One ``checkout.<action>`` audit row, in the request's transaction: a call that fails
        rolls it back with its change. A replay is served from the idempotency record without
        running the handler, so it is not recorded again. ``before=PREVIOUS_AFTER``: the state
        the session's previous row left (changes lock the session, so rows follow one another)."""
        after = {
            "status": view.status.value,
            "total": view.evaluation.totals.total,
            "currency": view.record.currency,
        }
        if order is not None:
            after["order_id"] = order.order.id
        await audit.record(
            session, actor=self.actor, action=f"checkout.{action}", target_type="checkout_session",
            target_id=view.record.id, context=self.audit_context, before=before, after=after,
            status_code=status_code, now=utc_now(),
        )  # fmt: skip


async def acp_call(
    version: ApiVersion,
    principal: AgentPrincipal,
    _signed: SignatureVerdict,
    config: ConfigDep,
    locale: DisplayLocale,
    audit_context: AuditCtx,  # after the signature check: it carries the verdict
) -> AcpCall:
    return AcpCall(
        principal.key_id, wire_for(version), config, locale, principal.platform_id, principal, audit_context
    )


Acp = Annotated[AcpCall, Depends(acp_call)]


@router.post("", status_code=201, summary="Create a checkout session")
async def create_session(body: CreateBody, acp: Acp, _claim: AcpIdempotent, session: SessionDep) -> Json:
    new = acp.wire.new_session(body, acp.config)
    view = await service.create(
        session, acp.owner, new, config=acp.config, now=utc_now(), platform_id=acp.platform_id
    )
    await acp.audit(session, "create", view, status_code=201)
    return acp.render(view)


@router.get("/{checkout_session_id}", summary="Get a checkout session")
async def get_session(checkout_session_id: str, acp: Acp, session: SessionDep) -> Json:
    view = await service.get(session, acp.owner, checkout_session_id, config=acp.config, now=utc_now())
    await acp.audit(session, "get", view)
    return acp.render_completion(completion.Completion(view, await completion.order_of(session, view.record)))


@router.post("/{checkout_session_id}", summary="Update a checkout session")
async def update_session(
    checkout_session_id: str, body: UpdateBody, acp: Acp, _claim: AcpIdempotent, session: SessionDep
) -> Json:
    changes = acp.wire.changes(body)
    view = await service.update(
        session, acp.owner, checkout_session_id, changes, config=acp.config, now=utc_now()
    )
    await acp.audit(session, "update", view, before=PREVIOUS_AFTER)
    return acp.render(view)


async def completer(request: Request) -> completion.Completer:
    state = request.app.state
    config = state.merchant_config
    lease = timedelta(seconds=state.settings.complete_lease_seconds)
    return completion.Completer(
        state.sessions, state.payment_gateway, config, public_base(state.settings, config), lease
    )


@router.post("/{checkout_session_id}/complete", summary="Complete a checkout session (pay, create the order)")
async def complete_session(
    checkout_session_id: str,
    body: CompleteBody,
    acp: Acp,
    _claim: AcpHeldIdempotent,
    session: SessionDep,
    request: Request,
    completer: Annotated[completion.Completer, Depends(completer)],
) -> Json:
    """Charge the delegated payment credential once and create the order.

    200 with ``status: completed`` and ``order`` when paid; 200 with the session still payable
    and a ``payment_declined`` / ``requires_3ds`` message when the payment did not go through;
    409 ``checkout_session_in_progress`` while another complete of the session runs; 503 when
    the payment provider cannot be reached (retry the same request: it never charges twice).
    """
    forwarded = request.headers.get("forwarded") or request.headers.get("x-forwarded-for")
    done = await completion.complete(
        completer,
        session,
        acp.owner,
        checkout_session_id,
        acp.wire.complete_request(body, forwarded, acp.config),
        now=utc_now(),
    )
    await acp.audit(session, "complete", done.view, order=done.order, before=PREVIOUS_AFTER)
    return acp.render_completion(done)


_CLOSED = {
    "model": Error,
    "description": "Already completed or canceled (`checkout_session_closed`)",
    "headers": {
        "Allow": {"description": "Empty: the session takes no method any more", "schema": {"type": "string"}}
    },
}


@router.post("/{checkout_session_id}/cancel", summary="Cancel a checkout session", responses={405: _CLOSED})
async def cancel_session(
    checkout_session_id: str,
    acp: Acp,
    _claim: AcpIdempotent,
    session: SessionDep,
    _body: Annotated[CancelIn | None, Body()] = None,
) -> Json:
    view = await service.cancel(session, acp.owner, checkout_session_id, config=acp.config, now=utc_now())
    await acp.audit(session, "cancel", view, before=PREVIOUS_AFTER)
    return acp.render(view)
