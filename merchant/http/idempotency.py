"""ACP idempotency at the HTTP edge: ``IdempotentRoute`` plus the ``Idempotent`` dependency.

A POST route built with ``IdempotentRoute`` that declares the ``Idempotent`` dependency
(after authentication, so the key is scoped to the caller) gets ACP §6 semantics:

- no key -> 400 ``idempotency_key_required`` (ACP routes declare ``AcpIdempotent``: under API
  versions before 2026-04-17 a missing key is accepted and the request runs unclaimed); same
  key while the first request runs -> 409 ``idempotency_in_flight`` with ``Retry-After``; same
  key, other body -> 422 ``idempotency_conflict``; same key, same body -> the stored status and
  body again, with ``Idempotent-Replayed: true``, and the handler does not run;
- a 2xx answer is saved in the request's own transaction, with the business change;
- an answer that carries a secret shown once (a new key's token) is saved with the secret left
  out (``save_instead``), so the idempotency store never holds a credential;
- 4xx answers are replayed too (decided): the change rolled back, then the error is saved in
  a second transaction, so a retry gets the same error instead of a second attempt. Not
  saved: 5xx (ACP), 401/403/429, and 409 conflicts, which are about contention that a retry
  may no longer meet.

A route whose handler commits before it ends (complete: no connection is held while the PSP
answers) declares ``HeldIdempotent`` instead: the claim is a pending row that keeps the key in
flight across those commits, answered or released when the request ends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.db.transaction import transaction
from merchant.errors import Conflict, DomainError, PayloadTooLarge, UnsupportedMediaType
from merchant.http.auth import AnyPrincipal
from merchant.http.deps import SessionDep
from merchant.http.errors import (
    STATE_CONFLICT_RETRY_AFTER,
    domain_error_response,
    status_for,
    validation_error_response,
)
from merchant.http.hygiene import is_json, media_type, refuse_unsafe_json
from merchant.http.versioning import VERSION_HEADER, ApiVersion, idempotency_key_required
from merchant.idempotency import service
from merchant.idempotency.errors import KeyConflict, KeyInFlight
from merchant.idempotency.service import Answer, Scope
from merchant.kit.canonical_json import fingerprint
from merchant.kit.clock import utc_now

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
_UNSAVED_STATUSES = frozenset({401, 403, 429})
UNVERSIONED_FINGERPRINT = "2026-04-17"  # the only version served when fingerprints were the body's


@dataclass(frozen=True, slots=True)
class Claim:
    scope: Scope
    fingerprint: str
    held: bool = False  # a pending row holds the key (the handler commits before it ends)


class _Replay(Exception):
    def __init__(self, answer: Answer, key: str) -> None:
        self.answer = answer
        self.key = key


def _fingerprint(version: str | None, body: bytes, parsed: Any = None) -> str:
    """The request's fingerprint: its body, and its ``API-Version`` unless that is 2026-04-17
    (whose fingerprints were the body's alone), so that a key sent again under another version is
    another request (422), never answered in the shape of the version it was first sent in.
    ``parsed``: the body as ``refuse_unsafe_json`` already parsed it, if it did."""
    digest = fingerprint(body, parsed)
    version = (version or "").strip()
    if version in ("", UNVERSIONED_FINGERPRINT):
        return digest
    return hashlib.sha256(f"{version}:{digest}".encode()).hexdigest()  # 64 characters, as stored


async def _claim(request: Request, principal: AnyPrincipal, session: AsyncSession, *, held: bool) -> Claim:
    """Check and claim the request's key; a replay short-cuts the handler."""
    key = service.check_key(request.headers.get(HEADER))
    scope = Scope(principal.key_id, f"{request.method} {request.url.path}", key)
    body = await request.body()
    parsed = getattr(request, "_json", None) if body.strip() else None  # hygiene's parse, if any
    claim = Claim(scope, _fingerprint(request.headers.get(VERSION_HEADER), body, parsed), held)
    hold = service.Hold(_lease(request), _retention(request)) if held else None
    answer = await service.claim(session, scope, claim.fingerprint, now=utc_now(), hold=hold)
    if answer is not None:
        raise _Replay(answer, key)
    request.state.idempotency = claim
    return claim


async def claim_key(request: Request, principal: AnyPrincipal, session: SessionDep) -> Claim:
    return await _claim(request, principal, session, held=False)


async def hold_key(request: Request, principal: AnyPrincipal, session: SessionDep) -> Claim:
    return await _claim(request, principal, session, held=True)


Idempotent = Annotated[Claim, Depends(claim_key)]
HeldIdempotent = Annotated[Claim, Depends(hold_key)]


async def claim_key_if_sent(request: Request, principal: AnyPrincipal, session: SessionDep) -> Claim | None:
    """Staff POSTs: the same semantics when an ``Idempotency-Key`` is sent, none without one."""
    if request.headers.get(HEADER) is None:
        return None
    return await claim_key(request, principal, session)


OptionalIdempotent = Annotated[Claim | None, Depends(claim_key_if_sent)]


async def hold_key_if_sent(request: Request, principal: AnyPrincipal, session: SessionDep) -> Claim | None:
    """``OptionalIdempotent`` for staff operations that commit before they end (PSP calls)."""
    if request.headers.get(HEADER) is None:
        return None
    return await hold_key(request, principal, session)


OptionalHeldIdempotent = Annotated[Claim | None, Depends(hold_key_if_sent)]


async def claim_acp_key(
    request: Request, principal: AnyPrincipal, session: SessionDep, version: ApiVersion
) -> Claim | None:
    """ACP POSTs: ``Idempotent`` from 2026-04-17; under older versions, whose OpenAPI marks the
    header optional, the same semantics when a key is sent and none without one."""
    if _unkeyed_and_optional(request, version):
        return None
    return await claim_key(request, principal, session)


async def hold_acp_key(
    request: Request, principal: AnyPrincipal, session: SessionDep, version: ApiVersion
) -> Claim | None:
    """``AcpIdempotent`` for ACP POSTs that commit before they end (complete)."""
    if _unkeyed_and_optional(request, version):
        return None
    return await hold_key(request, principal, session)


def _unkeyed_and_optional(request: Request, version: str) -> bool:
    return request.headers.get(HEADER) is None and not idempotency_key_required(version)


AcpIdempotent = Annotated[Claim | None, Depends(claim_acp_key)]
AcpHeldIdempotent = Annotated[Claim | None, Depends(hold_acp_key)]


def save_instead(request: Request, body: bytes) -> None:
    """Save ``body`` for replays of this request instead of the answer sent (which holds a secret)."""
    request.state.idempotent_answer_body = body


def _retention(request: Request) -> timedelta:
    return timedelta(hours=request.app.state.settings.idempotency_retention_hours)


def _lease(request: Request) -> timedelta:
    return timedelta(seconds=request.app.state.settings.complete_lease_seconds)


def _answer(response: Response, body: bytes | None = None) -> Answer:
    return Answer(response.status_code, response.headers.get("content-type"), body or bytes(response.body))


def _replay_response(replay: _Replay) -> Response:
    answer = replay.answer
    response = Response(answer.body, status_code=answer.status_code, media_type=answer.content_type)
    response.headers[REPLAYED] = "true"
    response.headers[HEADER] = replay.key
    if answer.status_code == 409:  # only state conflicts are saved (contention never is)
        response.headers["Retry-After"] = str(STATE_CONFLICT_RETRY_AFTER)
    return response


def _saved_error(exc: Exception) -> Response | None:
    """The response of an error that is replayed for its key, or None."""
    if isinstance(exc, RequestValidationError):
        return validation_error_response(exc)
    if not isinstance(exc, DomainError) or isinstance(exc, Conflict):
        return None
    status, _ = status_for(exc)
    return domain_error_response(exc) if status < 500 and status not in _UNSAVED_STATUSES else None


class IdempotentRoute(APIRoute):
    """One transaction per request, with the idempotency record inside it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            refused = await _read_json_body(request, request.app.state.settings.acp_max_body_bytes)
            if refused is not None:
                return refused
            sessions = request.app.state.sessions
            try:
                async with transaction(sessions) as session:
                    request.state.db_session = session
                    try:
                        response = await handler(request)
                    except _Replay as replay:
                        return _replay_response(replay)
                    claim: Claim | None = getattr(request.state, "idempotency", None)
                    if claim is not None:
                        if response.status_code < 500:
                            answer = _answer(response, getattr(request.state, "idempotent_answer_body", None))
                            await service.save(
                                session, claim.scope, claim.fingerprint, answer,
                                now=utc_now(), retention=_retention(request),
                            )  # fmt: skip
                        elif claim.held:
                            await service.release(session, claim.scope)
                        response.headers[HEADER] = claim.scope.key
                    return response
            except Exception as exc:
                claim = getattr(request.state, "idempotency", None)
                saved = _saved_error(exc) if claim is not None else None
                if claim is not None and claim.held:
                    await _settle_held(request, claim, saved)
                if claim is None or saved is None:
                    raise
                if not claim.held:
                    await _save_error(request, claim, saved)
                return saved

        return run


async def _read_json_body(request: Request, limit: int) -> Response | None:
    """Read the body up to ``limit`` bytes (413 beyond); a body must be JSON (415 otherwise) that
    passes ``refuse_unsafe_json`` (400 otherwise).

    Done before the handler, so an oversized request is refused without being buffered whole.
    """
    declared = request.headers.get("content-length")
    too_large = PayloadTooLarge(f"The request body is larger than {limit:,} bytes.", code="request_too_large")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return domain_error_response(too_large)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return domain_error_response(too_large)
    request._body = bytes(body)  # Starlette's cache of the body: the handler reads it from here
    if body.strip() and not is_json(media_type(request)):
        return domain_error_response(
            UnsupportedMediaType("Send the request body as JSON (Content-Type: application/json).")
        )
    return await refuse_unsafe_json(request)


async def _settle_held(request: Request, claim: Claim, response: Response | None) -> None:
    """A held claim whose request failed: save the error to replay, or free the key."""
    async with transaction(request.app.state.sessions) as session:
        if response is None:
            await service.release(session, claim.scope)
        else:
            await service.save(
                session, claim.scope, claim.fingerprint, _answer(response),
                now=utc_now(), retention=_retention(request),
            )  # fmt: skip
            response.headers[HEADER] = claim.scope.key


async def _save_error(request: Request, claim: Claim, response: Response) -> None:
    """Save a 4xx answer after its transaction rolled back (skipped if another request holds the key)."""
    try:
        async with transaction(request.app.state.sessions) as session:
            if await service.claim(session, claim.scope, claim.fingerprint, now=utc_now()) is None:
                await service.save(
                    session, claim.scope, claim.fingerprint, _answer(response),
                    now=utc_now(), retention=_retention(request),
                )  # fmt: skip
    except (KeyInFlight, KeyConflict):  # another request took the key meanwhile: its answer stands
        pass
    response.headers[HEADER] = claim.scope.key
