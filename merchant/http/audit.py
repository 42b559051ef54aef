"""The audit context of a request: ``AuditCtx`` for routes that record to the audit trail.

Declare it after the signature check (``SignatureVerdict``) where there is one: the verdict is
read from ``request.state``, where ``merchant.http.signatures`` leaves it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from merchant.audit.service import AuditContext, Caller
from merchant.http.auth import AnyPrincipal
from merchant.http.idempotency import HEADER
from merchant.idempotency.service import MAX_KEY_LENGTH


async def audit_context(request: Request) -> AuditContext:  # async: no thread-pool hop
    state = request.state
    verdict = getattr(state, "signature_verdict", None)
    key = request.headers.get(HEADER)
    return AuditContext(
        request_id=getattr(state, "request_id", None),  # set by RequestContextMiddleware
        idempotency_key=key[:MAX_KEY_LENGTH] if key else None,  # a bad POST key is refused before any row
        signature_verdict=None if verdict is None else str(verdict),
    )


AuditCtx = Annotated[AuditContext, Depends(audit_context)]


async def caller(principal: AnyPrincipal, context: AuditCtx) -> Caller:
    """The caller of a change recorded by a service in its own transaction (order operations)."""
    return Caller(principal, context)


CallerDep = Annotated[Caller, Depends(caller)]
