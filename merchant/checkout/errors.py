"""Checkout session errors."""

from __future__ import annotations

from merchant.errors import InvalidState, NotAllowed, NotFound


class SessionNotFound(NotFound):
    code = "checkout_session_not_found"


class SessionNotOpen(InvalidState):
    """Update or complete on a session that is completed, canceled or expired."""

    code = "checkout_session_not_open"


class SessionClosed(NotAllowed):
    """Cancel on a completed or canceled session (ACP: 405)."""

    code = "checkout_session_closed"
