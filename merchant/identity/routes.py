"""Who am I: lets an operator check that a key authenticates, and as what."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from merchant.http.auth import AnyPrincipal
from merchant.http.routing import TransactionalRoute
from merchant.identity.roles import Role

router = APIRouter(route_class=TransactionalRoute, tags=["identity"])


class WhoAmI(BaseModel):
    key_id: str
    name: str
    role: Role


@router.get("/whoami", response_model=WhoAmI)
async def whoami(principal: AnyPrincipal) -> WhoAmI:
    """The API key behind this request."""
    return WhoAmI(key_id=principal.key_id, name=principal.name, role=principal.role)
