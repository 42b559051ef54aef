"""Fraud assessment errors."""

from __future__ import annotations

from merchant.errors import InvalidState, NotFound


class AssessmentNotFound(NotFound):
    code = "fraud_assessment_not_found"


class AssessmentBlocked(InvalidState):
    """A payment outcome for a blocked attempt: a blocked attempt is never charged."""

    code = "fraud_assessment_blocked"
