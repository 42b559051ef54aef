"""ACP checkout-session endpoints (2026-04-17 wire format): thin adapters over ``checkout.service``.

Every route: agent key, ``API-Version``, request signature (per key policy); every POST also
an ``Idempotency-Key`` (``IdempotentRoute``). Complete arrives with payments.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request

from merchant.checkout import service
from merchant.checkout.config import CheckoutConfig
from merchant.checkout.wire_2026_04_17 import CancelIn, CreateIn, UpdateIn, render_links, render_session
from merchant.http.auth import AgentPrincipal
from merchant.http.deps import SessionDep
from merchant.http.idempotency import Idempotent, IdempotentRoute
from merchant.http.locale import DisplayLocale
from merchant.http.signatures import SignatureVerdict
from merchant.http.versioning import ApiVersion
from merchant.kit.clock import utc_now

router = APIRouter(prefix="/checkout_sessions", route_class=IdempotentRoute, tags=["checkout"])
Json = dict[str, Any]


def checkout_config(request: Request) -> CheckoutConfig:
    config: CheckoutConfig = request.app.state.checkout_config
    return config


ConfigDep = Annotated[CheckoutConfig, Depends(checkout_config)]


def _render(view: service.View, config: CheckoutConfig, locale: str) -> Json:
    return render_session(view, links=render_links(config.links), now=utc_now(), locale=locale)


@router.post("", status_code=201, summary="Create a checkout session")
async def create_session(
    body: CreateIn,
    _version: ApiVersion,
    principal: AgentPrincipal,
    _signed: SignatureVerdict,
    _claim: Idempotent,
    session: SessionDep,
    config: ConfigDep,
    locale: DisplayLocale,
) -> Json:
    view = await service.create(
        session, principal.key_id, body.to_new_session(), config=config, now=utc_now()
    )
    return _render(view, config, locale)


@router.get("/{checkout_session_id}", summary="Get a checkout session")
async def get_session(
    checkout_session_id: str,
    _version: ApiVersion,
    principal: AgentPrincipal,
    _signed: SignatureVerdict,
    session: SessionDep,
    config: ConfigDep,
    locale: DisplayLocale,
) -> Json:
    view = await service.get(session, principal.key_id, checkout_session_id, config=config, now=utc_now())
    return _render(view, config, locale)


@router.post("/{checkout_session_id}", summary="Update a checkout session")
async def update_session(
    checkout_session_id: str,
    body: UpdateIn,
    _version: ApiVersion,
    principal: AgentPrincipal,
    _signed: SignatureVerdict,
    _claim: Idempotent,
    session: SessionDep,
    config: ConfigDep,
    locale: DisplayLocale,
) -> Json:
    view = await service.update(
        session, principal.key_id, checkout_session_id, body.to_changes(), config=config, now=utc_now()
    )
    return _render(view, config, locale)


@router.post("/{checkout_session_id}/cancel", summary="Cancel a checkout session")
async def cancel_session(
    checkout_session_id: str,
    _version: ApiVersion,
    principal: AgentPrincipal,
    _signed: SignatureVerdict,
    _claim: Idempotent,
    session: SessionDep,
    config: ConfigDep,
    locale: DisplayLocale,
    _body: Annotated[CancelIn | None, Body()] = None,
) -> Json:
    view = await service.cancel(session, principal.key_id, checkout_session_id, config=config, now=utc_now())
    return _render(view, config, locale)
