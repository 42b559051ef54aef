"""Check the caller's request signature before an ACP handler runs (see ``identity.signatures``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from merchant.http.auth import AnyPrincipal
from merchant.identity.signatures import Verdict, verify
from merchant.kit.clock import utc_now


async def verify_signature(request: Request, principal: AnyPrincipal) -> Verdict:
    skew = timedelta(seconds=request.app.state.settings.signature_skew_seconds)
    verdict = verify(
        principal.signing,
        body=await request.body(),
        signature=request.headers.get("Signature"),
        timestamp=request.headers.get("Timestamp"),
        now=utc_now(),
        skew=skew,
    )
    request.state.signature_verdict = verdict  # for the audit trail
    return verdict


SignatureVerdict = Annotated[Verdict, Depends(verify_signature)]
