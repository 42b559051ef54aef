"""ACP checkout-session endpoints (2026-04-17 wire format): thin adapters over ``checkout.service``.

Every route: agent key, ``API-Version``, request signature (per key policy); every POST also
an ``Idempotency-Key`` (``IdempotentRoute``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request

from merchant.checkout import complete as completion
from merchant.checkout import service
from merchant.checkout.wire_2026_04_17 import (
    CancelIn,
    CompleteIn,
    CreateIn,
    UpdateIn,
    render_capabilities,
    render_links,
    render_session,
)
from merchant.http.auth import AgentPrincipal
from merchant.http.deps import SessionDep
from merchant.http.idempotency import Idempotent, IdempotentRoute
from merchant.http.locale import DisplayLocale
from merchant.http.signatures import SignatureVerdict
from merchant.http.versioning import ApiVersion
from merchant.kit.clock import utc_now
from merchant.merchant_config import MerchantConfig
from merchant.orders.pages import public_base
from merchant.orders.wire_2026_04_17 import render_order

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
    config: MerchantConfig
    locale: str
    platform_id: str | None

    def render(self, view: service.View) -> Json:
        links = render_links(self.config.links)
        capabilities = render_capabilities(self.config, view.record.agent_interventions)
        return render_session(view, links=links, now=utc_now(), locale=self.locale, capabilities=capabilities)

    def render_completion(self, done: completion.Completion) -> Json:
        body = self.render(done.view)
        if done.order is not None:
            body["order"] = render_order(done.order)
        return body


async def acp_call(
    _version: ApiVersion,
    principal: AgentPrincipal,
    _signed: SignatureVerdict,
    config: ConfigDep,
    locale: DisplayLocale,
) -> AcpCall:
    return AcpCall(principal.key_id, config, locale, principal.platform_id)


Acp = Annotated[AcpCall, Depends(acp_call)]


@router.post("", status_code=201, summary="Create a checkout session")
async def create_session(body: CreateIn, acp: Acp, _claim: Idempotent, session: SessionDep) -> Json:
    new = body.to_new_session()
    view = await service.create(
        session, acp.owner, new, config=acp.config, now=utc_now(), platform_id=acp.platform_id
    )
    return acp.render(view)


@router.get("/{checkout_session_id}", summary="Get a checkout session")
async def get_session(checkout_session_id: str, acp: Acp, session: SessionDep) -> Json:
    view = await service.get(session, acp.owner, checkout_session_id, config=acp.config, now=utc_now())
    return acp.render(view)


@router.post("/{checkout_session_id}", summary="Update a checkout session")
async def update_session(
    checkout_session_id: str, body: UpdateIn, acp: Acp, _claim: Idempotent, session: SessionDep
) -> Json:
    changes = body.to_changes()
    view = await service.update(
        session, acp.owner, checkout_session_id, changes, config=acp.config, now=utc_now()
    )
    return acp.render(view)


async def completer(request: Request) -> completion.Completer:
    state = request.app.state
    config = state.merchant_config
    return completion.Completer(state.sessions, state.payment_gateway, config, public_base(config, request))


@router.post("/{checkout_session_id}/complete", summary="Complete a checkout session (pay, create the order)")
async def complete_session(
    checkout_session_id: str,
    body: CompleteIn,
    acp: Acp,
    _claim: Idempotent,
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
        completer, session, acp.owner, checkout_session_id, body.to_request(forwarded), now=utc_now()
    )
    return acp.render_completion(done)


@router.post("/{checkout_session_id}/cancel", summary="Cancel a checkout session")
async def cancel_session(
    checkout_session_id: str,
    acp: Acp,
    _claim: Idempotent,
    session: SessionDep,
    _body: Annotated[CancelIn | None, Body()] = None,
) -> Json:
    view = await service.cancel(session, acp.owner, checkout_session_id, config=acp.config, now=utc_now())
    return acp.render(view)
