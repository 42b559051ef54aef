"""Bearer API-key authentication and role checks, declared per router."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from merchant.errors import Forbidden
from merchant.http.deps import SessionDep
from merchant.identity import service as identity_service
from merchant.identity.errors import InvalidCredentials, MissingCredentials
from merchant.identity.roles import STAFF_ROLES, Role
from merchant.identity.service import Principal

# Declared so that OpenAPI documents the scheme on every authenticated operation.
bearer_scheme = HTTPBearer(
    auto_error=False, bearerFormat="API key", description="An API key from `merchant keys create`."
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


async def authenticate(request: Request, session: SessionDep, credentials: Credentials) -> Principal:
    if credentials is None:
        hint = "Send 'Authorization: Bearer <API key>'."
        if request.headers.get("authorization"):
            raise InvalidCredentials(hint)
        raise MissingCredentials(hint)
    principal = await identity_service.authenticate(session, credentials.credentials.strip())
    request.state.principal = principal
    structlog.contextvars.bind_contextvars(key_id=principal.key_id, role=principal.role.value)
    return principal


def require_roles(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    allowed = frozenset(roles)

    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(f"A {principal.role.value} key may not call this endpoint.")
        return principal

    return check


AnyPrincipal = Annotated[Principal, Depends(authenticate)]
AgentPrincipal = Annotated[Principal, Depends(require_roles(Role.agent))]
StaffPrincipal = Annotated[Principal, Depends(require_roles(*STAFF_ROLES))]
OperatorPrincipal = Annotated[Principal, Depends(require_roles(Role.operator, Role.admin))]
AdminPrincipal = Annotated[Principal, Depends(require_roles(Role.admin))]
