"""Liveness and readiness probes (no authentication)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from merchant.db.migrations import database_revision
from merchant.http.errors import unavailable_response
from merchant.http.schemas import Error

router = APIRouter(tags=["health"])

READINESS_TIMEOUT_SECONDS = 2.0


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    schema_revision: str


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive (no dependency checked)."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Error, "description": "Database unreachable or schema not current"}},
)
async def readyz(request: Request) -> Readiness | JSONResponse:
    """The database answers and its schema is the one this code expects."""
    expected: str | None = request.app.state.schema_head
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
            async with request.app.state.engine.connect() as connection:
                current = await database_revision(connection)
    except Exception:
        return unavailable_response("The database is unreachable.", "database_unavailable")
    if current != expected:
        message = f"Database schema is at {current or 'nothing'}, this code needs {expected}."
        return unavailable_response(message, "schema_out_of_date")
    return Readiness(status="ready", schema_revision=current or "")
