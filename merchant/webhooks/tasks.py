"""The delivery job of an order event, retried with exponential backoff and jitter."""

from __future__ import annotations

import random

from procrastinate.job_context import JobContext
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy, RetryDecision

from merchant.jobs.app import app
from merchant.jobs.context import job_http, job_sessions, job_settings
from merchant.kit.clock import utc_now
from merchant.webhooks.delivery import backoff, deliver


class RetryLater(Exception):
    """The receiver is not there yet: try again (after ``retry_after`` seconds when it said so)."""

    def __init__(self, detail: str | None, retry_after: float | None) -> None:
        super().__init__(detail or "retry")
        self.retry_after = retry_after


class DeliveryRetry(BaseRetryStrategy):
    """Exponential backoff (5 s doubling to an hour) with jitter, or the receiver's Retry-After.

    No attempt limit here: the delivery gives up by itself once ``DELIVERY_WINDOW`` (72 h) has
    passed since the change, marking the event dead.
    """

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if not isinstance(exception, RetryLater):
            return RetryDecision(retry_in={"seconds": int(backoff(job.attempts))})  # a bug, the database
        wait = backoff(job.attempts)
        if exception.retry_after is not None:
            wait = max(1.0, min(exception.retry_after, 6 * 3600.0))
        return RetryDecision(retry_in={"seconds": max(1, round(wait * random.uniform(0.8, 1.2)))})


@app.task(name="webhooks.deliver_event", queue="webhooks", pass_context=True, retry=DeliveryRetry())
async def deliver_event(context: JobContext, event_id: str) -> str:
    settings = job_settings(context)
    result = await deliver(
        job_sessions(context),
        job_http(context),
        event_id,
        require_https=settings.is_production,
        now=utc_now(),
    )
    if result.outcome == "retry":
        raise RetryLater(result.detail, result.retry_after)
    return result.outcome
