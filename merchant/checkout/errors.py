"""Checkout session errors."""

from __future__ import annotations

from merchant.errors import Conflict, InvalidState, NotAllowed, NotFound


class SessionNotFound(NotFound):
    code = "checkout_session_not_found"


class SessionNotOpen(InvalidState):
    """Update or complete on a session that is completed, canceled or expired."""

    code = "checkout_session_not_open"


class SessionClosed(NotAllowed):
    """Cancel on a completed or canceled session (ACP: 405)."""

    code = "checkout_session_closed"


class PaymentInFlight(Conflict):
    """Update or cancel while the session's payment is being charged: its outcome decides (409,
    never saved for the key; retry after ``Retry-After``)."""

    code = "checkout_session_in_progress"
    retry_after = 2
