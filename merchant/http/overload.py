"""Shed load at the door: beyond ``MERCHANT_MAX_INFLIGHT_REQUESTS`` a request gets 503 at once.

Pure ASGI and outermost, so a refusal costs a few microseconds and never waits behind the work it
protects. Health checks, the staff API and Stripe's webhooks are never refused: operators must
see and work a busy service, and Stripe's events are cheap and must not be delayed.
"""

from __future__ import annotations

import time

import orjson
import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from merchant.kit.admission import Admission, admitted_to

log = structlog.get_logger("merchant.http")

EXEMPT_PREFIXES = ("/healthz", "/readyz", "/admin/", "/stripe/webhooks")
RETRY_AFTER_SECONDS = 1
LOG_EVERY_SECONDS = 1.0
_BODY = orjson.dumps(
    {
        "type": "service_unavailable",
        "code": "overloaded",
        "message": "The service is at capacity; retry after the Retry-After delay.",
    }
)
_START = {
    "type": "http.response.start",
    "status": 503,
    "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_BODY)).encode()),
        (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
    ],
}


class OverloadMiddleware:
    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.admission = Admission(limit)
        self._logged_at = 0.0
        self._logged_refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        if not self.admission.try_enter():
            await send(_START)
            await send({"type": "http.response.body", "body": _BODY})
            self._note_refusals()
            return
        async with admitted_to(self.admission):
            await self.app(scope, receive, send)

    def _note_refusals(self) -> None:
        """One log line a second while shedding, not one per refused request."""
        now = time.monotonic()
        if now - self._logged_at < LOG_EVERY_SECONDS:
            return
        refused = self.admission.refused
        log.warning("http.overloaded", refused=refused - self._logged_refused, limit=self.admission.limit)
        self._logged_at, self._logged_refused = now, refused
