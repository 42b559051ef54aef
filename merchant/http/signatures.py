"""Check the caller's request signature before an ACP handler runs (see ``identity.signatures``).

The signed target is the path exactly as received (``raw_path``, percent-encoding kept) plus
``?query`` when there is one. A version-2 signature of a request without an ``Idempotency-Key`` is
recorded in the request's transaction and refused when seen again (``replayed_signature``); one
with a key is left to the idempotency store, which answers a repeat of the same request.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from merchant.http.auth import AnyPrincipal
from merchant.http.deps import SessionDep
from merchant.identity import replays
from merchant.identity.signatures import (
    ReplayedSignature,
    SignedRequest,
    Verdict,
    parse_timestamp,
    verify,
)
from merchant.kit.clock import utc_now


def request_target(request: Request) -> str:
    """The path as sent, then ``?`` and the query string when there is one."""
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    query: bytes = request.scope.get("query_string") or b""
    target = raw_path.decode("latin-1")
    return f"{target}?{query.decode('latin-1')}" if query else target


async def verify_signature(request: Request, principal: AnyPrincipal, session: SessionDep) -> Verdict:
    settings = request.app.state.settings
    skew = timedelta(seconds=settings.signature_skew_seconds)
    now = utc_now()
    signature = request.headers.get("Signature")
    timestamp = request.headers.get("Timestamp")
    idempotency_key = request.headers.get("Idempotency-Key")
    signed = SignedRequest(request.method, request_target(request), idempotency_key, await request.body())
    verdict = verify(
        principal.signing,
        signed,
        signature=signature,
        timestamp=timestamp,
        now=now,
        skew=skew,
        legacy_until=settings.signature_accept_legacy_until,
    )
    if verdict is Verdict.verified and not idempotency_key and signature:
        expires_at = parse_timestamp(timestamp, now, skew) + skew
        if not await replays.first_use(session, signature, expires_at=expires_at):
            raise ReplayedSignature("This Signature was already used; sign each request anew.")
    request.state.signature_verdict = verdict  # for the audit trail
    return verdict


SignatureVerdict = Annotated[Verdict, Depends(verify_signature)]
