"""What an idempotency key can be refused for (codes from ACP §6)."""

from __future__ import annotations

from merchant.errors import Conflict, InvalidRequest, Unprocessable


class KeyRequired(InvalidRequest):
    code = "idempotency_key_required"


class InvalidKey(InvalidRequest):
    code = "invalid_idempotency_key"


class KeyConflict(Unprocessable):
    """Same key, another body: permanent, never retryable."""

    code = "idempotency_conflict"


class KeyInFlight(Conflict):
    """Same key while the first request still runs: retry after a moment."""

    code = "idempotency_in_flight"
    retry_after = 1
